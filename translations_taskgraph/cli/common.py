"""Helpers shared by the `translations-taskgraph` subcommands.

The default taskcluster root (`DEFAULT_ROOT`), the one-line user error (`CliError`), reading a
training config or parameters file (`read_config`, with YAML errors in one line), building the
rewritten plan (`load_plan`) and the unrewritten pipeline tasks (`original_tasks`) from the root's
kinds, the plan's download tasks (`downloads_of`) and silencing the config loader's own log
(`quiet_config_log`).
"""

import contextlib
import copy
import logging
from pathlib import Path

from .. import pipeline, training_config
from ..continuation import DOWNLOAD_KIND
from ..parameters import check_parameter_spelling, taskgraph_parameter_names, training_config_parameter
from ..pipeline import instantiate
from ..pipeline import build_plan
from ..strict_yaml import StrictYamlError, read_strict_yaml
from ..templates import load_templates


def _default_root():
    """`taskcluster/` of the current directory (like `taskgraph`), else of this package's checkout."""
    here = Path.cwd() / "taskcluster"
    if (here / "config.yml").exists():
        return here
    return Path(__file__).resolve().parent.parent.parent / "taskcluster"


DEFAULT_ROOT = _default_root()


class CliError(Exception):
    """A user error reported as one line on stderr (exit status 1)."""


def read_config(path):
    """The raw training config of a YAML file: a training config, or a parameters file (it holds
    `training_config` or any other taskgraph parameter) read as `taskgraph` reads it."""
    try:
        data = read_strict_yaml(path)
    except StrictYamlError as e:
        raise CliError(str(e)) from None
    if isinstance(data, dict):
        check_parameter_spelling(data)  # `training-config:` is a misspelled parameter, not a config key
    if isinstance(data, dict) and set(data) & taskgraph_parameter_names():
        data = training_config_parameter(data)
    return {} if data is None else data


def kinds_dir(root):
    return str(Path(root) / "kinds")


def load_plan(raw, root):
    """The rewritten plan of a raw config; raises ConfigError on a bad config."""
    return build_plan(copy.deepcopy(raw), kinds_dir(root))


def downloads_of(plan, pruned=False):
    """The plan's download tasks; with `pruned`, also those pruned because nothing reads them."""
    tasks = list(plan.tasks.values()) + (list(plan.pruned_tasks.values()) if pruned else [])
    return sorted((t for t in tasks if t.kind == DOWNLOAD_KIND), key=lambda t: t.label)


def original_tasks(plan, root):
    """The unrewritten pipeline tasks of the plan's config (no downloads, no aggregates)."""
    return instantiate(plan.config, load_templates(kinds_dir(root)))


@contextlib.contextmanager
def quiet_config_log():
    """Explain prints the config's hints and warnings itself: keep the loader from logging them."""
    loggers = [logging.getLogger(training_config.__name__), logging.getLogger(pipeline.__name__)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
