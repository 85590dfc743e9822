"""`diff BASE NEW`: the task-level difference between the full task graphs of two configs.

Generates each full task graph with taskgraph (once per config and root, both with the same build
date), then lists the tasks added, removed and changed by stage, a change naming what differs:
dependencies, fetched artifacts, command, cache digest or other definition fields. Rendered as
text, or as Markdown (`--markdown`) for a pull-request comment.
"""

import collections
import copy
import difflib
import json
from dataclasses import dataclass

from ..training_config import redact
from .common import load_plan, read_config

_GRAPHS = {}


def full_task_graph(raw, root):
    """The full task graph of a raw config (generated once per config and root)."""
    key = (json.dumps(raw, sort_keys=True), str(root))
    if key not in _GRAPHS:
        from taskgraph.generator import TaskGraphGenerator  # noqa: PLC0415 (slow import)
        from taskgraph.parameters import parameters_loader  # noqa: PLC0415

        overrides = {
            "training_config": copy.deepcopy(raw),
            "target_tasks_method": "default",
        }
        generator = TaskGraphGenerator(
            root_dir=str(root), parameters=parameters_loader(None, strict=False, overrides=overrides)
        )
        _GRAPHS[key] = generator.full_task_graph
    return _GRAPHS[key]


def stage_of(task):
    return task.attributes.get("stage") or f"({task.kind})"


def task_facts(task):
    """What `diff` compares: dependencies, command, fetched artifacts, digest and the rest."""
    from ..verifications import fetched_artifacts  # noqa: PLC0415 (registers a verification)

    definition = copy.deepcopy(task.task)
    payload = definition.get("payload", {})
    command = payload.pop("command", [])
    env = payload.get("env", {})
    env.pop("MOZ_FETCHES", None)
    definition.pop("routes", None)  # the cache index routes follow the digest
    return {
        "dependencies": dict(task.dependencies),
        "command": [c if isinstance(c, str) else json.dumps(c, sort_keys=True) for c in _flatten(command)],
        "fetches": {name: sorted(a) for name, a in fetched_artifacts(task).items()},
        "digest": task.attributes.get("cached_task", {}).get("digest"),
        "other": _leaves(definition),
    }


def _flatten(command):
    out = []
    for item in command:
        out += _flatten(item) if isinstance(item, list) else [item]
    return out


def _leaves(node, prefix=""):
    """{dotted path: json value} of a task definition, to name the other fields that changed."""
    if isinstance(node, dict) and node and not ("task-reference" in node or "artifact-reference" in node):
        out = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: json.dumps(node, sort_keys=True)}


def compare(old, new):
    """[(aspect, [detail, ...]), ...] of what changed between two versions of a task."""
    a, b = task_facts(old), task_facts(new)
    changes = []
    for aspect, describe in (("dependencies", _mapping_changes), ("fetches", _fetch_changes),
                             ("command", _command_changes), ("digest", _digest_change),
                             ("other", _other_changes)):
        if a[aspect] != b[aspect]:
            changes.append((aspect, describe(a[aspect], b[aspect])))
    return changes


def _mapping_changes(old, new):
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            lines.append(f"- {name}: {old[name]}")
        elif name not in old:
            lines.append(f"+ {name}: {new[name]}")
        elif old[name] != new[name]:
            lines.append(f"{name}: {old[name]} -> {new[name]}")
    return lines


def _fetch_changes(old, new):
    lines = []
    for name in sorted(set(old) | set(new)):
        before, after = set(old.get(name, [])), set(new.get(name, []))
        if before - after:
            lines.append(f"- {name}: {', '.join(sorted(before - after))}")
        if after - before:
            lines.append(f"+ {name}: {', '.join(sorted(after - before))}")
    return lines


def _command_changes(old, new):
    lines = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            lines.append("- " + " ".join(old[i1:i2]))
        if op in ("insert", "replace"):
            lines.append("+ " + " ".join(new[j1:j2]))
    return lines


def _digest_change(old, new):
    return [f"{(old or 'none')[:12]} -> {(new or 'none')[:12]}"]


def _other_changes(old, new):
    return [", ".join(sorted(path for path in set(old) | set(new) if old.get(path) != new.get(path)))]


@dataclass
class GraphDiff:
    base_count: int
    new_count: int
    added: dict  # stage -> [label]
    removed: dict  # stage -> [label]
    changed: dict  # stage -> [(label, [(aspect, [detail])])]
    unchanged: int


def diff_graphs(base, new):
    base_tasks, new_tasks = base.tasks, new.tasks
    added, removed, changed = (collections.defaultdict(list) for _ in range(3))
    unchanged = 0
    for label in sorted(set(new_tasks) - set(base_tasks)):
        added[stage_of(new_tasks[label])].append(label)
    for label in sorted(set(base_tasks) - set(new_tasks)):
        removed[stage_of(base_tasks[label])].append(label)
    for label in sorted(set(base_tasks) & set(new_tasks)):
        changes = compare(base_tasks[label], new_tasks[label])
        if changes:
            changed[stage_of(new_tasks[label])].append((label, changes))
        else:
            unchanged += 1
    sort = lambda groups: {stage: groups[stage] for stage in sorted(groups)}  # noqa: E731
    return GraphDiff(len(base_tasks), len(new_tasks), sort(added), sort(removed), sort(changed), unchanged)


def _count(groups):
    return sum(len(labels) for labels in groups.values())


def diff_summary(d):
    return (f"{_count(d.added)} added, {_count(d.removed)} removed, {_count(d.changed)} changed, "
            f"{d.unchanged} unchanged ({d.base_count} -> {d.new_count} tasks)")


def diff_text(d, base_name, new_name):
    lines = [f"Task graph diff: {base_name} -> {new_name}", f"  {diff_summary(d)}"]
    for title, groups, mark in (("Added", d.added, "+"), ("Removed", d.removed, "-")):
        lines += ["", f"{title} ({_count(groups)}):"] + ([] if groups else ["  (none)"])
        for stage, labels in groups.items():
            lines.append(f"  {stage}")
            lines += [f"    {mark} {label}" for label in labels]
    lines += ["", f"Changed ({_count(d.changed)}):"] + ([] if d.changed else ["  (none)"])
    for stage, entries in d.changed.items():
        lines.append(f"  {stage}")
        for label, changes in entries:
            lines.append(f"    ~ {label}")
            for aspect, details in changes:
                lines.append(f"        {aspect}:")
                lines += [f"          {detail}" for detail in details]
    return lines


def diff_markdown(d, base_name, new_name):
    lines = [f"## Task graph diff: `{base_name}` → `{new_name}`", "", diff_summary(d), ""]
    stages = sorted(set(d.added) | set(d.removed) | set(d.changed))
    if stages:
        lines += ["| Stage | Added | Removed | Changed |", "|---|---:|---:|---:|"]
        for stage in stages:
            lines.append(f"| {stage} | {len(d.added.get(stage, []))} | {len(d.removed.get(stage, []))} "
                         f"| {len(d.changed.get(stage, []))} |")
    for title, groups in (("Added", d.added), ("Removed", d.removed)):
        lines += ["", f"### {title} ({_count(groups)})", ""] + ([] if groups else ["_none_"])
        for stage, labels in groups.items():
            lines.append(f"- **{stage}**: " + ", ".join(f"`{label}`" for label in labels))
    lines += ["", f"### Changed ({_count(d.changed)})"] + ([] if d.changed else ["", "_none_"])
    for stage, entries in d.changed.items():
        lines += ["", f"#### {stage}", ""]
        for label, changes in entries:
            lines.append(f"- `{label}`")
            for aspect, details in changes:
                lines.append(f"  - {aspect}: " + "; ".join(f"`{detail}`" for detail in details))
    return lines


def cmd_diff(args):
    raws = [read_config(path) for path in (args.base, args.new)]
    for raw in raws:
        load_plan(raw, args.root)  # a clean error for a bad config, before taskgraph runs
    base, new = (full_task_graph(raw, args.root) for raw in raws)
    d = diff_graphs(base, new)
    render = diff_markdown if args.markdown else diff_text
    # Commands hold signed URLs as written: print their query strings as `?***` (pull-request comments).
    print("\n".join(redact(line) for line in render(d, args.base, args.new)))
    return 0
