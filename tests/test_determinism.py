"""Generation is deterministic: the same parameters give byte-identical `taskgraph full -J` output.

Checked with the real CLI in subprocesses, for the default graph and a recipe:
(a) across two PYTHONHASHSEED values (set and dict iteration orders that depend on string hashing),
(b) across serial (`TASKGRAPH_SERIAL=1`) and parallel (forked per kind, the Linux default) loading.

The parameters are written to a file that pins what otherwise defaults to "now" or to the
checkout's state: `build_date`, `moz_build_date`, `pushdate` (they reach the tasks' index routes)
and the repository/revision values (`files_changed` follows the working tree).
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import PARAMS_DIR, ROOT

TASKGRAPH = Path(sys.executable).with_name("taskgraph")
RECIPE = "recipe-train-new-teacher"

PINNED = {
    "build_date": 1714564800,
    "moz_build_date": "20240501120000",
    "pushdate": 1714564800,
    "pushlog_id": "0",
    "base_repository": "https://github.com/mozilla/translations",
    "head_repository": "https://github.com/mozilla/translations",
    "base_ref": "main",
    "head_ref": "main",
    "base_rev": "1" * 40,
    "head_rev": "2" * 40,
    "repository_type": "git",
    "project": "translations",
    "level": "3",
    "owner": "nobody@mozilla.com",
    "files_changed": [],
    "target_tasks_method": "train-target-tasks",
}

# (PYTHONHASHSEED, serial loading): (a) compares the first two, (b) the last two.
RUNS = {"seed-1-serial": ("1", True), "seed-2-serial": ("2", True), "seed-2-parallel": ("2", False)}


def params_file(tmp_path, name):
    training_config = {} if name == "default" else yaml.safe_load((PARAMS_DIR / f"{name}.yml").read_text())["training_config"]
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump({**PINNED, "training_config": training_config}))
    return path


def run_full(params, hash_seed, serial):
    env = {k: v for k, v in os.environ.items() if k not in ("TASKGRAPH_SERIAL", "TASKGRAPH_USE_THREADS")}
    env.update(PYTHONHASHSEED=hash_seed, TASKCLUSTER_ROOT_URL="https://tc.example.com")
    # The project defaults to serial loading (translations_taskgraph.register); an empty value
    # selects taskgraph's forked per-kind loading.
    env["TASKGRAPH_SERIAL"] = "1" if serial else ""
    result = subprocess.run(
        [str(TASKGRAPH), "full", "-J", "-p", str(params)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0, f"taskgraph full failed ({hash_seed=}, {serial=}):\n{result.stderr.decode()}"
    return result.stdout


def first_difference(a, b):
    """A readable pointer to where two outputs diverge."""
    ja, jb = json.loads(a), json.loads(b)
    if set(ja) != set(jb):
        return f"labels only in one: {sorted(set(ja) ^ set(jb))[:10]}"
    for label in ja:
        if ja[label] != jb[label]:
            for key in ja[label]:
                if ja[label][key] != jb[label].get(key):
                    return f"{label}: {key!r} differs:\n  {ja[label][key]!r}\n  {jb[label].get(key)!r}"
    lines_a, lines_b = a.decode().splitlines(), b.decode().splitlines()
    for number, (la, lb) in enumerate(zip(lines_a, lines_b), 1):
        if la != lb:
            return f"same content, different bytes at line {number}:\n  {la}\n  {lb}"
    return f"lengths differ: {len(lines_a)} vs {len(lines_b)} lines"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """{(graph, run): stdout} for every graph and run, the subprocesses running side by side."""
    tmp_path = tmp_path_factory.mktemp("determinism")
    jobs = {(name, run): (params_file(tmp_path, name), *RUNS[run]) for name in ("default", RECIPE) for run in RUNS}
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        futures = {key: pool.submit(run_full, *args) for key, args in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("name", ["default", RECIPE])
def test_output_is_a_graph(outputs, name):
    graph = json.loads(outputs[(name, "seed-1-serial")])
    assert graph and all(task["label"] == label for label, task in graph.items())
    # The pinned date is what reaches the index routes, not the time of the run.
    routes = [route for task in graph.values() for route in task["task"].get("routes", [])]
    assert any(".pushdate.2024.05.01.20240501120000" in route for route in routes)


@pytest.mark.parametrize("name", ["default", RECIPE])
def test_same_output_across_hash_seeds(outputs, name):
    a, b = outputs[(name, "seed-1-serial")], outputs[(name, "seed-2-serial")]
    assert a == b, f"{name}: PYTHONHASHSEED changes the graph: {first_difference(a, b)}"


@pytest.mark.parametrize("name", ["default", RECIPE])
def test_same_output_serial_and_parallel(outputs, name):
    a, b = outputs[(name, "seed-2-serial")], outputs[(name, "seed-2-parallel")]
    assert a == b, f"{name}: serial and parallel loading differ: {first_difference(a, b)}"


def test_dates_default_to_a_fixed_epoch_not_the_clock(monkeypatch):
    """Without pinned dates, two previews (or both sides of `taskgraph full --diff`) still agree:
    the dates that reach index routes default to a fixed epoch, never to the clock or the commit."""
    import taskgraph.parameters
    from taskgraph.parameters import Parameters

    from conftest import generate

    generate()  # registers the project's parameter defaults
    seen = []
    for clock in (1_000_000_000, 2_000_000_000):
        monkeypatch.setattr(taskgraph.parameters.time, "time", lambda clock=clock: clock)
        params = Parameters(strict=False, repo_root=str(ROOT))
        seen.append((params["build_date"], params["pushdate"], params["moz_build_date"]))
    assert seen[0] == seen[1]
    assert seen[0] == (0, 0, "19700101000000")
