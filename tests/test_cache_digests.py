"""Cache digests follow the continuation inputs exactly.

Changing one continuation URL changes the cache digest of that input's download task and of every
task downstream of it (transitively, through the graph's dependency edges) -- and of nothing else.
Otherwise a changed input would reuse stale cached results, or an unchanged one would be rebuilt.
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TASKCLUSTER_DIR, generate, load_params_file

TEACHER_1 = "https://example.com/ru-en/teacher-1"
TEACHER_2 = "https://example.com/ru-en/teacher-2"

# The train-new-teacher recipe (vocab, parallel and backtranslations corpora with alignments,
# backwards in use mode) with a two-member teacher ensemble continued from two checkpoints.
BASE = copy.deepcopy(load_params_file("recipe-train-new-teacher"))
BASE["experiment"] = {"teacher-ensemble": 2}
BASE["continuation"]["models"]["teacher"] = {"urls": [TEACHER_1, TEACHER_2], "mode": "continue"}

# (input id, path to the URL in the config, download task of that input)
CORPUS_KEYS = ("src", "trg", "tok-src", "tok-trg", "alignments")
INPUTS = (
    [(f"vocab.{key}", ("continuation", "vocab", key), "continuation-vocab-ru-en") for key in ("src", "trg")]
    + [
        (f"{corpus}.{key}", ("continuation", "corpora", corpus, key), f"continuation-corpus-{corpus}-ru-en")
        for corpus in ("parallel", "backtranslations")
        for key in CORPUS_KEYS
    ]
    + [
        ("backwards.url", ("continuation", "models", "backwards", "url"), "continuation-model-backwards-ru-en"),
        ("teacher.urls.0", ("continuation", "models", "teacher", "urls", 0), "continuation-model-teacher-ru-en-1"),
        ("teacher.urls.1", ("continuation", "models", "teacher", "urls", 1), "continuation-model-teacher-ru-en-2"),
    ]
)


def digests(graph):
    """{label: cache digest} of every cached task."""
    return {
        label: task.attributes["cached_task"]["digest"]
        for label, task in graph.tasks.items()
        if "cached_task" in task.attributes
    }


def downstream(graph, label):
    """`label` and every task that transitively depends on it."""
    dependents = {}
    for task in graph.tasks.values():
        for dependency in task.dependencies.values():
            dependents.setdefault(dependency, set()).add(task.label)
    result, stack = set(), [label]
    while stack:
        current = stack.pop()
        if current not in result:
            result.add(current)
            stack.extend(dependents.get(current, ()))
    return result


def _changed(config, path, suffix="-changed"):
    config = copy.deepcopy(config)
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = node[path[-1]] + suffix
    return config


@pytest.fixture(scope="module")
def base_graph():
    return generate(BASE)


def test_base_graph_has_every_download(base_graph):
    for _input, _path, download in INPUTS:
        assert download in base_graph.tasks
    assert not any(label.startswith("build-vocab") for label in base_graph.tasks)


@pytest.mark.parametrize("path, download", [case[1:] for case in INPUTS], ids=[case[0] for case in INPUTS])
def test_changing_one_input_changes_exactly_its_downstream(base_graph, path, download):
    before = digests(base_graph)
    changed_graph = generate(_changed(BASE, path))
    after = digests(changed_graph)
    assert set(after) == set(before), "changing a URL must not add or remove tasks"

    expected = downstream(base_graph, download) & set(before)
    changed = {label for label in before if before[label] != after[label]}
    assert download in changed
    assert len(expected) > 1, "the download feeds at least one cached task"
    assert changed == expected, {
        "changed but not downstream": sorted(changed - expected),
        "downstream but unchanged": sorted(expected - changed),
    }


def test_teacher_member_change_leaves_the_other_member_alone(base_graph):
    after = digests(generate(_changed(BASE, ("continuation", "models", "teacher", "urls", 0))))
    before = digests(base_graph)
    assert before["continuation-model-teacher-ru-en-1"] != after["continuation-model-teacher-ru-en-1"]
    assert before["train-teacher-model-ru-en-1"] != after["train-teacher-model-ru-en-1"]
    assert before["continuation-model-teacher-ru-en-2"] == after["continuation-model-teacher-ru-en-2"]
    assert before["train-teacher-model-ru-en-2"] == after["train-teacher-model-ru-en-2"]


def test_adding_a_pin_changes_the_download_and_its_downstream(base_graph):
    config = copy.deepcopy(BASE)
    config["continuation"]["vocab"]["sha256"] = {"vocab.ru.spm": "ab" * 32}
    before, after = digests(base_graph), digests(generate(config))
    changed = {label for label in before if before[label] != after[label]}
    assert changed == downstream(base_graph, "continuation-vocab-ru-en") & set(before)


def test_different_teacher_urls_give_different_digests_per_member(base_graph):
    found = digests(base_graph)
    assert found["continuation-model-teacher-ru-en-1"] != found["continuation-model-teacher-ru-en-2"]
    assert found["train-teacher-model-ru-en-1"] != found["train-teacher-model-ru-en-2"]
    # Each member's training depends on its own download only.
    for member in (1, 2):
        deps = set(base_graph.tasks[f"train-teacher-model-ru-en-{member}"].dependencies.values())
        assert f"continuation-model-teacher-ru-en-{member}" in deps
        assert f"continuation-model-teacher-ru-en-{3 - member}" not in deps


def test_swapping_teacher_urls_swaps_download_digests(base_graph):
    swapped = copy.deepcopy(BASE)
    swapped["continuation"]["models"]["teacher"]["urls"] = [TEACHER_2, TEACHER_1]
    before, after = digests(base_graph), digests(generate(swapped))
    assert after["continuation-model-teacher-ru-en-1"] == before["continuation-model-teacher-ru-en-2"]
    assert after["continuation-model-teacher-ru-en-2"] == before["continuation-model-teacher-ru-en-1"]


def test_spellings_of_the_same_model_url_share_digests(base_graph):
    """A trailing `/`, or `gs://` for its public https form, is the same input: nothing is rebuilt."""
    for url in (TEACHER_1 + "/", TEACHER_1 + "//"):
        config = copy.deepcopy(BASE)
        config["continuation"]["models"]["teacher"]["urls"] = [url, TEACHER_2]
        assert digests(generate(config)) == digests(base_graph), url
    gs = {"url": "gs://bucket/ru-en/backwards", "mode": "use"}
    https = {"url": "https://storage.googleapis.com/bucket/ru-en/backwards/", "mode": "use"}
    assert digests(generate({"continuation": {"models": {"backwards": gs}}})) == digests(
        generate({"continuation": {"models": {"backwards": https}}})
    )


def test_unrelated_change_outside_continuation_leaves_downloads_alone(base_graph):
    config = copy.deepcopy(BASE)
    config["marian-args"] = {"training-teacher": {"after": "60u"}}
    before, after = digests(base_graph), digests(generate(config))
    changed = {label for label in before if before[label] != after[label]}
    assert not any(label.startswith("continuation-") for label in changed)
    teachers = {"train-teacher-model-ru-en-1", "train-teacher-model-ru-en-2"}
    assert teachers <= changed
    expected = set()
    for teacher in teachers:
        expected |= downstream(base_graph, teacher)
    assert changed == expected & set(before)


# ------------------------------------------------------------------------------------------------
# Stability.
def _fresh_full_graph(training_config):
    """A full graph generated from scratch, bypassing the test and plan caches."""
    from taskgraph.generator import TaskGraphGenerator
    from taskgraph.parameters import parameters_loader

    from translations_taskgraph import pipeline, templates, training_config as tc

    for cached in (pipeline._build_plan, templates.load_templates, tc._load):
        cached.cache_clear()
    overrides = {"training_config": copy.deepcopy(training_config), "target_tasks_method": "train-target-tasks"}
    generator = TaskGraphGenerator(
        root_dir=str(TASKCLUSTER_DIR), parameters=parameters_loader(None, strict=False, overrides=overrides)
    )
    return generator.full_task_graph


@pytest.mark.parametrize("name, config", [("default", {}), ("continuation", BASE)])
def test_digests_are_stable_between_generations(name, config):
    first = digests(generate(config))
    second = digests(_fresh_full_graph(config))
    assert first
    assert first == second


def test_default_digests_are_stable_across_processes(tmp_path):
    """Another interpreter, another hash seed: the same digests (no set/dict-order leaks)."""
    params = tmp_path / "params.yml"
    params.write_text("training_config: {}\n")
    env = dict(os.environ, PYTHONHASHSEED="12345", TASKCLUSTER_ROOT_URL="https://tc.example.com")
    cli = Path(sys.executable).parent / "taskgraph"
    result = subprocess.run(
        [str(cli), "full", "-J", "-p", str(params)],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    other = {
        task["label"]: task["attributes"]["cached_task"]["digest"]
        for task in json.loads(result.stdout).values()
        if "cached_task" in task["attributes"]
    }
    assert other == digests(generate({}))


def test_step_code_is_part_of_every_digest(tmp_path):
    """A change to a step's script or to the shared helpers (pipeline/common) changes the digest data."""
    from translations_taskgraph.transforms import pipeline_task

    root = tmp_path / "repo"
    (root / "pipeline" / "common").mkdir(parents=True)
    helper = root / "pipeline" / "common" / "io.py"
    helper.write_text("A = 1\n")
    before = pipeline_task._helpers_digest(str(root))
    pipeline_task._file_digest.cache_clear()
    pipeline_task._helpers_digest.cache_clear()
    helper.write_text("A = 2\n")
    assert pipeline_task._helpers_digest(str(root)) != before
    pipeline_task._file_digest.cache_clear()
    pipeline_task._helpers_digest.cache_clear()
