"""Render a planned pipeline task into a taskgraph task description.

Input: `{"label", "planned": PlannedTask}` from `translations_taskgraph.loader` (validated against
`LOADED_TASK_SCHEMA`; the plan's templates were validated when the kinds were read, see
`templates.py`), after the kind's own transforms (continuation). Output: a task for
the `run` (run-task, fetches), `cached_tasks` and `task` transforms: the step script's command as
an argv list (named flags; config values are argv elements, never shell text), the fetches of each
upstream edge, the declared artifacts as an attribute, the worker alias and a cache entry whose
digest covers the command (hence every config value used), the script's content and, through
`cached_tasks`, the digests of every upstream.
"""

import functools
import hashlib
import os
import re

from taskgraph.transforms.base import TransformSequence
from taskgraph.util.cached_tasks import EXTRA_CACHE_INDEXES, TARGET_CACHE_INDEX, TARGET_PR_CACHE_INDEX

from ..cache_routes import INDEX_TYPE as PULL_REQUEST_CACHE
from ..loader import LOADED_TASK_SCHEMA, plan_for
from ..pipeline import ARTIFACT_PREFIX, ARTIFACTS_DIR, CHECKOUT_DIR, FETCHES_DIR, arg_value
from ..templates import KindError
from ..training_config import redact

CONTINUATION_TRANSFORM = "translations_taskgraph.transforms.continuation:transforms"

transforms = TransformSequence()
transforms.add_validate(LOADED_TASK_SCHEMA)

CACHE_TYPE = "translations.v1"
# The Queue rejects a task with a route longer than this.
MAX_ROUTE_LENGTH = 249
_FETCH_REF = re.compile(r"\{fetch\[([^\]]+)\]\}")
DOCKER_IMAGES = {"cpu": "base", "gpu": "train"}
# The value that tells a step to remove a Marian option (`marian-args: {key: false}` in the config).
REMOVED_MARIAN_VALUE = "false"


@functools.lru_cache(maxsize=None)
def _file_digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return "absent"


@functools.lru_cache(maxsize=None)
def _helpers_digest(vcs_root):
    """One digest of the steps' shared helpers (`pipeline/common/`): a change there reruns every step."""
    common = os.path.join(vcs_root, "pipeline", "common")
    names = sorted(n for n in os.listdir(common) if n.endswith(".py")) if os.path.isdir(common) else []
    return hashlib.sha256("".join(f"{n}:{_file_digest(os.path.join(common, n))}\n" for n in names).encode()).hexdigest()


def _render_value(spec, task, config, fetch_dirs):
    """argv elements for one flag value; None drops the flag."""
    context = {**task.context, "fetch": fetch_dirs}
    if spec is True:
        return []
    if spec is False or spec is None:
        return None
    if isinstance(spec, dict):
        value = arg_value(spec, context, config)
        if value is None:
            return None
        if value is True:
            return []
        if value is False:
            return None
        if isinstance(value, list):
            return [str(v) for v in value]
        return [str(value)]
    if isinstance(spec, list):
        values = [_render_value(item, task, config, fetch_dirs) for item in spec]
        if any(v is None for v in values):
            return None
        return [element for value in values for element in value]
    text = str(spec)
    if any(name not in fetch_dirs for name in _FETCH_REF.findall(text)):
        return None  # an optional upstream that is not in the graph
    return [text.format(**context)]


def render_command(task, config):
    template = task.template
    fetch_dirs = {
        edge.dest.split("/")[0]: f"{FETCHES_DIR}/{edge.dest.split('/')[0]}"
        for edge in task.upstreams.values()
    }
    command = ["python3", template["script"]]
    for flag, spec in (template.get("args") or {}).items():
        values = _render_value(spec, task, config, fetch_dirs)
        if values is not None:
            command += [flag] + values
    command += task.extra_args
    marian_args = []
    if template.get("marian-args"):
        for key, value in (config["marian-args"].get(template["marian-args"]) or {}).items():
            if value is False or value is None:
                # A removed option reaches the step as `--key false`: the step drops it from its own
                # preset or defaults too (pipeline.common.marian.merge_options), never passes it on.
                marian_args += [f"--{key}", REMOVED_MARIAN_VALUE]
            else:
                marian_args += [f"--{key}"] + ([] if value is True else str(value).split())
    marian_args += task.extra_marian_args
    if marian_args:
        command += ["--"] + marian_args
    return command


def _attributes(task):
    context = task.context
    attributes = {
        "stage": task.stage,
        "src_locale": context["src"],
        "trg_locale": context["trg"],
        "artifacts": list(task.artifacts),
    }
    for key in ("dataset", "category", "locale", "direction", "member", "this_chunk", "total_chunks"):
        if key in context:
            attributes[key] = context[key]
    if task.continuation:
        # The graph's attributes are published with the decision: no query string (a URL's
        # signature) in them. Only the download command carries the URL as written.
        attributes["continuation"] = {
            key: [redact(url) for url in value] if key == "urls" else value for key, value in task.continuation.items()
        }
    return attributes


@functools.lru_cache(maxsize=None)
def _cache_name_budget(cache_prefix):
    """How long a cache name may be for the longest index route taskgraph builds from it."""
    longest = max(
        len("index." + template.format(cache_prefix=cache_prefix, level=3, type=CACHE_TYPE, name="",
                                       digest="0" * 64, build_date_long="0000.00.00.00000000000000"))
        for template in (TARGET_CACHE_INDEX, TARGET_PR_CACHE_INDEX, *EXTRA_CACHE_INDEXES)
    )
    return MAX_ROUTE_LENGTH - longest


def cache_name(label, graph_config):
    """The task's name in its cache index routes: the label, shortened with a hash if a route would
    exceed the Queue's limit (long dataset names and locales add up)."""
    name = label.replace("/", "_")
    taskgraph_config = graph_config["taskgraph"]
    budget = _cache_name_budget(taskgraph_config.get("cached-task-prefix", graph_config["trust-domain"]))
    if len(name) <= budget:
        return name
    return f"{name[: budget - 11]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


@transforms.add
def require_continuation_transform(config, tasks):
    """A task continuation replaced or continues reaches this only if its kind does not list the
    continuation transform: the kind.yml would hide that continuation applies there."""
    for item in tasks:
        task = item["planned"]
        if not item.get("continuation-applied") and (item.get("replaced-by") or task.continuation.get("download")):
            raise KindError(
                f"{config.path}/kind.yml: transforms: training continuation rewrites {task.label} "
                f"(see translations_taskgraph/continuation.py); list {CONTINUATION_TRANSFORM}"
            ).logged()
        yield item


@transforms.add
def render(config, tasks):
    training_config = vcs_root = None
    for item in tasks:
        task = item["planned"]
        template = task.template
        training_config = training_config or _plan_config(config)
        attributes = _attributes(task)
        description = template.get("description", task.label).format(**task.context)
        dependencies, names = _dependencies(task)
        if task.role == "aggregate":
            attributes["aggregate"] = True
            yield {
                "label": task.label,
                "description": description,
                "attributes": attributes,
                "dependencies": dependencies,
                "worker-type": "succeed",
                "worker": {"implementation": "succeed"},
            }
            continue
        command = render_command(task, training_config)
        worker_kind = template.get("worker", "cpu")
        classes = training_config["taskcluster"]["worker-classes"]
        worker_class = classes.get(task.kind, classes["default"]).split("-", 1)[1]
        fetches = {}
        for name, edge in sorted(task.upstreams.items()):
            for artifact in edge.artifacts:
                fetches.setdefault(names[name], []).append({"artifact": artifact, "dest": edge.dest, "extract": False})
        vcs_root = vcs_root or str(config.graph_config.vcs_root)  # a git call each time it is read
        script_path = os.path.join(vcs_root, template["script"])
        yield {
            "label": task.label,
            "description": description,
            "attributes": attributes,
            "dependencies": dependencies,
            "fetches": fetches,
            "worker-type": f"{worker_kind}-{worker_class}",
            "worker": {
                "docker-image": {"in-tree": DOCKER_IMAGES[worker_kind]},
                "max-run-time": template.get("max-run-time", 86400),
                "artifacts": [{"type": "directory", "name": ARTIFACT_PREFIX, "path": ARTIFACTS_DIR}],
                # Steps import their shared helpers (`pipeline.common`) from the checkout.
                "env": {"ARTIFACTS_DIR": ARTIFACTS_DIR, "MOZ_FETCHES_DIR": FETCHES_DIR, "PYTHONPATH": CHECKOUT_DIR},
            },
            "run": {"using": "run-task", "command": command, "cwd": "{checkout}"},
            "cache": {
                "type": CACHE_TYPE,
                "name": cache_name(task.label, config.graph_config),
                "digest-data": [
                    f"command:{command!r}",
                    f"artifacts:{task.artifacts!r}",
                    f"script:{template['script']}:{_file_digest(script_path)}",
                    f"helpers:pipeline/common:{_helpers_digest(vcs_root)}",
                ],
            },
            # Pull requests cache under routes of their own (cache_routes.py); pushes as taskgraph does.
            "index": {"type": PULL_REQUEST_CACHE},
        }


def _dependencies(task):
    """({dependency name: label}, {upstream name: dependency name}): one name per producer.

    Two upstream edges may come from one task (a continued teacher takes its vocab and its weights
    from the same download). taskgraph turns every named dependency into an entry of the task's
    `dependencies` list, and the Queue rejects a task whose `dependencies` repeat a taskId, so such
    edges share one dependency name (the first, sorted); each fetch keeps its own `dest`.
    """
    dependencies, names, by_label = {}, {}, {}
    for name, edge in sorted(task.upstreams.items()):
        names[name] = by_label.setdefault(edge.label, name)
        dependencies[names[name]] = edge.label
    return dependencies, names


def _plan_config(config):
    return plan_for(config.params, os.path.dirname(config.path)).config
