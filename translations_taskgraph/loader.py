"""Kind loader: hand each kind its tasks from the one whole-pipeline plan."""

import logging
import os

from .parameters import training_config_parameter
from .pipeline import build_plan
from .training_config import ConfigError

logger = logging.getLogger(__name__)


def plan_for(params, kinds_dir):
    """The plan of the parameters' training config; a config error is logged, then raised.

    taskgraph's CLI prints no traceback for a SchemaValidationError (ConfigError is one) and
    expects its message to have been logged already.
    """
    try:
        return build_plan(training_config_parameter(params), kinds_dir)
    except ConfigError as error:
        logger.error(str(error))
        raise


def loader(kind, path, config, params, loaded_tasks, write_artifacts=None):
    plan = plan_for(params, os.path.dirname(path))
    for task in plan.by_kind(kind):
        yield {"label": task.label, "planned": task}
