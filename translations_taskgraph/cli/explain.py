"""`explain CONFIG`: what each continuation input of a training config does to the plan.

Per training and decoding stage: the Marian options passed after `--`, each with where it came
from (the config, the CI example, the pipeline defaults, or a continuation input). Per download
task (the vocab, each corpus, each model or teacher member): its mode, the URLs it fetches, the tasks it replaced and the tasks pruned as a result (by stage, traced through the
unrewritten graph), the training tasks that start from it and the tasks that now consume it, after a
summary line and the config's warnings and hints. Works from the plan alone (no taskgraph
generation) and never touches the network unless `--check-urls` asks for the preflight.
"""

import collections
import re

from ..continuation import DOWNLOAD_KIND, training_flags, with_training_flags
from ..training_config import MARIAN_SECTION_COMMANDS, config_notes, marian_args_origins, escape_controls, redact
from .check_urls import check_urls, requirements_of
from .common import downloads_of, load_plan, original_tasks, quiet_config_log, read_config


def describe_fetches(task):
    """Lines `NAME <- URL` for a download task, in argv order."""
    lines = []
    for req in requirements_of(task):
        if len(req.alternatives) == 1:
            lines.append(f"{', '.join(req.names)} <- {req.alternatives[0][0]}")
        elif all(len(alternative) == 1 for alternative in req.alternatives):
            # Candidates: the first that exists.
            lines.append(f"{', '.join(req.names)} <- " + ", else ".join(a[0] for a in req.alternatives))
        else:
            split = " + ".join(req.alternatives[0])
            lines.append(f"{', '.join(req.names)} <- {split}, else {req.alternatives[1][0]} (joint)")
    return lines


_INPUT_IN_REASON = re.compile(r"continuation\.(vocab|corpora\.([\w-]+)|models\.([\w-]+))")


def input_of_reason(reason):
    """The continuation input a removal reason names: `vocab`, `corpus-X`, `model-X` or None."""
    match = _INPUT_IN_REASON.search(reason)
    if not match:
        return None
    if match.group(2):
        return f"corpus-{match.group(2)}"
    if match.group(3):
        return f"model-{match.group(3)}"
    return "vocab"


def replaced_by(plan):
    """{replaced label: {download label, ...}}, through the rewired edges or else the reason."""
    downloads = downloads_of(plan, pruned=True)
    result = collections.defaultdict(set)
    for (_consumer, _name), (old, new) in plan.rewired.items():
        if plan.removed.get(old, "").startswith("replaced"):
            result[old].add(new)
    for label, reason in plan.removed.items():
        if reason.startswith("replaced") and label not in result:
            wanted = input_of_reason(reason)
            result[label] = {d.label for d in downloads if d.continuation.get("input") == wanted}
    return dict(result)


def pruned_by(plan, original):
    """{pruned label: {download label, ...}}: the downloads whose replacements made it useless.

    A pruned task is traced to the nearest replaced tasks it fed in the original graph (through
    other pruned tasks) and, for an evaluation, to the replaced or pruned model it evaluated.
    """
    replaced = replaced_by(plan)
    consumers = collections.defaultdict(set)
    for task in original.values():
        for edge in task.upstreams.values():
            consumers[edge.label].add(task.label)
    memo = {}

    def trace(label, seen):
        if label in memo:
            return memo[label]
        found = set()
        stack, visited = [label], set()
        while stack:
            current = stack.pop()
            for consumer in consumers.get(current, ()):
                if consumer in visited:
                    continue
                visited.add(consumer)
                if consumer in replaced:
                    found |= replaced[consumer]
                elif plan.removed.get(consumer, "").startswith("pruned"):
                    stack.append(consumer)
        for edge in original[label].upstreams.values() if label in original else ():
            if edge.subject and edge.label not in seen:
                if edge.label in replaced:
                    found |= replaced[edge.label]
                elif plan.removed.get(edge.label, "").startswith("pruned"):
                    found |= trace(edge.label, seen | {label})
        memo[label] = found
        return found

    unused_downloads = {task.label for task in downloads_of(plan, pruned=True)} - set(plan.tasks)
    return {
        label: trace(label, {label})
        for label, reason in plan.removed.items()
        if reason.startswith("pruned") and label not in unused_downloads  # explained on their own
    }


def natural(label):
    """Sort key putting chunk 2/20 before 10/20."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]


def by_stage(labels, tasks):
    """{stage: [label, ...]} sorted, for labels of `tasks` (a {label: PlannedTask})."""
    groups = collections.defaultdict(list)
    for label in labels:
        groups[tasks[label].stage if label in tasks else "?"].append(label)
    return {stage: sorted(groups[stage], key=natural) for stage in sorted(groups)}


def consumers_of(plan, download):
    """`label (what it fetches from the download, ...)` per task that reads the download."""
    uses = collections.defaultdict(list)
    for task in plan.tasks.values():
        for name, edge in task.upstreams.items():
            if edge.label == download:
                uses[task.label].append(name)
    return [f"{label} ({', '.join(sorted(names))})" for label, names in sorted(uses.items(), key=lambda u: natural(u[0]))]


def trained_from(plan, download):
    """Training tasks that stay and start from (init) or resume (continue) this download."""
    lines = []
    for task in sorted(plan.tasks.values(), key=lambda t: t.label):
        if task.continuation.get("download") != download:
            continue
        extra = []
        args, marian_args = training_flags(plan, task)
        if args:
            extra.append("script " + " ".join(args))
        if marian_args:
            extra.append("marian " + " ".join(marian_args))
        detail = f": {'; '.join(extra)}" if extra else ""
        lines.append(f"{task.label} (mode {task.continuation['mode']}{detail})")
    return lines


def download_title(task):
    member = task.context.get("member")
    name = task.continuation.get("input", "?")
    return f"{name} (member {member})" if member else name


def explain_download(task, plan, replaced, pruned, original):
    mode = task.continuation.get("mode")
    lines = [f"{download_title(task)}", f"  download task: {task.label}  [stage {task.stage}]"]
    if task.label not in plan.tasks:
        lines.append("  NOT IN THE GRAPH: other inputs replaced everything that would read it")
    lines.append(f"  mode: {mode}" if mode else "  mode: use (vocab and corpora are used as given)")
    lines.append("  urls:")
    lines += [f"    {line}" for line in describe_fetches(task)]
    lines += _section("replaced (by stage)", by_stage(
        [label for label, downloads in replaced.items() if task.label in downloads], original))
    mine = [label for label, downloads in pruned.items() if task.label in downloads]
    shared = {label: sorted(pruned[label] - {task.label}) for label in mine}
    lines += _section("pruned as a result (by stage)", by_stage(mine, original), shared)
    trained = trained_from(plan, task.label)
    if trained:
        lines.append("  trains on from it:")
        lines += [f"    {line}" for line in trained]
    consumers = consumers_of(plan, task.label)
    lines.append(f"  consumed by ({len(consumers)}):")
    lines += [f"    {line}" for line in consumers] or ["    (nothing)"]
    return lines


def _section(title, groups, shared=None):
    """Labels by stage; `shared` names, per label, the other downloads it is attributed to."""
    if not groups:
        return [f"  {title}: (none)"]
    lines = [f"  {title}:"]
    for stage, labels in groups.items():
        lines.append(f"    {stage} ({len(labels)}):")
        for label in labels:
            also = (shared or {}).get(label)
            lines.append(f"      {label}" + (f" (also: {', '.join(also)})" if also else ""))
    return lines


def explain_lines(raw, plan, root):
    original = original_tasks(plan, root)
    replaced, pruned = replaced_by(plan), pruned_by(plan, original)
    hints, warnings = config_notes(raw)
    downloads = downloads_of(plan, pruned=True)
    counts = collections.Counter(reason.split(":")[0].split(" ")[0] for reason in plan.removed.values())
    roles = collections.Counter(
        "download" if task.kind == DOWNLOAD_KIND else "aggregate" if task.role == "aggregate" else "pipeline"
        for task in plan.tasks.values()
    )
    experiment = plan.config["experiment"]
    lines = [
        f"{experiment['name']}: {experiment['src']} -> {experiment['trg']}: in the graph "
        f"{_count(roles['pipeline'], 'pipeline task')}, {_count(roles['download'], 'download task')}, "
        f"{_count(roles['aggregate'], 'aggregate task')}; {len(plan.removed)} removed "
        f"({counts.get('replaced', 0)} replaced, {counts.get('pruned', 0)} pruned"
        + (f", {counts['cannot']} cannot be built" if counts.get("cannot") else "")
        + (f", {counts['skipped']} skipped by a setting of 0" if counts.get("skipped") else "") + ")",
    ]
    notes = [f"warning: {w}" for w in list(warnings) + plan.warnings] + [f"hint: {h}" for h in hints]
    if notes:
        lines += ["", "Warnings:"] + [f"  {note}" for note in notes]
    lines += marian_lines(raw, plan)
    if not downloads:
        lines += ["", "No continuation inputs: the whole pipeline runs from scratch."]
    for task in downloads:
        lines += [""] + explain_download(task, plan, replaced, pruned, original)
    unbuildable = collections.defaultdict(list)
    for label, reason in sorted(plan.removed.items()):
        if reason.startswith("cannot be built"):
            unbuildable[reason].append(label)
    for reason, labels in unbuildable.items():
        lines += ["", f"Dropped, {reason} (the target stage does not need them):"]
        lines += [f"  {stage}: {', '.join(names)}" for stage, names in by_stage(labels, original).items()]
    orphans = [label for label, found in pruned.items() if not found]
    if orphans:
        lines += ["", "Pruned, not traced to one input (by stage):"]
        lines += [f"  {stage}: {', '.join(labels)}" for stage, labels in by_stage(orphans, original).items()]
    return lines


def marian_lines(raw, plan):
    """Per marian-args section: the stages using it, then each option and where it came from."""
    origins = marian_args_origins(raw)
    lines = ["", "Marian options (passed after `--`; `false`/`null` in the config removes one):"]
    for section in MARIAN_SECTION_COMMANDS:
        tasks = sorted((t for t in plan.tasks.values() if t.template.get("marian-args") == section),
                       key=lambda t: natural(t.label))
        stages = sorted({task.stage for task in tasks})
        where = f"{', '.join(stages)} ({_count(len(tasks), 'task')})" if tasks else "no task in the graph"
        lines.append(f"  {section}: {where}")
        rows = []
        for option, value, origin in origins[section]:
            # A removed option is passed as `--option false`: the step drops it from its preset too.
            shown = f"--{option}" if value is True else f"--{option} false" if value is None else f"--{option} {value}"
            rows.append((shown, origin))
        added = collections.defaultdict(list)
        for task in tasks:
            # The Marian arguments the continuation transform adds to the task.
            marian_args = with_training_flags(plan, task).extra_marian_args
            if marian_args:
                name = task.continuation.get("input", "?").replace("model-", "continuation.models.")
                added[(" ".join(marian_args), f"{name} (mode {task.continuation.get('mode')})")].append(
                    task.label)
        for (args, origin), labels in added.items():
            rows.append((args, origin + ("" if len(labels) == len(tasks) else f": {', '.join(labels)}")))
        width = max((len(shown) for shown, _origin in rows), default=0)
        lines += [f"    {shown.ljust(width)}  {origin}" for shown, origin in rows] or ["    (none)"]
    return lines


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


def cmd_explain(args):
    raw = read_config(args.config)
    with quiet_config_log():
        plan = load_plan(raw, args.root)
    # Query strings (signatures of signed URLs) are never printed.
    print("\n".join(escape_controls(redact(line)) for line in explain_lines(raw, plan, args.root)))
    if not args.check_urls:
        return 0
    lines, ok = check_urls(plan, args.timeout)
    print("\n" + "\n".join(redact(line) for line in lines))
    return 0 if ok else 1
