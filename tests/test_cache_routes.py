"""Cache routes: pull requests read and write a namespace of their own; pushes are taskgraph's.

Whole graphs are generated for a push to main (level 3) and for two pull requests from different
forks (level 1), and every cached task's index routes (what it writes) and index-search routes
(what it may be replaced by) are checked.
"""

import functools

import pytest
from conftest import TASKCLUSTER_DIR

from translations_taskgraph.cache_routes import pull_request_digest

PREFIX = "translations.v2.translations-taskgraph"
PULL_REQUEST = {"tasks_for": "github-pull-request", "level": "1",
                "head_repository": "https://github.com/someone/translations-taskgraph", "head_ref": "fix-vocab"}
OTHER_PULL_REQUEST = {**PULL_REQUEST, "head_repository": "https://github.com/mallory/translations-taskgraph",
                      "head_ref": "fix-vocab"}


@functools.lru_cache(maxsize=None)
def _graph(overrides):
    from taskgraph.generator import TaskGraphGenerator
    from taskgraph.parameters import parameters_loader

    params = {"training_config": {}, "target_tasks_method": "default", **dict(overrides)}
    generator = TaskGraphGenerator(root_dir=str(TASKCLUSTER_DIR),
                                   parameters=parameters_loader(None, strict=False, overrides=params))
    return generator.full_task_graph


def graph(**overrides):
    return _graph(tuple(sorted(overrides.items())))


def cached(g):
    return {label: task for label, task in g.tasks.items() if "cached_task" in task.attributes}


def route(level, task, digest=None):
    c = task.attributes["cached_task"]
    return f"{PREFIX}.cache.{level}.{c['type']}.{c['name']}.hash.{digest or c['digest']}"


def cache_routes(task):
    return [r for r in task.task["routes"] if r.startswith(f"index.{PREFIX}.cache.")]


def test_every_pipeline_task_and_image_is_cached():
    tasks = cached(graph())
    assert "docker-image-base" in tasks and "train-teacher-model-ru-en-1" in tasks
    assert len(tasks) == len([t for t in graph().tasks.values() if not t.attributes.get("aggregate")])


def test_push_graph_routes_are_taskgraph_s():
    for label, task in cached(graph()).items():
        assert task.optimization == {"index-search": [route("level-3", task)]}, label
        c = task.attributes["cached_task"]
        assert cache_routes(task) == [
            f"index.{route('level-3', task)}",
            f"index.{PREFIX}.cache.level-3.{c['type']}.{c['name']}.latest",
            f"index.{PREFIX}.cache.level-3.{c['type']}.{c['name']}.pushdate.1970.01.01.19700101000000",
        ], label


def test_a_pull_request_writes_only_its_own_routes_and_reads_trusted_levels_and_its_own():
    tasks = cached(graph(**PULL_REQUEST))
    for label, task in tasks.items():
        digest = task.attributes["cached_task"]["digest"]
        own = route("pr", task, pull_request_digest(digest, PULL_REQUEST))
        assert cache_routes(task) == [f"index.{own}"], label
        assert task.optimization == {"index-search": [route("level-3", task), route("level-2", task), own]}, label
        # Never the namespace every pull request shares, never level 1 (where pull requests run).
        assert route("pr", task) not in task.optimization["index-search"]
        assert route("level-1", task) not in task.optimization["index-search"]


def test_pull_requests_do_not_share_cache_routes():
    mine, theirs = cached(graph(**PULL_REQUEST)), cached(graph(**OTHER_PULL_REQUEST))
    assert mine.keys() == theirs.keys()
    for label in mine:
        # Same inputs, same digest: both may reuse what pushes cached ...
        assert mine[label].attributes["cached_task"] == theirs[label].attributes["cached_task"]
        # ... but neither reads or writes the other's routes.
        assert not set(cache_routes(mine[label])) & set(cache_routes(theirs[label])), label
        assert not set(mine[label].optimization["index-search"][2:]) & set(theirs[label].optimization["index-search"])


def test_a_pull_request_keeps_the_push_digests():
    """The digests do not depend on who asks: a pull request is replaced by what main cached."""
    push, pull = cached(graph()), cached(graph(**PULL_REQUEST))
    assert {label: t.attributes["cached_task"] for label, t in push.items()} == {
        label: t.attributes["cached_task"] for label, t in pull.items()
    }


@pytest.mark.parametrize("branch", ["other-branch", "fix-vocab-2"])
def test_another_branch_of_the_same_fork_is_another_namespace(branch):
    task = graph(**PULL_REQUEST).tasks["build-vocab-ru-en"]
    other = graph(**{**PULL_REQUEST, "head_ref": branch}).tasks["build-vocab-ru-en"]
    assert cache_routes(task) != cache_routes(other)


def test_the_guide_gives_pull_requests_their_routes_and_no_trusted_ones():
    """docs/taskcluster.md's pull-request role covers what a pull request's graph needs, and grants
    no route another graph reads (the level routes)."""
    import re

    from conftest import ROOT

    doc = (ROOT / "docs" / "taskcluster.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `repo:github.com/<owner>/<repo>:pull-request`"))
    patterns = []
    for scope in re.findall(r"`([a-z-]+:[^`]+)`", row.split("|")[2]):
        pattern = re.escape(scope).replace(re.escape("<project>"), r"[^.]+").replace(re.escape("*"), ".*")
        patterns.append(re.compile(pattern + "$"))
    pull, push = graph(**PULL_REQUEST), graph()
    needed = set()
    for task in pull.tasks.values():
        if task.task.get("workerType") == "succeed":
            continue
        needed |= {f"queue:route:{r}" for r in task.task.get("routes", [])}
        needed |= {s if isinstance(s, str) else s["task-reference"] for s in task.task.get("scopes", [])}
        needed.add(f"queue:create-task:{task.task['priority']}:{task.task['provisionerId']}/{task.task['workerType']}")
    assert not sorted(s for s in needed if not any(p.match(s) for p in patterns))
    trusted = {f"queue:route:index.{r}" for t in cached(push).values() for r in t.optimization["index-search"]}
    assert trusted and not sorted(s for s in trusted if any(p.match(s) for p in patterns))
