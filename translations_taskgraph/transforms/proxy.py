"""Give a task the Taskcluster proxy only when it uses it.

taskgraph's run-task support turns on `taskcluster-proxy` for every docker-worker task. Inside
such a task `http://taskcluster/` reaches the Queue, the Secrets service and the index with the
task's own scopes, which makes any URL the task downloads from a way in (SSRF). The download and
dataset-import tasks fetch URLs from the training config, so they keep the proxy only when they
have a scope to use through it: any scope but the docker-worker cache scopes, which the worker
itself enforces (a task fetching private artifacts gets `queue:get-artifact:...`, one cloning over
SSH `secrets:get:...`, and keeps the proxy).

List it in a kind after `taskgraph.transforms.run:transforms` (which sets the proxy) and before
`taskgraph.transforms.task:transforms` (which turns it into the payload's feature).
"""

from taskgraph.transforms.base import TransformSequence

transforms = TransformSequence()

# Scopes the worker enforces itself; a task uses no other service through the proxy for them.
WORKER_SCOPE_PREFIXES = ("docker-worker:cache:",)


def needs_proxy(task):
    """Whether the task has a scope only usable through the proxy."""
    for scope in task.get("scopes") or []:
        text = scope.get("task-reference", "") if isinstance(scope, dict) else scope
        if not text.startswith(WORKER_SCOPE_PREFIXES):
            return True
    return False


@transforms.add
def proxy_only_when_needed(config, tasks):
    for task in tasks:
        worker = task.get("worker", {})
        if worker.get("taskcluster-proxy") and not needs_proxy(task):
            worker["taskcluster-proxy"] = False
        yield task
