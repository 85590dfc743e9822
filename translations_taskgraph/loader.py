"""Kind loader: hand each kind its tasks from the one whole-pipeline plan."""

import os

from .parameters import training_config_parameter
from .pipeline import build_plan
from .training_config import ConfigError


def plan_for(params, kinds_dir):
    """The plan of the parameters' training config; a config error is logged, then raised."""
    try:
        return build_plan(training_config_parameter(params), kinds_dir)
    except ConfigError as error:
        raise error.logged() from None


def loader(kind, path, config, params, loaded_tasks, write_artifacts=None):
    plan = plan_for(params, os.path.dirname(path))
    for task in plan.by_kind(kind):
        yield {"label": task.label, "planned": task}
