"""The artifact verification: reads the fetches of a payload, reports what a producer does not publish, fails generation on a broken kind."""

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, generate
from taskgraph.task import Task

from translations_taskgraph.verifications import check_task, fetched_artifacts

TASKGRAPH = str(Path(sys.executable).with_name("taskgraph"))


@pytest.fixture(scope="module")
def graph():
    return generate()


def _with_attributes(task, **changes):
    clone = copy.deepcopy(task)
    return Task(
        kind=clone.kind,
        label=clone.label,
        attributes={**clone.attributes, **changes},
        task=clone.task,
        dependencies=clone.dependencies,
    )


def test_fetches_are_read_from_the_payload(graph):
    fetches = fetched_artifacts(graph.tasks["build-vocab-ru-en"])
    assert fetches == {"corpus": ["corpus.en.zst", "corpus.ru.zst"]}


def test_undeclared_artifact_is_reported(graph):
    tasks = dict(graph.tasks)
    tasks["corpus-merge-parallel-ru-en"] = _with_attributes(
        graph.tasks["corpus-merge-parallel-ru-en"], artifacts=["corpus.ru.zst"]
    )
    problems = check_task(graph.tasks["build-vocab-ru-en"], tasks)
    assert problems == [
        "build-vocab-ru-en fetches 'corpus.en.zst' from corpus-merge-parallel-ru-en, "
        "which publishes only ['corpus.ru.zst']"
    ]


def test_dependency_without_fetch_is_reported(graph):
    task = copy.deepcopy(graph.tasks["build-vocab-ru-en"])
    task.dependencies["devset"] = "corpus-merge-devset-ru-en"
    assert check_task(task, graph.tasks) == [
        "build-vocab-ru-en depends on corpus-merge-devset-ru-en but fetches nothing from it"
    ]


def test_aggregate_tasks_are_exempt(graph):
    assert check_task(graph.tasks["all-pipeline-ru-en-1"], graph.tasks) == []


def test_generation_fails_on_a_broken_kind(tmp_path):
    """A kind that fetches what its upstream never publishes stops `taskgraph full`."""
    root = tmp_path / "taskcluster"
    shutil.copytree(ROOT / "taskcluster", root)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")  # the images' contexts include it
    kind = root / "kinds" / "build-vocab" / "kind.yml"
    kind.write_text(kind.read_text().replace('["corpus.{src}.zst", "corpus.{trg}.zst"]', '["corpus.{src}.gz"]'))
    env = {**os.environ, "TASKGRAPH_SERIAL": "1", "TASKCLUSTER_ROOT_URL": "https://tc.example.com"}
    result = subprocess.run(
        [TASKGRAPH, "full", "--root", str(root)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode != 0
    assert "artifact verification failed" in result.stderr
    assert "build-vocab-ru-en fetches 'corpus.ru.gz' from corpus-merge-parallel-ru-en" in result.stderr
