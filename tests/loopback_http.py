"""A real HTTP server on 127.0.0.1 that serves a directory and simulates faults by URL prefix.

    /files/NAME                the file NAME of the served directory (404 if absent)
    /status/CODE/ANY           always answers HTTP CODE
    /once/CODE/AFTER/KEY/NAME  HTTP CODE with `Retry-After: AFTER` on the first request, then NAME
    /flaky/KEY/NAME            HTTP 500 on the first request for this path, then the file
    /truncated/NAME            announces the full Content-Length, sends half, closes
    /chunked/NAME              the file with chunked transfer encoding
    /chunked-cut/NAME          chunked transfer encoding: sends half in one chunk, closes
    /nolength/NAME             the file without a Content-Length header (ends by closing)
    /nolength-cut/NAME         half of the file without a Content-Length header (ends by closing)
    /encoded/ENCODING/NAME     the file gzip-compressed, sent with `Content-Encoding: ENCODING`
    /announce/N/NAME           claims a Content-Length of N, sends nothing and closes
    /trickle/NAME              Content-Length of the file, then one byte every 50 ms
    /redirect/ANY?to=URL       answers 302 with Location: URL (taken as is, malformed or not)
    /slow/ANY                  never answers (until the fixture shuts down)

A query string is ignored except by /redirect. The server records the time of every request.
"""

import collections
import gzip
import http.server
import threading
import time
import urllib.parse

import pytest


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        state = self.server.state
        with state.lock:
            state.requests[self.path] += 1
            state.times[self.path].append(time.monotonic())
            count = state.requests[self.path]
        path, _, query = self.path.partition("?")
        route, _, rest = path[1:].partition("/")
        rest = urllib.parse.unquote(rest)
        if route == "files":
            self.send_file(rest)
        elif route == "status":
            self.send_data(b"simulated error\n", status=int(rest.partition("/")[0]))
        elif route == "once":
            code, after, _key, name = rest.split("/", 3)
            if count == 1:
                self.send_data(b"busy\n", status=int(code), headers={"Retry-After": after})
            else:
                self.send_file(name)
        elif route == "flaky":
            if count == 1:
                self.send_data(b"try again\n", status=500)
            else:
                self.send_file(rest.partition("/")[2])
        elif route == "truncated":
            data = self.read_file(rest)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif route == "chunked":
            data = self.read_file(rest)
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(data), 4096):
                piece = data[start:start + 4096]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif route == "chunked-cut":
            data = self.read_file(rest)
            half = data[: len(data) // 2]
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
            self.close_connection = True
        elif route in ("nolength", "nolength-cut"):
            data = self.read_file(rest)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(data if route == "nolength" else data[: len(data) // 2])
            self.close_connection = True
        elif route == "encoded":
            encoding, _, name = rest.partition("/")
            self.send_data(gzip.compress(self.read_file(name), mtime=0), headers={"Content-Encoding": encoding})
        elif route == "announce":
            self.send_response(200)
            self.send_header("Content-Length", rest.partition("/")[0])
            self.end_headers()
            self.close_connection = True
        elif route == "trickle":
            data = self.read_file(rest)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for byte in data:
                if state.release.wait(timeout=0.05):
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            self.close_connection = True
        elif route == "redirect":
            self.send_response(302)
            self.send_header("Location", query.partition("to=")[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
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

    def send_data(self, data, status=200, headers=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class ServerState:
    def __init__(self, root):
        self.root = root
        self.requests = collections.Counter()
        self.times = collections.defaultdict(list)
        self.lock = threading.Lock()
        self.release = threading.Event()


class Server:
    def __init__(self, base, state):
        self.base = base
        self.state = state

    def put(self, name, data) -> str:
        """Serve `data` as /files/NAME; return its URL."""
        path = self.state.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self.url("files", name)

    def url(self, route, name) -> str:
        return f"{self.base}/{route}/{name}"

    def requests(self, url) -> int:
        with self.state.lock:
            return self.state.requests[url[len(self.base):]]

    def times(self, url) -> list:
        with self.state.lock:
            return list(self.state.times[url[len(self.base):]])


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client hanging up mid-body (a test of exactly that) is no error of the server


def start(root):
    """Start a server for directory `root`; return (server, stop)."""
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState(root)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop():
        httpd.state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)

    return Server(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state), stop


NO_PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


# --------------------------------------------------------------------------
# Real files of each kind the downloads verify


def make_npz(arrays=("encoder_W", "decoder_W")) -> bytes:
    import io

    import numpy

    buffer = io.BytesIO()
    numpy.savez(buffer, **{name: numpy.arange(4, dtype="float32") for name in arrays})
    return buffer.getvalue()


def make_zst(text: bytes = b"a line\n" * 50) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(text)


_SPM_CACHE = {}


def make_spm(side: str = "src", vocab_size: int = 60) -> bytes:
    """A real (tiny) SentencePiece model trained on one side of the toy language pair."""
    key = (side, vocab_size)
    if key not in _SPM_CACHE:
        import io

        import sentencepiece
        import toydata

        lines = [pair[0 if side == "src" else 1] for pair in toydata.pairs(200)]
        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, minloglevel=2
        )
        _SPM_CACHE[key] = model.getvalue()
    return _SPM_CACHE[key]


YML = b"batches: 10\nepochs: 1\n"
HTML = b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body>Access denied</body></html>\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A loopback server of this module's own files (a fresh directory per test module)."""
    server, stop = start(tmp_path_factory.mktemp("served"))
    yield server
    stop()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Downloads go straight to the loopback server, whatever proxy the environment names."""
    for var in NO_PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
