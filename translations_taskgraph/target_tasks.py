"""Target tasks: every task of the training config's `target-stage`.

The plan has already checked that the stage has tasks in the graph (`pipeline.check_target_stage`),
so a bad `target-stage` fails `taskgraph full` as well, with one message.
"""

from taskgraph.target_tasks import register_target_task

from .parameters import training_config_parameter
from .training_config import load_training_config


@register_target_task("default")
@register_target_task("train-target-tasks")
def target_stage(full_task_graph, parameters, graph_config):
    stage = load_training_config(training_config_parameter(parameters))["target-stage"]
    return [label for label, task in full_task_graph.tasks.items() if task.attributes.get("stage") == stage]
