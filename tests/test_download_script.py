"""Tests for pipeline/continuation/download.py against a real HTTP server on loopback.

The server serves a temporary directory and simulates failures by URL prefix:

    /files/NAME           the file NAME from the served directory (404 if absent)
    /status/CODE/ANY      always answers HTTP CODE
    /truncated/NAME       announces the full Content-Length, sends half, closes
    /chunked-cut/NAME     chunked transfer encoding: sends half in one chunk, closes
    /redirect/ANY?to=URL  answers 302 with Location: URL (taken as is, malformed or not)
    /nolength/NAME        the file without a Content-Length header
    /flaky/KEY/NAME       HTTP 500 on the first request for this path, then the file
    /slow/ANY             never answers (until the fixture shuts down)

Only 127.0.0.1 is used, so this runs under pytest-socket --allow-hosts=127.0.0.1.
"""

import collections
import hashlib
import http.server
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "pipeline" / "continuation" / "download.py"

ZSTD_DATA = b"\x28\xb5\x2f\xfd" + b"\x00" * 20


def load_script():
    spec = importlib.util.spec_from_file_location("continuation_download", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


download = load_script()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_npz(arrays=("encoder_W", "decoder_W")) -> bytes:
    """An .npz is a zip of .npy files; build one without numpy."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in arrays:
            header = b"\x93NUMPY\x01\x00" + b"v\x00" + b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
            archive.writestr(name + ".npy", header + b"\x00" * 8 + name.encode() * 50)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# The loopback server


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        state = self.server.state
        with state.lock:
            state.requests[self.path] += 1
            count = state.requests[self.path]
        route, _, rest = self.path[1:].partition("/")
        if route == "files":
            self.send_file(rest)
        elif route == "status":
            self.send_data(b"simulated error\n", status=int(rest.partition("/")[0]))
        elif route == "truncated":
            data = self.read_file(rest)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif route == "chunked-cut":
            data = self.read_file(rest)
            half = data[: len(data) // 2]
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
            self.close_connection = True
        elif route == "redirect":
            self.send_response(302)
            self.send_header("Location", rest.partition("?to=")[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "nolength":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.read_file(rest))
            self.close_connection = True
        elif route == "flaky":
            if count == 1:
                self.send_data(b"try again\n", status=500)
            else:
                self.send_file(rest.partition("/")[2])
        elif route == "slow":
            state.release.wait(timeout=30)
        else:
            self.send_data(b"no such route\n", status=404)

    def read_file(self, name):
        path = self.server.state.root / name
        return path.read_bytes() if path.is_file() else None

    def send_file(self, name):
        data = self.read_file(name)
        if data is None:
            self.send_data(b"not found\n", status=404)
        else:
            self.send_data(data)

    def send_data(self, data, status=200):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ServerState:
    def __init__(self, root):
        self.root = root
        self.requests = collections.Counter()
        self.lock = threading.Lock()
        self.release = threading.Event()


class Server:
    def __init__(self, base, state):
        self.base = base
        self.state = state

    def put(self, name, data) -> str:
        """Serve `data` as /files/NAME; return its URL."""
        (self.state.root / name).write_bytes(data)
        return self.url("files", name)

    def url(self, route, name) -> str:
        return f"{self.base}/{route}/{name}"

    def requests(self, url) -> int:
        with self.state.lock:
            return self.state.requests[url[len(self.base):]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState(tmp_path_factory.mktemp("served"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state)
    httpd.state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Make sure urllib talks to the loopback server directly."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


class Result:
    def __init__(self, code, stdout, stderr):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def error(self) -> str:
        """The single error line on stderr."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("download.py: error: "), self.stderr
        assert "Traceback" not in self.stderr
        return lines[0]


@pytest.fixture
def run(out, capsys):
    def run(*args, retries="2", timeout="5"):
        argv = ["--output-dir", str(out), "--retry-wait", "0", "--retries", retries, "--timeout", timeout]
        code = download.main(argv + [str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def published(out):
    """Files in the output directory, ignoring manifest.json."""
    return sorted(path.name for path in out.iterdir() if path.name != "manifest.json")


# --------------------------------------------------------------------------
# Success


def test_downloads_files_and_writes_manifest(server, run, out):
    npz = make_npz()
    corpus = ZSTD_DATA + b"corpus"
    urls = {
        "final.model.npz.best-chrf.npz": server.put("model-a.npz", npz),
        "corpus.ru.zst": server.put("corpus-a.ru.zst", corpus),
        "notes.txt": server.put("notes-a.txt", b"hello\n"),
    }
    args = [arg for name, url in urls.items() for arg in ("--file", name, url)]
    result = run(*args)

    assert result.code == 0, result.stderr
    assert result.stderr == ""
    assert (out / "final.model.npz.best-chrf.npz").read_bytes() == npz
    assert (out / "corpus.ru.zst").read_bytes() == corpus
    assert (out / "notes.txt").read_bytes() == b"hello\n"
    assert published(out) == sorted(urls)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging left behind"

    contents = {"final.model.npz.best-chrf.npz": npz, "corpus.ru.zst": corpus, "notes.txt": b"hello\n"}
    expected = {
        name: {"url": urls[name], "size": len(data), "sha256": sha256(data)}
        for name, data in contents.items()
    }
    manifest_text = (out / "manifest.json").read_text()
    assert json.loads(manifest_text) == expected
    assert manifest_text == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    for name, data in contents.items():
        assert f"{name}\t{len(data)}\t{sha256(data)}" in result.stdout.splitlines()


def test_manifest_is_deterministic(server, run, out, tmp_path):
    url_a = server.put("det-a.txt", b"a")
    url_b = server.put("det-b.txt", b"b")
    first = run("--file", "b.txt", url_b, "--file", "a.txt", url_a)
    assert first.code == 0
    text = (out / "manifest.json").read_text()
    assert list(json.loads(text)) == ["a.txt", "b.txt"]
    second = run("--file", "a.txt", url_a, "--file", "b.txt", url_b)
    assert second.code == 0
    assert (out / "manifest.json").read_text() == text


def test_without_content_length(server, run, out):
    server.put("nolength.txt", b"x" * 5000)
    result = run("--file", "n.txt", server.url("nolength", "nolength.txt"))
    assert result.code == 0, result.stderr
    assert (out / "n.txt").read_bytes() == b"x" * 5000


def test_url_special_characters_reach_the_server_unchanged(server, run, out):
    weird = "model{1}%2Fbest.npz"
    url = server.put(weird, make_npz())
    result = run("--file", "model.npz", url)
    assert result.code == 0, result.stderr
    assert server.requests(url) == 1
    assert json.loads((out / "manifest.json").read_text())["model.npz"]["url"] == url


# --------------------------------------------------------------------------
# HTTP errors


def test_required_file_404_fails_at_once(server, run, out):
    good = server.put("good-404.txt", b"good")
    missing = server.url("files", "absent.npz")
    result = run("--file", "good.txt", good,
                 "--file", "final.model.npz.best-chrf.npz", missing, retries="3")
    assert result.code == 1
    assert result.error == (
        f"download.py: error: HTTP 404 for {missing} (required file final.model.npz.best-chrf.npz)"
    )
    assert server.requests(missing) == 1
    assert not out.exists() or list(out.iterdir()) == [], "nothing is published on failure"


def test_403_is_not_retried(server, run):
    url = server.url("status", "403/secret.npz")
    result = run("--file", "secret.npz", url, retries="3")
    assert result.code == 1
    assert f"HTTP 403 for {url}" in result.error
    assert server.requests(url) == 1


def test_optional_file_404_is_skipped(server, run, out):
    present = server.put("opt-present.zst", ZSTD_DATA)
    missing = server.url("files", "opt-absent.zst")
    result = run("--file", "corpus.zst", present,
                 "--optional-file", "mono.zst", missing,
                 "--optional-file", "mono2.zst", present)
    assert result.code == 0, result.stderr
    assert published(out) == ["corpus.zst", "mono2.zst"]
    assert "optional file mono.zst not found" in result.stdout
    assert missing in result.stdout
    assert set(json.loads((out / "manifest.json").read_text())) == {"corpus.zst", "mono2.zst"}


def test_optional_file_other_errors_still_fail(server, run):
    url = server.url("status", "403/opt.zst")
    result = run("--optional-file", "opt.zst", url)
    assert result.code == 1
    assert f"HTTP 403 for {url} (optional file opt.zst)" in result.error


def test_truncated_body_is_retried_then_fails(server, run, out):
    data = b"0123456789" * 100
    server.put("trunc.txt", data)
    url = server.url("truncated", "trunc.txt")
    result = run("--file", "trunc.txt", url, retries="2")
    assert result.code == 1
    assert url in result.error
    assert "received 500 of 1000 bytes" in result.error
    assert "gave up after 3 attempts" in result.error
    assert server.requests(url) == 3
    assert not (out / "trunc.txt").exists()


def test_chunked_body_cut_off_is_retried_then_fails(server, run, out):
    """No Content-Length to compare with: the cut-off chunked body must still not pass as the file
    (a .zst file would even pass its magic-bytes check)."""
    server.put("cut.zst", ZSTD_DATA * 40)
    url = server.url("chunked-cut", "cut.zst")
    result = run("--file", "corpus.ru.zst", url, retries="1")
    assert result.code == 1
    assert f"truncated download of {url}: the connection closed after" in result.error
    assert "gave up after 2 attempts" in result.error
    assert server.requests(url) == 2
    assert published(out) == []


@pytest.mark.parametrize(
    "location, problem",
    [
        ("ftp://127.0.0.1/model.npz", "only http(s) redirects are followed"),
        ("file:///etc/passwd", "HTTP 302 for"),  # urllib itself refuses to follow it
        ("http://[::1/model.npz", "redirects to a malformed URL"),
    ],
    ids=["ftp", "file", "malformed"],
)
def test_unsafe_or_malformed_redirects_fail_cleanly(server, run, out, location, problem):
    url = server.url("redirect", f"model.npz?to={location}")
    result = run("--file", "model.npz", url)
    assert result.code == 1
    assert problem in result.error and "Traceback" not in result.error
    assert len(result.error.strip().splitlines()) == 1
    assert published(out) == []


def test_transient_500_is_retried(server, run, out):
    server.put("flaky.npz", make_npz())
    url = server.url("flaky", "key1/flaky.npz")
    result = run("--file", "model.npz", url, retries="2")
    assert result.code == 0, result.stderr
    assert server.requests(url) == 2
    assert (out / "model.npz").read_bytes() == make_npz()
    assert "HTTP 500" in result.stdout and "retrying" in result.stdout


def test_persistent_500_gives_up(server, run):
    url = server.url("status", "503/down.txt")
    result = run("--file", "down.txt", url, retries="2")
    assert result.code == 1
    assert result.error == (
        f"download.py: error: HTTP 503 for {url} (required file down.txt); gave up after 3 attempts"
    )
    assert server.requests(url) == 3


def test_timeout_gives_clean_error(server, run):
    url = server.url("slow", "never.npz")
    start = time.monotonic()
    result = run("--file", "never.npz", url, retries="1", timeout="0.5")
    assert time.monotonic() - start < 10
    assert result.code == 1
    assert f"timed out after 0.5s fetching {url}" in result.error
    assert server.requests(url) == 2


def test_connection_refused_is_retried_then_fails(run):
    with socket.socket() as sock:  # find a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.txt"
    result = run("--file", "x.txt", url, retries="1")
    assert result.code == 1
    assert f"network error fetching {url}" in result.error
    assert "gave up after 2 attempts" in result.error


# --------------------------------------------------------------------------
# Verification


def test_pin_match(server, run, out):
    data = b"pinned content"
    url = server.put("pinned.txt", data)
    result = run("--file", "pinned.txt", url, "--pin", "pinned.txt", sha256(data).upper())
    assert result.code == 0, result.stderr
    assert (out / "pinned.txt").read_bytes() == data


def test_pin_mismatch(server, run, out):
    data = b"unexpected content"
    url = server.put("pin-bad.txt", data)
    wrong = sha256(b"expected content")
    result = run("--file", "pinned.txt", url, "--pin", "pinned.txt", wrong)
    assert result.code == 1
    assert result.error == (
        f"download.py: error: sha256 mismatch for pinned.txt from {url}: "
        f"expected {wrong}, got {sha256(data)}"
    )
    assert not (out / "pinned.txt").exists()


def test_valid_npz_accepted(server, run, out):
    npz = make_npz(("a", "b", "special:model.yml"))
    result = run("--file", "model.npz", server.put("valid.npz", npz))
    assert result.code == 0, result.stderr
    with zipfile.ZipFile(out / "model.npz") as archive:
        assert archive.namelist() == ["a.npy", "b.npy", "special:model.yml.npy"]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"<html>Access denied</html>", "not a readable .npz (zip) archive"),
        (make_npz()[:-40], "not a readable .npz (zip) archive"),
    ],
    ids=["html-error-page", "cut-off-archive"],
)
def test_corrupt_npz_rejected(server, run, out, data, message):
    url = server.put("corrupt.npz", data)
    result = run("--file", "model.npz", url)
    assert result.code == 1
    assert f"invalid model.npz from {url}: {message}" in result.error
    assert not (out / "model.npz").exists()


def test_npz_with_bad_crc_rejected(server, run):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("w.npy", b"A" * 100)
    data = buffer.getvalue().replace(b"A" * 100, b"A" * 99 + b"B")
    url = server.put("badcrc.npz", data)
    result = run("--file", "model.npz", url)
    assert result.code == 1
    assert "w.npy" in result.error and "CRC" in result.error


def test_empty_npz_rejected(server, run):
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    result = run("--file", "model.npz", server.put("empty.npz", buffer.getvalue()))
    assert result.code == 1
    assert "archive is empty" in result.error


def test_zst_without_magic_rejected(server, run):
    url = server.put("plain.zst", b"plain text, not zstd")
    result = run("--file", "corpus.en.zst", url)
    assert result.code == 1
    assert f"invalid corpus.en.zst from {url}: not zstd data" in result.error


def test_empty_spm_rejected(server, run):
    url = server.put("empty.spm", b"")
    result = run("--file", "vocab.spm", url)
    assert result.code == 1
    assert "vocabulary file is empty" in result.error


# --------------------------------------------------------------------------
# Vocabularies


def put_vocab_dir(server, directory, files):
    (server.state.root / directory).mkdir()
    for name, data in files.items():
        server.put(f"{directory}/{name}", data)
    return f"{server.base}/files/{directory}"


def test_joint_vocab_published_under_both_names(server, run, out):
    vocab_dir = put_vocab_dir(server, "joint", {"vocab.spm": b"joint vocab"})
    result = run("--vocab-dir", vocab_dir + "/", "--src", "ru", "--trg", "en")
    assert result.code == 0, result.stderr
    assert (out / "vocab.ru.spm").read_bytes() == b"joint vocab"
    assert (out / "vocab.en.spm").read_bytes() == b"joint vocab"
    assert published(out) == ["vocab.en.spm", "vocab.ru.spm"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocab.ru.spm"] == manifest["vocab.en.spm"] == {
        "url": vocab_dir + "/vocab.spm", "size": 11, "sha256": sha256(b"joint vocab"),
    }
    assert "joint vocabulary" in result.stdout


def test_split_vocab_published_unchanged(server, run, out):
    files = {"vocab.ru.spm": b"russian", "vocab.en.spm": b"english", "vocab.spm": b"joint"}
    vocab_dir = put_vocab_dir(server, "split", files)
    result = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en")
    assert result.code == 0, result.stderr
    assert (out / "vocab.ru.spm").read_bytes() == b"russian"
    assert (out / "vocab.en.spm").read_bytes() == b"english"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocab.en.spm"]["url"] == vocab_dir + "/vocab.en.spm"
    assert server.requests(vocab_dir + "/vocab.spm") == 0


def test_half_split_vocab_falls_back_to_joint(server, run, out):
    vocab_dir = put_vocab_dir(server, "half", {"vocab.ru.spm": b"russian", "vocab.spm": b"joint"})
    result = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en")
    assert result.code == 0, result.stderr
    assert (out / "vocab.ru.spm").read_bytes() == b"joint"
    assert (out / "vocab.en.spm").read_bytes() == b"joint"


def test_missing_vocab_names_urls_tried(server, run, out):
    vocab_dir = put_vocab_dir(server, "novocab", {})
    result = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en")
    assert result.code == 1
    assert vocab_dir + "/vocab.ru.spm" in result.error
    assert vocab_dir + "/vocab.spm" in result.error
    assert not out.exists() or list(out.iterdir()) == []


def test_pin_applies_to_vocab(server, run):
    vocab_dir = put_vocab_dir(server, "pinvocab", {"vocab.spm": b"joint"})
    ok = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en", "--pin", "vocab.en.spm", sha256(b"joint"))
    assert ok.code == 0, ok.stderr
    bad = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en", "--pin", "vocab.ru.spm", "0" * 64)
    assert bad.code == 1
    assert "sha256 mismatch for vocab.ru.spm" in bad.error


# --------------------------------------------------------------------------
# Argument validation


@pytest.mark.parametrize("name", ["sub/model.npz", "../model.npz", "..", ".", "", "a\\b", "manifest.json"])
def test_bad_names_rejected(server, run, name):
    url = server.put("anything.txt", b"x")
    result = run("--file", name, url)
    assert result.code == 1
    assert "invalid file name" in result.error
    assert server.requests(url) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--file", "a.txt", "ftp://127.0.0.1/a"], "must be an http(s) URL"),
        (["--file", "a.txt", "http://127.0.0.1/a b"], "must be percent-encoded"),
        (["--pin", "nothing.txt", "0" * 64], "--pin nothing.txt: no --file"),
        (["--file", "a.txt", "http://127.0.0.1/a", "--pin", "a.txt", "xyz"], "not a hex sha256"),
        (["--file", "a.txt", "http://127.0.0.1/a", "--file", "a.txt", "http://127.0.0.1/b"], "more than once"),
        (["--vocab-dir", "http://127.0.0.1/v", "--src", "ru"], "needs both --src and --trg"),
        (["--src", "ru", "--trg", "en"], "only used with --vocab-dir"),
        (["--vocab-dir", "http://127.0.0.1/v", "--src", "a/b", "--trg", "en"], "invalid file name"),
    ],
)
def test_invalid_arguments_rejected(run, args, message):
    result = run(*args)
    assert result.code == 1
    assert message in result.error


def test_usage_error_exits_2(capsys):
    assert download.main(["--file", "only-a-name"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_nothing_to_do_writes_empty_manifest(run, out):
    result = run()
    assert result.code == 0
    assert json.loads((out / "manifest.json").read_text()) == {}


# --------------------------------------------------------------------------
# The command-line entry point


def run_cli(*args):
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )


def test_cli_success(server, out):
    npz = make_npz()
    url = server.put("cli.npz", npz)
    proc = run_cli("--output-dir", str(out), "--retry-wait", "0",
                   "--file", "final.model.npz.best-chrf.npz", url, "--pin", "final.model.npz.best-chrf.npz", sha256(npz))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"final.model.npz.best-chrf.npz\t{len(npz)}\t{sha256(npz)}"]
    assert (out / "final.model.npz.best-chrf.npz").read_bytes() == npz


def test_cli_failure_is_one_line(server, out):
    url = server.url("files", "cli-absent.npz")
    proc = run_cli("--output-dir", str(out), "--retry-wait", "0", "--file", "model.npz", url)
    assert proc.returncode == 1
    assert proc.stderr == f"download.py: error: HTTP 404 for {url} (required file model.npz)\n"
