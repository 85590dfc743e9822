"""The task images: what they are built from, and that a generated task starts in them.

Docker cannot build here, so the images are checked through what taskgraph builds them from (the
context tarball its docker-image tasks upload, made by taskgraph's own `create_context_tar`) and
by running taskgraph's real run-task the way an image runs it:

* as root (docker-worker starts the image's entry as root when the Dockerfile has no `USER`),
  with a `worker` user of the uid the images create (in a private mount namespace whose
  /etc/passwd has that user: the host is not touched),
* with the generated task's command and environment (paths under /builds/worker moved into a
  temporary directory, the repository variables pointing at a local repository holding this
  working tree), the cache directory docker-worker would mount, and the image's HOME and PATH,

and the step it starts must publish its artifacts as the `worker` user. The same setup started as
the `worker` user (what an image ending in `USER worker` does) fails before the step.

Every import of every step module must be satisfied by the requirements files each image
installs (the file the tests install too): a step importing an unlisted package would start here
and fail in the image.
"""

import ast
import functools
import http.server
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest
import yaml
import zstandard
from conftest import ROOT, TASKCLUSTER_DIR, generate
from taskgraph.util.docker import create_context_tar, generate_context_hash

DOCKER_DIR = TASKCLUSTER_DIR / "docker"
KIND = yaml.safe_load((TASKCLUSTER_DIR / "kinds" / "docker-image" / "kind.yml").read_text())
IMAGES = sorted(KIND["tasks"])
RUN_TASK = Path(sys.modules["taskgraph"].__file__).parent / "run-task" / "run-task"
SETUP_SCRIPT = DOCKER_DIR / "setup-image.sh"


def dockerfile(image):
    return (DOCKER_DIR / KIND["tasks"][image].get("definition", image) / "Dockerfile").read_text()


def instructions(text):
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def included_requirements(image):
    """The requirements files a Dockerfile puts into its context with `# %include`."""
    return [line.split(None, 2)[2].strip() for line in dockerfile(image).splitlines()
            if line.startswith("# %include ") and line.split(None, 2)[2].strip().startswith("requirements/")]


def worker_uid():
    """The uid the images give `worker` (setup-image.sh)."""
    match = re.search(r"useradd\b[^\n]*--uid (\d+)[^\n]*\bworker$", SETUP_SCRIPT.read_text(), re.M)
    assert match, "setup-image.sh creates no `worker` user with an explicit uid"
    return int(match.group(1))


# ------------------------------------------------------------------------------------------------
# What the images are built from.
@pytest.mark.parametrize("image", IMAGES)
def test_the_image_never_switches_to_a_non_root_user(image):
    # run-task 24.5.1 started as non-root with TASKCLUSTER_CACHES set crashes before the step
    # ('NoneType' object has no attribute 'pw_uid'); it drops to `worker` itself.
    users = [args.strip() for name, args in instructions(dockerfile(image)) if name == "USER"]
    assert all(user in ("root", "0") for user in users), users


@pytest.mark.parametrize("image", IMAGES)
def test_the_context_holds_run_task_and_the_steps_requirements(image, tmp_path):
    tarball = tmp_path / "context.tar.gz"
    create_context_tar(str(ROOT), f"taskcluster/docker/{image}", str(tarball))
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        built = tar.extractfile("Dockerfile").read().decode()
        requirements = tar.extractfile("topsrcdir/requirements/steps.txt").read()
    assert {"run-task/run-task", "run-task/fetch-content"} <= names
    assert "/usr/local/bin/run-task" in built and "/usr/local/bin/fetch-content" in built
    # The very file the tests install (pyproject's `steps` and `test` extras read it too).
    assert included_requirements(image) == ["requirements/steps.txt", "requirements/cleaners.txt"]
    assert requirements == (ROOT / "requirements" / "steps.txt").read_bytes()
    # The model-based cleaners the steps run as commands are installed and put on PATH.
    assert "/setup/requirements-cleaners.txt" in built
    # Every COPY source is in the context (docker build would fail on a missing one).
    for name, args in instructions(built):
        if name == "COPY":
            *sources, _destination = args.split()
            assert all(source in names for source in sources), (source, sorted(names))


def test_changing_the_requirements_rebuilds_the_images(tmp_path):
    for name in ["requirements/steps.txt", "requirements/cleaners.txt", "taskcluster/docker/setup-image.sh"] + [
        f"taskcluster/docker/{image}/Dockerfile" for image in IMAGES
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    before = {image: generate_context_hash(str(tmp_path), f"taskcluster/docker/{image}") for image in IMAGES}
    with open(tmp_path / "requirements" / "steps.txt", "a") as f:
        f.write("tabulate>=0.9,<1\n")
    after = {image: generate_context_hash(str(tmp_path), f"taskcluster/docker/{image}") for image in IMAGES}
    assert all(before[image] != after[image] for image in IMAGES)


def test_the_cleaner_commands_the_steps_run_are_installed_on_path():
    setup = (ROOT / "taskcluster" / "docker" / "setup-image.sh").read_text()
    steps = (ROOT / "pipeline" / "bicleaner" / "bicleaner.py").read_text() + (
        ROOT / "pipeline" / "clean" / "clean_mono.py").read_text()
    for command in ("bicleaner-ai-classify", "monocleaner"):
        assert f'"{command}"' in steps
        assert command in setup.split("for command in", 1)[1].split(";", 1)[0]
    assert '"$cleaners"' in setup and "/usr/local/bin" in setup


def test_gpu_steps_run_marian_from_the_pymarian_wheel_on_a_cuda_runtime():
    (train_base,) = [args for name, args in instructions(dockerfile("train")) if name == "FROM"]
    (cpu_base,) = [args for name, args in instructions(dockerfile("base")) if name == "FROM"]
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-(cudnn\d*-)?runtime-ubuntu22\.04", train_base)
    # One Ubuntu release (one Python) for both: the same wheels, the same pinned versions.
    assert cpu_base == "ubuntu:22.04"
    requirement_names = [requirement_name(line) for line in requirement_lines(ROOT / "requirements" / "steps.txt")]
    assert "pymarian" in requirement_names
    for image in IMAGES:  # nothing builds Marian from source any more
        assert "marian-dev" not in dockerfile(image) and "cmake" not in dockerfile(image)


@pytest.mark.parametrize("image", IMAGES)
def test_the_image_environment_is_the_one_the_run_task_test_uses(image):
    # HOME is the worker's (git writes its config there after run-task drops to `worker`) and
    # `python3` is the virtualenv holding requirements/steps.txt.
    settings = " ".join(args for name, args in instructions(dockerfile(image)) if name == "ENV")
    env = dict(re.findall(r"(\w+)=(\S+)", settings))
    assert env["HOME"] == BUILDS
    venv = re.search(r"python3 -m venv (\S+)", SETUP_SCRIPT.read_text()).group(1)
    assert env["PATH"].split(":")[0] == f"{venv}/bin"
    assert f'{venv}/bin/pip install --no-cache-dir -r "$requirements"' in SETUP_SCRIPT.read_text()


def test_the_worker_user_is_the_one_run_task_accepts():
    assert worker_uid() == 1000  # run-task: "user `worker` must have uid=1000"
    assert re.search(r"groupadd --gid 1000 worker", SETUP_SCRIPT.read_text())


# ------------------------------------------------------------------------------------------------
# Every step's imports are installed in its image.
def requirement_lines(path):
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            yield line


def requirement_name(line):
    return canonical(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group(0))


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def step_imports():
    """{top-level module imported: [files importing it]} over pipeline/**/*.py (absolute imports,
    stdlib and the pipeline package itself excluded)."""
    found = {}
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("pipeline", "__future__"):
                    continue
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_the_steps_import_third_party_packages():
    # The import check below would pass vacuously if the parser missed imports.
    assert {"zstandard"} <= set(step_imports())


@pytest.mark.parametrize("image", IMAGES)
def test_every_step_import_is_in_the_image_requirements(image):
    listed = {requirement_name(line)
              for name in included_requirements(image) for line in requirement_lines(ROOT / name)}
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in sorted(step_imports().items()):
        provided_by = {canonical(d) for d in distributions.get(module, [])}
        if not provided_by & listed:
            missing[module] = (sorted(provided_by) or ["not installed"], sorted(set(files)))
    assert not missing, f"imports of steps not in {included_requirements(image)}: {missing}"


# ------------------------------------------------------------------------------------------------
# A generated task starts under the real run-task, as in the image.
BUILDS = "/builds/worker"
NAMESPACE_SETUP = r"""
set -e
passwd=$1 group=$2 hidden=$3 keep=$4 stash=$5
shift 5
mount --bind "$passwd" /etc/passwd
mount --bind "$group" /etc/group
if [ -n "$hidden" ]; then
    # The worker must reach the Python installation under a directory only root may enter
    # (say /root/.pyenv): show that directory's subtree alone, at the same path.
    mount --bind "$keep" "$stash"
    mount -t tmpfs -o mode=755 tmpfs "$hidden"
    mkdir -p "$keep"
    mount --bind "$stash" "$keep"
fi
exec "$@"
"""


def _hidden_ancestor(path):
    """The outermost ancestor of `path` others may not enter, and its child on the way (or None)."""
    path = Path(os.path.realpath(path))
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return parent, path.relative_to(parent).parts[0]
    return None


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def world():
    """A directory tree others may enter (pytest's own tmp_path lives under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="run-task-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def served(world):
    root = world / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "safe.directory=*", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _repository_of_this_tree(path, uid):
    """A git repository (branch main) holding this working tree's files; returns its commit."""
    path.mkdir()
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, path / name)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "the working tree under test")
    revision = _git(path, "rev-parse", "HEAD")
    for directory, _dirs, files in os.walk(path):  # owned by the worker: no "dubious ownership"
        for name in [directory, *(os.path.join(directory, f) for f in files)]:
            os.lchown(name, uid, uid)
    return revision


def _moved(value, builds):
    return value.replace(BUILDS, str(builds)) if isinstance(value, str) else value


def _run_in_image(world, task, repository, revision, uid, as_worker=False):
    """Run a generated task's command with taskgraph's run-task, as the image would."""
    builds = world / "builds" / "worker"
    for name in ("artifacts", "fetches", "checkouts"):  # made by setup-image.sh, owned by worker
        (builds / name).mkdir(parents=True, exist_ok=True)
        os.chown(builds / name, uid, uid)
    os.chown(builds, uid, uid)
    payload = task.task["payload"]
    env = {key: _moved(value, builds) for key, value in payload["env"].items()}
    for cache in env.get("TASKCLUSTER_CACHES", "").split(";"):
        if cache:
            Path(cache).mkdir(parents=True, exist_ok=True)  # docker-worker mounts each cache
    env.update({
        # The repository variables of the decision, pointed at a local repository.
        "TRANSLATIONS_BASE_REPOSITORY": str(repository),
        "TRANSLATIONS_HEAD_REPOSITORY": str(repository),
        "TRANSLATIONS_HEAD_REV": revision,
        # What the image's ENV sets (the image's python3 is the one with the steps' requirements).
        "HOME": str(builds),
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "TASK_ID": "ABCDEFGHIJKLMNOPQRSTUV",
    })
    command = [_moved(arg, builds) for arg in payload["command"]]
    assert command[0] == "/usr/local/bin/run-task"  # where `# %include-run-task` copies it
    command[0] = str(RUN_TASK)

    accounts = world / "accounts"
    accounts.mkdir(exist_ok=True)
    passwd, group = accounts / "passwd", accounts / "group"
    for path, source, entry in ((passwd, "/etc/passwd", f"worker:x:{uid}:{uid}::{builds}:/bin/bash"),
                                (group, "/etc/group", f"worker:x:{uid}:")):
        kept = [line for line in Path(source).read_text().splitlines() if not line.startswith("worker:")]
        path.write_text("\n".join(kept + [entry]) + "\n")
    hidden = _hidden_ancestor(Path(sys.executable).resolve())
    stash = world / "stash"
    stash.mkdir(exist_ok=True)
    namespace = ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE_SETUP, "sh",
                 str(passwd), str(group),
                 str(hidden[0]) if hidden else "", str(hidden[0] / hidden[1]) if hidden else "", str(stash)]
    if as_worker:
        command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *command]
    return subprocess.run(namespace + command, env=env, cwd=world, capture_output=True, text=True, timeout=300)


def _namespaces_work():
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


needs_root = pytest.mark.skipif(
    not _namespaces_work(),
    reason="run-task starts as root in the image; this needs root, mount namespaces (unshare) and setpriv",
)


def _download_task(base):
    config = {
        "allow-private-urls": True,
        "continuation": {"corpora": {"parallel": {"src": f"{base}/c.ru.zst", "trg": f"{base}/c.en.zst"}}},
    }
    graph = generate(config)
    task = graph.tasks["continuation-corpus-parallel-ru-en"]
    assert task.dependencies["docker-image"] == "docker-image-base"
    assert "TASKCLUSTER_CACHES" in task.task["payload"]["env"]
    return task


@needs_root
def test_a_generated_task_starts_under_run_task_as_root_and_runs_as_worker(world, served):
    root, base = served
    corpus = {"c.ru.zst": "привет мир\nкак дела\n", "c.en.zst": "hello world\nhow are you\n"}
    for name, text in corpus.items():
        (root / name).write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    task = _download_task(base)
    uid = worker_uid()
    repository = world / "repository"
    revision = _repository_of_this_tree(repository, uid)

    result = _run_in_image(world, task, repository, revision, uid)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "running as worker:worker" in log
    builds = world / "builds" / "worker"
    # The checkout is the revision asked for, made by run-task in the cache it configured.
    assert _git(builds / "checkouts" / "vcs", "rev-parse", "HEAD") == revision
    assert f"uid={uid}" in (builds / "checkouts" / ".cacherequires").read_text()
    # The step ran as the worker and published what the task declares.
    artifacts = builds / "artifacts"
    published = sorted(p.name for p in artifacts.iterdir() if p.name != "manifest.json")
    assert published == sorted(task.attributes["artifacts"])
    for name in published:
        assert (artifacts / name).stat().st_uid == uid
    assert (artifacts / "corpus.ru.zst").read_bytes() == (root / "c.ru.zst").read_bytes()


@needs_root
def test_started_as_the_worker_user_run_task_fails_before_the_step(world, served):
    # What an image ending in `USER worker` did: the reason the images stay root.
    _root, base = served
    task = _download_task(base)
    uid = worker_uid()
    repository = world / "repository"
    revision = _repository_of_this_tree(repository, uid)
    result = _run_in_image(world, task, repository, revision, uid, as_worker=True)
    assert result.returncode != 0
    assert "pw_uid" in result.stdout + result.stderr
    assert not any((world / "builds" / "worker" / "artifacts").iterdir())


# ------------------------------------------------------------------------------------------------
# `taskgraph image-digest` (what a person runs to find an image's cached build).
@pytest.mark.parametrize("image", IMAGES)
def test_image_digest_prints_the_digest_of_the_graph_image_task(image, tmp_path, default_graph):
    # In a clone without a GitHub remote (CI checkouts, a local path): taskgraph fills these
    # parameters from its own defaults before the project's are registered.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    _git(checkout, "init", "-q", "-b", "main")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "x")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TASKCLUSTER_ROOT_URL": "https://tc.example"}
    result = subprocess.run([str(Path(sys.executable).with_name("taskgraph")), "image-digest", image], cwd=checkout,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    digest = default_graph.tasks[f"docker-image-{image}"].attributes["cached_task"]["digest"]
    assert result.stdout.strip() == digest
