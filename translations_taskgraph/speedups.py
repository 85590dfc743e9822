"""Generation-time shortcuts for known costs inside taskgraph itself (see docs/benchmark.md).

taskgraph's `run` transforms call `import_sibling_modules()` once per kind to import their
`run.using` implementations; it finds its caller with `inspect.stack()`, which reads the source of
every frame and cost about a fifth of generating the default graph (38 kinds). The modules only
need importing once, so they are imported here and the per-kind call becomes a no-op.
"""

import importlib
import os


def import_run_plugins_once():
    import taskgraph.transforms.run as run  # noqa: PLC0415

    directory = os.path.dirname(run.__file__)
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py") and name not in ("__init__.py", "common.py"):
            importlib.import_module(f"taskgraph.transforms.run.{name[:-3]}")
    run.import_sibling_modules = _already_imported


def _already_imported(exceptions=None):
    """Stands in for taskgraph's import_sibling_modules once the run plugins are imported."""
