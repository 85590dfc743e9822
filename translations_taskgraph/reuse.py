"""Reusing the tasks of earlier task groups: `previous-group-ids` and `start-task-prefix`.

A training run often picks up where an earlier one stopped. The completed tasks of the task groups
listed in `previous-group-ids` become taskgraph's `existing_tasks` parameter, so optimization
replaces them instead of running them again; a later group wins over an earlier one for the same
label. Tasks whose label starts with `start-task-prefix`, and everything downstream of them, are
left out of `existing_tasks` and run again.

This asks the Taskcluster queue, so it runs only in the `train` action (the way a training config
reaches Taskcluster), never during local graph generation. A push's decision task trains the
project's default config, which names no earlier groups.
"""

import logging

from taskgraph.util.taskcluster import get_taskcluster_client

from .pipeline import downstream

logger = logging.getLogger(__name__)


def completed_tasks(task_group_id, queue=None):
    """{label: task id} of the completed tasks of a task group."""
    queue = queue or get_taskcluster_client("queue")
    tasks, query = {}, {}
    while True:
        response = queue.listTaskGroup(task_group_id, query=query)
        for entry in response["tasks"]:
            if entry["status"]["state"] == "completed":
                tasks[entry["task"]["metadata"]["name"]] = entry["status"]["taskId"]
        token = response.get("continuationToken")
        if not token:
            return tasks
        query = {"continuationToken": token}


def downstream_of(plan, prefix):
    """Labels of the plan's tasks starting with `prefix`, and every task that depends on them."""
    return downstream(plan, [label for label in plan.tasks if label.startswith(prefix)])


def existing_tasks(plan, queue=None):
    """The `existing_tasks` parameter for the plan of a training config."""
    existing = {}
    for group_id in plan.config.get("previous-group-ids") or []:
        found = completed_tasks(group_id, queue)
        logger.info(f"reusing {len(found)} completed tasks of task group {group_id}")
        existing.update(found)
    prefix = plan.config.get("start-task-prefix")
    if prefix and existing:
        rerun = downstream_of(plan, prefix)
        logger.info(f"running again {len(rerun)} tasks from {prefix!r} on")
        existing = {label: task_id for label, task_id in existing.items() if label not in rerun}
    return dict(sorted(existing.items()))
