"""Target tasks: every task of the training config's `target-stage`."""

from taskgraph.target_tasks import register_target_task

from .parameters import training_config_parameter
from .training_config import ConfigError, load_training_config


@register_target_task("default")
@register_target_task("train-target-tasks")
def target_stage(full_task_graph, parameters, graph_config):
    stage = load_training_config(training_config_parameter(parameters))["target-stage"]
    labels = [label for label, task in full_task_graph.tasks.items() if task.attributes.get("stage") == stage]
    if not labels:
        stages = sorted({t.attributes["stage"] for t in full_task_graph.tasks.values() if "stage" in t.attributes})
        raise ConfigError(
            ["target-stage"],
            f"no task of this stage is in the graph (continuation may have replaced it); "
            f"expected one of: {', '.join(stages)}",
            stage,
            True,
        ).logged()
    return labels
