""".taskcluster.yml: a valid Taskcluster-GitHub config whose decision task the Queue accepts.

The file is validated as written against Taskcluster-GitHub's `.taskcluster.yml` schema, then
rendered with JSON-e (`jsone.render`) the way its three callers do it:

- Taskcluster-GitHub for a push and a pull request: `tasks_for`, `event` (webhook body), `now`,
  `as_slugid`, `taskcluster_root_url`;
- the in-tree action hook for an action: the `decision` part of the action's hookPayload as
  rendered by taskgraph into actions.json (`action`, `push`, `repository`; the hook adds
  `action_perm`), the user part (`input`, `taskId`, `taskGroupId`), `ownTaskId`, `clientId`, `now`.

Each rendered task, minus the `taskId` that Taskcluster-GitHub takes out before `createTask`, must
validate against the Queue's create-task request schema and its payload against docker-worker's.
The decision command line is parsed with taskgraph's own argument parser.
"""

import functools
import json
import re
import shlex

import jsone
import pytest
import slugid
import yaml
from mozilla_repo_urls import parse as parse_repo_url
from taskgraph.util.time import current_json_time

from conftest import ROOT, generate
from test_taskcluster_schemas import CREATE_TASK, PAYLOAD_SCHEMAS, schema_errors

TASKCLUSTER_YML = ROOT / ".taskcluster.yml"
GITHUB_CONFIG = "/schemas/github/v1/taskcluster-github-config.v1.json#"
ROOT_URL = "https://tc.example.com"

REPO = "https://github.com/mozilla/translations"
FORK = "https://github.com/contributor/translations"
BEFORE = "1" * 40
AFTER = "2" * 40
PR_BASE = "3" * 40
PR_HEAD = "4" * 40


def template():
    return yaml.safe_load(TASKCLUSTER_YML.read_text())


def as_slugid_fn():
    """Taskcluster-GitHub's `as_slugid`: one slugid per label per event."""
    return functools.lru_cache(maxsize=None)(lambda label: slugid.nice())


def github_context(tasks_for, event):
    return {
        "tasks_for": tasks_for,
        "event": event,
        "now": current_json_time(),
        "as_slugid": as_slugid_fn(),
        "taskcluster_root_url": ROOT_URL,
    }


def push_event(ref="refs/heads/main", **overrides):
    event = {
        "ref": ref,
        "before": BEFORE,
        "after": AFTER,
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"{REPO}/compare/{BEFORE[:12]}...{AFTER[:12]}",
        "head_commit": {"id": AFTER, "message": "Bump things", "timestamp": "2024-05-01T12:00:00+02:00"},
        "pusher": {"name": "maintainer", "email": "maintainer@example.com"},
        "sender": {"login": "maintainer"},
        "repository": {
            "name": "translations",
            "full_name": "mozilla/translations",
            "html_url": REPO,
            "clone_url": f"{REPO}.git",
            "default_branch": "main",
        },
    }
    event.update(overrides)
    return event


def pull_request_event(action="opened", head_ref="continue-teacher", **overrides):
    event = {
        "action": action,
        "number": 42,
        "pull_request": {
            "number": 42,
            "title": "Continue the teacher",
            "user": {"login": "contributor"},
            "base": {
                "ref": "main",
                "sha": PR_BASE,
                "repo": {"name": "translations", "full_name": "mozilla/translations", "html_url": REPO},
            },
            "head": {
                "ref": head_ref,
                "sha": PR_HEAD,
                "repo": {"name": "translations", "full_name": "contributor/translations", "html_url": FORK},
            },
        },
        "repository": {"name": "translations", "full_name": "mozilla/translations", "html_url": REPO},
        "sender": {"login": "contributor"},
    }
    event.update(overrides)
    return event


@functools.lru_cache(maxsize=None)
def train_action():
    """The `train` action of actions.json, as the decision task of the default graph renders it."""
    from taskgraph.actions import render_actions_json

    parameters = generate(attribute="parameters")
    graph_config = generate(attribute="graph_config")
    actions = render_actions_json(parameters, graph_config, slugid.nice())["actions"]
    (train,) = [action for action in actions if action["name"] == "train"]
    return train, dict(parameters)


def action_context(input_=None):
    """What the in-tree action hook renders .taskcluster.yml with, for the `train` action."""
    action, _ = train_action()
    decision = action["hookPayload"]["decision"]
    return {
        "tasks_for": "action",
        "action": {**decision["action"], "action_perm": action["extra"]["actionPerm"]},
        "push": decision["push"],
        "repository": decision["repository"],
        "input": input_ if input_ is not None else {"experiment": {"src": "ru", "trg": "en"}},
        "taskId": None,
        "taskGroupId": decision["action"]["taskGroupId"],
        "ownTaskId": slugid.nice(),
        "clientId": "mozilla-auth0/ad|Mozilla-LDAP|someone",
        "now": current_json_time(),
        "taskcluster_root_url": ROOT_URL,
    }


def render(context):
    return jsone.render(template(), context)["tasks"]


def the_task(context):
    tasks = render(context)
    assert len(tasks) == 1, tasks
    return tasks[0]


def validate(task):
    """Schema errors of a rendered task as Taskcluster-GitHub / the hook would submit it."""
    request = {key: value for key, value in task.items() if key != "taskId"}
    errors = [f"[create-task-request] {line}" for line in schema_errors(CREATE_TASK, request)]
    errors += [f"[docker-worker payload] {line}" for line in schema_errors(PAYLOAD_SCHEMAS["docker-worker"], task["payload"])]
    return errors


def script(task):
    command = task["payload"]["command"]
    assert command[:2] == ["bash", "-c"], command
    return command[2]


def taskgraph_argv(task, subcommand):
    """The `taskgraph <subcommand> ...` line of the script, with $VARIABLES taken from the env."""
    text = script(task).replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.strip().startswith(f"taskgraph {subcommand}")]
    env = task["payload"]["env"]

    def expand(match):
        return env[match.group(1)]

    return shlex.split(re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", expand, line))


def parse_taskgraph_options(argv):
    from taskgraph.main import create_parser

    return vars(create_parser().parse_args(argv[1:]))


CONTEXTS = {
    "github-push": lambda: github_context("github-push", push_event()),
    "github-push-branch": lambda: github_context("github-push", push_event(ref="refs/heads/feature/x")),
    "github-pull-request": lambda: github_context("github-pull-request", pull_request_event()),
    "github-pull-request-synchronize": lambda: github_context("github-pull-request", pull_request_event("synchronize")),
    "github-pull-request-reopened": lambda: github_context("github-pull-request", pull_request_event("reopened")),
    "action": action_context,
}


def test_file_is_a_valid_taskcluster_github_config():
    config = template()
    assert schema_errors(GITHUB_CONFIG, config) == []
    assert config["version"] == 1
    assert config["policy"] == {"pullRequests": "public"}


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_rendered_task_is_accepted_by_taskcluster(name):
    task = the_task(CONTEXTS[name]())
    errors = validate(task)
    assert not errors, f"{name}: rendered decision task fails the schemas:\n" + "\n".join(errors)
    assert task["provisionerId"] == f"translations-{task['payload']['env']['DECISION_LEVEL']}"
    assert task["workerType"] == "decision-gcp"
    assert task["schedulerId"] == f"translations-level-{task['payload']['env']['DECISION_LEVEL']}"
    assert task["payload"]["env"]["TASKCLUSTER_ROOT_URL"] == ROOT_URL
    assert task["payload"]["image"] == "python:3.11"
    artifacts = task["payload"]["artifacts"]
    assert set(artifacts) == {"public", "public/docker-contexts"}
    assert all(name.startswith("public") for name in artifacts)


def test_push_to_main():
    context = CONTEXTS["github-push"]()
    task = the_task(context)
    assert task["taskId"] == task["taskGroupId"] == context["as_slugid"]("decision_task")
    assert task["scopes"] == ["assume:repo:github.com/mozilla/translations:branch:main"]
    assert task["provisionerId"] == "translations-3"
    assert "index.translations.v2.translations.latest.taskgraph.decision" in task["routes"]
    assert "checks" in task["routes"]

    argv = taskgraph_argv(task, "decision")
    assert argv[:2] == ["taskgraph", "decision"]
    options = parse_taskgraph_options(argv)
    assert options["project"] == "translations"
    assert options["level"] == "3"
    assert options["owner"] == "maintainer@example.com"
    assert options["tasks_for"] == "github-push"
    assert options["base_repository"] == options["head_repository"] == REPO
    assert options["base_rev"] == BEFORE
    assert options["head_rev"] == AFTER
    assert options["head_ref"] == "refs/heads/main"
    assert options["repository_type"] == "git"
    assert options["pushlog_id"] == "0" and options["pushdate"] == 0


def test_push_to_another_branch_runs_at_level_1():
    task = the_task(CONTEXTS["github-push-branch"]())
    assert task["scopes"] == ["assume:repo:github.com/mozilla/translations:branch:feature/x"]
    assert task["provisionerId"] == "translations-1"
    options = parse_taskgraph_options(taskgraph_argv(task, "decision"))
    assert options["level"] == "1"
    assert options["head_ref"] == "refs/heads/feature/x"


@pytest.mark.parametrize("name", ["github-pull-request", "github-pull-request-synchronize", "github-pull-request-reopened"])
def test_pull_request(name):
    task = the_task(CONTEXTS[name]())
    # The base repository's pull-request role, never a branch role: PR code is anyone's code.
    assert task["scopes"] == ["assume:repo:github.com/mozilla/translations:pull-request"]
    assert task["provisionerId"] == "translations-1"
    assert task["payload"]["env"]["TRANSLATIONS_PULL_REQUEST_NUMBER"] == "42"
    assert "taskgraph decision" in script(task)
    options = parse_taskgraph_options(taskgraph_argv(task, "decision"))
    assert options["tasks_for"] == "github-pull-request"
    assert options["level"] == "1"
    assert options["owner"] == "contributor@users.noreply.github.com"
    assert options["base_repository"] == REPO
    assert options["head_repository"] == FORK
    assert options["base_rev"] == PR_BASE
    assert options["head_rev"] == PR_HEAD
    assert options["head_ref"] == "continue-teacher"


def test_action():
    context = action_context()
    task = the_task(context)
    assert "taskId" not in task  # the hook supplies the taskId (ownTaskId) itself
    assert task["taskGroupId"] == context["action"]["taskGroupId"]
    assert "taskgraph action-callback" in script(task)
    assert "taskgraph decision" not in script(task)
    env = task["payload"]["env"]
    assert env["ACTION_CALLBACK"] == "train"
    assert env["ACTION_TASK_GROUP_ID"] == context["action"]["taskGroupId"]
    assert json.loads(env["ACTION_INPUT"]) == context["input"]
    assert json.loads(env["ACTION_TASK_ID"]) is None
    assert env["TRANSLATIONS_HEAD_REV"] == context["push"]["revision"]
    assert task["provisionerId"] == f"translations-{context['repository']['level']}"
    assert task["metadata"]["name"] == f"Action: {context['action']['title']}"
    assert task["extra"]["action"]["name"] == "train"
    assert f"taskgraph.actions.{context['ownTaskId']}" in task["routes"][-1]


def test_action_scope_is_the_one_taskgraph_checks():
    """`taskgraph action-callback` refuses to run unless the task has exactly this scope."""
    action, parameters = train_action()
    task = the_task(action_context())
    prefix = parse_repo_url(parameters["head_repository"]).taskcluster_role_prefix
    assert task["scopes"] == [f"assume:{prefix}:action:{action['extra']['actionPerm']}"]


@pytest.mark.parametrize(
    "tasks_for, event",
    [
        ("github-push", push_event(ref="refs/tags/v1.0")),
        ("github-push", push_event(ref="refs/heads/gone", deleted=True, after="0" * 40)),
        ("github-pull-request", pull_request_event("closed")),
        ("github-pull-request", pull_request_event("labeled")),
        ("github-release", {"action": "published", "release": {"tag_name": "v1"}, "repository": {"name": "translations"}}),
    ],
    ids=["tag-push", "branch-deletion", "pr-closed", "pr-labeled", "release"],
)
def test_other_events_create_no_task(tasks_for, event):
    assert render(github_context(tasks_for, event)) == []


def test_event_text_never_becomes_shell_code():
    """Branch names and URLs from the event reach bash only as environment variables."""
    evil = "x';touch${IFS}/tmp/pwned;'$(id)`id`\""
    task = the_task(github_context("github-pull-request", pull_request_event(head_ref=evil)))
    assert task["payload"]["env"]["TRANSLATIONS_HEAD_REF"] == evil
    for context in (CONTEXTS["github-push"](), CONTEXTS["github-pull-request"](), action_context()):
        rendered = the_task(context)
        env = rendered["payload"]["env"]
        for name in ("TRANSLATIONS_HEAD_REPOSITORY", "TRANSLATIONS_HEAD_REF", "TRANSLATIONS_HEAD_REV", "DECISION_OWNER"):
            assert env[name] not in script(rendered), f"{name}={env[name]!r} is pasted into the script"
    assert evil not in script(task)
    assert "touch" not in script(task)


def test_renders_without_a_root_url_in_the_context():
    """A caller that gives no `taskcluster_root_url` gets the worker's own TASKCLUSTER_ROOT_URL."""
    context = action_context()
    del context["taskcluster_root_url"]
    task = the_task(context)
    assert "TASKCLUSTER_ROOT_URL" not in task["payload"]["env"]
    assert validate(task) == []
