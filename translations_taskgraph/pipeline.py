"""The pipeline plan: every pipeline task, its upstream edges and declared artifacts.

The kinds under `taskcluster/kinds/` declare their tasks as templates (`templates.py`: stage,
fan-out, upstreams, script, flags, artifacts). `build_plan` (at the end) runs the phases:
`instantiate` expands the fan-out from the training config and resolves every upstream to concrete
labels; the continuation rules (`continuation.py`) rewrite the result; `prune` keeps what still
feeds an output task; the checks reject configs whose graph could not run. Each kind's loader then
takes its own tasks from that one plan, so every kind sees the same, whole-graph decision.

The modules import one way: `training_config` → `templates` → `planned` (the plan's data model)
→ `continuation` → `pipeline` → `loader` → `transforms/*`.
"""

import collections
import difflib
import functools
import hashlib
import json
import logging
import os
import re

from .continuation import apply_continuation, check_pins
from .planned import (  # noqa: F401 (the plan's model, used here and imported from here)
    ARTIFACT_PREFIX,
    ARTIFACTS_DIR,
    CHECKOUT_DIR,
    FETCHES_DIR,
    Edge,
    Plan,
    PlannedTask,
    base_context,
    config_value,
    fmt,
)
from .templates import load_templates
from .training_config import (
    DATASET_CATEGORIES,
    ConfigError,
    config_base,
    config_json,
    escape_controls,
    load_training_config,
    redact,
)

logger = logging.getLogger(__name__)

ALL_PIPELINE_MAX_DEPENDENCIES = 100
AGGREGATE_STAGE = "all-pipeline"  # the stage of the aggregate tasks: the whole pipeline


# ------------------------------------------------------------------------------------------------
# Fan-out.
def _dataset_parts(dataset):
    """Label-safe provider and name: `opus_ada83/v1` -> (`opus`, `ada83_v1`)."""
    provider, _, name = dataset.partition("_")
    provider = re.sub(r"[^A-Za-z0-9-]+", "_", provider).strip("_")
    name = re.sub(r"[^A-Za-z0-9-]+", "_", name).strip("_")
    if len(provider) + len(name) > 59 or not dataset.isascii():
        # Long names, and names whose non-ASCII letters became `_`, keep a digest of the whole name.
        digest = hashlib.sha256(dataset.encode()).hexdigest()[:10]
        name = f"{name[: max(0, 47 - len(provider))]}-{digest}"
    return provider, name or provider


def dataset_label(dataset):
    """A label-safe dataset name: `opus_ada83/v1` -> `opus-ada83_v1`."""
    provider, name = _dataset_parts(dataset)
    return f"{provider}-{name}" if "_" in dataset else provider


def dataset_file(dataset):
    """The file stem a dataset's artifacts use: `opus_ada83/v1` -> `opus_ada83_v1`."""
    provider, name = _dataset_parts(dataset)
    return f"{provider}_{name}" if "_" in dataset else provider


def _dataset_contexts(config, category):
    experiment = config["experiment"]
    locale = {"mono-src": experiment["src"], "mono-trg": experiment["trg"]}.get(category)
    for dataset in config["datasets"][category]:
        provider, name = _dataset_parts(dataset)
        context = {
            "dataset": dataset,
            "dataset_label": dataset_label(dataset),
            "dataset_provider": provider,
            "dataset_name": name or provider,
            "dataset_file": dataset_file(dataset),
            "category": category,
            "locales": locale or f"{experiment['src']}-{experiment['trg']}",
        }
        if locale:
            context["locale"] = locale
            context["direction"] = category.split("-")[1]
        yield context


def _fan_out(config, spec, ensemble_size):
    """Contexts for one `for-each` entry."""
    if spec == "pair":
        return [{}]
    if spec == "chunk":
        total = config["taskcluster"]["split-chunks"]
        return [{"this_chunk": i, "total_chunks": total} for i in range(1, total + 1)]
    if spec == "member":
        return [{"member": i} for i in range(1, ensemble_size + 1)]
    if spec.startswith("direction:"):
        experiment = config["experiment"]
        direction = spec.split(":", 1)[1]
        return [{"direction": direction, "locale": experiment[direction]}]
    if spec == "datasets":
        seen, contexts = set(), []
        for category in DATASET_CATEGORIES:
            for context in _dataset_contexts(config, category):
                key = (context["dataset_label"], context["locales"])
                if key not in seen:
                    seen.add(key)
                    contexts.append(context)
        return contexts
    if spec.startswith("dataset:"):
        return list(_dataset_contexts(config, spec.split(":", 1)[1]))
    raise ValueError(f"unknown for-each {spec!r}")


def _expand(template, base_context, config, ensemble_size):
    contexts = [dict(base_context)]
    for spec in template.get("for-each", ["pair"]):
        contexts = [
            {**context, **extra} for context in contexts for extra in _fan_out(config, spec, ensemble_size)
        ]
    return contexts


# ------------------------------------------------------------------------------------------------
# The plan.
def teacher_ensemble_size(config):
    teacher = config.get("continuation", {}).get("models", {}).get("teacher")
    if teacher and teacher["mode"] == "use":
        return len(teacher["urls"])
    return config["experiment"]["teacher-ensemble"]


def check_dataset_names(config):
    """Two dataset names that become one label (`opus_Books/v1`, `opus_Books_v1`) would silently
    share one set of tasks; the same name listed twice is just a duplicate."""
    seen = {}
    for category in DATASET_CATEGORIES:
        for index, dataset in enumerate(config["datasets"][category]):
            label = dataset_label(dataset)
            first = seen.setdefault(label, dataset)
            if first != dataset:
                raise ConfigError(
                    ["datasets", category, index],
                    f"becomes the same task label as {first!r} ({label}) once made label-safe; keep one",
                    dataset,
                    True,
                )


def arg_value(spec, context, config):
    """The config value behind a flag declared `{by-dataset: ..., config: ...}` (None when unset)."""
    value = None
    if "by-dataset" in spec:
        # Keyed by the dataset as written (`opus_ada83/v1`) or by its file stem (`opus_ada83_v1`).
        per_dataset = config_value(config, fmt(spec["by-dataset"], context)) or {}
        for key in (context.get("dataset"), context.get("dataset_file")):
            if value is None:
                value = per_dataset.get(key)
    if value is None and "config" in spec:
        value = config_value(config, fmt(spec["config"], context))
    return value


def skipped_by_config(template, context, config):
    """`skip-if-zero: <flag>`: the task is not made when that flag's config value is 0 (a Bicleaner
    threshold of 0 keeps every pair, so scoring would be wasted work); its consumers read from the
    upstream's `fallback-kind` instead."""
    flag = template.get("skip-if-zero")
    if not flag:
        return False
    value = arg_value(template["args"][flag], context, config)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def instantiate(config, templates, skipped=None):
    """Every pipeline task of the unrewritten graph, with upstreams resolved to labels.

    Tasks a `skip-if-zero` setting leaves out go to `skipped` (label -> task) instead."""
    check_dataset_names(config)
    context0 = base_context(config)
    ensemble_size = teacher_ensemble_size(config)
    tasks = {}
    for kind, entries in templates.items():
        for template in entries:
            if template.get("role") in ("aggregate", "download"):
                continue
            for context in _expand(template, context0, config, ensemble_size):
                context["stage"] = fmt(template["stage"], context)
                label = fmt(template["label"], context)
                context["label"] = label
                if label in tasks:
                    continue
                task = PlannedTask(
                    label=label,
                    kind=kind,
                    template=template,
                    context=context,
                    artifacts=_artifacts(template.get("artifacts", []), context, config),
                )
                if skipped_by_config(template, context, config):
                    if skipped is not None:
                        skipped[label] = task
                    continue
                tasks[label] = task
    # Resolve upstreams once every task exists (templates may name kinds in any order).
    index = _ProducerIndex(tasks.values())
    for task in tasks.values():
        for name, spec in (task.template.get("upstreams") or {}).items():
            _resolve_upstream(task, name, spec, index, config)
    return tasks


def _artifacts(entries, context, config):
    """Declared artifact names; `{per-chunk: name}` expands to one name per translation chunk;
    `{if-config: path, then: [names], else: [names]}` depends on a boolean of the config."""
    names = []
    for entry in entries:
        if isinstance(entry, dict) and "if-config" in entry:
            chosen = entry["then"] if config_value(config, entry["if-config"]) else entry["else"]
            names += [fmt(name, context) for name in chosen]
        elif isinstance(entry, dict):
            total = config["taskcluster"]["split-chunks"]
            names += [fmt(entry["per-chunk"], {**context, "chunk": i}) for i in range(1, total + 1)]
        else:
            names.append(fmt(entry, context))
    return names


def _matches(producer, wanted):
    for key, value in wanted.items():
        actual = producer.context.get(key)
        if isinstance(value, (set, frozenset)):
            if actual not in value:
                return False
        elif str(actual) != str(value):
            return False
    return True


class _ProducerIndex:
    """Producers by kind and by the values of the attributes a selection compares.

    Resolving every upstream by scanning all tasks of a kind is quadratic in the number of
    datasets; equality selections are answered from a dict built once per (kind, keys).
    """

    def __init__(self, tasks):
        self.by_kind = {}
        for task in tasks:
            self.by_kind.setdefault(task.kind, []).append(task)
        self.lookups = {}

    def candidates(self, kind, wanted):
        exact = tuple(sorted(k for k, v in wanted.items() if not isinstance(v, frozenset)))
        lookup = self.lookups.get((kind, exact))
        if lookup is None:
            lookup = {}
            for producer in self.by_kind.get(kind, []):
                key = tuple(str(producer.context.get(k)) for k in exact)
                lookup.setdefault(key, []).append(producer)
            self.lookups[(kind, exact)] = lookup
        found = lookup.get(tuple(str(wanted[k]) for k in exact), [])
        return [producer for producer in found if _matches(producer, wanted)] if len(exact) < len(wanted) else found


def _resolve_upstream(task, name, spec, index, config):
    wanted = {}
    for key, value in (spec.get("select") or {}).items():
        if value == "same":
            wanted[key] = task.context.get(key)
        elif isinstance(value, dict) and "in-config" in value:
            wanted[key] = frozenset(config_value(config, value["in-config"]) or ())
        else:
            wanted[key] = fmt(str(value), task.context)
    candidates = index.candidates(spec["kind"], wanted)
    if spec.get("fallback-kind"):
        # Producers of the fallback kind stand in for those the primary kind did not make
        # (`skip-if-zero`), matched by the `fallback-by` attribute (e.g. the dataset).
        key = spec["fallback-by"]
        covered = {producer.context.get(key) for producer in candidates}
        candidates = candidates + [
            producer for producer in index.candidates(spec["fallback-kind"], wanted)
            if producer.context.get(key) not in covered
        ]
    if spec.get("all"):
        candidates.sort(key=lambda p: (p.context.get("member", 0), p.context.get("this_chunk", 0), p.label))
        for position, producer in enumerate(candidates, start=1):
            context = {**task.context, **producer.context}
            task.upstreams[f"{name}-{position}"] = Edge(
                label=producer.label,
                artifacts=[fmt(a, context) for a in spec["artifacts"]],
                dest=f"{name}/{position}",
                optional=spec.get("optional", False),
                subject=spec.get("subject", False),
            )
        return
    if len(candidates) != 1:
        raise ValueError(
            f"{task.label}: upstream {name!r} matches {len(candidates)} tasks of kind {spec['kind']} "
            f"for {wanted}"
        )
    producer = candidates[0]
    context = {**task.context, **producer.context}
    task.upstreams[name] = Edge(
        label=producer.label,
        artifacts=[fmt(a, context) for a in spec["artifacts"]],
        dest=name,
        optional=spec.get("optional", False),
        subject=spec.get("subject", False),
    )


def prune(plan, keep=()):
    """Keep what feeds an output task (or a label in `keep`); evaluations only while their subject is kept."""
    tasks = plan.tasks
    # Drop edges to tasks the rewrite removed; strong edges to them are a bug in the rules.
    for task in tasks.values():
        for name, edge in list(task.upstreams.items()):
            if edge.label not in tasks:
                if not (edge.optional or edge.subject):
                    raise ValueError(f"{task.label}: upstream {name} points at removed task {edge.label}")
                del task.upstreams[name]
    evaluations_without_subject = {
        task.label
        for task in tasks.values()
        if task.role == "evaluation" and not any(edge.subject for edge in task.upstreams.values())
    }

    live = set()

    def visit(label):
        stack = [label]
        while stack:
            current = stack.pop()
            if current in live:
                continue
            live.add(current)
            for edge in tasks[current].upstreams.values():
                if not edge.optional and edge.label not in live:
                    stack.append(edge.label)

    for task in tasks.values():
        if task.role == "output" or task.label in keep:
            visit(task.label)
    # Evaluations stay while what they evaluate stays.
    for task in tasks.values():
        if task.role == "evaluation" and task.label not in evaluations_without_subject:
            if all(edge.label in live for edge in task.upstreams.values() if edge.subject):
                visit(task.label)

    for label in list(tasks):
        if label not in live:
            plan.removed.setdefault(label, "pruned: feeds nothing that is still in the graph")
            if tasks[label].continuation.get("urls"):
                plan.warnings.append(
                    f"continuation input {tasks[label].continuation['input']} is not used: other inputs "
                    f"made everything that would read it unnecessary ({label} is not in the graph)"
                )
            plan.pruned_tasks[label] = tasks.pop(label)
    # Weak edges to pruned producers are dropped with the flags that use them.
    for task in tasks.values():
        for name, edge in list(task.upstreams.items()):
            if edge.label not in tasks:
                del task.upstreams[name]


def _empty_fan_ins(plan):
    """{label: ConfigError} of kept tasks that merge a dataset list and got nothing from it.

    An upstream declared with `at-least-one-from: <config path>` (e.g. `datasets.train`) resolves to
    one edge per dataset; none means the list is empty, and the merge could only fail at run time.
    """
    empty = {}
    for task in plan.tasks.values():
        for name, spec in (task.template.get("upstreams") or {}).items():
            path = spec.get("at-least-one-from")
            prefix = f"{name}-"
            if path and not any(key.startswith(prefix) and key[len(prefix) :].isdigit() for key in task.upstreams):
                empty[task.label] = ConfigError(
                    fmt(path, task.context).split("."),
                    f"is empty, but {task.label} needs at least one dataset from it"
                    + (f" (or {spec['unless-given']})" if spec.get("unless-given") else ""),
                )
    return empty


def downstream(plan, labels, *, strong=False):
    """`labels` and every task of the plan that depends on them, transitively (with `strong`,
    only through edges that are not optional)."""
    consumers = collections.defaultdict(set)
    for task in plan.tasks.values():
        for edge in task.upstreams.values():
            if not (strong and edge.optional):
                consumers[edge.label].add(task.label)
    found, stack = set(), list(labels)
    while stack:
        label = stack.pop()
        if label not in found:
            found.add(label)
            stack.extend(consumers.get(label, ()))
    return found


def check_target_stage(plan, original_stages):
    """`target-stage` must name a stage that still has tasks: else nothing would run (and a preview
    would silently show a graph nobody asked for)."""
    stage = plan.config["target-stage"]
    if stage == AGGREGATE_STAGE or any(task.stage == stage for task in plan.tasks.values()):
        return
    stages = sorted({task.stage for task in plan.tasks.values()} | {AGGREGATE_STAGE})
    if stage in original_stages:
        why = "continuation replaced or pruned all its tasks"
    else:
        match = difflib.get_close_matches(stage, stages, n=1, cutoff=0.6)
        why = "unknown stage" + (f"; did you mean {match[0]!r}?" if match else "")
    raise ConfigError(["target-stage"], f"{why}; expected one of: {', '.join(stages)}", stage, True)


def drop_empty_fan_ins(plan):
    """Drop what an empty dataset list makes impossible, unless the targets need it.

    A merge with nothing to merge, and everything that depends on it, cannot run. When none of the
    target stage's tasks (for `all-pipeline`: none of the exports) depends on it, that branch is
    dropped (a teacher-only run needs no mono-src data); otherwise the empty list is a config error.
    """
    empty = _empty_fan_ins(plan)
    stage = plan.config["target-stage"]
    targets = {
        task.label for task in plan.tasks.values()
        if (task.role == "output" if stage == AGGREGATE_STAGE else task.stage == stage)
    }
    dropped = {}  # label -> the empty list that makes it impossible
    for label, error in sorted(empty.items()):
        impossible = downstream(plan, [label], strong=True)
        if impossible & targets:
            raise error
        for each in impossible:
            dropped.setdefault(each, ".".join(error.path))
    if not dropped:
        return
    for label, path in dropped.items():
        plan.removed[label] = f"cannot be built: {path} is empty"
        plan.pruned_tasks[label] = plan.tasks.pop(label)
    # What only fed the dropped branch goes too; the targets stay (they are the outputs now).
    prune(plan, keep=targets)


def check_start_task_prefix(plan):
    """A `start-task-prefix` that starts no label of the graph is a typo, not a no-op."""
    prefix = plan.config.get("start-task-prefix")
    if prefix and not any(label.startswith(prefix) for label in plan.tasks):
        stages = sorted({task.stage for task in plan.tasks.values()})
        raise ConfigError(
            ["start-task-prefix"],
            f"starts no task label of this graph; expected the start of a label, e.g. one of the stages: "
            f"{', '.join(stages)}",
            prefix,
            True,
        )


def check_worker_classes(plan, templates):
    """`taskcluster.worker-classes` is keyed by kind: any other key is ignored, with a warning (the
    public pipeline's configs name kinds that no longer exist)."""
    kinds = sorted(templates)
    # People write stage names here too; name the kind that runs that stage.
    kind_of_stage = {t["stage"]: kind for kind, entries in templates.items() for t in entries if "{" not in t["stage"]}
    for key in plan.config["taskcluster"]["worker-classes"]:
        if key != "default" and key not in templates:
            if key in kind_of_stage:
                hint = f"; stage {key!r} runs in kind {kind_of_stage[key]!r}"
            else:
                match = difflib.get_close_matches(key, kinds, n=1, cutoff=0.6)
                hint = f"; did you mean {match[0]!r}?" if match else ""
            plan.warnings.append(
                f"taskcluster.worker-classes.{key}: no kind of that name{hint}; the setting is ignored"
            )


def warn_duplicate_datasets(plan):
    """A dataset listed twice in one category is used once (the public pipeline's production config
    repeats one): say so, since the user may have meant another one."""
    for category in DATASET_CATEGORIES:
        counts = collections.Counter(plan.config["datasets"][category])
        for dataset, count in sorted(counts.items()):
            if count > 1:
                plan.warnings.append(f"datasets.{category} lists {dataset!r} {count} times; it is used once")


def warn_unused_dataset_keys(plan):
    """Per-dataset settings (`by-dataset` flags, e.g. Bicleaner thresholds) for datasets that no task
    of the config reads: usually a typo or a dataset missing from `datasets`. Checked before
    continuation prunes anything, so inputs that replace datasets do not cause warnings."""
    read = collections.defaultdict(set)
    # Tasks skipped by their own setting (`skip-if-zero`, in pruned_tasks) did read it.
    for task in [*plan.tasks.values(), *plan.pruned_tasks.values()]:
        for spec in (task.template.get("args") or {}).values():
            if isinstance(spec, dict) and "by-dataset" in spec:
                path = fmt(spec["by-dataset"], task.context)
                read[path] |= {task.context.get("dataset"), task.context.get("dataset_file")}
    _base_name, defaults = config_base(plan.raw)
    for path, names in sorted(read.items()):
        settings, inherited = config_value(plan.config, path) or {}, config_value(defaults, path) or {}
        for key in sorted(settings):
            # A default's setting kept by the deep merge after the user replaced the dataset list is
            # not the user's typo.
            if key not in names and not (key in inherited and inherited[key] == settings[key]):
                plan.warnings.append(f"{path}.{key}: no dataset of this config has that name; the setting is unused")


def add_aggregates(plan, templates):
    """The all-pipeline tasks: depend on every output and evaluation, at most 100 per task."""
    context0 = base_context(plan.config)
    for kind, entries in templates.items():
        for template in entries:
            if template.get("role") != "aggregate":
                continue
            members = sorted(t.label for t in plan.tasks.values() if t.role in ("output", "evaluation"))
            size = ALL_PIPELINE_MAX_DEPENDENCIES
            for number, start in enumerate(range(0, max(len(members), 1), size), start=1):
                context = {**context0, "part": number}
                context["stage"] = fmt(template["stage"], context)
                label = fmt(template["label"], context)
                context["label"] = label
                task = PlannedTask(label=label, kind=kind, template=template, context=context)
                for label_ in members[start : start + size]:
                    task.upstreams[label_] = Edge(label=label_, artifacts=[], dest=label_)
                plan.tasks[label] = task


# ------------------------------------------------------------------------------------------------
# The phases, in order.
def build_plan(raw_config, kinds_dir):
    """The whole rewritten pipeline for a training config (cached per config)."""
    return _build_plan(config_json(raw_config), os.path.abspath(kinds_dir))


@functools.lru_cache(maxsize=8)
def _build_plan(raw_json, kinds_dir):
    raw = json.loads(raw_json)
    config = load_training_config(raw)
    check_pins(config, raw)
    templates = load_templates(kinds_dir)
    skipped = {}
    plan = Plan(config=config, tasks=instantiate(config, templates, skipped), raw=raw)
    for label, task in skipped.items():
        plan.removed[label] = f"skipped: {task.template['skip-if-zero']} is 0 for {task.context.get('dataset')}"
        plan.pruned_tasks[label] = task
    original_stages = {task.stage for task in plan.tasks.values()}
    check_worker_classes(plan, templates)
    warn_duplicate_datasets(plan)
    warn_unused_dataset_keys(plan)
    apply_continuation(plan, templates)
    prune(plan)
    check_target_stage(plan, original_stages)
    drop_empty_fan_ins(plan)
    check_start_task_prefix(plan)
    add_aggregates(plan, templates)
    for warning in plan.warnings:
        logger.warning(escape_controls(redact(warning)))  # one line each, no URL query strings
    return plan
