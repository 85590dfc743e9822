"""End to end: the toy pipeline, then every continuation recipe of the user docs, run locally.

One shared toy run (session-scoped): `translations-taskgraph run` on
taskcluster/test/params/toy-local-run.yml, its `url_` datasets served from loopback (toy data of
tests/toydata.py). Every generated task runs its own definition (local_run.py): real steps, real
Marian, fetches through taskgraph's fetch-content.

Then the recipes (taskcluster/test/params/recipe-*.yml and doc-*.yml, the YAML blocks of the user
docs), plus a vocab that is not the model's, each pointed at the toy run's store served as
Taskcluster would serve it (local_queue.py): models as `.../api/queue/v1/task/<taskId>/artifacts/
public/build` directories, corpora as `.../artifacts/public/build/<name>` files, vocabs as
`.../runs/0/artifacts/public%2Fbuild%2F<name>`. Each recipe runs only up to the stage it is for.
The recipes share one store that starts as a hard-linked copy of the toy run's: tasks whose cache
digest the recipe leaves unchanged (datasets, cleaning) are reused, as a second run in the same
store reuses them; everything downstream of a continuation input runs. The legacy
`pretrained-models` form of the docs makes the same graph as its `continuation` twin, so run after
it, it reuses every task (which is what it shows).
"""

import contextlib
import copy
import functools
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from conftest import PARAMS_DIR, ROOT

from pipeline.common.io import read_lines
from tests import toydata
from translations_taskgraph.cli import main as cli_main
from translations_taskgraph.cli.run import generate
from translations_taskgraph.local_queue import QueueServer

TOY_PARAMS = PARAMS_DIR / "toy-local-run.yml"
TOY_HOST = "127.0.0.1:8000"  # replaced by the test server's address
SRC, TRG = "ru", "en"
TEST_PAIRS = 50
MAX_RUN_TIME = "600"  # the watchdog of every task (Marian included)

# What each recipe is for: the stage it runs up to.
RECIPES = {
    "recipe-train-new-teacher": "train-teacher-model",
    "recipe-distillation-and-student": "distillation-student-model-train",
    "recipe-distill-student-from-data": "distillation-student-model-train",
    "recipe-finetune-existing-model": "distillation-student-model-train",
    "doc-continuation-models": "train-teacher-model",
    "doc-legacy-pretrained-models": "train-teacher-model",
}
TEACHER, BACKWARDS = "train-teacher-model-ru-en-1", "backtranslations-train-backwards-model-ru-en"
STUDENT = "distillation-student-model-train-ru-en"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_directory(directory):
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def write_toy_data(directory):
    toydata.write_parallel(str(directory / "train"), SRC, TRG, 600, seed=1)
    toydata.write_parallel(str(directory / "dev"), SRC, TRG, 100, seed=2)
    toydata.write_parallel(str(directory / "test"), SRC, TRG, TEST_PAIRS, seed=3)
    toydata.write_mono(str(directory / f"mono-src.{SRC}.zst"), "src", 300, seed=4)
    toydata.write_mono(str(directory / f"mono-trg.{TRG}.zst"), "trg", 300, seed=5)


def deep_merge(base, extra):
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class LocalRun:
    """One `translations-taskgraph run`, and what it left: exit status, output, summary, logs."""

    def __init__(self, params, store, *args):
        self.params, self.store = Path(params), Path(store)
        summary = self.store / "summary.json"
        if summary.exists():
            summary.unlink()  # the run before's
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            self.code = cli_main(["run", str(params), "--store", str(store), "-j", "2",
                                  "--max-run-time", MAX_RUN_TIME, *args])
        self.output = out.getvalue()
        self.summary = json.loads(summary.read_text()) if summary.exists() else {}
        # Captured now: a later run in the same store may replace them.
        self.logs = {label: self._read(label, "live.log") for label in self.summary}
        self.artifacts = {label: self._listing(label) for label in self.summary}
        self.batches = {label: yaml.safe_load(self._read(label, "public/build/model.npz.progress.yml"))["batches"]
                        for label in self.summary if "model.npz.progress.yml" in self.artifacts[label]}

    def _read(self, label, name):
        path = self.store / label / name
        return path.read_text(errors="replace") if path.exists() else ""

    def _listing(self, label):
        build = self.store / label / "public" / "build"
        return sorted(p.name for p in build.iterdir()) if build.is_dir() else []

    def state(self, label):
        return self.summary.get(label, {}).get("state")

    def failures(self):
        """Each failed task with the end of its log, for assertion messages."""
        return "\n\n".join(f"== {label}: {record}\n{self.logs.get(label, '')[-2500:]}"
                           for label, record in self.summary.items() if record["state"] == "failed")

    def labels(self, prefix):
        return sorted(label for label in self.summary if label.startswith(prefix))


def write_params(path, training_config):
    path.write_text(yaml.safe_dump({"training_config": training_config}, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def toy_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("toy-data")
    write_toy_data(data)
    httpd = serve_directory(data)
    yield data, f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def toy_config(toy_server):
    _, host = toy_server
    return yaml.safe_load(TOY_PARAMS.read_text().replace(TOY_HOST, host))["training_config"]


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory, toy_config):
    directory = tmp_path_factory.mktemp("toy-run")
    params = write_params(directory / "toy.yml", toy_config)
    run = LocalRun(params, directory / "store")
    run.graph, _ = generate(ROOT / "taskcluster", params)
    return run


# ---------------------------------------------------------------------------------------------
# The toy pipeline


def test_toy_pipeline_every_task_completes(toy_run):
    assert toy_run.code == 0, toy_run.failures() or toy_run.output
    assert toy_run.summary and all(r["state"] == "completed" for r in toy_run.summary.values())


def test_toy_pipeline_runs_every_stage(toy_run):
    expected = {t.attributes["stage"] for t in toy_run.graph.tasks.values()
                if t.kind not in ("docker-image", "all-pipeline")}
    ran = {toy_run.graph.tasks[label].attributes["stage"] for label, record in toy_run.summary.items()
           if record["state"] == "completed"}
    assert expected - ran == set(), toy_run.failures()
    # the pipeline's stages, from data to export, all of them
    assert {"dataset", "build-vocab", "train-teacher-model", "distillation-student-model-quantize", "export",
            "evaluate-quantized", "backtranslations-train-backwards-model"} <= ran


def test_toy_pipeline_publishes_every_declared_artifact(toy_run):
    missing = {}
    for label in toy_run.summary:
        declared = set(toy_run.graph.tasks[label].attributes.get("artifacts", []))
        absent = declared - set(toy_run.artifacts[label])
        if absent:
            missing[label] = sorted(absent)
    assert missing == {}, toy_run.failures()


def _translations(run, prefix):
    (label,) = run.labels(prefix)
    build = run.store / label / "public" / "build"
    (translations,) = build.glob(f"*.{TRG}.translations.zst")
    (metrics,) = build.glob("*.metrics.json")
    return list(read_lines(str(translations))), json.loads(metrics.read_text())


@pytest.mark.parametrize("model", ["evaluate-student-", "evaluate-quantized-"])
def test_student_and_quantized_student_translate(toy_run, model):
    assert toy_run.labels(model), toy_run.output
    lines, metrics = _translations(toy_run, model)
    assert len(lines) == TEST_PAIRS
    assert sum(1 for line in lines if line.strip()) >= TEST_PAIRS * 0.9
    # the toy pair is word for word: the output is made of target-language pseudo-words
    words = {w.strip(".").lower() for line in lines for w in line.split()}
    assert len(words & set(toydata.TRG_WORDS)) >= 10
    assert metrics


def test_every_evaluation_writes_metrics(toy_run):
    evaluations = toy_run.labels("evaluate-")
    assert len(evaluations) >= 6, toy_run.output
    for label in evaluations:
        (metrics,) = [name for name in toy_run.artifacts[label] if name.endswith(".metrics.json")]
        values = json.loads((toy_run.store / label / "public/build" / metrics).read_text())
        numbers = [v for v in values.values() if isinstance(v, (int, float))] if isinstance(values, dict) else []
        assert numbers, f"{label}: {values}"


# ---------------------------------------------------------------------------------------------
# The continuation recipes, fed from the toy run's store


class Published:
    """URLs of the toy run's artifacts as Taskcluster would serve them."""

    def __init__(self, run, queue):
        self.run, self.root = run, queue.root_url

    def task_id(self, label):
        return self.run.summary[label]["task-id"]

    def directory(self, label):
        return f"{self.root}/api/queue/v1/task/{self.task_id(label)}/artifacts/public/build"

    def file(self, label, name):
        return f"{self.directory(label)}/{name}"

    def run_file(self, label, name):
        return f"{self.root}/api/queue/v1/task/{self.task_id(label)}/runs/0/artifacts/public%2Fbuild%2F{name}"


MODEL_PRODUCERS = {"teacher": "train-teacher-model-ru-en-{member}", "teachers": "train-teacher-model-ru-en-{member}",
                   "train-teacher": "train-teacher-model-ru-en-{member}", "backwards": BACKWARDS,
                   "train-backwards": BACKWARDS, "student": STUDENT, "train-student": STUDENT}
CORPUS_PRODUCERS = {  # corpus -> {key: (producing task, artifact)}
    "parallel": {"src": ("corpus-merge-parallel-ru-en", "corpus.ru.zst"),
                 "trg": ("corpus-merge-parallel-ru-en", "corpus.en.zst"),
                 "tok-src": ("corpus-align-parallel-ru-en", "corpus.tok-icu.ru.zst"),
                 "tok-trg": ("corpus-align-parallel-ru-en", "corpus.tok-icu.en.zst"),
                 "alignments": ("corpus-align-parallel-ru-en", "corpus.aln.zst")},
    "backtranslations": {"src": ("backtranslations-mono-trg-dechunk-translations-ru-en", "mono.ru.zst"),
                         "trg": ("corpus-merge-mono-trg-en", "mono.en.zst"),
                         "tok-src": ("corpus-align-backtranslations-ru-en", "mono.tok-icu.ru.zst"),
                         "tok-trg": ("corpus-align-backtranslations-ru-en", "mono.tok-icu.en.zst"),
                         "alignments": ("corpus-align-backtranslations-ru-en", "mono.aln.zst")},
    "distillation": {"src": ("distillation-corpus-final-filtering-ru-en", "corpus.ru.zst"),
                     "trg": ("distillation-corpus-final-filtering-ru-en", "corpus.en.zst"),
                     "tok-src": ("corpus-align-distillation-ru-en", "corpus.tok-icu.ru.zst"),
                     "tok-trg": ("corpus-align-distillation-ru-en", "corpus.tok-icu.en.zst"),
                     "alignments": ("corpus-align-distillation-ru-en", "corpus.aln.zst")},
}


def url_for(path, published):
    """The toy run's URL for the URL at `path` of a recipe's continuation block."""
    if path[0] == "vocab":
        return published.run_file("build-vocab-ru-en", f"vocab.{SRC if path[1] == 'src' else TRG}.spm")
    if path[0] == "corpora":
        return published.file(*CORPUS_PRODUCERS[path[1]][path[2]])
    name = path[1] if path[0] == "models" else path[0]  # continuation.models.<name> or pretrained-models.<name>
    member = path[3] + 1 if len(path) > 3 else 1
    return published.directory(MODEL_PRODUCERS[name].format(member=member))


def with_toy_urls(block, published, path=()):
    if isinstance(block, dict):
        return {k: with_toy_urls(v, published, path + (k,)) for k, v in block.items()}
    if isinstance(block, list):
        return [with_toy_urls(v, published, path + (i,)) for i, v in enumerate(block)]
    if isinstance(block, str) and block.startswith(("http://", "https://", "gs://")):
        return url_for(path, published)
    return block


def recipe_config(name, toy_config, published):
    """The recipe's continuation block with the toy run's URLs, merged over the toy config (the
    finetune recipe's own experiment and datasets, en -> ja, give way to the toy's ru -> en)."""
    recipe = yaml.safe_load((PARAMS_DIR / f"{name}.yml").read_text())["training_config"]
    continuation = {key: with_toy_urls(value, published) for key, value in recipe.items()
                    if key in ("continuation", "pretrained-models")}
    config = deep_merge(toy_config, continuation)
    if "continue" in json.dumps(continuation):
        # the toy teacher stopped at 100 updates: continuing means going on to 150
        config["marian-args"]["training-teacher"]["after"] = "150u"
    return config


@pytest.fixture(scope="session")
def recipes(tmp_path_factory, toy_run, toy_config, toy_server):
    assert toy_run.code == 0, "the toy run failed: the recipes have nothing to continue from"
    directory = tmp_path_factory.mktemp("recipes")
    store = directory / "store"
    shutil.copytree(toy_run.store, store, copy_function=os.link, ignore=shutil.ignore_patterns(".*", "summary.json"))
    results = {}
    with QueueServer.for_store(toy_run.store) as queue:
        published = Published(toy_run, queue)
        for name, stage in RECIPES.items():
            params = write_params(directory / f"{name}.yml", recipe_config(name, toy_config, published))
            results[name] = LocalRun(params, store, "--target-stage", stage)
        # The new-teacher recipe, continuing the toy teacher, with a source vocab that is not the
        # teacher's: the training task must refuse it.
        data, host = toy_server
        other_vocab(directory / "other-vocab", data / "other-vocab.ru.spm")
        config = recipe_config("recipe-train-new-teacher", toy_config, published)
        config["continuation"]["models"]["teacher"] = {"urls": [published.directory(TEACHER)], "mode": "continue"}
        config["continuation"]["vocab"]["src"] = f"http://{host}/other-vocab.ru.spm"
        config["marian-args"]["training-teacher"]["after"] = "150u"
        params = write_params(directory / "mismatched-vocab.yml", config)
        results["mismatched-vocab"] = LocalRun(params, store, "--target-stage", "train-teacher-model")
    return results


def other_vocab(work, target):
    """Another model's vocab: SentencePiece trained on other toy text, with another size."""
    corpus = work / "corpus"
    work.mkdir(parents=True)
    toydata.write_parallel(str(corpus), SRC, TRG, 400, seed=99)
    subprocess.run([sys.executable, str(ROOT / "pipeline/train/spm_vocab.py"), "--src", SRC, "--trg", TRG,
                    "--corpus-prefix", str(corpus), "--sample-size", "400", "--vocab-size", "150",
                    "--output-dir", str(work / "vocab")], check=True, cwd=ROOT, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    shutil.copy(work / "vocab" / f"vocab.{SRC}.spm", target)


def test_every_recipe_of_the_docs_is_run():
    documented = {p.stem for p in PARAMS_DIR.glob("recipe-*.yml")} | {p.stem for p in PARAMS_DIR.glob("doc-*.yml")}
    assert documented == set(RECIPES)


@pytest.mark.parametrize("name", sorted(set(RECIPES) - {"doc-legacy-pretrained-models"}))
def test_recipe_runs_to_its_stage(recipes, name):
    run = recipes[name]
    assert run.code == 0, run.failures() or run.output
    assert any(label.startswith("continuation-") for label in run.summary)
    target = [label for label, r in run.summary.items() if label.startswith(RECIPES[name])]
    assert target and all(run.state(label) == "completed" for label in target)


def test_legacy_recipe_is_the_same_graph_and_reuses_every_task(recipes):
    """The legacy `pretrained-models` block makes the very tasks of its `continuation` twin, cache
    digests included: run after it in the same store, every task is reused under its taskId."""
    legacy, current = recipes["doc-legacy-pretrained-models"], recipes["doc-continuation-models"]
    assert legacy.code == 0, legacy.failures() or legacy.output
    assert set(legacy.summary) == set(current.summary)
    for label, record in legacy.summary.items():
        assert record["state"] == "cached", label
        assert record["task-id"] == current.summary[label]["task-id"], label


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_continuation_inputs_are_downloaded_from_the_store(recipes, toy_run, name):
    """Each download task fetched from the toy run's artifacts (as Taskcluster URLs)."""
    run = recipes[name]
    downloads = run.labels("continuation-")
    assert downloads
    for label in downloads:
        assert run.state(label) in ("completed", "cached"), run.failures()
        manifest = json.loads((run.store / label / "public/build/manifest.json").read_text()) \
            if "manifest.json" in run.artifacts[label] else {}
        urls = " ".join(str(v) for v in manifest.values())
        assert "/api/queue/v1/task/" in urls, f"{label}: {manifest}"


def _decoded_with_download(run, consumer_prefix, download):
    """The consumers fetched their model from the download task (by its taskId), and ran."""
    download_id = run.summary[download]["task-id"]
    consumers = run.labels(consumer_prefix)
    assert consumers
    for label in consumers:
        assert run.state(label) == "completed", run.failures()
        assert f"/api/queue/v1/task/{download_id}/artifacts/public/build/final.model.npz" in run.logs[label]


def test_use_backwards_model_never_trains_and_backtranslation_decodes_with_the_download(recipes):
    run = recipes["doc-continuation-models"]
    assert BACKWARDS not in run.summary
    _decoded_with_download(run, "backtranslations-mono-trg-translate-", "continuation-model-backwards-ru-en")


def test_use_teacher_never_trains_and_distillation_decodes_with_the_download(recipes):
    run = recipes["recipe-distillation-and-student"]
    assert not run.labels("train-teacher-model")
    _decoded_with_download(run, "distillation-mono-src-translate-", "continuation-model-teacher-ru-en-1")
    _decoded_with_download(run, "distillation-parallel-src-translate-", "continuation-model-teacher-ru-en-1")


@pytest.mark.parametrize("name", ["doc-continuation-models", "doc-legacy-pretrained-models"])
def test_continue_teacher_resumes_past_the_checkpoint(recipes, toy_run, name):
    run = recipes[name]
    assert toy_run.batches[TEACHER] == 100
    # The legacy form makes the very same tasks (cache digests included) as the current one, so
    # the run after the current form's reuses its continued teacher.
    assert run.state(TEACHER) in (("completed",) if name == "doc-continuation-models" else ("completed", "cached"))
    assert run.batches.get(TEACHER) == 150, run.failures()
    if run.state(TEACHER) == "completed":
        # Marian's own word: it went on from the checkpoint's weights and optimizer state
        marian = [line for line in run.logs[TEACHER].splitlines() if "restored from training checkpoint" in line
                  or "Loading Adam parameters" in line or "corpus state" in line]
        assert any("Master parameters and optimizers restored from training checkpoint" in line for line in marian), \
            run.logs[TEACHER][-3000:]
        assert any("Loading Adam parameters" in line for line in marian), marian


def test_init_student_starts_from_the_pretrained_model(recipes):
    run = recipes["recipe-finetune-existing-model"]
    assert run.state(STUDENT) == "completed", run.failures()
    assert "Initializing model weights with pre-trained model" in run.logs[STUDENT]
    assert "/fetches/pretrained/final.model.npz.best-chrf.npz" in run.logs[STUDENT]
    assert run.batches[STUDENT] == 100  # init: progress starts from zero


def test_a_vocab_from_another_model_fails_the_training_task_naming_both(recipes):
    run = recipes["mismatched-vocab"]
    assert run.code == 1
    assert run.state(TEACHER) == "failed"
    log = run.logs[TEACHER]
    error = [line for line in log.splitlines() if "vocab" in line and "differs" in line]
    assert error, log[-3000:]
    assert "/fetches/vocab/vocab.ru.spm" in error[-1] and "/fetches/pretrained/vocab.ru.spm" in error[-1]
    assert "Training started" not in log  # refused before Marian trained
