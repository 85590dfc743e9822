"""Kind loader: hand each kind its tasks from the one whole-pipeline plan.

Like taskgraph's default loader (`taskgraph.loader.default`), it appends the standard transforms to
the kind's own, so a pipeline kind.yml lists only what is particular to it (the continuation
transform, in the kinds continuation rewrites). A kind that needs a transform between two standard
ones (the proxy transform, after `run`) lists the whole sequence instead, and nothing is added.
The standard transforms:

- `translations_taskgraph.transforms.pipeline_task` renders a planned task into a task
  description (command, fetches, worker, cache);
- taskgraph's `run`, `cached_tasks` and `task` transforms make the Taskcluster task
  (the aggregate kind's tasks run nothing: they get only `task`).

Each task it yields is `{"label", "planned": PlannedTask}` (`LOADED_TASK_SCHEMA`); a task that
continuation replaced is yielded too, marked `replaced-by` its download, for the kind's continuation
transform to drop.
"""

import os

from taskgraph.util.schema import LegacySchema
from voluptuous import Any, Optional, Required

from .parameters import training_config_parameter
from .pipeline import PlannedTask
from .pipeline import build_plan
from .templates import KindError, load_templates
from .training_config import ConfigError

LOADED_TASK_SCHEMA = LegacySchema(
    {
        Required("label"): str,
        # The task as the plan made it (template, context, upstream edges, declared artifacts).
        Required("planned"): PlannedTask,
        # For a task continuation replaced: the label of the download standing in for it.
        Optional("replaced-by"): Any(None, str),
        # Set by the continuation transform once it has applied the rules to this task.
        Optional("continuation-applied"): bool,
    }
)

RENDER_TRANSFORM = "translations_taskgraph.transforms.pipeline_task:transforms"
STANDARD_TRANSFORMS = [
    RENDER_TRANSFORM,
    "taskgraph.transforms.run:transforms",
    "taskgraph.transforms.cached_tasks:transforms",
    "taskgraph.transforms.task:transforms",
]
AGGREGATE_TRANSFORMS = [RENDER_TRANSFORM, "taskgraph.transforms.task:transforms"]


def plan_for(params, kinds_dir):
    """The plan of the parameters' training config; a config or kind error is logged, then raised
    (taskgraph's CLI prints a logged SchemaValidationError without traceback)."""
    try:
        return build_plan(training_config_parameter(params), kinds_dir)
    except ConfigError as error:
        raise error.logged() from None
    except KindError as error:
        raise error.logged() from None


def loader(kind, path, config, params, loaded_tasks, write_artifacts=None):
    kinds_dir = os.path.dirname(path)
    plan = plan_for(params, kinds_dir)
    aggregate = any(t.get("role") == "aggregate" for t in load_templates(os.path.abspath(kinds_dir)).get(kind, []))
    standard = AGGREGATE_TRANSFORMS if aggregate else STANDARD_TRANSFORMS
    transforms = config.setdefault("transforms", [])
    listed = [t for t in transforms if t in standard]
    if not listed:
        transforms.extend(standard)
    elif listed != standard:
        # A kind that needs a transform between the standard ones lists the whole sequence.
        raise KindError(
            f"{path}/kind.yml: transforms: list all of {', '.join(standard)} in this order, or none of them "
            "(the loader appends them)"
        ).logged()
    # taskgraph reads config["transforms"] before it iterates the tasks: return a generator.
    return _tasks(kind, plan)


def _tasks(kind, plan):
    for task in plan.by_kind(kind):
        yield {"label": task.label, "planned": task}
    for task, download in plan.replaced_of_kind(kind):
        yield {"label": task.label, "planned": task, "replaced-by": download}
