"""What the plan is made of: tasks, their upstream edges, the plan itself, and the task context.

The data model shared by the plan's phases (`pipeline.py`) and the continuation rules
(`continuation.py`); it imports nothing of the plugin.
"""

from dataclasses import dataclass, field

FETCHES_DIR = "/builds/worker/fetches"
ARTIFACTS_DIR = "/builds/worker/artifacts"
CHECKOUT_DIR = "/builds/worker/checkouts/vcs"
ARTIFACT_PREFIX = "public/build"



@dataclass
class Edge:
    """One upstream of a task: the producer's label and the artifacts fetched from it."""

    label: str
    artifacts: list
    dest: str
    optional: bool = False  # a weak edge: fetched only if the producer is in the graph anyway
    subject: bool = False  # for evaluations: the model being evaluated


@dataclass
class PlannedTask:
    label: str
    kind: str
    template: dict
    context: dict
    upstreams: dict = field(default_factory=dict)
    artifacts: list = field(default_factory=list)
    # Additions made by continuation rules: extra script flags and Marian arguments.
    extra_args: list = field(default_factory=list)
    extra_marian_args: list = field(default_factory=list)
    continuation: dict = field(default_factory=dict)

    @property
    def stage(self):
        return self.context["stage"]

    @property
    def role(self):
        return self.template.get("role", "step")


@dataclass
class Plan:
    config: dict
    tasks: dict  # label -> PlannedTask, in generation order
    raw: dict = field(default_factory=dict)  # the config as the user wrote it (for messages)
    removed: dict = field(default_factory=dict)  # label -> why it is not in the graph
    pruned_tasks: dict = field(default_factory=dict)  # label -> the pruned task (downloads included)
    warnings: list = field(default_factory=list)  # things the user should know about the rewrite
    rewired: dict = field(default_factory=dict)  # (consumer, dep name) -> (old label, new label)
    replaced: dict = field(default_factory=dict)  # label -> (the task continuation replaced, download label)

    def by_kind(self, kind):
        return [task for task in self.tasks.values() if task.kind == kind]

    def replaced_of_kind(self, kind):
        """[(task, download label)] of the kind's tasks that continuation replaced."""
        return [(task, download) for task, download in self.replaced.values() if task.kind == kind]

    def find(self, kind, **attributes):
        return [
            task
            for task in self.tasks.values()
            if task.kind == kind and all(task.context.get(k) == v for k, v in attributes.items())
        ]


def base_context(config):
    experiment = config["experiment"]
    return {
        "src": experiment["src"],
        "trg": experiment["trg"],
        "best_model": experiment["best-model"],
        "fetches": FETCHES_DIR,
        "artifacts": ARTIFACTS_DIR,
    }


def fmt(text, context):
    return text.format(**context)


def config_value(config, path):
    """The value at a dotted path of the config (None when absent)."""
    node = config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
