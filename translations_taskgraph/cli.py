"""`translations-taskgraph`: preview what a training config does to the task graph.

Three subcommands, for a training config or a parameters file holding `training_config`:

* `explain CONFIG` -- per continuation input (the vocab, each corpus, each model or teacher
  member): its mode, the URLs it downloads, its download task, the tasks it replaced and the tasks
  pruned as a result (by stage), the tasks that now consume it, and the config's warnings. Works
  from the plan alone (no taskgraph generation) and never touches the network, except with
  `--check-urls`: a concurrent, timeout-bounded HEAD (or ranged GET) of every URL the download
  tasks will fetch.
* `diff BASE NEW` -- generates both full task graphs with taskgraph and lists the tasks added,
  removed and changed (dependencies, command, fetched artifacts, cache digest), by stage; text or
  `--markdown` for a pull-request comment.
* `picture CONFIG` -- the stage graph as a Mermaid flowchart, download stages and the stages the
  continuation replaced or pruned styled apart; `--svg` also renders it with Graphviz `dot`.

Exit status: 0 on success, 1 on a bad config or when `--check-urls` finds a missing URL.
The standard `taskgraph` command is unaffected.
"""

import argparse
import collections
import concurrent.futures
import contextlib
import copy
import difflib
import json
import logging
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import pipeline, training_config
from .continuation import DOWNLOAD_KIND
from .pipeline import build_plan, instantiate, load_templates
from .training_config import ConfigError, config_notes

def _default_root():
    """`taskcluster/` of the current directory (like `taskgraph`), else of this package's checkout."""
    here = Path.cwd() / "taskcluster"
    if (here / "config.yml").exists():
        return here
    return Path(__file__).resolve().parent.parent / "taskcluster"


DEFAULT_ROOT = _default_root()
USER_AGENT = "translations-taskgraph-preflight/1.0"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class CliError(Exception):
    """A user error reported as one line on stderr (exit status 1)."""


# ------------------------------------------------------------------------------------------------
# Inputs.
def read_config(path):
    """The raw training config of a YAML file: a training config or parameters with `training_config`."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CliError(f"{path} is not valid YAML: {_yaml_problem(e)}") from None
    if isinstance(data, dict) and "training_config" in data:
        data = data["training_config"]
    return {} if data is None else data


def _yaml_problem(error):
    """A YAML error in one line: what and where."""
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return f"{getattr(error, 'problem', None) or error}{where}"


def kinds_dir(root):
    return str(Path(root) / "kinds")


def load_plan(raw, root):
    """The rewritten plan of a raw config; raises ConfigError on a bad config."""
    return build_plan(copy.deepcopy(raw), kinds_dir(root))


def downloads_of(plan):
    return sorted((t for t in plan.tasks.values() if t.kind == DOWNLOAD_KIND), key=lambda t: t.label)


# ------------------------------------------------------------------------------------------------
# What each download task fetches, from its script arguments.
@dataclass
class Requirement:
    """Files a download needs: satisfied when every URL of one alternative is there."""

    download: str
    names: tuple  # the artifacts the download publishes from it
    alternatives: list  # [[url, ...], ...] tried in order
    optional: bool = False
    labels: list = field(default_factory=list)  # per alternative, how to describe it


def requirements_of(task):
    """The Requirements of one download task, parsed from its argv (PlannedTask.extra_args)."""
    args, found, vocab = list(task.extra_args), [], {}
    i = 0
    while i < len(args):
        flag = args[i]
        if flag in ("--file", "--optional-file"):
            name, url = args[i + 1], args[i + 2]
            found.append(Requirement(task.label, (name,), [[url]], optional=flag == "--optional-file",
                                     labels=[name]))
            i += 3
        elif flag in ("--vocab-dir", "--src", "--trg"):
            vocab[flag] = args[i + 1]
            i += 2
        elif flag == "--pin":
            i += 3
        else:
            i += 1
    if "--vocab-dir" in vocab:
        found.append(_vocab_requirement(task.label, vocab["--vocab-dir"], vocab["--src"], vocab["--trg"]))
    return found


def _vocab_requirement(download, base, src, trg):
    base = base.rstrip("/")
    names = (f"vocab.{src}.spm", f"vocab.{trg}.spm")
    return Requirement(
        download, names,
        [[f"{base}/{names[0]}", f"{base}/{names[1]}"], [f"{base}/vocab.spm"]],
        labels=["split vocab", "joint vocab, if no split vocab"],
    )


def describe_fetches(task):
    """Lines `NAME <- URL` for a download task, in argv order."""
    lines = []
    for req in requirements_of(task):
        if len(req.alternatives) == 1:
            suffix = " (optional)" if req.optional else ""
            lines.append(f"{', '.join(req.names)} <- {req.alternatives[0][0]}{suffix}")
        else:
            split = " + ".join(req.alternatives[0])
            lines.append(f"{', '.join(req.names)} <- {split}, else {req.alternatives[1][0]} (joint)")
    return lines


# ------------------------------------------------------------------------------------------------
# explain.
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
    downloads = downloads_of(plan)
    result = collections.defaultdict(set)
    for (_consumer, _name), (old, new) in plan.rewired.items():
        if plan.removed.get(old, "").startswith("replaced"):
            result[old].add(new)
    for label, reason in plan.removed.items():
        if reason.startswith("replaced") and label not in result:
            wanted = input_of_reason(reason)
            result[label] = {d.label for d in downloads if d.continuation.get("input") == wanted}
    return dict(result)


def original_tasks(plan, root):
    """The unrewritten pipeline tasks of the plan's config (no downloads, no aggregates)."""
    return instantiate(plan.config, load_templates(kinds_dir(root)))


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

    return {
        label: trace(label, {label})
        for label, reason in plan.removed.items()
        if reason.startswith("pruned")
    }


def by_stage(labels, tasks):
    """{stage: [label, ...]} sorted, for labels of `tasks` (a {label: PlannedTask})."""
    groups = collections.defaultdict(list)
    for label in labels:
        groups[tasks[label].stage if label in tasks else "?"].append(label)
    return {stage: sorted(groups[stage]) for stage in sorted(groups)}


def consumers_of(plan, download):
    return sorted(
        f"{task.label} ({name})"
        for task in plan.tasks.values()
        for name, edge in task.upstreams.items()
        if edge.label == download
    )


def trained_from(plan, download):
    """Training tasks that stay and start from (init) or resume (continue) this download."""
    lines = []
    for task in sorted(plan.tasks.values(), key=lambda t: t.label):
        if task.continuation.get("download") != download:
            continue
        extra = []
        if task.extra_args:
            extra.append("script " + " ".join(task.extra_args))
        if task.extra_marian_args:
            extra.append("marian " + " ".join(task.extra_marian_args))
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
    downloads = downloads_of(plan)
    counts = collections.Counter(reason.split(":")[0].split(" ")[0] for reason in plan.removed.values())
    experiment = plan.config["experiment"]
    lines = [
        f"{experiment['name']}: {experiment['src']} -> {experiment['trg']}, "
        f"{len(plan.tasks)} pipeline tasks in graph, {len(plan.removed)} removed "
        f"({counts.get('replaced', 0)} replaced, {counts.get('pruned', 0)} pruned), "
        f"{len(downloads)} download tasks",
    ]
    notes = [f"warning: {w}" for w in list(warnings) + plan.warnings] + [f"hint: {h}" for h in hints]
    if notes:
        lines += ["", "Warnings:"] + [f"  {note}" for note in notes]
    if not downloads:
        lines += ["", "No continuation inputs: the whole pipeline runs from scratch."]
    for task in downloads:
        lines += [""] + explain_download(task, plan, replaced, pruned, original)
    orphans = [label for label, found in pruned.items() if not found]
    if orphans:
        lines += ["", "Pruned, not traced to one input (by stage):"]
        lines += [f"  {stage}: {', '.join(labels)}" for stage, labels in by_stage(orphans, original).items()]
    return lines


# ------------------------------------------------------------------------------------------------
# --check-urls: the preflight.
@dataclass(frozen=True)
class Probe:
    url: str
    status: int = 0  # the HTTP status; 0 when no answer
    detail: str = ""

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def missing(self):
        return self.status in (404, 410)


class _KeepMethodRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects with the same method: a HEAD stays a HEAD (urllib would switch to GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.method = req.get_method()
        return new


def _open(request, timeout):
    host = urllib.parse.urlsplit(request.full_url).hostname
    handlers = [_KeepMethodRedirect()]
    if host in LOOPBACK_HOSTS:
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def probe(url, timeout):
    """HEAD the URL; on 405/501 fetch its first byte instead. Never reads a body."""
    attempts = [("HEAD", {}), ("GET", {"Range": "bytes=0-0"})]
    for method, headers in attempts:
        request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, **headers})
        try:
            with _open(request, timeout) as response:
                return Probe(url, response.status, method)
        except urllib.error.HTTPError as e:
            if e.code in (405, 501) and method == "HEAD":
                continue
            return Probe(url, e.code, f"HTTP {e.code} {e.reason}")
        except (OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            return Probe(url, 0, f"{type(reason).__name__}: {reason}")
    return Probe(url, 0, "no answer")


def probe_all(urls, timeout, workers=16):
    """{url: Probe}, probed concurrently; each request is bounded by `timeout` seconds."""
    urls = sorted(set(urls))
    if not urls:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(urls))) as pool:
        return dict(zip(urls, pool.map(lambda url: probe(url, timeout), urls)))


def satisfied(req, probes):
    if req.optional:
        return all(probes[url].ok or probes[url].missing for url in req.alternatives[0])
    return any(all(probes[url].ok for url in alternative) for alternative in req.alternatives)


def check_rows(requirements, probes):
    """Table rows (status, url, needed by) and the unsatisfied requirements."""
    needs = collections.defaultdict(list)
    failing_urls = set()
    failed = [req for req in requirements if not satisfied(req, probes)]
    for req in requirements:
        for alternative, label in zip(req.alternatives, req.labels):
            what = ", ".join(req.names) + (f" ({label})" if len(req.alternatives) > 1 else "")
            for url in alternative:
                needs[url].append(f"{req.download}: {what}")
                if req in failed:
                    failing_urls.add(url)
    rows = []
    for url in sorted(needs, key=lambda u: (sorted(needs[u])[0], u)):
        rows.append((_status(probes[url], url in failing_urls), url, "; ".join(sorted(needs[url]))))
    return rows, failed


def _status(result, failing):
    if result.ok:
        return "ok"
    if result.missing:
        return "MISSING" if failing else "absent (not needed)"
    return f"ERROR {result.detail}" if failing else f"unreachable (not needed): {result.detail}"


def table(rows, header):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header) - 1)]
    out = []
    for row in [header] + rows:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)] + [str(row[-1])]
        out.append("  ".join(cells).rstrip())
    return out


def check_urls(plan, timeout):
    """Probe every URL the download tasks fetch; return (lines, ok)."""
    requirements = [req for task in downloads_of(plan) for req in requirements_of(task)]
    if not requirements:
        return ["URL check: no continuation downloads, nothing to check."], True
    probes = probe_all([url for req in requirements for alt in req.alternatives for url in alt], timeout)
    rows, failed = check_rows(requirements, probes)
    lines = [f"URL check ({len(probes)} URLs, timeout {timeout:g}s each):"]
    lines += table(rows, ("STATUS", "URL", "NEEDED BY"))
    if failed:
        lines.append(f"{len(failed)} required download(s) cannot be satisfied:")
        lines += [f"  {req.download}: {', '.join(req.names)}" for req in failed]
    else:
        lines.append("All required URLs are reachable.")
    return lines, not failed


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


def cmd_explain(args):
    raw = read_config(args.config)
    with quiet_config_log():
        plan = load_plan(raw, args.root)
    print("\n".join(explain_lines(raw, plan, args.root)))
    if not args.check_urls:
        return 0
    lines, ok = check_urls(plan, args.timeout)
    print("\n" + "\n".join(lines))
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------------
# diff.
_GRAPHS = {}
# Both graphs of a diff get the same dates, so time-derived fields (index ranks) do not differ.
_BUILD_DATE = int(time.time())


def full_task_graph(raw, root):
    """The full task graph of a raw config (generated once per config and root)."""
    key = (json.dumps(raw, sort_keys=True), str(root))
    if key not in _GRAPHS:
        from taskgraph.generator import TaskGraphGenerator  # noqa: PLC0415 (slow import)
        from taskgraph.parameters import parameters_loader  # noqa: PLC0415

        overrides = {
            "training_config": copy.deepcopy(raw),
            "target_tasks_method": "default",
            "build_date": _BUILD_DATE,
            "pushdate": _BUILD_DATE,
            "moz_build_date": time.strftime("%Y%m%d%H%M%S", time.gmtime(_BUILD_DATE)),
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
    from .verifications import fetched_artifacts  # noqa: PLC0415 (registers a verification)

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
    print("\n".join(render(d, args.base, args.new)))
    return 0


# ------------------------------------------------------------------------------------------------
# picture.
STYLES = {
    "download": "fill:#dbeafe,stroke:#1d4ed8,color:#1e3a8a",
    "replaced": "fill:#fef3c7,stroke:#b45309,stroke-dasharray:5 5,color:#78350f",
    "pruned": "fill:#f3f4f6,stroke:#9ca3af,stroke-dasharray:3 3,color:#6b7280",
}
DOT_STYLES = {
    "download": 'style=filled fillcolor="#dbeafe" color="#1d4ed8"',
    "replaced": 'style="filled,dashed" fillcolor="#fef3c7" color="#b45309"',
    "pruned": 'style="filled,dashed" fillcolor="#f3f4f6" color="#9ca3af" fontcolor="#6b7280"',
}


@dataclass
class StageGraph:
    stages: dict  # stage -> "" (kept), "download", "replaced" or "pruned"
    edges: set  # (from stage, to stage) of the graph as generated
    old_edges: set  # (from stage, to stage) of the unrewritten graph that are gone
    replaces: set  # (download stage, replaced stage)


def _stage_edges(tasks):
    return {
        (tasks[edge.label].stage, task.stage)
        for task in tasks.values()
        for edge in task.upstreams.values()
        if edge.label in tasks and tasks[edge.label].stage != task.stage
    }


def stage_graph(plan, root):
    original = original_tasks(plan, root)
    stages = {task.stage: "download" if task.kind == DOWNLOAD_KIND else "" for task in plan.tasks.values()}
    removed = collections.defaultdict(set)
    for label, reason in plan.removed.items():
        if label in original:
            removed[original[label].stage].add(reason.split(" ")[0].rstrip(":"))
    for stage, reasons in removed.items():
        if stage not in stages:
            stages[stage] = "replaced" if "replaced" in reasons else "pruned"
    edges = _stage_edges(plan.tasks)
    replaces = {
        (plan.tasks[download].stage, original[label].stage)
        for label, downloads in replaced_by(plan).items()
        for download in downloads
        if label in original and stages.get(original[label].stage) == "replaced"
    }
    return StageGraph(stages, edges, _stage_edges(original) - edges, replaces)


MERMAID_KEYWORDS = {"end", "graph", "subgraph", "flowchart", "class", "classdef", "style", "click",
                    "linkstyle", "direction", "default"}


def node_ids(stages):
    """Mermaid node ids: stage names made safe (`build-vocab` -> `build_vocab`), unique."""
    ids, used = {}, set()
    for stage in sorted(stages):
        base = re.sub(r"[^A-Za-z0-9_]", "_", stage) or "stage"
        if base.lower() in MERMAID_KEYWORDS:
            base += "_"
        node, n = base, 1
        while node in used:
            n += 1
            node = f"{base}_{n}"
        used.add(node)
        ids[stage] = node
    return ids


def _label(stage, status):
    return f"{stage} ({status})" if status in ("replaced", "pruned") else stage


def mermaid(graph):
    ids = node_ids(graph.stages)
    lines = ["flowchart LR"]
    lines += [f'  {ids[s]}["{_label(s, graph.stages[s])}"]' for s in sorted(graph.stages)]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in sorted(graph.edges)]
    lines += [f"  {ids[a]} -.-> {ids[b]}" for a, b in sorted(graph.old_edges)]
    lines += [f"  {ids[a]} -. replaces .-> {ids[b]}" for a, b in sorted(graph.replaces)]
    for status, style in STYLES.items():
        lines.append(f"  classDef {status} {style}")
    for status in STYLES:
        members = [ids[s] for s in sorted(graph.stages) if graph.stages[s] == status]
        if members:
            lines.append(f"  class {','.join(members)} {status}")
    return "\n".join(lines) + "\n"


def dot(graph):
    lines = ["digraph stages {", "  rankdir=LR;", '  node [shape=box fontname="Helvetica"];']
    for stage in sorted(graph.stages):
        status = graph.stages[stage]
        style = f" {DOT_STYLES[status]}" if status in DOT_STYLES else ""
        lines.append(f'  "{stage}" [label="{_label(stage, status)}"{style}];')
    lines += [f'  "{a}" -> "{b}";' for a, b in sorted(graph.edges)]
    lines += [f'  "{a}" -> "{b}" [style=dashed color="#9ca3af"];' for a, b in sorted(graph.old_edges)]
    lines += [f'  "{a}" -> "{b}" [style=dotted label="replaces"];' for a, b in sorted(graph.replaces)]
    return "\n".join(lines + ["}"]) + "\n"


def write_svg(graph, path):
    """Render the DOT form with Graphviz; returns an exit status."""
    executable = shutil.which("dot")
    if executable is None:
        print(f"picture: Graphviz 'dot' is not on PATH; {path} not written (the Mermaid output is complete)",
              file=sys.stderr)
        return 0
    result = subprocess.run([executable, "-Tsvg", "-o", str(path)], input=dot(graph), text=True,
                            capture_output=True, check=False)
    if result.returncode != 0:
        print(f"picture: dot failed: {result.stderr.strip()}", file=sys.stderr)
        return 1
    return 0


def cmd_picture(args):
    raw = read_config(args.config)
    graph = stage_graph(load_plan(raw, args.root), args.root)
    text = mermaid(graph)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return write_svg(graph, args.svg) if args.svg else 0


# ------------------------------------------------------------------------------------------------
# Command line.
def build_parser():
    parser = argparse.ArgumentParser(
        prog="translations-taskgraph",
        description="Preview what a training config does to the task graph.")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help="the taskcluster directory (default: %(default)s)")
    # Also accepted after the subcommand; SUPPRESS keeps a --root given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=argparse.SUPPRESS, help="as above")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    explain = sub.add_parser("explain", parents=[common], help="what each continuation input replaces")
    explain.add_argument("config", help="a training config, or a parameters file holding training_config")
    explain.add_argument("--check-urls", action="store_true",
                         help="check that every URL the download tasks fetch exists (network)")
    explain.add_argument("--timeout", type=float, default=10.0, metavar="S",
                         help="timeout of each URL check, in seconds (default: %(default)s)")
    explain.set_defaults(func=cmd_explain)

    diff = sub.add_parser("diff", parents=[common], help="tasks added, removed and changed between configs")
    diff.add_argument("base", help="the config before")
    diff.add_argument("new", help="the config after")
    diff.add_argument("--markdown", action="store_true", help="Markdown for a pull-request comment")
    diff.set_defaults(func=cmd_diff)

    picture = sub.add_parser("picture", parents=[common], help="the stage graph as a Mermaid flowchart")
    picture.add_argument("config", help="a training config, or a parameters file holding training_config")
    picture.add_argument("--output", metavar="FILE.mmd", help="write the Mermaid text here, not to stdout")
    picture.add_argument("--svg", metavar="FILE.svg", help="also render an SVG with Graphviz dot")
    picture.set_defaults(func=cmd_picture)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "explain" and args.timeout <= 0:
        print("explain: --timeout must be positive", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (ConfigError, CliError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
