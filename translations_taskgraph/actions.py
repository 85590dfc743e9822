"""The `train` action: start a training run from a training config.

The action's input is a training config in the same form as the `training_config` parameter (any
subset of keys, deep-merged over the embedded default). Its JSON schema is derived from the one
training-config schema (`training_config.training_config_json_schema`), so the UI and the pipeline
accept the same keys. The callback builds the pipeline plan from the input (a bad config fails with
a single `ConfigError` message before anything is created), turns `previous-group-ids` into
`existing_tasks` (reuse.py: only tasks of trusted groups, made from the same inputs as this graph's),
and then runs a decision with the input as `training_config` and the
`train-target-tasks` target method, the way taskgraph's own decision task creates a graph.
"""

import contextlib
import os

import slugid
import taskgraph.create
from taskgraph.actions.registry import register_callback_action
from taskgraph.decision import taskgraph_decision
from taskgraph.parameters import Parameters

from .parameters import TARGET_TASKS_METHOD
from .pipeline import build_plan
from .reuse import Trust, existing_tasks
from .training_config import ConfigError, placeholder_urls, training_config_json_schema, written_path



def train_action_schema(graph_config=None):
    """The action's input schema: the training-config schema, with no key required."""
    return training_config_json_schema(partial=True)


@register_callback_action(
    name="train",
    title="Train",
    symbol="train",
    description=(
        "Start the training pipeline, or a part of it, from a training config. The input is "
        "deep-merged over the default training config; `target-stage` selects the tasks to run and "
        "a `continuation:` block reuses pretrained models, vocab and corpora."
    ),
    cb_name="train",
    permission="generic",
    order=500,
    context=[],
    available=lambda parameters: True,
    schema=train_action_schema,
)
def train_action(parameters, graph_config, input, task_group_id, task_id):
    training_config = input or {}
    # Raises ConfigError (a SchemaValidationError) with one message naming the bad key.
    plan = build_plan(training_config, os.path.join(graph_config.root_dir, "kinds"))
    # A snippet only warns about a URL still holding `{task_id}` (it previews); a launch refuses it.
    for path, placeholder in placeholder_urls(plan.config):
        raise ConfigError(
            written_path(training_config, path), f"the URL still holds the placeholder {placeholder}: replace it before launching"
        ).logged()

    parameters = dict(parameters)
    parameters["training_config"] = training_config
    parameters["existing_tasks"] = {}
    parameters["target_tasks_method"] = TARGET_TASKS_METHOD
    parameters["optimize_target_tasks"] = True
    parameters["tasks_for"] = "action"
    if plan.config.get("previous-group-ids") or plan.config.get("existing_tasks"):
        # The tasks of previous-group-ids, then the config's own `existing_tasks` (the public
        # pipeline's configs carry it; they win), each from a trusted group and made from the same
        # inputs (cache digest) as the graph about to be made.
        parameters["existing_tasks"] = existing_tasks(
            plan, Trust.of(parameters, graph_config, cache_digests(graph_config, Parameters(**parameters)))
        )
    parameters = Parameters(**parameters)

    with _decision_task_id():
        taskgraph_decision({"root": graph_config.root_dir}, parameters=parameters)


@contextlib.contextmanager
def _decision_task_id():
    """taskgraph_decision names the new task group after $TASK_ID: in an action task, the action
    task itself. `taskgraph test-action-callback` runs outside any task and creates nothing: there
    a fresh id stands in for the action task's."""
    if "TASK_ID" in os.environ or not taskgraph.create.testing:
        yield
        return
    os.environ["TASK_ID"] = slugid.nice()
    try:
        yield
    finally:
        del os.environ["TASK_ID"]


def cache_digests(graph_config, parameters):
    """{label: cache digest} of the full task graph of `parameters`."""
    from taskgraph.generator import TaskGraphGenerator  # noqa: PLC0415 (heavy; only for reuse)

    graph = TaskGraphGenerator(root_dir=graph_config.root_dir, parameters=parameters).full_task_graph
    return {label: task.attributes["cached_task"]["digest"]
            for label, task in graph.tasks.items() if "cached_task" in task.attributes}
