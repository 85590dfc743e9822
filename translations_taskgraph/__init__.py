"""Taskgraph plugin for a Marian NMT training pipeline with training continuation."""


def register(graph_config):
    """Called by taskgraph (config.yml `taskgraph.register`) before parameters and kinds load.

    Imports the modules whose decorators register with taskgraph: the `training_config`
    parameter, the target tasks method, the verifications, the pull-request cache index builder,
    the `train` action. It changes no environment variable: generation needs no Taskcluster root
    URL (the decision task gets one from the worker), and `TASKGRAPH_SERIAL=1`, which makes
    generation faster here (docs/benchmark.md), is set by whoever runs taskgraph (the decision
    task's env in .taskcluster.yml).
    """
    from . import actions, cache_routes, parameters, speedups, target_tasks, verifications  # noqa: F401 (decorators register)

    speedups.import_run_plugins_once()
    verifications.KINDS_DIR["path"] = graph_config.kinds_dir
    parameters.register()
