"""The `translations-taskgraph` preview CLI: explain, explain --check-urls, diff and picture.

`explain` and `picture` work from the plan (no generation); `diff` generates each graph once per
config (the CLI caches them), so the module stays fast. `--check-urls` is tested against an HTTP
server on 127.0.0.1, the only host pytest-socket lets through.
"""

import http.server
import os
import sys
from pathlib import Path
import threading

import pytest
import yaml

from translations_taskgraph import cli
from translations_taskgraph.training_config import SNIPPET_WARNING, ci_example

from conftest import PARAMS_DIR, TASKCLUSTER_DIR

RECIPE = str(PARAMS_DIR / "recipe-train-new-teacher.yml")
LEGACY = str(PARAMS_DIR / "doc-legacy-pretrained-models.yml")


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def block(out, title):
    """The lines of explain's section for one input (from its title to the next blank line)."""
    lines = out.splitlines()
    start = lines.index(title)
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return "\n".join(lines[start:end])


def write_config(tmp_path, name, config):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


# ------------------------------------------------------------------------------------------------
# explain
@pytest.fixture(scope="module")
def recipe_explained():
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = cli.main(["explain", RECIPE])
    return code, buffer.getvalue()


def test_explain_recipe_summary(recipe_explained):
    code, out = recipe_explained
    assert code == 0
    first = out.splitlines()[0]
    assert "ru -> en" in first
    assert "in the graph 34 pipeline tasks, 4 download tasks, 1 aggregate task; 25 removed (7 replaced, 17 pruned, 1 skipped by a setting of 0)" in first
    # A snippet (a block of the docs): one warning line says it is previewed on the CI example.
    warnings = out.split("Warnings:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert warnings == [f"  warning: {SNIPPET_WARNING}"]


def test_explain_recipe_vocab(recipe_explained):
    vocab = block(recipe_explained[1], "vocab")
    assert "download task: continuation-vocab-ru-en" in vocab
    assert "mode: use" in vocab
    assert "vocab.ru.spm <- https://example.com/vocab.ru.spm" in vocab
    assert "vocab.en.spm <- https://example.com/vocab.en.spm" in vocab
    assert "build-vocab (1):\n      build-vocab-ru-en" in vocab
    assert "pruned as a result (by stage): (none)" in vocab
    assert "train-teacher-model-ru-en-1 (vocab)" in vocab
    assert "export-ru-en (vocab)" in vocab


def test_explain_recipe_corpora_replace_and_prune_by_stage(recipe_explained):
    out = recipe_explained[1]
    parallel = block(out, "corpus-parallel")
    assert "download task: continuation-corpus-parallel-ru-en" in parallel
    assert "corpus.aln.zst <- https://example.com/parallel.aln.zst" in parallel
    assert "corpus-merge-parallel (1):\n      corpus-merge-parallel-ru-en" in parallel
    assert "corpus-align-parallel (1):\n      corpus-align-parallel-ru-en" in parallel
    assert "corpus-clean-parallel (6):" in parallel  # the ada83 Bicleaner task is skipped (threshold 0)
    assert "dataset (3):" in parallel
    assert "train-teacher-model-ru-en-1 (corpus)" in parallel

    backtranslations = block(out, "corpus-backtranslations")
    assert "backtranslations-mono-trg-dechunk-translations (1):" in backtranslations
    assert "corpus-merge-mono (1):\n      corpus-merge-mono-trg-en" in backtranslations
    assert "backtranslations-mono-trg-translate (2):" in backtranslations
    assert "consumed by (1):\n    train-teacher-model-ru-en-1 (backtranslations)" in backtranslations


def test_explain_recipe_model_use(recipe_explained):
    backwards = block(recipe_explained[1], "model-backwards")
    assert "download task: continuation-model-backwards-ru-en" in backwards
    assert "mode: use" in backwards
    assert (
        "vocab.ru.spm, vocab.en.spm <- https://example.com/ru-en/backwards/vocab.ru.spm + "
        "https://example.com/ru-en/backwards/vocab.en.spm, else https://example.com/ru-en/backwards/vocab.spm"
    ) in backwards
    assert "backtranslations-train-backwards-model (1):" in backwards
    assert "evaluate-backwards (1):\n      evaluate-backward-flores-devtest-ru-en" in backwards
    assert "distillation-parallel-src-translations-score-ru-en (model)" in backwards


def test_explain_legacy_block(capsys):
    code, out, err = run(capsys, "explain", LEGACY)
    assert code == 0
    assert f"Warnings:\n  warning: {SNIPPET_WARNING}\n  warning: pretrained-models is deprecated" in out
    assert "deprecated" not in err  # printed once, by explain, not also logged
    teacher = block(out, "model-teacher (member 1)")
    assert "download task: continuation-model-teacher-ru-en-1" in teacher
    assert "mode: continue" in teacher
    assert "model.npz.optimizer.npz <- https://firefox-ci-tc.services.mozilla.com/" in teacher
    assert "build-vocab (1):\n      build-vocab-ru-en" in teacher
    assert (
        "train-teacher-model-ru-en-1 (mode continue: script --resume-from /builds/worker/fetches/pretrained)"
        in teacher
    )
    # One line per consumer, naming everything it fetches from the download.
    assert "train-teacher-model-ru-en-1 (pretrained, vocab)" in teacher
    assert teacher.count("train-teacher-model-ru-en-1 (") == 2  # trains on from it; consumes it
    backwards = block(out, "model-backwards")
    assert "https://storage.googleapis.com/bucket-name/models/ru-en/backward/final.model.npz.best-chrf.npz" in backwards
    assert "backtranslations-mono-trg-translate-ru-en-1/2 (model)" in backwards


def test_explain_teacher_ensemble_members_and_hint(tmp_path, capsys):
    config = write_config(tmp_path, "ensemble.yml", {"continuation": {"models": {
        "teachers": {"urls": ["gs://bucket/t1", "gs://bucket/t2"], "mode": "use"}}}})
    code, out, _ = run(capsys, "--root", TASKCLUSTER_DIR, "explain", config)
    assert code == 0
    assert "hint: continuation.models.teachers: read as continuation.models.teacher" in out
    for member in (1, 2):
        section = block(out, f"model-teacher (member {member})")
        assert f"continuation-model-teacher-ru-en-{member}" in section
        assert f"https://storage.googleapis.com/bucket/t{member}/final.model.npz.best-chrf.npz" in section
        assert f"train-teacher-model (1):\n      train-teacher-model-ru-en-{member}" in section
    # Pruned because both members are downloaded: listed under each, naming the other.
    assert "evaluate-teacher-ensemble-flores-devtest-ru-en (also: continuation-model-teacher-ru-en-2)" in block(
        out, "model-teacher (member 1)")
    assert "evaluate-teacher-ensemble-flores-devtest-ru-en (also: continuation-model-teacher-ru-en-1)" in block(
        out, "model-teacher (member 2)")


def test_explain_default_config_has_no_inputs(tmp_path, capsys):
    code, out, _ = run(capsys, "explain", write_config(tmp_path, "empty.yml", {}))
    assert code == 0
    assert "No continuation inputs" in out


@pytest.mark.parametrize(
    "content, message",
    [
        ("training_config:\n  experiment: {name: x, src: ru, trg: ru}\n  datasets: {train: [], devtest: [], test: [], "
         "mono-src: [], mono-trg: []}\n", "Invalid training_config at experiment.trg"),
        ("training_config:\n  experiment: {src: de, trg: en}\n", "Invalid training_config at datasets: required: "
                                                                 "a complete config (it sets experiment.src/trg)"),
        ("training-config:\n  experiment: {src: de}\n", "Invalid training_config at training-config: unknown "
                                                        "parameter; did you mean 'training_config'?"),
        ("a: 1\nb: 2\na: 3\n", "bad.yml: line 3: duplicate key 'a' (first at line 1); keep one"),
        ("continuation:\n  models:\n    teacher: {url: ftp://x/y, mode: use}\n",
         "Invalid training_config at continuation.models.teacher.url: expected an http(s)"),
        ("experiment: [unclosed\n", "not valid YAML"),
    ],
)
def test_explain_bad_config(tmp_path, capsys, content, message):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    code, out, err = run(capsys, "explain", path)
    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_explain_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "explain", tmp_path / "nope.yml")
    assert code == 1 and "cannot read" in err


# ------------------------------------------------------------------------------------------------
# explain --check-urls
class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; under /nohead/ HEAD is refused (405), as some servers do."""

    requests = []

    def do_HEAD(self):
        Handler.requests.append(("HEAD", self.path, self.headers.get("Range")))
        if self.path.startswith("/nohead/"):
            self.send_error(405)
        elif self.path.startswith("/getonly/"):  # like a URL signed for GET only
            self.send_error(403)
        elif not self.redirected():
            super().do_HEAD()

    def do_GET(self):
        Handler.requests.append(("GET", self.path, self.headers.get("Range")))
        if not self.redirected():
            super().do_GET()

    def redirected(self):
        """/moved/X answers 303 See Other to /X."""
        if not self.path.startswith("/moved/"):
            return False
        self.send_response(303)
        self.send_header("Location", self.path[len("/moved"):])
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    files = [
        "vocab.ru.spm",
        "bw/final.model.npz.best-chrf.npz",
        "bw/vocab.spm",  # a joint vocab only
        "nohead/parallel.ru.zst",
        "nohead/parallel.en.zst",
    ]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x" * 100)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: Handler(*a, directory=str(root), **k)
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def served_config(base, vocab_trg, vocab_src="vocab.ru.spm"):
    return {"allow-private-urls": True, "continuation": {
        "vocab": {"src": f"{base}/{vocab_src}", "trg": f"{base}/{vocab_trg}"},
        "models": {"backwards": {"url": f"{base}/bw", "mode": "use"}},
        "corpora": {"parallel": {"src": f"{base}/nohead/parallel.ru.zst", "trg": f"{base}/nohead/parallel.en.zst"}},
    }}


def table_rows(out):
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("STATUS"))
    rows = {}
    for line in lines[start + 1 :]:
        if "://" not in line:
            break
        url = next(part for part in line.split() if "://" in part)
        rows[url] = line[: line.index(url)].strip()
    return rows


def test_check_urls_reports_missing(tmp_path, capsys, server):
    base, _root = server
    config = write_config(tmp_path, "served.yml", served_config(base, "vocab.en.spm"))
    code, out, _ = run(capsys, "explain", config, "--check-urls", "--timeout", "5")
    assert code == 1
    rows = table_rows(out)
    assert rows[f"{base}/vocab.ru.spm"] == "ok"
    assert rows[f"{base}/vocab.en.spm"] == "MISSING"
    # The split vocab of the model is absent, but its joint vocab.spm is there: not a failure.
    assert rows[f"{base}/bw/vocab.ru.spm"] == "absent (not needed)"
    assert rows[f"{base}/bw/vocab.spm"] == "ok"
    assert rows[f"{base}/bw/final.model.npz.best-chrf.npz"] == "ok"
    # HEAD refused with 405: checked by a ranged GET instead.
    assert rows[f"{base}/nohead/parallel.ru.zst"] == "ok"
    assert ("GET", "/nohead/parallel.ru.zst", "bytes=0-0") in Handler.requests
    assert "1 required download(s) cannot be satisfied:\n  continuation-vocab-ru-en: vocab.en.spm" in out
    needed_by = next(line for line in out.splitlines() if f"{base}/vocab.en.spm " in line)
    assert needed_by.endswith("continuation-vocab-ru-en: vocab.en.spm")


def test_check_urls_all_present(tmp_path, capsys, server):
    base, _root = server
    config = write_config(tmp_path, "served.yml", served_config(base, "vocab.ru.spm", "moved/vocab.ru.spm"))
    Handler.requests.clear()
    code, out, _ = run(capsys, "explain", config, "--check-urls")
    assert code == 0
    assert "All required URLs are reachable." in out
    assert "MISSING" not in out
    assert table_rows(out)[f"{base}/moved/vocab.ru.spm"] == "ok"
    # The redirect is followed with HEAD too: no body is requested.
    assert ("HEAD", "/moved/vocab.ru.spm", None) in Handler.requests
    assert not [r for r in Handler.requests if r[0] == "GET" and not r[1].startswith("/nohead/")]


def test_check_urls_head_forbidden_is_checked_with_get(tmp_path, capsys, server):
    base, root = server
    (root / "getonly").mkdir(exist_ok=True)
    for side in ("ru", "en"):
        (root / "getonly" / f"signed.{side}.zst").write_bytes(b"x")
    config = write_config(tmp_path, "signed.yml", {"allow-private-urls": True, "continuation": {"corpora": {"distillation": {
        "src": f"{base}/getonly/signed.ru.zst", "trg": f"{base}/getonly/signed.en.zst"}}}})
    Handler.requests.clear()
    code, out, _ = run(capsys, "explain", config, "--check-urls")
    assert code == 0, out
    assert table_rows(out)[f"{base}/getonly/signed.ru.zst"] == "ok"
    assert ("GET", "/getonly/signed.ru.zst", "bytes=0-0") in Handler.requests


def test_check_urls_split_vocab_needs_both(tmp_path, capsys, server):
    base, root = server
    (root / "bw2").mkdir(exist_ok=True)
    (root / "bw2" / "final.model.npz.best-chrf.npz").write_bytes(b"x")
    (root / "bw2" / "vocab.ru.spm").write_bytes(b"x")  # half a split vocab, no joint one
    config = write_config(tmp_path, "bw2.yml", {"allow-private-urls": True, "continuation": {"models": {
        "backwards": {"url": f"{base}/bw2/", "mode": "use"}}}})
    code, out, _ = run(capsys, "explain", config, "--check-urls")
    assert code == 1
    rows = table_rows(out)
    assert rows[f"{base}/bw2/vocab.en.spm"] == "MISSING"
    assert rows[f"{base}/bw2/vocab.spm"] == "MISSING"
    assert "continuation-model-backwards-ru-en: vocab.ru.spm, vocab.en.spm" in out


def test_requirements_parse_download_argv():
    from translations_taskgraph.cli.check_urls import requirements_of
    from translations_taskgraph.pipeline import PlannedTask

    task = PlannedTask(label="dl", kind="continuation", template={}, context={}, extra_args=[
        "--file", "a.npz", "https://h/a.npz", "--file", "b.yml", "https://h/b.yml",
        "--vocab-dir", "https://h/m/", "--src", "ru", "--trg", "en", "--pin", "a.npz", "0" * 64,
    ])
    reqs = requirements_of(task)
    assert [(r.names, r.alternatives) for r in reqs] == [
        (("a.npz",), [["https://h/a.npz"]]),
        (("b.yml",), [["https://h/b.yml"]]),
        (("vocab.ru.spm", "vocab.en.spm"), [["https://h/m/vocab.ru.spm", "https://h/m/vocab.en.spm"],
                                            ["https://h/m/vocab.spm"]]),
    ]


# ------------------------------------------------------------------------------------------------
# diff
@pytest.fixture(scope="module")
def diff_outputs(tmp_path_factory):
    import io
    from contextlib import redirect_stdout

    base = tmp_path_factory.mktemp("diff") / "default.yml"
    base.write_text("{}\n")
    outputs = {}
    for flags in ((), ("--markdown",)):
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            code = cli.main(["diff", str(base), RECIPE, *flags])
        outputs[flags] = (code, buffer.getvalue())
    return outputs


def test_diff_text(diff_outputs):
    code, out = diff_outputs[()]
    assert code == 0
    assert "4 added, 24 removed" in out.splitlines()[1]
    added = out[out.index("Added (4):") : out.index("Removed (")]
    assert "  continuation-vocab\n    + continuation-vocab-ru-en" in added
    removed = out[out.index("Removed (") : out.index("Changed (")]
    assert "  build-vocab\n    - build-vocab-ru-en" in removed
    assert "  corpus-merge-parallel\n    - corpus-merge-parallel-ru-en" in removed
    changed = out[out.index("Changed (") :]
    teacher = changed[changed.index("~ train-teacher-model-ru-en-1") :]  # the last stage
    assert "vocab: build-vocab-ru-en -> continuation-vocab-ru-en" in teacher
    assert "corpus: corpus-align-parallel-ru-en -> continuation-corpus-parallel-ru-en" in teacher
    assert "digest:" in teacher
    # A task whose fetches and command changed, not only its producers.
    align = changed[changed.index("~ corpus-align-distillation-ru-en") :]
    assert "- priors: corpus-align-parallel-ru-en" in align
    assert "fetches:\n          - priors: corpus.priors" in align
    assert "command:\n          - --priors /builds/worker/fetches/priors/corpus.priors" in align
    # Same dates for both graphs: no index-rank noise on unchanged tasks.
    assert "docker-image-base" not in out


def test_diff_markdown(diff_outputs):
    code, out = diff_outputs[("--markdown",)]
    assert code == 0
    assert out.startswith("## Task graph diff:")
    assert "| Stage | Added | Removed | Changed |" in out
    assert "| build-vocab | 0 | 1 | 0 |" in out
    assert "### Added (4)" in out and "### Removed (24)" in out
    assert "- **continuation-vocab**: `continuation-vocab-ru-en`" in out
    assert "#### train-teacher-model" in out
    assert "  - dependencies: `backtranslations: corpus-align-backtranslations-ru-en -> " in out
    assert "- `train-teacher-model-ru-en-1`" in out


def test_diff_identical(tmp_path, capsys):
    config = write_config(tmp_path, "same.yml", {})
    code, out, _ = run(capsys, "diff", config, config)
    assert code == 0
    assert "0 added, 0 removed, 0 changed" in out


def test_diff_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text("experiment: {teacher-ensemble: 0}\n")
    code, _, err = run(capsys, "diff", RECIPE, bad)
    assert code == 1 and "experiment.teacher-ensemble" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------------
# picture
def test_picture_mermaid(capsys):
    code, out, _ = run(capsys, "picture", RECIPE)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    for name in ("download", "replaced", "pruned"):
        assert any(line.startswith(f"  classDef {name} ") for line in lines)
    classes = {line.split()[-1]: line.split()[1].split(",") for line in lines if line.startswith("  class ")}
    assert set(classes["download"]) == {
        "continuation_vocab", "continuation_corpus_parallel", "continuation_corpus_backtranslations",
        "continuation_model_backwards",
    }
    replaced = {"build_vocab", "corpus_merge_parallel", "backtranslations_train_backwards_model"}
    assert replaced <= set(classes["replaced"])
    assert {"corpus_clean_parallel", "evaluate_backwards"} <= set(classes["pruned"])
    assert "train_teacher_model" not in sum(classes.values(), [])
    assert '  build_vocab["build-vocab (replaced)"]' in lines
    assert "  continuation_vocab --> train_teacher_model" in lines
    assert "  build_vocab -.-> train_teacher_model" in lines  # the original edge, drawn dashed
    assert "  continuation_vocab -. replaces .-> build_vocab" in lines
    assert "  build_vocab --> train_teacher_model" not in lines


def test_picture_output_file_and_missing_dot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, out, err = run(capsys, "picture", LEGACY, "--output", tmp_path / "g.mmd", "--svg", tmp_path / "g.svg")
    assert code == 0
    assert out == ""
    assert (tmp_path / "g.mmd").read_text().startswith("flowchart LR\n")
    assert not (tmp_path / "g.svg").exists()
    assert "Graphviz 'dot' is not on PATH" in err


def test_picture_svg_through_dot(tmp_path, capsys, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "source = sys.stdin.read()\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\n"
        "open(out, 'w').write('<svg><!--' + source + '--></svg>')\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    code, out, err = run(capsys, "picture", RECIPE, "--svg", tmp_path / "g.svg")
    assert code == 0 and err == ""
    svg = (tmp_path / "g.svg").read_text()
    assert "digraph stages" in svg and "rankdir=LR" in svg
    assert '"continuation-vocab" -> "train-teacher-model";' in svg
    assert '"build-vocab" [label="build-vocab (replaced)" style="filled,dashed"' in svg
    assert out.startswith("flowchart LR")


# ------------------------------------------------------------------------------------------------
# Inputs made unnecessary by other inputs, and user errors around the commands.
DISTILLATION_RECIPE = str(PARAMS_DIR / "recipe-distillation-and-student.yml")


def test_explain_and_picture_a_download_that_is_pruned(capsys):
    """In this recipe the teacher is used, so nothing reads the back-translations corpus any more:
    its download is pruned. explain still accounts for it; picture draws no edge from it."""
    code, out, err = run(capsys, "explain", DISTILLATION_RECIPE)
    assert code == 0 and err == ""
    section = block(out, "corpus-backtranslations")
    assert "NOT IN THE GRAPH: other inputs replaced everything that would read it" in section
    assert "corpus-merge-mono (1):\n      corpus-merge-mono-trg-en" in section  # replaced by it
    assert "dataset-news-crawl-news_2007-en" in section  # pruned with it
    assert "consumed by (0):" in section
    assert "Pruned, not traced to one input" not in out
    code, out, err = run(capsys, "picture", DISTILLATION_RECIPE)
    assert code == 0 and err == ""
    assert "continuation_corpus_backtranslations" not in out
    assert '  corpus_merge_mono["corpus-merge-mono (replaced)"]' not in out  # merge-mono (src) is kept


def test_parameters_file_with_taskgraph_keys_is_read_like_taskgraph(tmp_path, capsys):
    path = tmp_path / "params.yml"
    path.write_text("target_tasks_method: default\ncontinuation:\n  vocab: {src: https://example.com/v.ru.spm, "
                    "trg: https://example.com/v.en.spm}\n")
    code, out, _ = run(capsys, "explain", path)
    assert code == 0
    assert "download task: continuation-vocab-ru-en" in out


@pytest.mark.parametrize(
    "argv, content, message",
    [
        (["explain"], "target_tasks_method: default\ncontinuaton: {}\n",
         "Invalid training_config at continuaton: unknown parameter; did you mean the training-config key "
         "'continuation'?"),
        (["explain"], b"\xff\xfe not text", "not UTF-8 text"),
        (["--root", "/nonexistent", "explain"], "{}\n", "/nonexistent is not a taskcluster directory"),
        (["picture", "--output", "/nonexistent/x.mmd"], "{}\n", "cannot write /nonexistent/x.mmd"),
    ],
    ids=["misspelled-key", "not-utf8", "bad-root", "unwritable-output"],
)
def test_user_errors_are_one_line(tmp_path, capsys, argv, content, message):
    path = tmp_path / "config.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    argv = argv + [path]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("timeout", ["inf", "nan", "0", "-1"])
def test_explain_timeout_must_be_a_positive_number(capsys, timeout):
    code, _, err = run(capsys, "explain", RECIPE, "--timeout", timeout)
    assert code == 2 and "--timeout must be a positive number of seconds" in err


def test_output_cut_short_ends_quietly(tmp_path):
    """`explain ... | head -1`: the output (far more than a pipe buffer here) stops without a traceback."""
    import subprocess

    url = "https://example.com/parallel"
    config = write_config(tmp_path, "big.yml", {
        "experiment": {"name": "ci", "src": "ru", "trg": "en"},
        "datasets": {**ci_example()["datasets"], "train": [f"opus_corpus-{n}/v1" for n in range(600)]},
        "continuation": {"corpora": {"parallel": {"src": f"{url}.ru.zst", "trg": f"{url}.en.zst"}}},
    })
    cli_path = Path(sys.executable).with_name("translations-taskgraph")
    result = subprocess.run(f"'{cli_path}' explain '{config}' | head -1", shell=True, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.startswith("ci: ru -> en")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
