"""Target tasks: every task of the training config's `target-stage`.

The method is `train-target-tasks`: the project's default parameters select it for local runs, the
decision parameters for a push's decision task, and the `train` action sets it; taskgraph's own
`default` method stays as taskgraph defines it.

The plan has already checked that the stage has tasks in the graph (`pipeline.check_target_stage`),
so a bad `target-stage` fails `taskgraph full` as well, with one message.
"""

from taskgraph.target_tasks import register_target_task

from .parameters import TARGET_TASKS_METHOD, training_config_parameter
from .training_config import load_training_config


@register_target_task(TARGET_TASKS_METHOD)
def target_stage(full_task_graph, parameters, graph_config):
    stage = load_training_config(training_config_parameter(parameters))["target-stage"]
    return [label for label, task in full_task_graph.tasks.items() if task.attributes.get("stage") == stage]
