"""Reusing the tasks of earlier task groups: `previous-group-ids` and `start-task-prefix`.

A training run often picks up where an earlier one stopped. The completed tasks of the task groups
listed in `previous-group-ids` become taskgraph's `existing_tasks` parameter, so optimization
replaces them instead of running them again; a later group wins over an earlier one for the same
label. Tasks whose label starts with `start-task-prefix`, and everything downstream of them, are
left out of `existing_tasks` and run again.

A reused task's artifacts flow into this run's models and exports, so only trusted groups are
reused (`Trust`): the task that made the group, whose task id is the group id (a push's decision
task, or the `train` action task, which names its new group after itself; both come from
.taskcluster.yml) must
- belong to the same trust domain and ran at the same or a higher level: its `schedulerId` is
  `<trust-domain>-level-<N>`, which only a holder of that level's scopes can create, so a pull
  request (level 1) cannot pass as a level-3 push;
- come from the same project: the base repository recorded in its environment is this run's;
and every reused task must have been made from the same inputs as the task it stands in for: when
the graph's task has a cache digest, the reused task's cache index route carries the same digest.
Anything else is an error naming the group, before anything is created. Tasks named one by one in
the config's `existing_tasks` are checked the same way (the task's own group, its digest).

This asks the Taskcluster queue, so it runs only in the `train` action (the way a training config
reaches Taskcluster), never during local graph generation. A push's decision task trains the
project's default config, which names no earlier groups.
"""

import logging
import re
from dataclasses import dataclass, field

from taskgraph.util.taskcluster import get_taskcluster_client

from .pipeline import downstream
from .training_config import ConfigError

logger = logging.getLogger(__name__)

SCHEDULER_ID = re.compile(r"(?P<domain>.+)-level-(?P<level>[1-9])")
CACHE_DIGEST_ROUTE = re.compile(r"index\..+\.cache\.(?:level-[1-9]|pr)\..+\.hash\.(?P<digest>[0-9a-f]{64})")


@dataclass(frozen=True)
class Trust:
    """What an earlier task group must match to be reused by this run."""

    trust_domain: str
    level: int
    repository: str  # the project's (base) repository URL
    repository_env: str  # the decision task's environment variable holding its base repository
    digests: dict = field(default_factory=dict)  # {label: cache digest} of the graph being made

    @classmethod
    def of(cls, parameters, graph_config, digests=None):
        repositories = graph_config["taskgraph"]["repositories"]
        prefix = next(iter(repositories)).upper()
        return cls(
            trust_domain=graph_config["trust-domain"],
            level=int(parameters["level"]),
            repository=parameters["base_repository"],
            repository_env=f"{prefix}_BASE_REPOSITORY",
            digests=dict(digests or {}),
        )


class _Untrusted(Exception):
    """Why a task group (or a task) cannot be reused."""


def _group_error(group_id, problem):
    return ConfigError(["previous-group-ids"], f"task group {group_id} cannot be reused: {problem}")


def _same_repository(a, b):
    def norm(url):
        return (url or "").strip().rstrip("/").removesuffix(".git").lower()

    return norm(a) == norm(b)


def _read(queue, task_id, what):
    try:
        return queue.task(task_id)
    except Exception as exc:  # the queue client raises its own error types
        raise _Untrusted(f"{what} (task {task_id}) cannot be read: {' '.join(str(exc).split())[:160]}") from None


def _trusted_scheduler(group_id, trust, queue):
    """The schedulerId of `group_id` if the task that made it is trusted by `trust`; else _Untrusted."""
    decision = _read(queue, group_id, "its decision task")
    scheduler = decision.get("schedulerId", "")
    match = SCHEDULER_ID.fullmatch(scheduler)
    if not match or match["domain"] != trust.trust_domain:
        raise _Untrusted(f"its decision task ran under scheduler {scheduler!r}, not one of trust domain "
                         f"{trust.trust_domain!r} (another project's group?)")
    level = int(match["level"])
    if level < trust.level:
        raise _Untrusted(f"its decision task ran at level {level}, lower than this run's level {trust.level} "
                         "(a pull request's or a branch's group?)")
    env = (decision.get("payload") or {}).get("env") or {}
    repository = env.get(trust.repository_env)
    if not _same_repository(repository, trust.repository):
        shown = repr(repository) if repository else "no repository"
        raise _Untrusted(f"its decision task names {shown} in {trust.repository_env}, not this project's "
                         f"{trust.repository}")
    return scheduler


def _check_task(label, task_id, definition, scheduler, trust):
    """_Untrusted unless the task ran under its group's scheduler and carries the graph's digest."""
    if definition.get("schedulerId", scheduler) != scheduler:
        raise _Untrusted(f"its task {label} ({task_id}) ran under scheduler {definition.get('schedulerId')!r}, "
                         f"not its decision's {scheduler!r}")
    wanted = trust.digests.get(label)
    digest = task_digest(definition)
    if wanted is not None and digest != wanted:
        got = f"cache digest {digest[:8]}…" if digest else "no cache digest"
        raise _Untrusted(f"its task {label} ({task_id}) was made from other inputs ({got}, this graph's "
                         f"{wanted[:8]}…): rerun it (start-task-prefix) or drop the group")


def check_group(group_id, trust, queue):
    """Raise ConfigError unless `group_id`'s decision task is trusted by `trust`; return its schedulerId."""
    try:
        return _trusted_scheduler(group_id, trust, queue)
    except _Untrusted as exc:
        raise _group_error(group_id, str(exc)) from None


def task_digest(definition):
    """The cache digest in a task definition's index routes (None if it has none)."""
    for route in definition.get("routes") or []:
        match = CACHE_DIGEST_ROUTE.fullmatch(route)
        if match:
            return match["digest"]
    return None


def completed_tasks(task_group_id, queue=None):
    """{label: (task id, task definition)} of the completed tasks of a task group."""
    queue = queue or get_taskcluster_client("queue")
    tasks, query = {}, {}
    while True:
        response = queue.listTaskGroup(task_group_id, query=query)
        for entry in response["tasks"]:
            if entry["status"]["state"] == "completed":
                tasks[entry["task"]["metadata"]["name"]] = (entry["status"]["taskId"], entry["task"])
        token = response.get("continuationToken")
        if not token:
            return tasks
        query = {"continuationToken": token}


def downstream_of(plan, prefix):
    """Labels of the plan's tasks starting with `prefix`, and every task that depends on them."""
    return downstream(plan, [label for label in plan.tasks if label.startswith(prefix)])


def _from_groups(plan, trust, queue, overridden):
    """The tasks of previous-group-ids, but those of `overridden` labels (given explicitly)."""
    found = {}  # label: (task id, definition, group id, scheduler)
    for group_id in plan.config.get("previous-group-ids") or []:
        scheduler = check_group(group_id, trust, queue)
        tasks = completed_tasks(group_id, queue)
        logger.info(f"reusing {len(tasks)} completed tasks of task group {group_id}")
        for label, (task_id, definition) in tasks.items():
            if label not in overridden:
                found[label] = (task_id, definition, group_id, scheduler)
    prefix = plan.config.get("start-task-prefix")
    if prefix and found:
        rerun = downstream_of(plan, prefix)
        logger.info(f"running again {len(rerun)} tasks from {prefix!r} on")
        found = {label: value for label, value in found.items() if label not in rerun}
    for label, (task_id, definition, group_id, scheduler) in sorted(found.items()):
        try:
            _check_task(label, task_id, definition, scheduler, trust)
        except _Untrusted as exc:
            raise _group_error(group_id, str(exc)) from None
    return {label: value[0] for label, value in found.items()}


def _explicit(plan, trust, queue):
    """`existing_tasks` written in the config: each task, its group and its digest are checked alike."""
    explicit = plan.config.get("existing_tasks") or {}
    for label, task_id in sorted(explicit.items()):
        try:
            definition = _read(queue, task_id, "it")
            group_id = definition.get("taskGroupId", "")
            try:
                scheduler = _trusted_scheduler(group_id, trust, queue)
            except _Untrusted as exc:
                raise _Untrusted(f"its task group {group_id}: {exc}") from None
            _check_task(label, task_id, definition, scheduler, trust)
        except _Untrusted as exc:
            raise ConfigError(["existing_tasks", label], f"task {task_id} cannot be reused: {exc}") from None
    return dict(explicit)


def existing_tasks(plan, trust, queue=None):
    """The `existing_tasks` parameter for the plan of a training config, from trusted groups only:
    the tasks of `previous-group-ids` (later groups win), then the config's own `existing_tasks`
    (which win over them, and are checked the same way)."""
    if not plan.config.get("previous-group-ids") and not plan.config.get("existing_tasks"):
        return {}
    queue = queue or get_taskcluster_client("queue")
    explicit = _explicit(plan, trust, queue)
    existing = {**_from_groups(plan, trust, queue, set(explicit)), **explicit}
    return dict(sorted(existing.items()))
