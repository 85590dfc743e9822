"""Helpers for the data-step tests: a loopback HTTP server and toy files in real formats.

`LoopbackServer` serves registered routes (bytes, or a function of the query string) from a
thread on 127.0.0.1 with Content-Length, counting requests; anything else is a 404. The data-step
tests import what they need from here (the model-step fixtures live in tests/steps/conftest.py).
"""

from __future__ import annotations

import gzip
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
import urllib.parse
import zipfile
from pathlib import Path

import pytest
import zstandard

from pipeline.common.io import read_lines

ROOT = Path(__file__).resolve().parents[2]


class LoopbackServer:
    def __init__(self):
        self.routes = {}
        self.hits = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                parts = urllib.parse.urlsplit(self.path)
                server.hits.append(parts.path)
                body = server.routes.get(parts.path)
                if callable(body):
                    body = body(urllib.parse.parse_qs(parts.query))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path, body):
        self.routes[path] = body
        return self.url + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def loopback():
    server = LoopbackServer()
    yield server
    server.close()


def gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), mtime=0)


def zst(text: str) -> bytes:
    return zstandard.ZstdCompressor().compress(text.encode("utf-8"))


def lines_text(lines) -> str:
    return "".join(line + "\n" for line in lines)


def zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buffer.getvalue()


def tgz_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def lines(path) -> list:
    return list(read_lines(str(path)))


def run_step(script, *args, env=None, timeout=300):
    """Run a step as a task does: `python3 pipeline/...py` with PYTHONPATH=checkout."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)
