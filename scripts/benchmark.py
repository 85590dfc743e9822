#!/usr/bin/env python3
"""Benchmark `taskgraph full`: wall time, peak memory and task count per training config.

Not a test: run it by hand on a quiet machine and record the table in docs/benchmark.md.

    .venv/bin/python scripts/benchmark.py [--repeat 3] [--quick]

Cases: the default config, every parameter file under taskcluster/test/params, and 10/100/1000
train datasets with teacher ensembles of 1 and 4. Each case runs the real CLI in a fresh process
(`taskgraph full -J -p <params>`); the best of `--repeat` runs is reported. Peak memory is the
generating process's maximum RSS. The last column is the share of a full generation (measured
in-process on the same config) spent in the continuation rewrite (`apply_continuation`): the cost
of continuation against the same generation without it.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = ROOT / "taskcluster" / "test" / "params"
TASKGRAPH = str(Path(sys.executable).with_name("taskgraph"))


def synthetic_config(datasets, ensemble):
    return {
        "experiment": {"teacher-ensemble": ensemble},
        "datasets": {"train": [f"opus_Synthetic{i}/v1" for i in range(datasets)]},
    }


def cases(quick):
    yield "default", {}
    for path in sorted(PARAMS_DIR.glob("*.yml")):
        yield path.stem, yaml.safe_load(path.read_text())["training_config"]
    sizes = (10, 100) if quick else (10, 100, 1000)
    continuation = yaml.safe_load((PARAMS_DIR / "doc-continuation-models.yml").read_text())["training_config"]
    for datasets in sizes:
        for ensemble in (1, 4):
            yield f"{datasets} train datasets, ensemble {ensemble}", synthetic_config(datasets, ensemble)
        # The same size with continuation (teacher continue for every member, backwards use).
        yield (
            f"{datasets} train datasets, ensemble 4, continuation",
            {**synthetic_config(datasets, 4), **continuation},
        )


def run_cli(config, env):
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"training_config": config}, f)
        params = f.name
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            process = subprocess.Popen(
                [TASKGRAPH, "full", "-J", "-p", params], cwd=ROOT, env=env, stdout=out, stderr=err
            )
            _pid, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode:
                err.seek(0)
                raise SystemExit(f"taskgraph full failed:\n{err.read().decode()[-2000:]}")
            out.seek(0)
            tasks = len(json.load(out))
    finally:
        os.unlink(params)
    return seconds, tasks, usage.ru_maxrss / 1024


def continuation_share(config):
    """Seconds in the continuation rewrite / seconds of a whole full-graph generation, in-process."""
    from taskgraph.generator import TaskGraphGenerator
    from taskgraph.parameters import parameters_loader

    from translations_taskgraph import pipeline

    spent = {"rewrite": 0.0}
    original = pipeline.apply_continuation

    def timed(plan, templates):
        start = time.perf_counter()
        original(plan, templates)
        spent["rewrite"] += time.perf_counter() - start

    pipeline.apply_continuation = timed
    try:
        pipeline._build_plan.cache_clear()
        generator = TaskGraphGenerator(
            root_dir=str(ROOT / "taskcluster"),
            parameters=parameters_loader(None, strict=False, overrides={"training_config": config}),
        )
        start = time.perf_counter()
        generator.full_task_graph  # noqa: B018 (generation happens on access)
        total = time.perf_counter() - start
    finally:
        pipeline.apply_continuation = original
    return spent["rewrite"] / total if total else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="skip the 1000-dataset cases")
    args = parser.parse_args()
    env = {**os.environ, "TASKCLUSTER_ROOT_URL": os.environ.get("TASKCLUSTER_ROOT_URL", "https://tc.example.com")}
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")
    print("| case | tasks | seconds (best of %d) | peak RSS MiB | ms per task | continuation share |" % args.repeat)
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, config in cases(args.quick):
        runs = [run_cli(config, env) for _ in range(args.repeat)]
        best, tasks, _ = min(runs)
        peak = max(run[2] for run in runs)
        share = continuation_share(config)
        print(f"| {name} | {tasks} | {best:.2f} | {peak:.0f} | {1000 * best / tasks:.2f} | {100 * share:.1f}% |",
              flush=True)


if __name__ == "__main__":
    main()
