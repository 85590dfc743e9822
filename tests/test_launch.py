"""`translations-taskgraph launch`: the `train` action triggered through the Taskcluster API.

The real `taskcluster` client talks to a loopback Taskcluster (TASKCLUSTER_ROOT_URL=
http://127.0.0.1:PORT) that answers the calls the command makes, as the services do:

* Index `findTask` for the decision task's route (404 for a route nothing was indexed at),
* Queue `status`, and `latestArtifact` answering `storageType: s3` with a URL the body of
  `public/actions.json` is downloaded from (the actions.json taskgraph renders for the default
  graph: the real `train` hook action),
* Hooks `triggerHook`, which checks the request's Hawk signature with the client's access token,
  knows only the hook of the current .taskcluster.yml, and renders .taskcluster.yml with the
  trigger payload the way the in-tree action hook does.

The branch's head commit comes from a local git repository named like the project.
"""

import functools
import http.server
import json
import threading
import urllib.parse

import mohawk
import pytest
import slugid
import yaml
from conftest import PARAMS_DIR, TASKCLUSTER_DIR, generate, load_params_file

from translations_taskgraph.cli import main
from translations_taskgraph.cli.launch import project_of
from translations_taskgraph.training_config import ConfigError
from test_taskcluster_yml import render, validate

DECISION_TASK_ID = "Zx0b5yEFQ-OSqhqvAvU2KQ"
CLIENT_ID = "mozilla-auth0/ad|Mozilla-LDAP|someone"
ACCESS_TOKEN = "an-access-token-of-forty-four-characters-xx"
CONFIG = load_params_file("recipe-train-new-teacher")  # a documented training config


@functools.lru_cache(maxsize=1)
def actions_json():
    """public/actions.json of a decision task of the default graph, as taskgraph renders it."""
    from taskgraph.actions import render_actions_json

    parameters = generate(attribute="parameters")
    graph_config = generate(attribute="graph_config")
    return render_actions_json(parameters, graph_config, DECISION_TASK_ID)


def train_action():
    (action,) = [a for a in actions_json()["actions"] if a["name"] == "train"]
    return action


class FakeTaskcluster(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.root_url = f"http://127.0.0.1:{self.server_address[1]}"
        self.index = {}
        self.states = {}
        self.artifacts = {}
        action = train_action()
        self.hooks = {(action["hookGroupId"], action["hookId"]): action["extra"]["actionPerm"]}
        self.refuse_triggers = False
        self.group_pages = []
        self.requests = []
        self.created = []

    def decision(self, route, task_id=DECISION_TASK_ID, state="completed"):
        self.index[route] = task_id
        self.states[task_id] = state
        self.artifacts[(task_id, "public/actions.json")] = json.dumps(actions_json()).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def parts(self):
        return [urllib.parse.unquote(part) for part in self.path.split("?")[0].split("/")[1:]]

    def do_GET(self):
        fake = self.server
        fake.requests.append(("GET", self.path))
        parts = self.parts()
        if parts[:4] == ["api", "index", "v1", "task"]:
            route = parts[4]
            if route in fake.index:
                return self.reply(200, {"namespace": route, "taskId": fake.index[route], "rank": 0, "data": {},
                                        "expires": "2030-01-01T00:00:00.000Z"})
            return self.reply(404, {"code": "ResourceNotFound", "message": f"Indexed task not found: {route}"})
        if parts[:4] == ["api", "queue", "v1", "task"] and parts[5:] == ["status"]:
            task_id = parts[4]
            if task_id in fake.states:
                return self.reply(200, {"status": {"taskId": task_id, "state": fake.states[task_id], "runs": []}})
            return self.reply(404, {"code": "ResourceNotFound", "message": f"no task {task_id}"})
        if parts[:4] == ["api", "queue", "v1", "task"] and parts[5] == "artifact-content":
            key = (parts[4], parts[6])
            if key in fake.artifacts:
                url = f"{fake.root_url}/storage/{parts[4]}/{urllib.parse.quote(parts[6], safe='')}"
                return self.reply(200, {"storageType": "s3", "url": url})
            return self.reply(404, {"code": "ResourceNotFound", "message": "no such artifact"})
        if parts[:4] == ["api", "queue", "v1", "task-group"] and parts[5:] == ["list"]:
            token = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("continuationToken", ["0"])[0]
            page = fake.group_pages[int(token)]
            answer = {"taskGroupId": parts[4], "tasks": page}
            if int(token) + 1 < len(fake.group_pages):
                answer["continuationToken"] = str(int(token) + 1)
            return self.reply(200, answer)
        if parts[0] == "storage":
            return self.reply(200, fake.artifacts[(parts[1], parts[2])])
        self.reply(404, {"code": "ResourceNotFound", "message": self.path})

    def do_POST(self):
        fake = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fake.requests.append(("POST", self.path))
        parts = self.parts()
        if parts[:4] != ["api", "hooks", "v1", "hooks"] or parts[6:] != ["trigger"]:
            return self.reply(404, {"code": "ResourceNotFound", "message": self.path})
        try:
            mohawk.Receiver(
                lambda id_: {"id": CLIENT_ID, "key": ACCESS_TOKEN, "algorithm": "sha256"} if id_ == CLIENT_ID else None,
                self.headers.get("Authorization", ""), f"{fake.root_url}{self.path}", "POST",
                content=body, content_type=self.headers.get("Content-Type", ""), seen_nonce=lambda *a: False)
        except Exception as e:  # noqa: BLE001 -- any Hawk failure is a 401
            return self.reply(401, {"code": "AuthenticationFailed", "message": f"{type(e).__name__}: {e}"})
        hook = (parts[4], parts[5])
        if hook not in fake.hooks:
            return self.reply(404, {"code": "ResourceNotFound", "message": f"hook {hook} does not exist"})
        if fake.refuse_triggers:
            return self.reply(403, {"code": "InsufficientScopes",
                                    "message": f"Client lacks scope hooks:trigger-hook:{hook[0]}/{hook[1]}"})
        payload = json.loads(body)
        own_task_id = slugid.nice()
        # What the in-tree action hook does with a trigger: render .taskcluster.yml for an action.
        context = {
            "tasks_for": "action",
            "action": {**payload["decision"]["action"], "action_perm": fake.hooks[hook]},
            "push": payload["decision"]["push"],
            "repository": payload["decision"]["repository"],
            "input": payload["user"]["input"],
            "taskId": payload["user"]["taskId"],
            "taskGroupId": payload["user"]["taskGroupId"],
            "ownTaskId": own_task_id,
            "clientId": CLIENT_ID,
            "now": "2026-12-02T00:00:00.000Z",
            "taskcluster_root_url": fake.root_url,
        }
        (task,) = render(context)
        fake.created.append(task)
        self.reply(200, {"status": {"taskId": own_task_id, "taskGroupId": task["taskGroupId"], "state": "pending",
                                    "runs": []}})


@pytest.fixture
def taskcluster(monkeypatch):
    fake = FakeTaskcluster()
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TASKCLUSTER_ROOT_URL", fake.root_url)
    monkeypatch.setenv("TASKCLUSTER_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("TASKCLUSTER_ACCESS_TOKEN", ACCESS_TOKEN)
    monkeypatch.delenv("TASKCLUSTER_CERTIFICATE", raising=False)
    monkeypatch.delenv("TASKCLUSTER_PROXY_URL", raising=False)
    yield fake
    fake.shutdown()
    fake.server_close()


def _git(cwd, *args):
    import subprocess

    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository named like the project, with a branch `dev-launch`; returns (path, head)."""
    path = tmp_path / "translations-taskgraph"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("x\n")
    _git(path, "add", "README.md")
    _git(path, "commit", "-q", "-m", "first")
    _git(path, "checkout", "-q", "-b", "dev-launch")
    (path / "README.md").write_text("y\n")
    _git(path, "commit", "-q", "-am", "second")
    return path, _git(path, "rev-parse", "HEAD")


def route_of(revision):
    return f"translations.v2.translations-taskgraph.revision.{revision}.taskgraph.decision"


def config_file(tmp_path, config=CONFIG):
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def launch(*args):
    return main(["launch", "--root", str(TASKCLUSTER_DIR), *map(str, args)])


# ------------------------------------------------------------------------------------------------
def test_launch_triggers_the_train_hook_of_the_branch_head_decision(taskcluster, repo, tmp_path, capsys):
    path, head = repo
    taskcluster.decision(route_of(head))
    # A decision of another commit of the project (main) is not the one used.
    taskcluster.decision(route_of(_git(path, "rev-parse", "main")), task_id="OtherDecisionTaskId000")

    assert launch(config_file(tmp_path), "--repo", path, "--branch", "dev-launch") == 0
    out, err = capsys.readouterr()

    (task,) = taskcluster.created
    # The hook created the action task of the decision task of the branch head, with the config
    # as the action's input, and the Queue would accept it.
    assert task["taskGroupId"] == DECISION_TASK_ID
    env = task["payload"]["env"]
    assert env["ACTION_CALLBACK"] == "train"
    assert env["ACTION_TASK_GROUP_ID"] == DECISION_TASK_ID
    assert json.loads(env["ACTION_INPUT"]) == CONFIG
    assert json.loads(env["ACTION_TASK_ID"]) is None
    assert validate(task) == []
    # Its task group (the action's decision names it after the action task) is printed last.
    group_url = out.strip().splitlines()[-1]
    assert group_url.startswith(f"{taskcluster.root_url}/tasks/groups/")
    action_task_id = group_url.rsplit("/", 1)[1]
    assert task["routes"][-1].endswith(f".taskgraph.actions.{action_task_id}")
    assert task["metadata"]["name"] == "Action: Train"
    assert f"/tasks/{DECISION_TASK_ID}" in err


def test_the_branch_defaults_to_the_checkout_current_branch(taskcluster, repo, tmp_path, capsys, monkeypatch):
    path, head = repo
    taskcluster.decision(route_of(head))
    monkeypatch.chdir(path)
    _git(path, "remote", "add", "origin", str(path))
    assert launch(config_file(tmp_path)) == 0
    assert len(taskcluster.created) == 1
    assert ("GET", f"/api/index/v1/task/{route_of(head)}") in taskcluster.requests


def test_unpushed_local_commits_are_not_what_runs(taskcluster, repo, tmp_path, capsys, monkeypatch):
    path, head = repo
    taskcluster.decision(route_of(head))
    local = tmp_path / "local"
    _git(tmp_path, "clone", "-q", "--branch", "dev-launch", str(path), str(local))
    (local / "README.md").write_text("not pushed\n")
    _git(local, "commit", "-q", "-am", "local only")
    monkeypatch.chdir(local)
    assert launch(config_file(tmp_path)) == 0
    err = capsys.readouterr().err
    assert f"the run uses dev-launch as pushed, {head[:12]}" in err
    assert len(taskcluster.created) == 1


def test_a_bad_config_stops_before_any_request_with_the_action_error(taskcluster, repo, tmp_path, capsys):
    path, head = repo
    taskcluster.decision(route_of(head))
    bad = {"continuation": {"models": {"teacher": {"url": "https://example.com/t", "mode": "resume"}}}}
    assert launch(config_file(tmp_path, bad), "--repo", path, "--branch", "dev-launch") == 1
    err = capsys.readouterr().err
    from translations_taskgraph.pipeline import build_plan

    with pytest.raises(ConfigError) as expected:  # what the graph and the action's callback say
        build_plan(bad, str(TASKCLUSTER_DIR / "kinds"))
    assert f"error: {expected.value}" in err
    assert taskcluster.requests == []


def test_dry_run_prints_the_action_input_and_contacts_nothing(taskcluster, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TASKCLUSTER_CLIENT_ID")
    monkeypatch.delenv("TASKCLUSTER_ACCESS_TOKEN")
    params = PARAMS_DIR / "recipe-train-new-teacher.yml"  # a parameters file holding training_config
    assert launch(params, "--dry-run", "--repo", "/nonexistent", "--branch", "nope") == 0
    out = capsys.readouterr().out
    assert json.loads(out) == yaml.safe_load(params.read_text())["training_config"]
    assert taskcluster.requests == []


def test_a_decision_task_still_running_is_not_used(taskcluster, repo, tmp_path, capsys):
    path, head = repo
    taskcluster.decision(route_of(head), state="running")
    assert launch(config_file(tmp_path), "--repo", path, "--branch", "dev-launch") == 1
    err = capsys.readouterr().err
    assert f"({DECISION_TASK_ID}) is running" in err
    assert taskcluster.created == []


def test_no_decision_task_for_the_branch_head(taskcluster, repo, tmp_path, capsys):
    path, _head = repo
    taskcluster.decision(route_of(_git(path, "rev-parse", "main")))  # only main was built
    assert launch(config_file(tmp_path), "--repo", path, "--branch", "dev-launch") == 1
    err = capsys.readouterr().err
    assert "no decision task is indexed at translations.v2.translations-taskgraph.revision." in err
    assert taskcluster.created == []


def test_an_unknown_branch(taskcluster, repo, tmp_path, capsys):
    path, _head = repo
    assert launch(config_file(tmp_path), "--repo", path, "--branch", "no-such-branch") == 1
    assert "has no branch 'no-such-branch'" in capsys.readouterr().err
    assert taskcluster.requests == []


def test_missing_credentials_are_reported_before_any_request(taskcluster, repo, tmp_path, capsys, monkeypatch):
    path, head = repo
    taskcluster.decision(route_of(head))
    monkeypatch.delenv("TASKCLUSTER_ACCESS_TOKEN")
    monkeypatch.delenv("TASKCLUSTER_CLIENT_ID")
    assert launch(config_file(tmp_path), "--repo", path, "--branch", "dev-launch") == 1
    assert "no Taskcluster credentials" in capsys.readouterr().err
    assert taskcluster.requests == []


def test_wrong_credentials_and_missing_scopes_are_one_line_errors(taskcluster, repo, tmp_path, capsys, monkeypatch):
    path, head = repo
    taskcluster.decision(route_of(head))
    monkeypatch.setenv("TASKCLUSTER_ACCESS_TOKEN", "not-the-token")
    assert launch(config_file(tmp_path), "--repo", path, "--branch", "dev-launch") == 1
    assert "Taskcluster answered 401: the credentials were refused" in capsys.readouterr().err
    monkeypatch.setenv("TASKCLUSTER_ACCESS_TOKEN", ACCESS_TOKEN)
    taskcluster.refuse_triggers = True
    assert launch(config_file(tmp_path), "--repo", path, "--branch", "dev-launch") == 1
    err = capsys.readouterr().err
    assert "Taskcluster answered 403: the credentials lack a scope" in err
    assert "hooks:trigger-hook:project-translations/in-tree-action-" in err
    assert taskcluster.created == []


@pytest.mark.parametrize("repo_url", [
    "https://github.com/someone/translations-taskgraph",
    "https://github.com/someone/translations-taskgraph.git",
    "https://github.com/someone/translations-taskgraph/",
    "git@github.com:someone/translations-taskgraph.git",
    "/srv/git/translations-taskgraph",
])
def test_the_project_is_the_repository_name(repo_url):
    assert project_of(repo_url) == "translations-taskgraph"


def test_the_action_runs_locally_with_test_action_callback_outside_a_task(tmp_path):
    # `taskgraph test-action-callback` runs the train action's callback on this machine: no
    # TASK_ID (it is no task), nothing created (the tasks are printed).
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "input.json").write_text(json.dumps(CONFIG))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TASKCLUSTER_ROOT_URL": "https://tc.example"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("taskgraph")), "test-action-callback", "--root", str(TASKCLUSTER_DIR),
         "--input", "input.json", "--task-group-id", DECISION_TASK_ID, "train"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    printed, decoder, text = [], json.JSONDecoder(), result.stdout.strip()
    while text:
        (task_id, task), end = decoder.raw_decode(text)
        printed.append((task_id, task))
        text = text[end:].strip()
    label_to_taskid = json.loads((tmp_path / "artifacts" / "label-to-taskid.json").read_text())
    assert {task["metadata"]["name"]: task_id for task_id, task in printed} == label_to_taskid
    assert any(label.startswith("train-teacher-model-") for label in label_to_taskid)
    (group,) = {task["taskGroupId"] for _task_id, task in printed}
    assert slugid.decode(group) and group != DECISION_TASK_ID  # a stand-in for the action task's id


# ------------------------------------------------------------------------------------------------
# docs/taskcluster.md
DOC = (TASKCLUSTER_DIR.parent / "docs" / "taskcluster.md").read_text()


def test_the_guide_lookup_of_teacher_task_ids_works(taskcluster, tmp_path):
    import re
    import subprocess
    import sys
    import textwrap

    block = re.search(r"```sh\n(  python3 - GROUP_ID <<'EOF'\n.*?\n  EOF\n)", DOC, re.S).group(1)
    script = textwrap.dedent(block).split("\n", 1)[1].rsplit("EOF", 1)[0]

    def member(name, state):
        task_id = slugid.nice()
        return {"status": {"taskId": task_id, "state": state}, "task": {"metadata": {"name": name}}}, task_id

    teacher1, id1 = member("train-teacher-model-ru-en-1", "completed")
    teacher2, id2 = member("train-teacher-model-ru-en-2", "exception")
    student, _ = member("distillation-student-model-train-ru-en", "completed")
    taskcluster.group_pages = [[teacher1, student], [teacher2]]
    result = subprocess.run([sys.executable, "-", "Zx0b5yEFQ-OSqhqvAvU2KQ"], input=script, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{id1} completed train-teacher-model-ru-en-1",
                                          f"{id2} exception train-teacher-model-ru-en-2"]


def test_the_guide_configs_work():
    import re

    from conftest import plan
    from translations_taskgraph.parameters import training_config_parameter

    blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
    assert blocks
    for block in blocks:
        assert plan(training_config_parameter(yaml.safe_load(block))).tasks


def test_the_guide_names_the_configured_worker_pools():
    config = yaml.safe_load((TASKCLUSTER_DIR / "config.yml").read_text())
    for alias, worker in config["workers"]["aliases"].items():
        if worker["implementation"] == "docker-worker":
            assert f"| `{alias}` | `{worker['worker-type']}` |" in DOC


def test_the_readme_links_the_guide_on_its_first_screen():
    readme = (TASKCLUSTER_DIR.parent / "README.md").read_text().splitlines()
    assert any("(docs/taskcluster.md)" in line for line in readme[:30])


def test_the_guide_lists_the_scopes_the_generated_tasks_need(default_graph):
    import re

    row = next(line for line in DOC.splitlines() if line.startswith("| `repo:github.com/<owner>/<repo>:action:generic`"))
    patterns = []
    for scope in re.findall(r"`([a-z-]+:[^`]+)`", row.split("|")[2]):
        pattern = re.escape(scope).replace(re.escape("<level>"), r"\d").replace(re.escape("<project>"), r"[^.]+")
        patterns.append(re.compile(pattern.replace(re.escape("*"), ".*") + "$"))
    needed = set()
    for task in default_graph.tasks.values():
        definition = task.task
        if definition.get("workerType") == "succeed":
            continue
        needed |= {f"queue:route:{route}" for route in definition.get("routes", [])}
        needed |= {scope if isinstance(scope, str) else scope["task-reference"] for scope in definition.get("scopes", [])}
        needed.add(f"queue:create-task:{definition['priority']}:{definition['provisionerId']}/{definition['workerType']}")
    uncovered = sorted(scope for scope in needed if not any(p.match(scope) for p in patterns))
    assert not uncovered
