"""`translations-taskgraph run PARAMS --store DIR [--target-stage STAGE] [--tasks REGEX] [-j N]`.

Generates the full task graph from PARAMS exactly as `taskgraph full -p PARAMS` does, selects the
target tasks of the training config (its `target-stage`, or `--target-stage`), or the labels
matching `--tasks` (matched from the start, as `taskgraph full --tasks`), plus everything they
depend on, and runs them on this machine as a worker would (`local_run.py`). One line per task as
it ends, then a table. Exit status: 0 when every selected task completed or was cached, 1
otherwise (or on a bad config), 130 when interrupted.
"""

import contextlib
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from .. import local_run
from ..local_run import CACHED, COMPLETED, RunError
from ..parameters import taskgraph_parameter_names
from ..training_config import TOP_LEVEL_KEYS
from .common import CliError


def add_parser(sub, parents):
    run = sub.add_parser("run", parents=parents, help="run a graph's tasks on this machine, as a worker would")
    run.add_argument("params", help="a parameters file, as for `taskgraph full -p`")
    run.add_argument("--store", required=True, type=Path, metavar="DIR",
                     help="where artifacts, logs and summary.json go; reused by a later run")
    run.add_argument("--target-stage", metavar="STAGE", help="override the training config's target-stage")
    run.add_argument("--tasks", metavar="REGEX", help="run the tasks whose labels match (from the start) instead")
    run.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="tasks run at a time (default: 1)")
    run.add_argument("--max-run-time", type=float, metavar="S",
                     help="fail a task running longer than this (default: its payload's maxRunTime)")
    run.set_defaults(func=cmd_run)
    return run


def generate(root, params, target_stage=None):
    """(full task graph, target labels) for a parameters file, as `taskgraph full -p` makes them."""
    os.environ.setdefault("TASKCLUSTER_ROOT_URL", "https://tc.example")  # as for any offline taskgraph run
    from taskgraph.generator import TaskGraphGenerator  # noqa: PLC0415
    from taskgraph.parameters import parameters_loader  # noqa: PLC0415

    def load(graph_config):
        parameters = parameters_loader(str(params), strict=False)(graph_config)
        if not target_stage:
            return parameters
        if set(parameters) & (set(TOP_LEVEL_KEYS) - taskgraph_parameter_names()):
            overrides = {"target-stage": target_stage}  # a training config written at the top level
        else:
            overrides = {"training_config": {**(parameters.get("training_config") or {}), "target-stage": target_stage}}
        return parameters_loader(str(params), strict=False, overrides=overrides)(graph_config)

    generator = TaskGraphGenerator(root_dir=str(root), parameters=load)
    full = generator.full_task_graph
    return full, sorted(generator.target_task_set.tasks)


def cmd_run(args):
    if args.jobs < 1:
        raise CliError("-j must be at least 1")
    if args.max_run_time is not None and not (math.isfinite(args.max_run_time) and args.max_run_time > 0):
        raise CliError("--max-run-time must be a positive number of seconds")
    if not Path(args.params).is_file():
        raise CliError(f"{args.params}: no such parameters file")
    full, targets = generate(args.root, args.params, args.target_stage)
    if args.tasks:
        try:
            pattern = re.compile(args.tasks)
        except re.error as e:
            raise CliError(f"--tasks: bad regular expression: {e}") from None
        targets = [label for label in full.tasks if pattern.match(label)]
    labels = local_run.select(full, targets)
    if not labels:
        raise CliError("no task to run: nothing selected runs locally")
    tasks = local_run.plan_tasks(full, labels, args.store)
    print(f"running {len(tasks)} tasks in {args.store} ({sum(t.cached for t in tasks)} cached)", flush=True)
    width = max(len(label) for label in labels)

    def report(result):
        note = f"  ({result.reason})" if result.reason else ""
        print(f"{result.label:<{width}}  {result.state:<11} {result.seconds:7.1f}s{note}", flush=True)

    runner = local_run.Runner(args.store, checkout=Path(args.root).resolve().parent, jobs=args.jobs,
                              max_run_time=args.max_run_time, report=report)
    started = time.monotonic()
    try:
        with _sigterm_interrupts():
            results = runner.run(tasks)
    except RunError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        print(f"interrupted; nothing half-published. summary: {Path(args.store) / local_run.SUMMARY_FILE}",
              file=sys.stderr)
        return 130
    print_table(tasks, results, width, time.monotonic() - started)
    return 0 if all(r.state in (COMPLETED, CACHED) for r in results.values()) else 1


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM stops the run as Ctrl-C does: the tasks run in sessions of their own, so they would
    outlive a runner that just died."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_table(tasks, results, width, seconds):
    print()
    print(f"{'task':<{width}}  {'state':<11} {'seconds':>8}  exit")
    print(f"{'-' * width}  {'-' * 11} {'-' * 8}  ----")
    for task in tasks:
        r = results[task.label]
        code = "" if r.exit_code is None or r.state != "failed" else str(r.exit_code)
        print(f"{task.label:<{width}}  {r.state:<11} {r.seconds:8.1f}  {code}")
    counts = {}
    for r in results.values():
        counts[r.state] = counts.get(r.state, 0) + 1
    print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) + f" in {seconds:.0f} s", flush=True)
