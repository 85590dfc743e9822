"""The `training_config` parameter and the project's parameter defaults.

taskgraph only sees `training_config` as a mapping; its contents are validated by the one
training-config schema (`training_config.py`) when the plan is built, after being deep-merged over
the embedded default. A parameters file may also hold training-config keys at its top level; keys
that belong deeper, or nearly match one, are errors rather than ignored parameters.

The defaults (applied only to non-strict, local parameters; the decision task sets its own) make
previews work anywhere and stay stable: a repository URL taskgraph can link sources to, a fixed
build date, and optimization that never asks the Taskcluster index. Parameters files taskgraph could
not read are reported in one line.
"""

import copy
import difflib
import functools
import logging
import os
import subprocess
from typing import Any, Optional

import msgspec
import taskgraph.parameters as taskgraph_parameters
from taskgraph.parameters import base_schema, extend_parameters_schema
from taskgraph.util.schema import Schema, SchemaValidationError

from .optimize import PREVIEW_STRATEGIES_PATH
from .pipeline import build_plan
from .strict_yaml import StrictYamlError, read_strict_yaml
from .training_config import NESTED_KEY_PARENTS, TOP_LEVEL_KEYS, ConfigError, default_training_config

# Used when the checkout has no remote taskgraph can link task sources to (none, a local path...).
FALLBACK_REPOSITORY = "https://github.com/translations-taskgraph/translations-taskgraph"
PREVIEW_BUILD_DATE = 0
# The target tasks method of this project (target_tasks.py): every task of `target-stage`.
TARGET_TASKS_METHOD = "train-target-tasks"

logger = logging.getLogger(__name__)

# Any type here: a `training_config` that is not a mapping is reported by the config loader in one
# line (taskgraph's own check would print a traceback).
TrainingConfigParameters = Schema.from_dict(
    {"training_config": Optional[Any]},
    name="TrainingConfigParameters",
    forbid_unknown_fields=False,
)


def _git(repo_root, *args):
    try:
        return subprocess.run(
            ["git", *args], cwd=repo_root or ".", capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


def links_task_sources(url):
    """Whether taskgraph can link a task's source for this remote (`Parameters.file_url`).

    taskgraph only knows GitHub remotes: a clone of a local path (CI checkouts), an `ssh://` or a
    non-GitHub remote would make every task's `metadata.source` fail to render.
    """
    return url.startswith(("https://github.com/", "git@github.com:"))


def get_defaults(repo_root=None):
    defaults = {"training_config": default_training_config()}
    if not links_task_sources(_git(repo_root, "config", "--get", "remote.origin.url")):
        defaults.update(
            {
                "base_repository": FALLBACK_REPOSITORY,
                "head_repository": FALLBACK_REPOSITORY,
                "project": "translations-taskgraph",
            }
        )
    if not _git(repo_root, "rev-parse", "--verify", "-q", "HEAD"):
        # No commit to name (no git, or nothing committed yet): taskgraph's own default is "".
        defaults.update({"head_ref": "main", "head_rev": "0" * 40})
    # taskgraph defaults these to the clock (or, were they taken from git, to the commit), and they
    # reach every cached task's index routes, so two previews, or the two sides of a
    # `taskgraph full --diff`, would differ in every task. Previews have no push: a fixed epoch keeps
    # them byte-identical. The decision task sets these itself, from the push.
    defaults.update(
        {"build_date": PREVIEW_BUILD_DATE, "pushdate": PREVIEW_BUILD_DATE, "moz_build_date": "19700101000000"}
    )
    # Nor may a local `taskgraph optimized` ask the Taskcluster index (see optimize.py).
    defaults["optimize_strategies"] = PREVIEW_STRATEGIES_PATH
    # The tasks of the config's `target-stage` (target_tasks.py), not taskgraph's `default` method.
    defaults["target_tasks_method"] = TARGET_TASKS_METHOD
    return defaults


@functools.lru_cache(maxsize=1)
def taskgraph_parameter_names():
    """The names of taskgraph's own parameters, and ours."""
    # taskgraph's parameters schema is a msgspec Struct: its fields' encode names are the keys
    # (tests/test_taskgraph_internals.py fails if that changes).
    return frozenset(f.encode_name for f in msgspec.structs.fields(base_schema)) | {"training_config"}


def _check_misplaced_keys(params):
    """taskgraph ignores parameters it does not know. A top-level key that belongs deeper in the
    training config (`src`, `vocab`, `teacher-ensemble`) or is nearly a training-config key is the
    user's mistake, never someone else's parameter: say so instead of generating the default graph."""
    for key in params:
        if key in TOP_LEVEL_KEYS or key in taskgraph_parameter_names():
            continue
        parents = NESTED_KEY_PARENTS.get(key)
        if parents:
            raise ConfigError(
                [key], f"unknown parameter; {key!r} is a training-config key under {' or '.join(parents[:3])}: nest it there"
            )
        match = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1, cutoff=0.8)
        if match:
            raise ConfigError([key], f"unknown parameter; did you mean the training-config key {match[0]!r}?")
    check_parameter_spelling(params)


def check_parameter_spelling(params):
    """`training-config`, `Training_config`, `trainig_config`: taskgraph would ignore the key and
    generate the default graph. A near miss of a parameter name is an error with a suggestion."""
    names = taskgraph_parameter_names()
    spelled = {_spelling(name): name for name in sorted(names)}
    for key in params:
        if key in names or key in TOP_LEVEL_KEYS:
            continue
        near = difflib.get_close_matches(_spelling(key), list(spelled), n=1, cutoff=0.8)
        match = spelled.get(_spelling(key)) or (spelled[near[0]] if near else None)
        if match:
            raise ConfigError([key], f"unknown parameter; did you mean {match!r}?")


def _spelling(key):
    """A parameter name without case and with `-` or spaces read as `_`."""
    return str(key).lower().replace("-", "_").replace(" ", "_")


def training_config_parameter(params):
    """The user's (unmerged) training config from the parameters; {} when absent.

    It is the `training_config` parameter. A parameters file may also hold training-config keys at
    its top level (a training config saved as a parameters file, such as a block copied from the
    docs): they are read as part of the training config, never silently ignored.
    """
    _check_misplaced_keys(params)
    raw = params.get("training_config")
    raw = {} if raw is None else raw  # `[]`, `false`, `""` are not mappings: the loader says so
    # `existing_tasks` is a taskgraph parameter too: at the top level it is taskgraph's.
    loose = {key: params[key] for key in TOP_LEVEL_KEYS if key in params and key not in taskgraph_parameter_names()}
    if not loose:
        return raw
    if not isinstance(raw, dict):
        return raw  # load_training_config reports the bad type
    if raw == default_training_config():
        # Filled in by `get_defaults` (the CLI loads parameters non-strictly), not written by the user.
        raw = {}
    both = sorted(set(loose) & set(raw))
    if both:
        raise ConfigError(
            [both[0]], "given both at the top level of the parameters and under training_config; keep one"
        )
    return {**raw, **loose}


def get_decision_parameters(graph_config, parameters):
    """Decision task: record the merged, validated training config in parameters.yml (a bad
    config stops the decision here, with one message), and target the config's `target-stage`
    unless the decision was asked for another target method."""
    if parameters.get("target_tasks_method", "default") == "default":
        parameters["target_tasks_method"] = TARGET_TASKS_METHOD
    plan = build_plan(parameters.get("training_config") or {}, os.path.join(graph_config.root_dir, "kinds"))
    parameters["training_config"] = copy.deepcopy(plan.config)


def _parameters_file_problem(path):
    """Why taskgraph could not read a local parameters file (None if it can); `"empty"` when the
    file holds nothing, which taskgraph would crash on but means "no parameters"."""
    if not path.endswith((".yml", ".json")):
        return "parameters files must end in .yml or .json"
    try:
        # JSON is YAML: one strict reading for both (duplicate keys, dates, ... are errors).
        data = read_strict_yaml(path)
    except StrictYamlError as e:
        return str(e).removeprefix(f"{path}: ")
    if data is None:
        return "empty"
    if not isinstance(data, dict):
        return f"expected a mapping of parameters, got a {type(data).__name__}"
    return None


_UNKNOWN_WHEN_EMPTY = frozenset({"base_repository", "head_repository", "project", "head_ref", "head_rev"})


def report_unreadable_parameters_files():
    """taskgraph reads `-p FILE` itself and prints a traceback when the file is not YAML, is a list
    or is empty. Check local files first: a problem becomes one logged line (a
    SchemaValidationError, which the CLI prints without traceback), an empty file means defaults.

    This wraps a function of taskgraph's: `parameters_loader` must look `load_parameters_file` up
    as a module global (tests/test_taskgraph_internals.py fails if taskgraph changes that)."""
    original = taskgraph_parameters.load_parameters_file
    if getattr(original, "reports_unreadable_files", False):
        return

    @functools.wraps(original)
    def load_parameters_file(spec, *args, **kwargs):
        overrides = kwargs.get("overrides")
        if overrides and not kwargs.get("strict", True):
            # `taskgraph image-digest` fills its parameters from taskgraph's own defaults (before
            # this project registers get_defaults) and passes them on as overrides; an empty
            # repository or revision there means "unknown": let get_defaults fill it.
            kwargs["overrides"] = {k: v for k, v in overrides.items() if not (v == "" and k in _UNKNOWN_WHEN_EMPTY)}
        if spec and os.path.isfile(spec):
            problem = _parameters_file_problem(spec)
            if problem == "empty":
                return original(None, *args, **kwargs)
            if problem:
                logger.error(f"Invalid parameters file {spec}: {problem}")
                raise SchemaValidationError(f"Invalid parameters file {spec}: {problem}")
        return original(spec, *args, **kwargs)

    load_parameters_file.reports_unreadable_files = True
    taskgraph_parameters.load_parameters_file = load_parameters_file


def register():
    extend_parameters_schema(TrainingConfigParameters, defaults_fn=get_defaults)
    report_unreadable_parameters_files()
