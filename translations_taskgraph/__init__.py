"""Taskgraph plugin for a Marian NMT training pipeline with training continuation."""

import os

# Generation is offline: taskgraph only needs a root URL to render URLs, never to call it.
from .training_config import DEFAULT_ROOT_URL


def register(graph_config):
    os.environ.setdefault("TASKCLUSTER_ROOT_URL", DEFAULT_ROOT_URL)
    # Every kind is a thin view of one plan computed before kinds load (see verifications.py);
    # forking a process per kind costs more than it saves (docs/benchmark.md). An explicit
    # TASKGRAPH_SERIAL= (empty) still selects taskgraph's forked loading.
    os.environ.setdefault("TASKGRAPH_SERIAL", "1")
    from . import cache_routes, parameters, speedups, target_tasks, verifications  # noqa: F401 (decorators register)

    speedups.import_run_plugins_once()

    verifications.KINDS_DIR["path"] = graph_config.kinds_dir

    parameters.register()
    from . import actions  # noqa: F401 (registers the `train` action)
