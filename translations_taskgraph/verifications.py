"""Graph verification: every fetch is of an artifact its producer declares.

Each pipeline task lists the artifacts it publishes in the `artifacts` attribute. This reads the
fetches actually written into every task's payload (`MOZ_FETCHES`) and fails generation when a task
fetches an artifact its dependency does not declare, fetches from a task it does not depend on, or
depends on a pipeline task it fetches nothing from (aggregation tasks excepted). It is what keeps
every continuation rewrite honest.
"""

import json

from taskgraph.util.verify import verifications

from .loader import plan_for
from .pipeline import ARTIFACT_PREFIX

# Set by `register`: where the kinds of the graph being generated live.
KINDS_DIR = {}


class ArtifactVerificationError(Exception):
    pass


def fetched_artifacts(task):
    """{dependency name: [artifact name, ...]} from a task's MOZ_FETCHES payload env."""
    env = task.task.get("payload", {}).get("env", {})
    raw = env.get("MOZ_FETCHES")
    if raw is None:
        return {}
    text = raw["task-reference"] if isinstance(raw, dict) else raw
    fetched = {}
    for entry in json.loads(text):
        name = entry["task"].strip("<>")
        artifact = entry["artifact"]
        prefix = ARTIFACT_PREFIX + "/"
        fetched.setdefault(name, []).append(artifact[len(prefix):] if artifact.startswith(prefix) else artifact)
    return fetched


def check_task(task, tasks):
    """The problems of one task, as messages (empty when it is fine)."""
    if "stage" not in task.attributes:
        return []
    problems = []
    fetched = fetched_artifacts(task)
    for name, artifacts in sorted(fetched.items()):
        label = task.dependencies.get(name)
        if label is None:
            problems.append(f"{task.label} fetches from {name!r}, which is not one of its dependencies")
            continue
        producer = tasks.get(label)
        declared = set(producer.attributes.get("artifacts", [])) if producer else set()
        for artifact in artifacts:
            if artifact not in declared:
                problems.append(
                    f"{task.label} fetches {artifact!r} from {label}, which publishes only "
                    f"{sorted(declared) or 'nothing'}"
                )
    if not task.attributes.get("aggregate"):
        for name, label in sorted(task.dependencies.items()):
            producer = tasks.get(label)
            if producer is not None and "stage" in producer.attributes and name not in fetched:
                problems.append(f"{task.label} depends on {label} but fetches nothing from it")
    return problems


@verifications.add("parameters")
def verify_training_config(parameters):
    """Validate the training config and plan the pipeline once, before any kind loads.

    A bad config stops generation here with its one clean message. Kinds load in forked
    processes, which inherit the plan computed here instead of each computing it again.
    """
    if "path" in KINDS_DIR:
        plan_for(parameters, KINDS_DIR["path"])


@verifications.add("full_task_graph")
def verify_declared_artifacts(task, taskgraph, scratch_pad, graph_config, parameters):
    if task is None:
        problems = scratch_pad.get("problems", [])
        if problems:
            raise ArtifactVerificationError(
                "artifact verification failed:\n" + "\n".join(f"  - {p}" for p in problems)
            )
        return
    scratch_pad.setdefault("problems", []).extend(check_task(task, taskgraph.tasks))
