"""Shared fixtures: whole-graph generation, once per training config per test session.

`generate(training_config)` runs the real taskgraph generator (the same code path as
`taskgraph full`) on parameters holding `training_config`, and caches the result by config so a
module generating one graph per config pays for it once. Generation is offline: pytest-socket
blocks every socket but loopback (see pyproject.toml).
"""

import copy
import functools
import json
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TASKCLUSTER_DIR = ROOT / "taskcluster"
KINDS_DIR = str(TASKCLUSTER_DIR / "kinds")
PARAMS_DIR = TASKCLUSTER_DIR / "test" / "params"

os.environ.setdefault("TASKGRAPH_SERIAL", "1")
os.environ.setdefault("TASKCLUSTER_ROOT_URL", "https://tc.example.com")


def load_params_file(name):
    """The training_config of a parameter file in taskcluster/test/params/."""
    return yaml.safe_load((PARAMS_DIR / f"{name}.yml").read_text())["training_config"]


@functools.lru_cache(maxsize=64)
def _generate(config_json, attribute):
    from taskgraph.generator import TaskGraphGenerator
    from taskgraph.parameters import parameters_loader

    overrides = {"training_config": json.loads(config_json), "target_tasks_method": "train-target-tasks"}
    generator = TaskGraphGenerator(
        root_dir=str(TASKCLUSTER_DIR), parameters=parameters_loader(None, strict=False, overrides=overrides)
    )
    return getattr(generator, attribute)


def generate(training_config=None, attribute="full_task_graph"):
    """The task graph (default: full) for a training config deep-merged over the default one."""
    return _generate(json.dumps(training_config or {}, sort_keys=True), attribute)


def complete(changes=None):
    """A complete training config: the CI example written out in full, with `changes` merged in.

    A config naming languages or listing datasets is complete and merged over the pipeline
    defaults only (never over the CI example): tests changing datasets start from this."""
    from translations_taskgraph.training_config import ci_example, deep_merge

    return deep_merge(ci_example(), changes or {})


def plan(training_config=None):
    from translations_taskgraph.pipeline import build_plan

    return build_plan(copy.deepcopy(training_config or {}), KINDS_DIR)


def command(graph, label):
    """The step command of a task: the argv after run-task's `--`."""
    argv = graph.tasks[label].task["payload"]["command"]
    return argv[argv.index("--") + 1 :]


def flag(argv, name):
    """The value after `name` in an argv list (None if absent)."""
    return argv[argv.index(name) + 1] if name in argv else None


def fetched(graph, label):
    from translations_taskgraph.verifications import fetched_artifacts

    task = graph.tasks[label]
    result = {}
    for name, artifacts in fetched_artifacts(task).items():
        result.setdefault(task.dependencies[name], set()).update(artifacts)
    return {producer: sorted(artifacts) for producer, artifacts in result.items()}


def labels_of_stage(graph, stage):
    return sorted(label for label, task in graph.tasks.items() if task.attributes.get("stage") == stage)


@pytest.fixture(scope="session")
def default_graph():
    return generate()
