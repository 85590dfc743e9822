"""`picture CONFIG`: the stage graph of a training config as a Mermaid flowchart.

One node per stage of the rewritten plan plus the stages the continuation removed, download stages
and replaced or pruned stages styled apart; solid edges are the graph as generated, dashed ones the
unrewritten edges that are gone, dotted ones what each download replaces. Written to stdout or
`--output`; `--svg` also renders the DOT form with Graphviz `dot` when it is on PATH.
"""

import collections
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..continuation import DOWNLOAD_KIND
from .common import CliError, load_plan, original_tasks, quiet_config_log, read_config
from .explain import replaced_by

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
        # A download that is itself pruned (nothing reads it any more) is not drawn.
        if download in plan.tasks and label in original and stages.get(original[label].stage) == "replaced"
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
    with quiet_config_log():  # the picture is the output; `explain` is where warnings are shown
        graph = stage_graph(load_plan(raw, args.root), args.root)
    text = mermaid(graph)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as e:
            raise CliError(f"cannot write {args.output}: {e.strerror or e}") from None
    else:
        sys.stdout.write(text)
    return write_svg(graph, args.svg) if args.svg else 0
