"""`taskgraph full` works in a fresh checkout: no git remote, no environment variables, no network."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

TASKGRAPH = str(Path(sys.executable).with_name("taskgraph"))


@pytest.mark.parametrize("with_git", [True, False], ids=["git-without-remote", "no-git"])
def test_taskgraph_full_in_a_fresh_checkout(tmp_path, with_git):
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    checkout = tmp_path / "checkout"
    for name in files:
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    if with_git:
        subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # nothing else: no TASKCLUSTER_ROOT_URL
    result = subprocess.run([TASKGRAPH, "full"], cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    labels = result.stdout.split()
    assert "all-pipeline-ru-en-1" in labels and "train-teacher-model-ru-en-1" in labels
