"""Taskgraph plugin for a Marian NMT training pipeline with training continuation."""

import os

# Generation is offline: taskgraph only needs a root URL to render URLs, never to call it.
DEFAULT_ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"


def register(graph_config):
    os.environ.setdefault("TASKCLUSTER_ROOT_URL", DEFAULT_ROOT_URL)
    from . import parameters, target_tasks, verifications  # noqa: F401 (decorators register)

    parameters.register()
    try:
        from . import actions  # noqa: F401
    except ImportError:
        pass
