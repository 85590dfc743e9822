"""`taskgraph full` works in a fresh checkout: whatever its remote, no environment variables, no network."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from translations_taskgraph.parameters import FALLBACK_REPOSITORY, links_task_sources

TASKGRAPH = str(Path(sys.executable).with_name("taskgraph"))


def _copy_tracked_files(checkout):
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)


def _git(checkout, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=checkout, check=True,
                   capture_output=True)


# How CI and users get a checkout: the remotes taskgraph cannot link task sources to must still work.
CHECKOUTS = {
    "no-git": [],
    "git-without-remote": [["init", "-q"]],
    "git-without-commits-or-remote": [["init", "-q"], ["add", "-A"]],
    "clone-of-a-local-path": [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"],
                              ["remote", "add", "origin", "/some/local/path"]],
    "non-github-remote": [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"],
                          ["remote", "add", "origin", "ssh://git@example.com/translations.git"]],
    "github-remote": [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"],
                      ["remote", "add", "origin", "https://github.com/someone/translations"]],
}


@pytest.mark.parametrize("git_steps", CHECKOUTS.values(), ids=CHECKOUTS.keys())
def test_taskgraph_full_in_a_fresh_checkout(tmp_path, git_steps):
    checkout = tmp_path / "checkout"
    _copy_tracked_files(checkout)
    for step in git_steps:
        _git(checkout, *step)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # nothing else: no TASKCLUSTER_ROOT_URL
    result = subprocess.run([TASKGRAPH, "full", "-J"], cwd=checkout, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    tasks = json.loads(result.stdout)
    assert "all-pipeline-ru-en-1" in tasks and "train-teacher-model-ru-en-1" in tasks
    source = tasks["train-teacher-model-ru-en-1"]["task"]["metadata"]["source"]
    remote = git_steps[-1][-1] if git_steps and git_steps[-1][0] == "remote" else None
    expected = remote if remote and links_task_sources(remote) else FALLBACK_REPOSITORY
    assert source.startswith(expected + "/blob/"), source
