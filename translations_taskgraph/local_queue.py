"""A loopback stand-in for the Taskcluster Queue's artifact API, serving a local run's store.

`translations-taskgraph run` gives every task a taskId and publishes what the task wrote to
`DIR/<label>/public/build/` once it succeeded. Tasks fetch their inputs with taskgraph's own
`fetch-content`, which asks the Queue for `<root>/api/queue/v1/task/<taskId>/artifacts/<name>`;
`QueueServer` answers those requests from the store, so the fetch path is the worker's own.

Both URL forms of a task's artifact are served, so the store of one local run can stand in for
Taskcluster in the continuation inputs of another:

    <root>/api/queue/v1/task/<taskId>/artifacts/public/build/<name>
    <root>/api/queue/v1/task/<taskId>/runs/<run>/artifacts/public%2Fbuild%2F<name>

Only what `task.json` of a label records as completed is served; anything else is a 404, like
an artifact the Queue does not have. A directory URL (no file name) is a 404 too.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import threading
import urllib.parse
from pathlib import Path

TASK_FILE = "task.json"
_ARTIFACT_PATH = re.compile(r"^/api/queue/v1/task/([A-Za-z0-9_-]{22})(?:/runs/(\d+))?/artifacts/(.+)$")


def read_task_record(directory):
    """The `task.json` record of a label directory, or None when there is none (or it is damaged)."""
    try:
        return json.loads((Path(directory) / TASK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def completed_tasks(store):
    """{taskId: label directory} of every task a store holds as completed (any earlier run)."""
    store = Path(store)
    result = {}
    for path in store.rglob(TASK_FILE):
        relative = path.parent.relative_to(store)
        if relative.parts and relative.parts[0].startswith("."):
            continue  # the runner's work directories
        record = read_task_record(path.parent)
        if record and record.get("state") == "completed" and record.get("label") == relative.as_posix():
            result[record["task-id"]] = path.parent
    return result


class QueueServer:
    """Serve the artifacts of a store's tasks on 127.0.0.1 as the Queue would.

    `tasks` maps taskId -> label directory; `publish(task_id, directory)` adds one while running.
    Use as a context manager; `root_url` is the TASKCLUSTER_ROOT_URL tasks are given.
    """

    def __init__(self, tasks=None, port=0):
        self.tasks = dict(tasks or {})
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"queue": self})
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = None

    @classmethod
    def for_store(cls, store, port=0):
        return cls(completed_tasks(store), port)

    @property
    def root_url(self):
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def artifact_url(self, task_id, name):
        return f"{self.root_url}/api/queue/v1/task/{task_id}/artifacts/{name}"

    def publish(self, task_id, directory):
        with self._lock:
            self.tasks[task_id] = Path(directory)

    def file_for(self, task_id, artifact):
        """The file of `artifact` (e.g. `public/build/x`) of a task, or None."""
        with self._lock:
            directory = self.tasks.get(task_id)
        parts = artifact.split("/")
        if directory is None or not artifact.startswith("public/") or any(p in ("", ".", "..") for p in parts):
            return None
        path = directory.joinpath(*parts)
        return path if path.is_file() else None

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-queue", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Handler(http.server.BaseHTTPRequestHandler):
    queue = None  # set on the subclass QueueServer makes
    protocol_version = "HTTP/1.1"

    def _resolve(self):
        path = urllib.parse.urlsplit(self.path).path
        match = _ARTIFACT_PATH.match(path)
        if not match:
            return None
        return self.queue.file_for(match.group(1), urllib.parse.unquote(match.group(3)))

    def _answer(self, body):
        found = self._resolve()
        if found is None:
            message = b"artifact not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            if body:
                self.wfile.write(message)
            return
        size = found.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if body:
            with open(found, "rb") as f:
                shutil.copyfileobj(f, self.wfile)

    def do_GET(self):
        self._answer(body=True)

    def do_HEAD(self):
        self._answer(body=False)

    def log_message(self, *args):
        pass
