"""Run generated tasks on this machine as a Taskcluster worker would: `translations-taskgraph run`.

What is the worker's, emulated here:

* Each task gets a taskId (slugid); task references (`<dep>`) in its definition resolve to the
  taskIds of its dependencies (taskgraph's `resolve_task_references`, as at submission).
* The worker root `/builds/worker` is relocated, in the command's argv and in the env, to a work
  directory `DIR/.work/<taskId>`; nothing else of the definition changes.
* The command is run-task's argv. run-task itself cannot run on a workstation (it must start as
  root to chown the caches, switches to the `worker` user and clones the repository from its
  remote), so its three other jobs are done the way it does them: the checkout it would make
  (`--<repo>-checkout=PATH`) is a symlink to this working tree; `MOZ_FETCHES` is fetched by
  taskgraph's own `fetch-content task-artifacts` against a loopback Queue (`local_queue.py`)
  serving the store; then the argv after `--` runs in `--task-cwd`.
* `python3` is this interpreter (its bin directory leads PATH), so the steps' dependencies are
  the ones installed here. HOME is the work directory, as the worker's home is /builds/worker.
* `payload.maxRunTime` is enforced (capped by `max_run_time`); the task's output goes to
  `DIR/<label>/live.log`.
* On success, the payload's artifacts (`public/build` <- `/builds/worker/artifacts`) are moved
  to `DIR/<label>/public/build/` and `DIR/<label>/task.json` records the taskId, the cache digest
  and `completed`. A task that fails or is interrupted publishes nothing.

What is the graph's, kept: dependency order (a failed task stops its dependents only), reuse of a
completed task whose cache digest (`attributes.cached_task.digest`, what the Taskcluster index is
keyed on) is unchanged. Docker-image tasks are not run (this machine is the image), nor are tasks
of the built-in `succeed` worker (aggregates: they do nothing).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import slugid
from taskgraph.util.parameterization import resolve_task_references

from .local_queue import TASK_FILE, QueueServer, read_task_record

WORKER_ROOT = "/builds/worker"
WORK_DIR = ".work"
SUMMARY_FILE = "summary.json"
LOG_FILE = "live.log"
KILL_GRACE_SECONDS = 10
FETCH_CONTENT = Path(__import__("taskgraph").__file__).parent / "run-task" / "fetch-content"
_WORKER_ROOT_RE = re.compile(re.escape(WORKER_ROOT) + r"(?=/|$|[^A-Za-z0-9_.-])")
# Variables of this machine's environment a task gets (a worker's image provides its own).
PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "CUDA_VISIBLE_DEVICES", "SSL_CERT_FILE", "SSL_CERT_DIR",
              "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")

COMPLETED, CACHED, FAILED, SKIPPED, INTERRUPTED, NOT_RUN = (
    "completed", "cached", "failed", "skipped", "interrupted", "not-run")


class RunError(Exception):
    """A problem with the run as a whole (not with one task): one line, exit status 1."""


# ---------------------------------------------------------------------------------------------
# Which tasks run


def runs_locally(task):
    """Docker images (this machine is the image) and built-in `succeed` tasks do not run."""
    if task.kind == "docker-image":
        return False
    definition = task.task
    return not (definition.get("provisionerId") == "built-in" or definition.get("workerType") == "succeed")


def select(full_graph, labels):
    """`labels` and everything they depend on, in dependency order, without what does not run."""
    wanted = full_graph.graph.transitive_closure(set(labels))
    order = [label for label in full_graph.graph.visit_postorder() if label in wanted.nodes]
    return [label for label in order if runs_locally(full_graph.tasks[label])]


@dataclasses.dataclass
class LocalTask:
    label: str
    task_id: str
    definition: dict  # the task definition, task references resolved
    needs: List[str]  # labels of the dependencies that run here
    digest: Optional[str]
    cached: bool = False


def plan_tasks(full_graph, labels, store):
    """LocalTasks for `labels` (in dependency order): taskIds, references resolved, reuse decided.

    A task whose `DIR/<label>/task.json` says completed with the same cache digest, and whose
    artifacts are there, is reused under its recorded taskId; any other task gets a new taskId.
    """
    store = Path(store)
    reused = {label for label in labels if _reusable(store, full_graph.tasks[label])}
    task_ids = {label: read_task_record(store / label)["task-id"] if label in reused else slugid.nice()
                for label in full_graph.tasks}
    decision_id, local = slugid.nice(), set(labels)
    result = []
    for label in labels:
        task = full_graph.tasks[label]
        dependencies = {name: task_ids[dep] for name, dep in task.dependencies.items()}
        definition = resolve_task_references(label, copy.deepcopy(task.task), task_ids[label], decision_id,
                                             dependencies)
        needs = sorted(dep for dep in task.dependencies.values() if dep in local)
        result.append(LocalTask(label, task_ids[label], definition, needs, _digest(task), label in reused))
    return result


def _digest(task):
    return (task.attributes.get("cached_task") or {}).get("digest")


def _reusable(store, task):
    record = read_task_record(store / task.label)
    digest = _digest(task)
    return bool(record and digest and record.get("state") == COMPLETED and record.get("digest") == digest
                and (store / task.label / "public").is_dir())


# ---------------------------------------------------------------------------------------------
# One task


def relocate(value, work):
    """`value` with the worker root replaced by `work` (strings, lists and dicts)."""
    if isinstance(value, str):
        return _WORKER_ROOT_RE.sub(lambda _: str(work), value)
    if isinstance(value, list):
        return [relocate(v, work) for v in value]
    if isinstance(value, dict):
        return {k: relocate(v, work) for k, v in value.items()}
    return value


def split_run_task(argv):
    """(checkouts, task_cwd, command) of a run-task argv; RunError when it is not one.

    checkouts are the `--<repo>-checkout` paths run-task would clone into.
    """
    if not argv or os.path.basename(argv[0]) != "run-task" or "--" not in argv:
        raise RunError(f"not a run-task command: {argv[:3]}")
    split = argv.index("--")
    options, command = argv[1:split], argv[split + 1:]
    checkouts, task_cwd = [], None
    i = 0
    while i < len(options):
        option = options[i]
        name, eq, value = option.partition("=")
        if not eq and (name in ("--task-cwd", "--user", "--group") or name.endswith(("-checkout", "-sparse-profile"))):
            value = options[i + 1] if i + 1 < len(options) else None
            i += 1
        if name == "--task-cwd":
            task_cwd = value
        elif name.endswith("-checkout"):
            checkouts.append(value.rstrip("/"))
        elif name.endswith(("-sparse-profile", "-shallow-clone")) or name in ("--user", "--group",
                                                                                "--fetch-hgfingerprint"):
            pass  # checkout details and the user switch, which a local run has no use for
        else:
            raise RunError(f"unknown run-task option {option!r}")
        i += 1
    if not command:
        raise RunError("run-task command has nothing after '--'")
    return checkouts, task_cwd, command


def task_environment(payload_env, work, task_id, queue_url, proxy):
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    if any(k.lower().endswith("_proxy") and k.lower() != "no_proxy" for k in env):
        for k in ("no_proxy", "NO_PROXY"):
            env[k] = ",".join(filter(None, [env.get(k), "127.0.0.1", "localhost"]))
    env.update({
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)]),
        "HOME": str(work),
        "TASK_WORKDIR": str(work),
    })
    env.update({k: str(v) for k, v in relocate(payload_env, work).items()})
    env.update({"TASK_ID": task_id, "RUN_ID": "0", "TASKCLUSTER_ROOT_URL": queue_url})
    if proxy:
        env["TASKCLUSTER_PROXY_URL"] = queue_url
    return env


class Outcome(Exception):
    """How a task ended when it did not complete: state, exit code, reason."""

    def __init__(self, state, reason, exit_code=None):
        super().__init__(reason)
        self.state, self.reason, self.exit_code = state, reason, exit_code


class TaskRun:
    """Run one LocalTask: prepare its work directory, fetch, run, publish."""

    def __init__(self, runner, task):
        self.runner, self.task = runner, task
        self.store = runner.store
        self.label_dir = self.store / task.label
        self.work = self.store / WORK_DIR / task.task_id
        self.process = None

    def log(self, stream, message):
        stream.write(f"[local-run {time.strftime('%H:%M:%S')}] {message}\n")
        stream.flush()

    def run(self):
        """Returns (state, reason, exit_code)."""
        task = self.task
        _remove(self.label_dir / "public")
        self.label_dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.label_dir / TASK_FILE, self.record("running"))
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        _remove(self.label_dir / LOG_FILE)  # a new file: a store copied with hard links keeps the original's
        with open(self.label_dir / LOG_FILE, "w", encoding="utf-8", errors="replace") as log:
            try:
                self.execute(log)
            except Outcome as outcome:
                self.log(log, f"{outcome.state}: {outcome.reason}")
                _write_json(self.label_dir / TASK_FILE, self.record(outcome.state, outcome.reason, outcome.exit_code))
                return outcome.state, outcome.reason, outcome.exit_code
            self.log(log, "completed; artifacts published")
        _write_json(self.label_dir / TASK_FILE, self.record(COMPLETED))
        self.runner.queue.publish(task.task_id, self.label_dir)
        shutil.rmtree(self.work, ignore_errors=True)
        return COMPLETED, None, 0

    def record(self, state, reason=None, exit_code=None):
        record = {"label": self.task.label, "task-id": self.task.task_id, "digest": self.task.digest, "state": state}
        if reason:
            record["reason"] = reason
        if exit_code is not None:
            record["exit-code"] = exit_code
        return record

    def execute(self, log):
        task, work = self.task, self.work
        payload = task.definition.get("payload", {})
        try:
            checkouts, task_cwd, command = split_run_task(relocate(payload.get("command") or [], work))
        except RunError as e:
            raise Outcome(FAILED, str(e)) from None
        env = task_environment(payload.get("env", {}), work, task.task_id, self.runner.queue.root_url,
                               bool((payload.get("features") or {}).get("taskclusterProxy")))
        for checkout in checkouts:
            Path(checkout).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(self.runner.checkout, checkout)
        for key in ("MOZ_FETCHES_DIR",):
            if key in env:
                Path(env[key]).mkdir(parents=True, exist_ok=True)
        for artifact in (payload.get("artifacts") or {}).values():
            if artifact.get("type") == "directory":
                Path(relocate(artifact["path"], work)).mkdir(parents=True, exist_ok=True)
        self.log(log, f"task {task.label} taskId {task.task_id}; worker root {WORKER_ROOT} is {work}")
        self.log(log, f"checkout {', '.join(checkouts) or '(none)'} -> {self.runner.checkout}")
        deadline = time.monotonic() + self.runner.max_run_time(payload)
        if "MOZ_FETCHES" in env:
            self.check_fetches(json.loads(env["MOZ_FETCHES"]))
            fetch = [sys.executable, "-u", str(FETCH_CONTENT), "task-artifacts"]
            self.log(log, f"fetching artifacts: {fetch}")
            code = self.call(fetch, env, str(work), log, deadline)
            if code != 0:
                raise Outcome(FAILED, f"fetch-content exited with {code}", code)
        self.log(log, f"running in {task_cwd or work}: {command}")
        code = self.call(command, env, task_cwd or str(work), log, deadline)
        if code != 0:
            raise Outcome(FAILED, f"exit code {code}", code)
        self.publish(payload, log)

    def check_fetches(self, fetches):
        """An artifact nothing published fails at once (fetch-content would retry for minutes)."""
        for fetch in fetches:
            if self.runner.queue.file_for(fetch["task"], fetch["artifact"]) is None:
                producer = self.runner.label_of.get(fetch["task"], fetch["task"])
                raise Outcome(FAILED, f"fetch: {producer} did not publish {fetch['artifact']}")

    def call(self, argv, env, cwd, log, deadline):
        if self.runner.stopping.is_set():
            raise Outcome(INTERRUPTED, "interrupted before it started")
        try:
            process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        except OSError as e:
            raise Outcome(FAILED, f"cannot run {argv[0]}: {e.strerror or e}") from None
        self.process = process
        try:
            while True:
                try:
                    code = process.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if self.runner.stopping.is_set():
                        _terminate(process)
                        raise Outcome(INTERRUPTED, "interrupted", process.returncode) from None
                    if time.monotonic() >= deadline:
                        _terminate(process)
                        raise Outcome(FAILED, "exceeded its maximum run time", process.returncode) from None
        finally:
            _kill_group(process)  # whatever the command left behind
            self.process = None
        if self.runner.stopping.is_set():
            raise Outcome(INTERRUPTED, "interrupted", code)
        return code

    def publish(self, payload, log):
        """Move the payload's artifacts into DIR/<label>/ in one rename (public/ appears whole)."""
        staging = self.label_dir / f".publishing-{self.task.task_id}"
        _remove(staging)
        for name, artifact in sorted((payload.get("artifacts") or {}).items()):
            source = Path(relocate(artifact["path"], self.work))
            if not name.startswith("public/") or ".." in name.split("/"):
                raise Outcome(FAILED, f"artifact {name}: only public/ artifacts can be published here")
            if not source.exists():
                raise Outcome(FAILED, f"artifact {name}: {artifact['path']} does not exist")
            target = staging.joinpath(*name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, target)
        if self.runner.stopping.is_set():
            _remove(staging)
            raise Outcome(INTERRUPTED, "interrupted")
        (staging / "public").mkdir(parents=True, exist_ok=True)
        os.rename(staging / "public", self.label_dir / "public")
        _remove(staging)


def _terminate(process):
    """SIGTERM to the task's process group, SIGKILL after a grace period (as a worker does)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.wait()


def _kill_group(process):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _remove(path):
    path = Path(path)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _write_json(path, data):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The run


@dataclasses.dataclass
class Result:
    label: str
    state: str
    seconds: float = 0.0
    task_id: Optional[str] = None
    exit_code: Optional[int] = None
    reason: Optional[str] = None

    def to_json(self):
        data = {"state": self.state, "task-id": self.task_id, "seconds": round(self.seconds, 1)}
        if self.exit_code is not None and self.state == FAILED:
            data["exit-code"] = self.exit_code
        if self.reason:
            data["reason"] = self.reason
        return data


class Runner:
    """Run LocalTasks in dependency order, `jobs` at a time, publishing into `store`.

    `report(result)` is called once per task as it ends (completed, cached, failed, skipped...).
    """

    def __init__(self, store, checkout, jobs=1, max_run_time=None, report: Callable[[Result], None] = None):
        self.store = Path(store).resolve()
        self.checkout = Path(checkout).resolve()
        self.jobs = max(1, jobs)
        self.max_seconds = max_run_time
        self.report = report or (lambda result: None)
        self.stopping = threading.Event()
        self.queue = None
        self.label_of = {}

    def max_run_time(self, payload):
        limit = payload.get("maxRunTime") or 86400 * 10
        return min(limit, self.max_seconds) if self.max_seconds else limit

    def run(self, tasks: List[LocalTask]) -> Dict[str, Result]:
        self.store.mkdir(parents=True, exist_ok=True)
        with self._lock_store():
            _remove(self.store / WORK_DIR)  # what interrupted or failed runs left
            with QueueServer.for_store(self.store) as self.queue:
                self.label_of = {t.task_id: t.label for t in tasks}
                results = self._schedule(tasks)
        self.write_summary(tasks, results)
        return results

    @contextlib.contextmanager
    def _lock_store(self):
        with open(self.store / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunError(f"another run is using {self.store}") from None
            yield

    def _schedule(self, tasks):
        results: Dict[str, Result] = {}
        pending = list(tasks)
        running: Dict[str, tuple] = {}
        done = queue.Queue()

        def finish(result):
            results[result.label] = result
            self.report(result)

        def work(run, started):
            try:
                state, reason, code = run.run()
            except Exception as e:  # noqa: BLE001 -- a runner bug must not hang the run
                state, reason, code = FAILED, f"local runner error: {type(e).__name__}: {e}", None
            done.put(Result(run.task.label, state, time.monotonic() - started, run.task.task_id, code, reason))

        try:
            while pending or running:
                for task in list(pending):
                    bad = [dep for dep in task.needs if dep in results and results[dep].state not in (COMPLETED, CACHED)]
                    if bad:
                        pending.remove(task)
                        finish(Result(task.label, SKIPPED, task_id=task.task_id,
                                      reason=f"dependency {bad[0]} {results[bad[0]].state}"))
                    elif task.cached:
                        pending.remove(task)
                        self.queue.publish(task.task_id, self.store / task.label)
                        finish(Result(task.label, CACHED, task_id=task.task_id))
                    elif len(running) < self.jobs and all(dep in results for dep in task.needs):
                        pending.remove(task)
                        run = TaskRun(self, task)
                        thread = threading.Thread(target=work, args=(run, time.monotonic()), daemon=True)
                        running[task.label] = (run, thread)
                        thread.start()
                if not running:
                    if pending:
                        raise RunError(f"cannot schedule {pending[0].label}: its dependencies never ran")
                    continue
                while True:
                    try:
                        result = done.get(timeout=0.5)
                        break
                    except queue.Empty:
                        pass
                running.pop(result.label)[1].join()
                finish(result)
        except KeyboardInterrupt:
            # Each running task's thread terminates its process group (SIGTERM, then SIGKILL) and
            # publishes nothing; tasks not started are recorded as not run.
            self.stopping.set()
            for _ in range(len(running)):
                finish(done.get())
            for task in pending:
                finish(Result(task.label, NOT_RUN, task_id=task.task_id, reason="interrupted"))
            self.write_summary(tasks, results)
            raise
        return results

    def write_summary(self, tasks, results):
        _write_json(self.store / SUMMARY_FILE,
                    {t.label: results[t.label].to_json() for t in tasks if t.label in results})
