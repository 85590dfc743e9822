"""Cache routes of pull requests: each pull request reads and writes a namespace of its own.

taskgraph's `cached_tasks` gives every cached task index routes keyed by its cache digest: pushes
write `<prefix>.cache.level-<N>.<type>.<name>.hash.<digest>`, and every pull request writes (and
reads) one shared `<prefix>.cache.pr.<type>.<name>.hash.<digest>`. A pull request runs code from
anyone (the public policy), so a task of one pull request could publish doctored artifacts there
under an honest digest, and every later pull request with that digest would take them as its own.

Here a pull request's own route carries a digest of the task's digest and the pull request's head
(repository and branch): `...cache.pr.<type>.<name>.hash.<sha256(digest, head repository, head
ref)>`. A pull request still reuses what trusted pushes cached (the level-3 and level-2 routes, read
only) and what its own earlier pushes cached, never another pull request's tasks, nor level-1
routes: pull requests run at level 1, so a level-1 route may have been written by one. The route keeps taskgraph's
shape and length, so cache names fit the same route budget (pipeline_task.cache_name).

It is an index builder (`index: {type: pull-request-cache}` in a task description): taskgraph's
`task` transform calls it after `cached_tasks` made the routes. For anything but a pull request it
changes nothing, so push graphs are exactly taskgraph's.
"""

import hashlib

from taskgraph.transforms.task import index_builder
from taskgraph.util.cached_tasks import TARGET_CACHE_INDEX, TARGET_PR_CACHE_INDEX

INDEX_TYPE = "pull-request-cache"
# Pull requests run at level 1 (.taskcluster.yml): what a level-1 task cached may come from one.
UNTRUSTED_LEVELS = (1,)


def is_pull_request(parameters):
    """Whether the graph is made for a pull request (the events taskgraph caches under `pr`)."""
    tasks_for = parameters["tasks_for"]
    return tasks_for.startswith("github-pull-request") or tasks_for == "github-issue-comment"


def pull_request_digest(digest, parameters):
    """The digest a pull request indexes a task under: its own, for the same inputs."""
    head = f"{digest}\n{parameters['head_repository']}\n{parameters['head_ref']}"
    return hashlib.sha256(head.encode("utf-8")).hexdigest()


def cache_prefix(graph_config):
    return graph_config["taskgraph"].get("cached-task-prefix", graph_config["trust-domain"])


@index_builder(INDEX_TYPE)
def pull_request_cache_routes(config, task):
    cached = task.get("attributes", {}).get("cached_task")
    if not cached or not is_pull_request(config.params):
        return task
    subs = {"cache_prefix": cache_prefix(config.graph_config), "type": cached["type"], "name": cached["name"],
            "digest": cached["digest"]}
    shared = TARGET_PR_CACHE_INDEX.format(**subs)
    own = TARGET_PR_CACHE_INDEX.format(**{**subs, "digest": pull_request_digest(cached["digest"], config.params)})
    task["routes"] = [f"index.{own}" if route == f"index.{shared}" else route for route in task.get("routes", [])]
    optimization = task.get("optimization") or {}
    if "index-search" in optimization:
        untrusted = {TARGET_CACHE_INDEX.format(level=level, **subs) for level in UNTRUSTED_LEVELS} | {shared}
        optimization["index-search"] = [
            route for route in optimization["index-search"] if route not in untrusted
        ] + [own]
    return task
