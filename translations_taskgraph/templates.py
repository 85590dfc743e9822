"""The kind templates: what a pipeline kind.yml may say, checked when the kinds are read.

A kind loaded by `translations_taskgraph.loader:loader` declares its tasks as templates (below).
`load_templates` reads every such kind once, merges `task-defaults-from` (shared YAML under
`taskcluster/shared/`), `task-defaults` and each task, and validates the result against
`TEMPLATE_SCHEMA`. Like taskgraph's own transform schemas, a misspelled key (`upstream:`, `arg:`)
is an error naming the kind file and the key, never a task with a dependency or a flag silently
missing. Two checks no schema can express follow: every `{fetch[name]}` in an argument names one
of the template's upstreams, and `kind-dependencies` lists exactly the kinds its upstreams come
from (plus `docker-image` and `continuation`, whose tasks any pipeline task may depend on).
"""

import functools
import logging
import os
import re

from taskgraph.util.schema import SchemaValidationError
from voluptuous import All, Any, Invalid, Length, Match, MultipleInvalid, Optional, Required, Schema

from .strict_yaml import read_strict_yaml
from .training_config import DATASET_CATEGORIES, deep_merge

LOADER = "translations_taskgraph.loader:loader"
# Kinds every pipeline kind may depend on without an upstream naming them: the images its task
# runs in, and the continuation downloads any of its upstream edges may be rewired to.
IMPLICIT_KIND_DEPENDENCIES = ("docker-image", "continuation")

logger = logging.getLogger(__name__)

ROLES = {
    "step": "a pipeline step (the default): kept while something kept fetches from it",
    "output": "what the pipeline is run for (the export): every task not feeding one is pruned",
    "evaluation": "evaluates its `subject: true` upstream; kept while that upstream is kept",
    "aggregate": "the all-pipeline tasks: depend on every output and evaluation, run nothing",
    "download": "the template every continuation download task shares (tasks come from the rules)",
}

_PLACEHOLDER = re.compile(r"\{fetch\[([^\]]+)\]\}")
_FLAG = Match(r"^--[a-z0-9][a-z0-9-]*$", msg="a flag must be written --like-this")

# A config value as a flag's value: `{config: experiment.spm-vocab-size}`; `by-dataset` first
# looks up the task's dataset in a mapping of the config.
CONFIG_VALUE = Schema({Required("config"): str, Optional("by-dataset"): str})
ARGUMENT = Any(True, str, CONFIG_VALUE, [Any(str, CONFIG_VALUE)])

UPSTREAM_SCHEMA = Schema(
    {
        # The kind of the producer; the producer is the one task of that kind matching `select`.
        Required("kind"): str,
        # What this task fetches from the producer (into fetches/<upstream name>/).
        Required("artifacts"): [str],
        # Producer attributes to match: `same` (this task's value), a template, or a config list.
        Optional("select"): {str: Any("same", str, int, {Required("in-config"): str})},
        # Every matching producer, fetched into fetches/<name>/<n>/ (a fan-in).
        Optional("all"): bool,
        # Fetched only when the producer is in the graph anyway (flags using it are dropped otherwise).
        Optional("optional"): bool,
        # The model an evaluation measures (role: evaluation).
        Optional("subject"): bool,
        # Where producers the primary kind did not make (`skip-if-zero`) come from instead: this
        # kind's task with the same value of the `fallback-by` attribute.
        Optional("fallback-kind"): str,
        Optional("fallback-by"): str,
        # A fan-in over a dataset list that must not be empty (a config path), and what else would do.
        Optional("at-least-one-from"): str,
        Optional("unless-given"): str,
    }
)

TEMPLATE_SCHEMA = Schema(
    {
        # The stage attribute (what `target-stage` selects) and the label, both formatted with the
        # task's context ({src}, {trg}, {dataset_label}, {member}, {this_chunk}, ...).
        Required("stage"): str,
        # Required except in the download template (the rules name the downloads).
        Optional("label"): str,
        Optional("description"): str,
        Optional("role"): Any(*ROLES, msg=f"expected one of: {', '.join(ROLES)}"),
        # One task per element of the product of these fan-outs (default: one per language pair).
        Optional("for-each"): [
            Any(
                "pair", "chunk", "member", "datasets",
                Match(r"^direction:(src|trg)$"),
                Match(rf"^dataset:({'|'.join(map(re.escape, DATASET_CATEGORIES))})$"),
                msg="expected pair, chunk, member, datasets, direction:<src|trg> or dataset:<category>",
            )
        ],
        Optional("worker"): Any("cpu", "gpu", msg="expected cpu or gpu"),
        Optional("script"): All(str, Length(min=1)),
        Optional("max-run-time"): int,
        Optional("upstreams"): {str: UPSTREAM_SCHEMA},
        # The step script's flags, in order; a value of None/false in the config drops the flag.
        Optional("args"): {_FLAG: ARGUMENT},
        # A flag of `args`: the task is not made when that flag's config value is 0 (its consumers
        # read from their upstream's `fallback-kind`).
        Optional("skip-if-zero"): _FLAG,
        # The section of the training config's `marian-args` passed after `--`.
        Optional("marian-args"): str,
        # What the task publishes; `{per-chunk: name}` is one name per translation chunk,
        # `{if-config: <path>, then: [names], else: [names]}` depends on a boolean of the config.
        Optional("artifacts"): [
            Any(
                str,
                {Required("per-chunk"): str},
                {Required("if-config"): str, Required("then"): [str], Required("else"): [str]},
                msg="expected a name, {per-chunk: name} or {if-config: path, then: [names], else: [names]}",
            )
        ],
        # The task's key under `tasks:` (added by the loader).
        Required("name"): str,
    }
)

KIND_SCHEMA = Schema(
    {
        Optional("loader"): LOADER,
        # Transforms this kind adds before the standard ones (which the loader appends).
        Optional("transforms"): [str],
        Required("kind-dependencies"): [str],
        Optional("task-defaults-from"): str,
        Optional("task-defaults"): dict,
        Required("tasks"): {str: dict},
    }
)


class KindError(SchemaValidationError):
    """A kind template problem: one message naming the kind file and the key."""

    def logged(self):
        """Log the message and return the error: taskgraph's CLI prints a SchemaValidationError
        without traceback and expects its message to have been logged already."""
        logger.error(str(self))
        return self


def _where(path, kinds_dir):
    relative = os.path.relpath(path, os.path.dirname(os.path.dirname(kinds_dir)))
    return path if relative.startswith("..") else relative


def _has(node, keys):
    for key in keys:
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return False
    return True


def _error(where, key_path, message):
    return KindError(f"{where}: {'.'.join(str(k) for k in key_path)}: {message}")


def _check_fetch_names(template, error):
    upstreams = template.get("upstreams") or {}

    def strings(spec):
        if isinstance(spec, str):
            yield spec
        elif isinstance(spec, list):
            for item in spec:
                yield from strings(item)

    for flag, spec in (template.get("args") or {}).items():
        for text in strings(spec):
            for name in _PLACEHOLDER.findall(text):
                if name not in upstreams:
                    known = ", ".join(sorted(upstreams)) or "none"
                    raise error(["args", flag], f"{{fetch[{name}]}} names no upstream of this task (upstreams: {known})")


def read_kind(kinds_dir, kind):
    """The validated templates of one kind ([] for a kind not loaded by our loader)."""
    path = os.path.join(kinds_dir, kind, "kind.yml")
    kind_config = read_strict_yaml(path)
    where = _where(path, kinds_dir)
    if kind_config.get("loader") != LOADER:
        return [], kind_config
    try:
        KIND_SCHEMA(kind_config)
    except MultipleInvalid as e:
        first = sorted(e.errors, key=lambda err: [str(p) for p in err.path])[0]
        raise _error(where, first.path, _message(first)) from None
    defaults = kind_config.get("task-defaults") or {}
    defaults_from = None
    merged_defaults = defaults
    if "task-defaults-from" in kind_config:
        shared_path = os.path.join(os.path.dirname(kinds_dir), "shared", kind_config["task-defaults-from"])
        defaults_from = (_where(shared_path, kinds_dir), read_strict_yaml(shared_path))
        merged_defaults = deep_merge(defaults_from[1], defaults)
    templates = []
    for name, task in kind_config["tasks"].items():
        template = deep_merge(merged_defaults, task)
        template["name"] = name

        def error(key_path, message, name=name, task=task):
            """The error at the key as written: in the task, its kind's task-defaults or the shared file."""
            key_path = list(key_path)
            shared = defaults_from[1] if defaults_from else {}
            # A missing key is reported where its mapping was written.
            for written in (key_path, key_path[:-1]):
                if _has(task, written):
                    break
                if _has(defaults, written):
                    return _error(where, ["task-defaults", *key_path], message)
                if _has(shared, written):
                    return _error(f"{defaults_from[0]} (task-defaults-from of {where})", key_path, message)
            return _error(where, ["tasks", name, *key_path], message)

        try:
            TEMPLATE_SCHEMA(template)
        except MultipleInvalid as e:
            first = sorted(e.errors, key=lambda err: [str(p) for p in err.path])[0]
            raise error(first.path, _message(first)) from None
        if template.get("role") != "aggregate" and "script" not in template:
            raise error(["script"], "required key missing: the step script this task runs")
        if template.get("role") != "download" and "label" not in template:
            raise error(["label"], "required key missing: the task's label")
        _check_fetch_names(template, error)
        flag = template.get("skip-if-zero")
        if flag and not isinstance((template.get("args") or {}).get(flag), dict):
            raise error(["skip-if-zero"], f"{flag} is not a flag of this task whose value comes from the config")
        for upstream, spec in (template.get("upstreams") or {}).items():
            if ("fallback-kind" in spec) != ("fallback-by" in spec):
                raise error(["upstreams", upstream], "fallback-kind and fallback-by go together")
        templates.append(template)
    return templates, kind_config


def _message(error: Invalid):
    if error.error_message == "extra keys not allowed":
        return "unknown key"
    if error.error_message == "required key not provided":
        return "required key missing"
    return error.error_message


def _check_kind_dependencies(kind, templates, kind_config, where, all_templates):
    declared = list(kind_config["kind-dependencies"])
    if any(t.get("role") == "aggregate" for t in templates):
        needed = {k for k, entries in all_templates.items() if any(t.get("role") in ("output", "evaluation") for t in entries)}
        what = "a kind of outputs or evaluations"
    else:
        needed = {spec[key] for t in templates for spec in (t.get("upstreams") or {}).values()
                  for key in ("kind", "fallback-kind") if key in spec}
        what = "the kind of an upstream"
    for key_path, dependency in [(["tasks", t["name"], "upstreams", n, key], s[key])
                                 for t in templates for n, s in (t.get("upstreams") or {}).items()
                                 for key in ("kind", "fallback-kind") if key in s]:
        if dependency not in all_templates:
            raise _error(where, key_path, f"no pipeline kind is named {dependency!r}")
    for dependency in sorted(needed - set(declared)):
        raise _error(where, ["kind-dependencies"], f"{dependency!r} is missing ({what}); taskgraph loads it first")
    for dependency in declared:
        if dependency not in needed and dependency not in IMPLICIT_KIND_DEPENDENCIES:
            raise _error(where, ["kind-dependencies"], f"{dependency!r} is not {what} of this kind's tasks")


@functools.lru_cache(maxsize=4)
def load_templates(kinds_dir):
    """{kind: [template, ...]} for every kind loaded by the pipeline loader, validated."""
    templates, configs = {}, {}
    for kind in sorted(os.listdir(kinds_dir)):
        if not os.path.exists(os.path.join(kinds_dir, kind, "kind.yml")):
            continue
        entries, kind_config = read_kind(kinds_dir, kind)
        if entries:
            templates[kind], configs[kind] = entries, kind_config
    for kind, entries in templates.items():
        where = _where(os.path.join(kinds_dir, kind, "kind.yml"), kinds_dir)
        _check_kind_dependencies(kind, entries, configs[kind], where, templates)
    return templates
