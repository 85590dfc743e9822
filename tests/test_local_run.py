"""The local runner (`translations-taskgraph run`): scheduling, fetches, caching, failures, Ctrl-C.

Most tests run small graphs of real tasks: each is a run-task command (`python3 -c ...`) as a
generated task has, with `MOZ_FETCHES` naming its dependencies by task reference, so the runner's
whole path runs: taskIds, references, relocation of /builds/worker, taskgraph's fetch-content
against the loopback Queue, publication. The last tests run the generated continuation download
tasks of a real config through the CLI, against files served on loopback.
"""

import functools
import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import ROOT
from loopback_http import make_spm
from taskgraph.graph import Graph
from taskgraph.task import Task
from taskgraph.taskgraph import TaskGraph

from translations_taskgraph import local_run
from translations_taskgraph.cli import main as cli_main
from translations_taskgraph.cli.run import generate as generate_graph
from translations_taskgraph.local_queue import QueueServer

RUN_TASK = ["/usr/local/bin/run-task", "--translations-checkout=/builds/worker/checkouts/vcs/", "--task-cwd",
            "/builds/worker/checkouts/vcs", "--"]


def make_task(label, code, deps=None, fetches=None, digest=None, kind="test"):
    """A task like the generated ones: run-task argv, artifacts dir, MOZ_FETCHES by task reference."""
    env = {"MOZ_FETCHES_DIR": "/builds/worker/fetches", "PYTHONPATH": "/builds/worker/checkouts/vcs",
           "ARTIFACTS_DIR": "/builds/worker/artifacts"}
    if fetches:
        env["MOZ_FETCHES"] = {"task-reference": json.dumps(
            [{"artifact": f"public/build/{name}", "dest": dep, "extract": False, "task": f"<{dep}>"}
             for dep, names in fetches.items() for name in names])}
    definition = {
        "provisionerId": "translations-1", "workerType": "b-linux-large-gcp",
        "payload": {
            "command": RUN_TASK + ["python3", "-c", textwrap.dedent(code)],
            "env": env,
            "artifacts": {"public/build": {"path": "/builds/worker/artifacts", "type": "directory"}},
            "maxRunTime": 600,
        },
    }
    attributes = {"cached_task": {"digest": digest or f"digest-of-{label}"}} if digest is not False else {}
    return Task(kind=kind, label=label, attributes=attributes, task=definition,
                dependencies={dep: dep for dep in (deps or [])})


def graph_of(*tasks):
    tasks = {t.label: t for t in tasks}
    edges = {(t.label, dep, name) for t in tasks.values() for name, dep in t.dependencies.items()}
    return TaskGraph(tasks, Graph(frozenset(tasks), frozenset(edges)))


def run(graph, store, targets=None, jobs=1, max_run_time=None):
    labels = local_run.select(graph, targets or list(graph.tasks))
    tasks = local_run.plan_tasks(graph, labels, store)
    lines = []
    runner = local_run.Runner(store, ROOT, jobs=jobs, max_run_time=max_run_time, report=lines.append)
    results = runner.run(tasks)
    assert [r.label for r in lines] == [label for label in results]  # one report per task
    return {label: r.state for label, r in results.items()}


WRITE = """
    import os, pathlib, sys
    out = pathlib.Path(os.environ["ARTIFACTS_DIR"])
    {body}
"""


def writer(label, text, deps=None, fetches=None, digest=None, extra=""):
    body = f"(out / 'out.txt').write_text({text!r}); {extra}"
    return make_task(label, WRITE.format(body=body), deps, fetches, digest)


def test_a_consumer_fetches_its_producers_artifacts_through_fetch_content(tmp_path):
    consume = """
        import os, pathlib
        fetched = pathlib.Path(os.environ["MOZ_FETCHES_DIR"], "producer", "out.txt").read_text()
        pathlib.Path(os.environ["ARTIFACTS_DIR"], "got.txt").write_text(fetched + " seen")
        print("cwd", os.getcwd(), "python", os.path.realpath(__import__("sys").executable))
    """
    graph = graph_of(writer("producer", "hello"),
                     make_task("consumer", consume, deps=["producer"], fetches={"producer": ["out.txt"]}))
    store = tmp_path / "store"
    assert run(graph, store) == {"producer": "completed", "consumer": "completed"}
    assert (store / "consumer/public/build/got.txt").read_text() == "hello seen"
    log = (store / "consumer/live.log").read_text()
    producer_id = json.loads((store / "producer/task.json").read_text())["task-id"]
    # fetch-content downloaded it from the loopback Queue, by the producer's taskId
    assert f"/api/queue/v1/task/{producer_id}/artifacts/public/build/out.txt" in log
    # the task ran in its relocated checkout (this working tree) with this Python
    assert f"python {os.path.realpath(sys.executable)}" in log
    summary = json.loads((store / "summary.json").read_text())
    assert summary["consumer"]["state"] == "completed"
    assert summary["producer"]["task-id"] == producer_id
    assert not (store / ".work" / summary["consumer"]["task-id"]).exists()  # cleaned after success


def test_failure_stops_dependents_only_and_records_the_exit_code(tmp_path):
    graph = graph_of(
        make_task("broken", "import sys; print('giving up'); sys.exit(3)"),
        writer("after-broken", "x", deps=["broken"]),
        writer("after-after", "x", deps=["after-broken"]),
        writer("independent", "fine"),
    )
    store = tmp_path / "store"
    states = run(graph, store)
    assert states == {"broken": "failed", "after-broken": "skipped", "after-after": "skipped",
                      "independent": "completed"}
    summary = json.loads((store / "summary.json").read_text())
    assert summary["broken"]["exit-code"] == 3
    assert "dependency broken failed" in summary["after-broken"]["reason"]
    assert "giving up" in (store / "broken/live.log").read_text()
    assert not (store / "broken/public").exists()
    assert (store / "independent/public/build/out.txt").read_text() == "fine"


def test_tasks_run_in_parallel_with_jobs(tmp_path):
    # Each task waits for the other's marker: they can only both complete when run at once.
    meet = """
        import pathlib, time, sys
        here, other = pathlib.Path({mine!r}), pathlib.Path({theirs!r})
        here.touch()
        for _ in range(600):
            if other.exists():
                sys.exit(0)
            time.sleep(0.05)
        sys.exit(1)
    """
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    graph = graph_of(make_task("left", meet.format(mine=a, theirs=b)), make_task("right", meet.format(mine=b, theirs=a)))
    assert run(graph, tmp_path / "store", jobs=2) == {"left": "completed", "right": "completed"}


def test_second_run_reuses_tasks_whose_digest_is_unchanged(tmp_path):
    counter = tmp_path / "runs.txt"
    count = f"open({str(counter)!r}, 'a').write(sys.argv[0] + chr(10))"
    store = tmp_path / "store"
    first = graph_of(writer("base", "v1", digest="d1", extra=count.replace("sys.argv[0]", "'base'")),
                     writer("top", "t", deps=["base"], fetches={"base": ["out.txt"]}, digest="d2",
                            extra=count.replace("sys.argv[0]", "'top'")))
    assert run(first, store) == {"base": "completed", "top": "completed"}
    base_id = json.loads((store / "base/task.json").read_text())["task-id"]
    assert run(first, store) == {"base": "cached", "top": "cached"}
    assert counter.read_text().split() == ["base", "top"]
    # top's digest changes: it runs again and fetches base's artifacts under base's recorded taskId
    second = graph_of(first.tasks["base"],
                      writer("top", "t", deps=["base"], fetches={"base": ["out.txt"]}, digest="d3",
                             extra=count.replace("sys.argv[0]", "'top'")))
    assert run(second, store) == {"base": "cached", "top": "completed"}
    assert counter.read_text().split() == ["base", "top", "top"]
    assert f"/task/{base_id}/artifacts/public/build/out.txt" in (store / "top/live.log").read_text()


def test_a_failed_task_is_not_reused(tmp_path):
    flag = tmp_path / "fixed"
    code = f"import pathlib, sys; sys.exit(0 if pathlib.Path({str(flag)!r}).exists() else 5)"
    graph = graph_of(make_task("flaky", code))
    store = tmp_path / "store"
    assert run(graph, store) == {"flaky": "failed"}
    flag.touch()
    assert run(graph, store) == {"flaky": "completed"}


def test_tasks_without_a_digest_always_run(tmp_path):
    graph = graph_of(make_task("uncached", "pass", digest=False))
    assert run(graph, tmp_path / "s") == {"uncached": "completed"}
    assert run(graph, tmp_path / "s") == {"uncached": "completed"}


def test_an_artifact_nothing_published_fails_the_consumer_at_once(tmp_path):
    graph = graph_of(writer("producer", "x"),
                     make_task("consumer", "pass", deps=["producer"], fetches={"producer": ["missing.txt"]}))
    store = tmp_path / "store"
    assert run(graph, store) == {"producer": "completed", "consumer": "failed"}
    assert "fetch: producer did not publish public/build/missing.txt" in (store / "consumer/live.log").read_text()


def test_max_run_time_fails_a_task_that_runs_too_long(tmp_path):
    graph = graph_of(make_task("sleeper", "import time; time.sleep(120)"))
    store = tmp_path / "store"
    assert run(graph, store, max_run_time=1) == {"sleeper": "failed"}
    assert "exceeded its maximum run time" in json.loads((store / "summary.json").read_text())["sleeper"]["reason"]


def test_worker_root_is_relocated_in_argv_and_env(tmp_path):
    show = """
        import os, sys, json, pathlib
        pathlib.Path(os.environ["ARTIFACTS_DIR"], "env.json").write_text(json.dumps(
            {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}))
    """
    task = make_task("show", show)
    task.task["payload"]["command"] += ["/builds/worker/fetches/x", "--flag=/builds/worker/artifacts/y"]
    store = tmp_path / "store"
    assert run(graph_of(task), store) == {"show": "completed"}
    seen = json.loads((store / "show/public/build/env.json").read_text())
    work = str((store / ".work" / json.loads((store / "show/task.json").read_text())["task-id"]).resolve())
    assert seen["argv"][1:] == [f"{work}/fetches/x", f"--flag={work}/artifacts/y"]
    assert seen["env"]["PYTHONPATH"] == f"{work}/checkouts/vcs"
    assert Path(seen["cwd"]).resolve() == ROOT.resolve()  # the checkout is this working tree
    assert seen["env"]["HOME"] == work
    assert seen["env"]["TASKCLUSTER_ROOT_URL"].startswith("http://127.0.0.1:")
    assert not any("/builds/worker" in v for v in seen["env"].values())


def test_selection_skips_docker_images_and_aggregates(default_graph):
    labels = local_run.select(default_graph, [l for l in default_graph.tasks if l.startswith("all-pipeline")])
    kinds = {default_graph.tasks[l].kind for l in labels}
    assert "docker-image" not in kinds and "all-pipeline" not in kinds
    assert "train-teacher-model" in kinds and "dataset" in kinds
    position = {label: i for i, label in enumerate(labels)}
    for label in labels:  # dependency order
        for dep in default_graph.tasks[label].dependencies.values():
            if dep in position:
                assert position[dep] < position[label]


@pytest.mark.parametrize("nested", [True, False])
def test_target_stage_overrides_the_configs(tmp_path, nested):
    config = {"target-stage": "all-pipeline", "continuation": {"vocab": {"src": "https://example.com/v.ru.spm",
                                                                          "trg": "https://example.com/v.en.spm"}}}
    params = tmp_path / "params.yml"
    params.write_text(json.dumps({"training_config": config} if nested else config))
    full, targets = generate_graph(ROOT / "taskcluster", params, target_stage="corpus-merge-devset")
    assert targets == ["corpus-merge-devset-ru-en"]
    assert "continuation-vocab-ru-en" in full.tasks  # the rest of the config is kept
    _, targets = generate_graph(ROOT / "taskcluster", params)
    assert all(label.startswith("all-pipeline") for label in targets)


def test_queue_serves_both_artifact_url_forms(tmp_path):
    (tmp_path / "t/public/build").mkdir(parents=True)
    (tmp_path / "t/public/build/vocab.ru.spm").write_bytes(b"spm")
    import urllib.error
    import urllib.request

    with QueueServer({"A" * 22: tmp_path / "t"}) as queue:
        for path in ("task/AAAAAAAAAAAAAAAAAAAAAA/artifacts/public/build/vocab.ru.spm",
                     "task/AAAAAAAAAAAAAAAAAAAAAA/runs/0/artifacts/public%2Fbuild%2Fvocab.ru.spm"):
            assert urllib.request.urlopen(f"{queue.root_url}/api/queue/v1/{path}").read() == b"spm"
        for path in ("task/AAAAAAAAAAAAAAAAAAAAAA/artifacts/public/build/../build/vocab.ru.spm",
                     "task/BBBBBBBBBBBBBBBBBBBBBB/artifacts/public/build/vocab.ru.spm",
                     "task/AAAAAAAAAAAAAAAAAAAAAA/artifacts/public/build"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"{queue.root_url}/api/queue/v1/{path}")
            assert e.value.code == 404


# ---------------------------------------------------------------------------------------------
# The generated continuation download tasks, run through the CLI


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def vocab_params(path, base):
    path.write_text(f"training_config:\n  allow-private-urls: true\n  continuation:\n    vocab:\n"
                    f"      src: {base}/vocab.ru.spm\n      trg: {base}/vocab.en.spm\n")
    return path


def test_generated_download_task_runs_and_publishes(tmp_path, served, capsys):
    root, base = served
    # Real SentencePiece models: the download loads each with SentencePiece before publishing it.
    (root / "vocab.ru.spm").write_bytes(make_spm("src"))
    (root / "vocab.en.spm").write_bytes(make_spm("trg"))
    params = vocab_params(tmp_path / "p.yml", base)
    store = tmp_path / "store"
    assert cli_main(["run", str(params), "--store", str(store), "--tasks", "continuation-vocab"]) == 0
    build = store / "continuation-vocab-ru-en/public/build"
    assert (build / "vocab.ru.spm").read_bytes() == make_spm("src")
    assert (build / "vocab.en.spm").read_bytes() == make_spm("trg")
    assert json.loads((store / "summary.json").read_text()) == {
        "continuation-vocab-ru-en": json.loads((store / "summary.json").read_text())["continuation-vocab-ru-en"]}
    assert cli_main(["run", str(params), "--store", str(store), "--tasks", "continuation-vocab"]) == 0
    assert "continuation-vocab-ru-en  cached" in capsys.readouterr().out


def test_cli_exit_status_and_table(tmp_path, served, capsys):
    _, base = served  # serves nothing: the download gets a 404 and fails at once
    params = vocab_params(tmp_path / "p.yml", base)
    code = cli_main(["run", str(params), "--store", str(tmp_path / "s"), "--tasks", "continuation-vocab"])
    out = capsys.readouterr().out
    assert code == 1
    assert "continuation-vocab-ru-en  failed" in out  # the task's progress line
    assert out.splitlines()[-1].startswith("1 failed")  # the table's last line
    assert "404" in (tmp_path / "s/continuation-vocab-ru-en/live.log").read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_leaves_nothing_half_published(tmp_path, signum):
    """Ctrl-C (or SIGTERM) while a download task is stuck on a host that never answers: exit 130,
    the task is recorded as interrupted, nothing is under public/."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never answers
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    params = vocab_params(tmp_path / "p.yml", base)
    store = tmp_path / "store"
    process = subprocess.Popen(
        [sys.executable, "-m", "translations_taskgraph.cli", "run", str(params), "--store", str(store),
         "--tasks", "continuation-vocab"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        listener.settimeout(60)
        connection, _ = listener.accept()  # the download task is now waiting for an answer
        record = json.loads((store / "continuation-vocab-ru-en/task.json").read_text())
        assert record["state"] == "running"
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
        listener.close()
    assert process.returncode == 130, output
    label_dir = store / "continuation-vocab-ru-en"
    assert json.loads((label_dir / "task.json").read_text())["state"] == "interrupted"
    assert not (label_dir / "public").exists()
    assert json.loads((store / "summary.json").read_text())["continuation-vocab-ru-en"]["state"] == "interrupted"
    # the download process is gone: its end of the connection is closed
    connection.settimeout(10)
    while connection.recv(4096):
        pass
    connection.close()


@pytest.mark.parametrize("args, message", [
    (["-j", "0"], "-j must be at least 1"),
    (["--max-run-time", "-1"], "--max-run-time must be a positive number"),
    (["--tasks", "("], "--tasks: bad regular expression"),
])
def test_cli_usage_errors_are_one_line(tmp_path, capsys, args, message):
    params = vocab_params(tmp_path / "p.yml", "https://example.com")
    assert cli_main(["run", str(params), "--store", str(tmp_path / "s"), *args]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
