"""The graph and the download script agree: each generated download task, run for real.

For every kind of continuation input, the command of the generated download task (taken from the
task payload, unchanged but for the artifacts directory) runs against an HTTP server on loopback
serving plausible files. The files it publishes must be exactly the artifacts the task declares,
the artifacts its consumers fetch.
"""

import functools
import http.server
import os
import subprocess
import sys
import threading

import pytest
from conftest import ROOT, command, generate
from loopback_http import YML, make_npz, make_spm, make_zst

ZSTD = make_zst()


def content_for(name):
    """A real file of the kind `name` says: the download verifies each with its parser."""
    if name.endswith(".npz"):
        return make_npz()
    if name.endswith(".zst"):
        return ZSTD
    if name.endswith(".spm"):
        return make_spm("trg" if ".en." in name else "src")
    if name.endswith(".yml"):
        return YML
    return b"content of " + name.encode()


def step_env():
    """The environment of a task: the steps import pipeline.common from the checkout."""
    return {**{k: v for k, v in os.environ.items() if "proxy" not in k.lower()}, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root, relative, data):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def run_download(graph, label, output):
    argv = command(graph, label)
    assert argv[:2] == ["python3", "pipeline/continuation/download.py"]
    argv = [sys.executable, str(ROOT / argv[1])] + argv[2:]
    argv[argv.index("--output-dir") + 1] = str(output)
    argv += ["--retry-wait", "0"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=step_env())
    assert result.returncode == 0, result.stderr
    return sorted(p.name for p in output.iterdir() if p.name != "manifest.json")


MODEL_FILES = {
    "use": ["final.model.npz.best-chrf.npz"],
    "init": ["final.model.npz.best-chrf.npz"],
    "continue": [
        "final.model.npz.best-chrf.npz",
        "model.npz",
        "model.npz.best-chrf.npz",
        "model.npz.optimizer.npz",
        "model.npz.progress.yml",
        "model.npz.yml",
    ],
}


@pytest.mark.parametrize("vocab", ["split", "joint"])
@pytest.mark.parametrize("mode", ["use", "continue", "init"])
def test_model_download_publishes_what_the_task_declares(server, tmp_path, mode, vocab):
    root, base = server
    model_dir = f"models/{mode}-{vocab}"
    for name in MODEL_FILES[mode]:
        serve(root, f"{model_dir}/{name}", content_for(name))
    vocab_files = ["vocab.ru.spm", "vocab.en.spm"] if vocab == "split" else ["vocab.spm"]
    for name in vocab_files:
        serve(root, f"{model_dir}/{name}", content_for(name))

    graph = generate({"allow-private-urls": True, "continuation": {"models": {"teacher": {"url": f"{base}/{model_dir}", "mode": mode}}}})
    label = "continuation-model-teacher-ru-en-1"
    published = run_download(graph, label, tmp_path)
    assert published == sorted(graph.tasks[label].attributes["artifacts"])
    if vocab == "joint":
        assert (tmp_path / "vocab.ru.spm").read_bytes() == (tmp_path / "vocab.en.spm").read_bytes()


@pytest.mark.parametrize("aligned", [False, True], ids=["plain", "with-alignments"])
@pytest.mark.parametrize("corpus", ["parallel", "backtranslations", "distillation"])
def test_corpus_download_publishes_what_the_task_declares(server, tmp_path, corpus, aligned):
    root, base = server
    names = {"src": "c.ru.zst", "trg": "c.en.zst"}
    if aligned:
        names.update({"tok-src": "c.tok.ru.zst", "tok-trg": "c.tok.en.zst", "alignments": "c.aln.zst"})
    for name in names.values():
        serve(root, f"corpora/{corpus}/{name}", ZSTD)
    config = {key: f"{base}/corpora/{corpus}/{name}" for key, name in names.items()}
    graph = generate({"allow-private-urls": True, "continuation": {"corpora": {corpus: config}}})
    label = f"continuation-corpus-{corpus}-ru-en"
    assert run_download(graph, label, tmp_path) == sorted(graph.tasks[label].attributes["artifacts"])


def test_vocab_download_publishes_what_the_task_declares(server, tmp_path):
    root, base = server
    serve(root, "vocab/ru.spm", make_spm("src"))
    serve(root, "vocab/en.spm", make_spm("trg"))
    graph = generate({"allow-private-urls": True, "continuation": {"vocab": {"src": f"{base}/vocab/ru.spm", "trg": f"{base}/vocab/en.spm"}}})
    assert run_download(graph, "continuation-vocab-ru-en", tmp_path) == ["vocab.en.spm", "vocab.ru.spm"]
    assert (tmp_path / "vocab.ru.spm").read_bytes() == make_spm("src")


def test_a_missing_checkpoint_file_fails_the_continue_download(server, tmp_path):
    root, base = server
    for name in MODEL_FILES["continue"]:
        if name != "model.npz.optimizer.npz":
            serve(root, f"models/broken/{name}", content_for(name))
    serve(root, "models/broken/vocab.spm", make_spm())
    graph = generate({"allow-private-urls": True, "continuation": {"models": {"backwards": {"url": f"{base}/models/broken", "mode": "continue"}}}})
    argv = command(graph, "continuation-model-backwards-ru-en")
    argv = [sys.executable, str(ROOT / argv[1])] + argv[2:] + ["--retry-wait", "0"]
    argv[argv.index("--output-dir") + 1] = str(tmp_path)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=step_env())
    assert result.returncode == 1
    assert "404" in result.stderr and "model.npz.optimizer.npz" in result.stderr
