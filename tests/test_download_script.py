"""Tests for pipeline/continuation/download.py against a real HTTP server on loopback.

The server (tests/loopback_http.py) serves a temporary directory and simulates faults by URL
prefix. Only 127.0.0.1 is used, so this runs under pytest-socket --allow-hosts=127.0.0.1, and
every run passes --allow-private-urls except the tests of that refusal.
"""

import hashlib
import importlib.util
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from loopback_http import HTML, YML, make_npz, make_spm, make_zst, no_proxy, server  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "pipeline" / "continuation" / "download.py"

ZSTD_DATA = make_zst()


def load_script():
    spec = importlib.util.spec_from_file_location("continuation_download", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


download = load_script()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()




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
    def run(*args, retries="2", timeout="20", private=True):
        argv = ["--output-dir", str(out), "--retry-wait", "0", "--retries", retries, "--timeout", timeout]
        if private:
            argv.append("--allow-private-urls")
        code = download.main(argv + [str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def published(out):
    """Files in the output directory, ignoring manifest.json."""
    return sorted(path.name for path in out.iterdir() if path.name != "manifest.json")


def nothing_published(out):
    return not out.exists() or list(out.iterdir()) == []


# --------------------------------------------------------------------------
# Success


def test_downloads_files_and_writes_manifest(server, run, out):
    npz, spm = make_npz(), make_spm()
    corpus = make_zst(b"corpus line\n")
    contents = {
        "final.model.npz.best-chrf.npz": npz,
        "corpus.ru.zst": corpus,
        "model.npz.progress.yml": YML,
        "vocab.spm": spm,
        "notes.txt": b"hello\n",
    }
    urls = {name: server.put(f"a-{name}", data) for name, data in contents.items()}
    args = [arg for name, url in urls.items() for arg in ("--file", name, url)]
    result = run(*args)

    assert result.code == 0, result.stderr
    assert result.stderr == ""
    for name, data in contents.items():
        assert (out / name).read_bytes() == data
    assert published(out) == sorted(urls)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging left behind"
    assert [p.name for p in out.parent.iterdir()] == ["out"], "staging left behind"

    expected = {
        name: {"url": urls[name], "size": len(data), "sha256": sha256(data)}
        for name, data in contents.items()
    }
    manifest_text = (out / "manifest.json").read_text()
    assert json.loads(manifest_text) == expected
    assert manifest_text == json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    for name, data in contents.items():
        assert f"{name}\t{len(data)}\t{sha256(data)}" in result.stdout.splitlines()


def test_manifest_is_deterministic(server, run, out):
    url_a = server.put("det-a.txt", b"a")
    url_b = server.put("det-b.txt", b"b")
    first = run("--file", "b.txt", url_b, "--file", "a.txt", url_a)
    assert first.code == 0
    text = (out / "manifest.json").read_text()
    assert list(json.loads(text)) == ["a.txt", "b.txt"]
    second = run("--file", "a.txt", url_a, "--file", "b.txt", url_b)
    assert second.code == 0
    assert (out / "manifest.json").read_text() == text


def test_without_content_length_a_parsed_file_is_accepted(server, run, out):
    server.put("nolength.zst", ZSTD_DATA)
    result = run("--file", "n.zst", server.url("nolength", "nolength.zst"))
    assert result.code == 0, result.stderr
    assert (out / "n.zst").read_bytes() == ZSTD_DATA


def test_chunked_body_is_accepted(server, run, out):
    data = b"x" * 10000
    server.put("chunked.txt", data)
    result = run("--file", "c.txt", server.url("chunked", "chunked.txt"))
    assert result.code == 0, result.stderr
    assert (out / "c.txt").read_bytes() == data


def test_url_special_characters_reach_the_server_unchanged(server, run, out):
    npz = make_npz()
    server.put("model{1}%2Fbest.npz", npz)
    url = f"{server.base}/files/model%7B1%7D%252Fbest.npz"
    result = run("--file", "model.npz", url)
    assert result.code == 0, result.stderr
    assert server.requests(url) == 1
    assert json.loads((out / "manifest.json").read_text())["model.npz"]["url"] == url


# --------------------------------------------------------------------------
# HTTP errors and retries


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
    assert nothing_published(out), "nothing is published on failure"


def test_403_is_not_retried(server, run):
    url = server.url("status", "403/secret.npz")
    result = run("--file", "secret.npz", url, retries="3")
    assert result.code == 1
    assert f"HTTP 403 for {url}" in result.error
    assert server.requests(url) == 1


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
    assert nothing_published(out)


def test_chunked_body_cut_off_is_retried_then_fails(server, run, out):
    server.put("cut.zst", ZSTD_DATA * 40)
    url = server.url("chunked-cut", "cut.zst")
    result = run("--file", "corpus.ru.zst", url, retries="1")
    assert result.code == 1
    assert f"truncated download of {url}: the connection closed after" in result.error
    assert "gave up after 2 attempts" in result.error
    assert server.requests(url) == 2
    assert nothing_published(out)


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
    assert nothing_published(out)


def test_transient_500_is_retried(server, run, out):
    npz = make_npz()
    server.put("flaky.npz", npz)
    url = server.url("flaky", "key1/flaky.npz")
    result = run("--file", "model.npz", url, retries="2")
    assert result.code == 0, result.stderr
    assert server.requests(url) == 2
    assert (out / "model.npz").read_bytes() == npz
    assert "HTTP 500" in result.stdout and "retrying" in result.stdout


@pytest.mark.parametrize("code", [408, 429, 503])
def test_408_429_5xx_are_retried_honouring_retry_after(server, run, out, code):
    server.put(f"busy-{code}.yml", YML)
    url = server.url("once", f"{code}/1/key/busy-{code}.yml")
    result = run("--file", "model.npz.progress.yml", url, retries="1")
    assert result.code == 0, result.stderr
    assert f"HTTP {code} for {url}" in result.stdout and "retrying in 1s" in result.stdout
    first, second = server.times(url)
    assert second - first >= 0.9, "the retry came before the server's Retry-After"
    assert (out / "model.npz.progress.yml").read_bytes() == YML


def test_retry_after_beyond_the_deadline_fails_at_once(server, out, capsys):
    url = server.url("once", "429/120/key/never.yml")
    code = download.main(["--output-dir", str(out), "--allow-private-urls", "--deadline", "60",
                          "--file", "a.yml", url])
    err = capsys.readouterr().err
    assert code == 1
    assert f"HTTP 429 for {url}" in err and "no time left" in err and "in 120s" in err
    assert server.requests(url) == 1


def test_a_retry_after_of_an_hour_is_not_waited_for(server, out, capsys):
    url = server.url("once", "503/3600/key/never.yml")
    code = download.main(["--output-dir", str(out), "--allow-private-urls", "--file", "a.yml", url])
    err = capsys.readouterr().err
    assert code == 1
    assert f"HTTP 503 for {url}" in err and "asks to retry in 3600s, more than the 600s" in err
    assert server.requests(url) == 1


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
    result = run("--file", "never.npz", url, retries="1", timeout="0.5")
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
# Deadline and size cap


def test_deadline_stops_a_trickle(server, out, capsys):
    server.put("trickle.zst", make_zst(bytes(range(256)) * 40))
    url = server.url("trickle", "trickle.zst")
    code = download.main(["--output-dir", str(out), "--allow-private-urls", "--deadline", "1",
                          "--timeout", "30", "--file", "corpus.zst", url])
    err = capsys.readouterr().err
    assert code == 1
    assert f"deadline of 1s passed fetching {url}" in err
    assert nothing_published(out)


def test_max_bytes_counts_all_files(server, out, capsys):
    first = server.put("cap-a.txt", b"a" * 600)
    second = server.put("cap-b.txt", b"b" * 600)
    code = download.main(["--output-dir", str(out), "--allow-private-urls", "--max-bytes", "1000",
                          "--file", "a.txt", first, "--file", "b.txt", second])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{second} (required file b.txt) is larger than the limit of 400 bytes" in err
    assert "--max-bytes 1000" in err
    assert nothing_published(out)


def test_max_bytes_refuses_an_announced_length_before_reading(server, run, out):
    url = server.url("announce", "999999999999/huge.npz")
    code = download.main(["--output-dir", str(out), "--allow-private-urls", "--max-bytes", "1000",
                          "--file", "huge.npz", url])
    assert code == 1
    assert server.requests(url) == 1
    assert nothing_published(out)


# --------------------------------------------------------------------------
# Verification: only what the real parser accepts is published


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
    assert nothing_published(out)


def test_valid_npz_accepted(server, run, out):
    npz = make_npz(("a", "b", "special:model.yml"))
    result = run("--file", "model.npz", server.put("valid.npz", npz))
    assert result.code == 0, result.stderr
    with zipfile.ZipFile(out / "model.npz") as archive:
        assert archive.namelist() == ["a.npy", "b.npy", "special:model.yml.npy"]


def fake_npy_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("w.npy", b"\x93NUMPY not really an array")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("model.npz", HTML, "not a readable .npz archive"),
        ("model.npz", make_npz()[:-40], "not a readable .npz archive"),
        ("model.npz", fake_npy_zip(), "not a readable .npz archive"),
        ("vocab.spm", HTML, "not a SentencePiece model"),
        ("vocab.spm", b"", "not a SentencePiece model"),
        ("vocab.spm", make_spm()[:1000], "not a SentencePiece model"),
        ("model.npz.yml", HTML, "not a YAML mapping"),
        ("model.npz.progress.yml", b"batches: [1, 2\n", "not valid YAML"),
        ("model.npz.yml", b"a: &x [1]\nb: *x\n", "YAML aliases are not accepted"),
        ("corpus.en.zst", b"plain text, not zstd", "not valid zstd data"),
        ("corpus.en.zst", b"", "an empty file"),
        ("corpus.en.zst", make_zst(os.urandom(5000))[:-100], "the zstd data ends in the middle of a frame"),
        ("corpus.en.gz", __import__("gzip").compress(os.urandom(5000))[:-100], "not complete gzip data"),
    ],
    ids=["npz-html", "npz-cut", "npz-fake-array", "spm-html", "spm-empty", "spm-cut", "yml-html",
         "yml-broken", "yml-alias", "zst-plain", "zst-empty", "zst-cut", "gz-cut"],
)
def test_files_their_parser_rejects_are_not_published(server, run, out, name, data, message):
    url = server.put(f"bad-{name}", data)
    result = run("--file", name, url)
    assert result.code == 1
    assert f"invalid required file {name} from {url}: {message}" in result.error
    assert nothing_published(out)


def test_npz_with_bad_crc_rejected(server, run):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("w.npy", b"A" * 100)
    data = buffer.getvalue().replace(b"A" * 100, b"A" * 99 + b"B")
    url = server.put("badcrc.npz", data)
    result = run("--file", "model.npz", url)
    assert result.code == 1
    assert "w.npy" in result.error and "CRC" in result.error


def test_empty_npz_rejected(server, run):
    import io

    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    result = run("--file", "model.npz", server.put("empty.npz", buffer.getvalue()))
    assert result.code == 1
    assert "holds no arrays" in result.error


def test_gzip_encoded_spm_without_content_encoding_is_rejected(server, run, out):
    import gzip

    url = server.put("gzipped.spm", gzip.compress(make_spm()))
    result = run("--file", "vocab.spm", url)
    assert result.code == 1
    assert "not a SentencePiece model" in result.error
    assert nothing_published(out)


def test_content_encoding_gzip_is_decoded(server, run, out):
    spm = make_spm()
    server.put("encoded.spm", spm)
    result = run("--file", "vocab.spm", server.url("encoded", "gzip/encoded.spm"))
    assert result.code == 0, result.stderr
    assert (out / "vocab.spm").read_bytes() == spm
    assert json.loads((out / "manifest.json").read_text())["vocab.spm"]["sha256"] == sha256(spm)


def test_a_highly_compressible_gzip_encoded_body_is_decoded_whole(server, run, out):
    data = b"\0" * (8 * 2**20)  # 8 MiB that gzip sends as ~8 KiB: one read, eight decoded pieces
    server.put("zeros.txt", data)
    result = run("--file", "zeros.txt", server.url("encoded", "gzip/zeros.txt"))
    assert result.code == 0, result.stderr
    assert json.loads((out / "manifest.json").read_text())["zeros.txt"]["sha256"] == sha256(data)
    assert (out / "zeros.txt").stat().st_size == len(data)


def test_a_gzip_bomb_stops_at_max_bytes(server, out, capsys):
    server.put("bomb.txt", b"\0" * (8 * 2**20))
    url = server.url("encoded", "gzip/bomb.txt")
    code = download.main(["--output-dir", str(out), "--allow-private-urls", "--max-bytes", str(2**20),
                          "--file", "bomb.txt", url])
    assert code == 1
    assert f"{url} (required file bomb.txt) is larger than the limit of {2**20} bytes" in capsys.readouterr().err
    assert nothing_published(out)


def test_unknown_content_encoding_is_refused(server, run, out):
    server.put("br.spm", make_spm())
    result = run("--file", "vocab.spm", server.url("encoded", "br/br.spm"))
    assert result.code == 1
    assert "Content-Encoding 'br'" in result.error
    assert nothing_published(out)


@pytest.mark.parametrize("name, data", [("corpus.zst", make_zst(os.urandom(4000))), ("model.npz", make_npz())])
def test_clean_close_without_length_cutting_a_file_is_caught(server, run, out, name, data):
    server.put(f"cut-{name}", data)
    result = run("--file", name, server.url("nolength-cut", f"cut-{name}"))
    assert result.code == 1
    assert f"invalid required file {name}" in result.error
    assert nothing_published(out)


@pytest.mark.parametrize("name, data", [("n.txt", b"x" * 5000), ("model.npz.progress.yml", YML),
                                        ("vocab.spm", make_spm())])
def test_clean_close_without_length_for_a_format_without_an_end_is_refused(server, run, out, name, data):
    """A .yml cut short may still parse (`batches: 1` of `batches: 10`): no length, no proof."""
    server.put(f"nolength-{name}", data)
    result = run("--file", name, server.url("nolength", f"nolength-{name}"))
    assert result.code == 1
    assert "without Content-Length or chunked encoding" in result.error
    assert nothing_published(out)


# --------------------------------------------------------------------------
# Private hosts, credentials and query strings


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://127.0.0.1:{port}/files/x.txt", "it is a loopback address"),
        ("http://localhost:{port}/files/x.txt", "an internal host"),
        ("http://[::1]:{port}/files/x.txt", "it is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "it is a link-local address"),
        ("http://taskcluster/secrets/v1/secret/project", "an internal host"),
        ("http://10.1.2.3/x.txt", "it is a private-network address"),
        ("http://172.16.0.1/x.txt", "it is a private-network address"),
        ("http://192.168.1.1/x.txt", "it is a private-network address"),
        ("http://[fc00::1]/x.txt", "it is a private-network address"),
        ("http://[fe80::1]/x.txt", "it is a link-local address"),
        ("http://0.0.0.0:{port}/x.txt", "it is the unspecified address"),
        ("http://2130706433:{port}/files/x.txt", "resolves to 127.0.0.1, a loopback address"),
    ],
)
def test_private_hosts_are_refused_without_the_switch(server, run, out, url, problem):
    server.put("x.txt", b"x")
    url = url.format(port=server.base.rpartition(":")[2])
    before = sum(server.state.requests.values())
    result = run("--file", "x.txt", url, private=False)
    assert result.code == 1
    assert problem in result.error and "allow-private-urls" in result.error
    assert "gave up" not in result.error, "a refusal is not retried"
    assert sum(server.state.requests.values()) == before
    assert nothing_published(out)


@pytest.fixture
def only_the_test_server_is_public(monkeypatch):
    """Treat 127.0.0.1 (the test server) as public, so redirects from it can be tested."""
    from pipeline.common import http

    real = http.address_problem
    monkeypatch.setattr(http, "address_problem", lambda address: None if address == "127.0.0.1" else real(address))


@pytest.mark.parametrize(
    "target, problem",
    [
        ("http://169.254.169.254/latest/meta-data/", "it is a link-local address"),
        ("http://taskcluster/secrets/v1/secret/x", "an internal host"),
        ("http://10.0.0.1/x.yml", "it is a private-network address"),
        ("http://[::1]/x.yml", "it is a loopback address"),
    ],
)
def test_redirects_to_private_hosts_are_refused(server, run, out, only_the_test_server_is_public, target, problem):
    url = server.url("redirect", f"x.yml?to={target}")
    result = run("--file", "x.yml", url, private=False)
    assert result.code == 1
    assert problem in result.error and url.partition("?")[0] in result.error
    assert nothing_published(out)


def test_a_host_with_one_private_address_among_public_ones_is_refused(server, run, out, monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "mixed.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = run("--file", "x.txt", "http://mixed.example/x.txt", private=False)
    assert result.code == 1
    assert "refusing to connect to mixed.example: it resolves to 10.0.0.5" in result.error


@pytest.mark.parametrize("url", ["http://user:s3cr3t@127.0.0.1/x.txt", "https://s3cr3t@example.com/x.txt",
                                 "http://:s3cr3t@example.com/x.txt"])
def test_credentials_in_urls_are_refused_and_never_echoed(run, url):
    result = run("--file", "x.txt", url)
    assert result.code == 1
    assert "may not carry credentials" in result.error
    assert "s3cr3t" not in result.stderr + result.stdout


def test_redirect_to_credentials_is_refused_and_not_echoed(server, run, out):
    url = server.url("redirect", "x.yml?to=http://user:s3cr3t@127.0.0.1/x.yml")
    result = run("--file", "x.yml", url)
    assert result.code == 1
    assert "redirects to a URL with credentials" in result.error
    assert "s3cr3t" not in result.stderr


def test_query_strings_are_redacted_in_logs_errors_and_manifest(server, run, out):
    url = server.put("signed.yml", YML) + "?X-Goog-Signature=s3cr3t"
    flaky = server.url("once", "503/0/k/signed.yml") + "?token=s3cr3t"
    result = run("--file", "a.yml", url, "--file", "b.yml", flaky)
    assert result.code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["a.yml"]["url"] == url.partition("?")[0] + "?…"
    assert "retrying" in result.stdout
    assert "s3cr3t" not in result.stdout + result.stderr + (out / "manifest.json").read_text()

    missing = server.url("files", "absent.yml") + "?token=s3cr3t"
    failed = run("--file", "c.yml", missing)
    assert failed.code == 1
    assert f"HTTP 404 for {missing.partition('?')[0]}?…" in failed.error
    assert "s3cr3t" not in failed.stderr + failed.stdout


# --------------------------------------------------------------------------
# Vocabularies


def put_vocab_dir(server, directory, files):
    for name, data in files.items():
        server.put(f"{directory}/{name}", data)
    return f"{server.base}/files/{directory}"


def test_joint_vocab_published_under_both_names(server, run, out):
    joint = make_spm()
    vocab_dir = put_vocab_dir(server, "joint", {"vocab.spm": joint})
    result = run("--vocab-dir", vocab_dir + "/", "--src", "ru", "--trg", "en")
    assert result.code == 0, result.stderr
    assert (out / "vocab.ru.spm").read_bytes() == joint
    assert (out / "vocab.en.spm").read_bytes() == joint
    assert published(out) == ["vocab.en.spm", "vocab.ru.spm"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocab.ru.spm"] == manifest["vocab.en.spm"] == {
        "url": vocab_dir + "/vocab.spm", "size": len(joint), "sha256": sha256(joint),
    }
    assert "joint vocabulary" in result.stdout


def test_split_vocab_published_unchanged(server, run, out):
    ru, en = make_spm("src"), make_spm("trg")
    files = {"vocab.ru.spm": ru, "vocab.en.spm": en, "vocab.spm": make_spm("src", 50)}
    vocab_dir = put_vocab_dir(server, "split", files)
    result = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en")
    assert result.code == 0, result.stderr
    assert (out / "vocab.ru.spm").read_bytes() == ru
    assert (out / "vocab.en.spm").read_bytes() == en
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocab.en.spm"]["url"] == vocab_dir + "/vocab.en.spm"
    assert server.requests(vocab_dir + "/vocab.spm") == 0


def test_half_split_vocab_falls_back_to_joint(server, run, out):
    joint = make_spm("src", 50)
    vocab_dir = put_vocab_dir(server, "half", {"vocab.ru.spm": make_spm(), "vocab.spm": joint})
    result = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en")
    assert result.code == 0, result.stderr
    assert (out / "vocab.ru.spm").read_bytes() == joint
    assert (out / "vocab.en.spm").read_bytes() == joint


def test_missing_vocab_names_urls_tried(server, run, out):
    vocab_dir = put_vocab_dir(server, "novocab", {})
    result = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en")
    assert result.code == 1
    assert vocab_dir + "/vocab.ru.spm" in result.error
    assert vocab_dir + "/vocab.spm" in result.error
    assert nothing_published(out)


def test_pin_applies_to_vocab(server, run):
    joint = make_spm()
    vocab_dir = put_vocab_dir(server, "pinvocab", {"vocab.spm": joint})
    ok = run("--vocab-dir", vocab_dir, "--src", "ru", "--trg", "en", "--pin", "vocab.en.spm", sha256(joint))
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
        (["--max-bytes", "0"], "--max-bytes must be positive"),
        (["--deadline", "0"], "--deadline must be positive"),
    ],
)
def test_invalid_arguments_rejected(run, args, message):
    result = run(*args)
    assert result.code == 1
    assert message in result.error


def test_optional_file_is_gone(capsys):
    """Nothing in the graph asked for a file that may be missing; the flag was removed."""
    assert download.main(["--output-dir", "x", "--optional-file", "a.txt", "http://h/a"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    assert download.main(["--file", "only-a-name"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_nothing_to_do_writes_empty_manifest(run, out):
    result = run()
    assert result.code == 0
    assert json.loads((out / "manifest.json").read_text()) == {}


# --------------------------------------------------------------------------
# The command-line entry point: real processes, real signals, a real full disk


def cli_env():
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, timeout=60, env=cli_env(), check=False, **kwargs,
    )


def test_cli_success(server, out):
    npz = make_npz()
    url = server.put("cli.npz", npz)
    proc = run_cli("--output-dir", str(out), "--retry-wait", "0", "--allow-private-urls",
                   "--file", "final.model.npz.best-chrf.npz", url, "--pin", "final.model.npz.best-chrf.npz", sha256(npz))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"final.model.npz.best-chrf.npz\t{len(npz)}\t{sha256(npz)}"]
    assert (out / "final.model.npz.best-chrf.npz").read_bytes() == npz


def test_cli_failure_is_one_line(server, out):
    url = server.url("files", "cli-absent.npz")
    proc = run_cli("--output-dir", str(out), "--retry-wait", "0", "--allow-private-urls", "--file", "model.npz", url)
    assert proc.returncode == 1
    assert proc.stderr == f"download.py: error: HTTP 404 for {url} (required file model.npz)\n"


def test_sigterm_leaves_nothing_in_the_output_dir(server, out):
    """SIGTERM (preemption, max-run-time) mid-download: no .part, no staging, no partial file."""
    done = server.put("before-term.npz", make_npz())
    server.put("term.zst", make_zst(os.urandom(3000)))
    trickle = server.url("trickle", "term.zst")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--output-dir", str(out), "--allow-private-urls",
         "--file", "model.npz", done, "--file", "corpus.zst", trickle],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while server.requests(trickle) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.requests(trickle) == 1
        time.sleep(0.3)  # some bytes of the second file are on disk by now
        proc.send_signal(signal.SIGTERM)
        _stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated (SIGTERM)" in stderr
    assert list(out.iterdir()) == []
    assert [p.name for p in out.parent.iterdir()] == ["out"], "the staging directory is removed"


def test_sigkill_leaves_nothing_in_the_output_dir(server, out):
    """Killed outright (no cleanup possible): the artifacts directory still holds nothing partial."""
    server.put("kill.zst", make_zst(os.urandom(3000)))
    trickle = server.url("trickle", "kill.zst")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--output-dir", str(out), "--allow-private-urls", "--file", "corpus.zst", trickle],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while server.requests(trickle) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(out.iterdir()) == []
    staged = [p for p in out.parent.iterdir() if p.name != "out"]
    assert len(staged) == 1 and staged[0].name.startswith(".download-")


def limit_file_size(size):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return preexec


def test_disk_full_while_downloading_publishes_nothing(server, out):
    small = [server.put(f"full-{i}.yml", YML) for i in range(3)]
    big = server.put("full-big.zst", make_zst(os.urandom(20000)))
    args = [arg for i, url in enumerate(small) for arg in ("--file", f"f{i}.yml", url)]
    proc = run_cli("--output-dir", str(out), "--allow-private-urls", *args, "--file", "big.zst", big,
                   preexec_fn=limit_file_size(8000))
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("download.py: error: cannot write ") and "big.zst (required file big.zst): File too large" in proc.stderr
    assert list(out.iterdir()) == []


def test_disk_full_while_writing_the_manifest_publishes_nothing(server, out):
    """Every file fits, the manifest does not: no file may be published without it."""
    urls = [server.put(f"manifest-{i}.yml", YML) for i in range(40)]
    args = [arg for i, url in enumerate(urls) for arg in ("--file", f"file-with-a-long-name-{i:03}.yml", url)]
    proc = run_cli("--output-dir", str(out), "--allow-private-urls", *args, preexec_fn=limit_file_size(4096))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == f"download.py: error: cannot publish into {out}: File too large\n"
    assert list(out.iterdir()) == []
