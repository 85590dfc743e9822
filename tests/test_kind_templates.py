"""Kind templates are validated when read: a mistake in a kind.yml is one error naming the file and
the key, never a graph with a dependency or a flag silently missing (translations_taskgraph/templates.py)."""

import shutil

import pytest
from conftest import TASKCLUSTER_DIR

from translations_taskgraph.templates import KindError, load_templates

TEACHER = "kinds/train-teacher-model/kind.yml"
SHARED = "shared/training.yml"

MISTAKES = [
    ("upstream-for-upstreams", TEACHER, "    upstreams:\n", "    upstream:\n",
     "kinds/train-teacher-model/kind.yml: tasks.train.upstream: unknown key"),
    ("arg-for-args", TEACHER, "    args:\n", "    arg:\n",
     "kinds/train-teacher-model/kind.yml: tasks.train.arg: unknown key"),
    ("fetch-name-no-upstream", TEACHER, "{fetch[corpus]}/corpus.aln.zst", "{fetch[corpsu]}/corpus.aln.zst",
     "kinds/train-teacher-model/kind.yml: tasks.train.args.--alignments: {fetch[corpsu]} names no upstream"),
    ("kind-dependency-missing", TEACHER, "  - corpus-align-parallel\n", "",
     "kinds/train-teacher-model/kind.yml: kind-dependencies: 'corpus-align-parallel' is missing"),
    ("kind-dependency-no-upstream", TEACHER, "  - docker-image\n", "  - docker-image\n  - export\n",
     "kinds/train-teacher-model/kind.yml: kind-dependencies: 'export' is not the kind of an upstream"),
    ("unknown-upstream-kind", "kinds/build-vocab/kind.yml", "kind: corpus-merge-parallel", "kind: corpus-merge-paralel",
     "kinds/build-vocab/kind.yml: tasks.vocab.upstreams.corpus.kind: no pipeline kind is named 'corpus-merge-paralel'"),
    ("old-role-name", "kinds/export/kind.yml", "role: output", "role: root",
     "kinds/export/kind.yml: tasks.export.role: expected one of: step, output, evaluation, aggregate, download"),
    ("bad-fan-out-in-defaults", "kinds/evaluate/kind.yml", "  for-each: [dataset:test]\n  upstreams",
     "  for-each: [dataset:tset]\n  upstreams",
     "kinds/evaluate/kind.yml: task-defaults.for-each.0: expected pair, chunk, member"),
    ("aggregate-kind-misses-an-output-kind", "kinds/all-pipeline/kind.yml", "  - export\n", "",
     "kinds/all-pipeline/kind.yml: kind-dependencies: 'export' is missing"),
    ("misspelled-task-defaults", "kinds/corpus-merge-mono/kind.yml", "task-defaults:", "task-default:",
     "kinds/corpus-merge-mono/kind.yml: task-default: unknown key"),
    ("flag-in-shared-defaults", SHARED, "--best-model:", "--best_model:",
     "shared/training.yml (task-defaults-from of taskcluster/kinds/backtranslations-train-backwards-model/kind.yml): "
     "args.--best_model: a flag must be written --like-this"),
    ("missing-key-in-shared-defaults", SHARED, "  devset:\n    kind", "  devset:\n    knd",
     "shared/training.yml (task-defaults-from of taskcluster/kinds/backtranslations-train-backwards-model/kind.yml): "
     "upstreams.devset.kind: required key missing"),
    ("config-value-typo", "kinds/build-vocab/kind.yml", "{config: experiment.spm-sample-size}",
     "{confg: experiment.spm-sample-size}", "kinds/build-vocab/kind.yml: tasks.vocab.args.--sample-size"),
    ("skip-if-zero-names-no-config-flag", "kinds/corpus-clean-parallel-bicleaner-ai/kind.yml",
     "skip-if-zero: --threshold", "skip-if-zero: --treshold",
     "kinds/corpus-clean-parallel-bicleaner-ai/kind.yml: tasks.bicleaner.skip-if-zero: --treshold is not a flag"),
    ("fallback-kind-without-fallback-by", "kinds/corpus-merge-parallel/kind.yml", "        fallback-by: dataset\n", "",
     "kinds/corpus-merge-parallel/kind.yml: tasks.merge.upstreams.datasets: fallback-kind and fallback-by go together"),
    ("no-label", "kinds/build-vocab/kind.yml", "    label: build-vocab-{src}-{trg}\n", "",
     "kinds/build-vocab/kind.yml: tasks.vocab.label: required key missing"),
]


@pytest.mark.parametrize("path, old, new, message", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_in_a_kind_is_an_error_naming_the_file_and_key(tmp_path, path, old, new, message):
    root = tmp_path / "taskcluster"
    shutil.copytree(TASKCLUSTER_DIR / "kinds", root / "kinds")
    shutil.copytree(TASKCLUSTER_DIR / "shared", root / "shared")
    target = root / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    with pytest.raises(KindError) as error:
        load_templates(str(root / "kinds"))
    assert str(error.value).startswith(f"taskcluster/{message}"), str(error.value)


def test_the_real_kinds_are_read():
    templates = load_templates(str(TASKCLUSTER_DIR / "kinds"))
    assert "docker-image" not in templates  # taskgraph's own loader; not a pipeline kind
    assert {t["name"] for t in templates["evaluate"]} == {"backwards", "teacher", "student", "finetuned-student"}
    # The evaluate kind's shared upstreams reach every task; each names its own model kind.
    models = {t["name"]: t["upstreams"]["model"] for t in templates["evaluate"]}
    assert models["teacher"]["kind"] == "train-teacher-model" and models["teacher"]["subject"] is True
    assert all(t["upstreams"]["dataset"]["kind"] == "dataset" for t in templates["evaluate"])


def test_taskgraph_full_reports_a_kind_mistake_in_one_line(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from conftest import ROOT

    shutil.copytree(TASKCLUSTER_DIR, tmp_path / "taskcluster")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")  # in the images' contexts
    kind = tmp_path / TEACHER.replace("kinds/", "taskcluster/kinds/")
    kind.write_text(kind.read_text().replace("    upstreams:\n", "    upstream:\n", 1))
    taskgraph = str(Path(sys.executable).with_name("taskgraph"))
    result = subprocess.run([taskgraph, "full", "--root", str(tmp_path / "taskcluster")], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "TASKGRAPH_SERIAL": "1"}, timeout=120)
    assert result.returncode == 1
    assert "ERROR - taskcluster/kinds/train-teacher-model/kind.yml: tasks.train.upstream: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
