"""`translations-taskgraph launch CONFIG`: start a training run on Taskcluster.

It does what a person does in the Taskcluster UI (open the decision task of a branch, choose the
`train` action, paste the config), through the Taskcluster API with the `taskcluster` client:

1. Validate the config with the one training-config schema (`build_plan`, as the action's callback
   and the graph do: the same errors), before anything touches the network. `--dry-run` stops here
   and prints the action input.
2. Find the branch's head commit (`git ls-remote REPO refs/heads/BRANCH`) and the decision task
   of that commit in the Index: `<trust-domain>.v2.<project>.revision.<sha>.taskgraph.decision`,
   the route `.taskcluster.yml` gives every push's decision task (`project` is the repository's
   name). The decision task must have completed.
3. Read its `public/actions.json`, take the `train` action (a hook action), render its
   `hookPayload` with JSON-e (`input` = the config, `taskId` = null, `taskGroupId` = the decision
   task), and trigger the hook.
4. Print the action task and its task group: the action's callback creates the training tasks in
   a task group named after the action task.

Credentials come from the usual environment (`TASKCLUSTER_ROOT_URL`, `TASKCLUSTER_CLIENT_ID`,
`TASKCLUSTER_ACCESS_TOKEN`, `TASKCLUSTER_CERTIFICATE`; `eval $(taskcluster signin)` sets them);
triggering needs the scope `hooks:trigger-hook:<hookGroupId>/<hookId>` (docs/taskcluster.md).
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path


from ..strict_yaml import read_strict_yaml
from ..training_config import placeholder_urls, written_path
from .common import CliError, load_plan, read_config

ACTION_NAME = "train"
ACTIONS_ARTIFACT = "public/actions.json"


def add_parser(sub, parents):
    launch = sub.add_parser("launch", parents=parents, help="start a training run on Taskcluster (the `train` action)")
    launch.add_argument("config", help="a training config, or a parameters file holding training_config")
    launch.add_argument("--branch", help="the branch whose latest decision task runs the action "
                                         "(default: the current branch of this checkout)")
    launch.add_argument("--repo", metavar="URL", help="the repository the branch is in "
                                                      "(default: this checkout's `origin` remote)")
    launch.add_argument("--dry-run", action="store_true",
                        help="validate the config and print the action input; contact nothing")
    launch.set_defaults(func=cmd_launch)
    return launch


def cmd_launch(args):
    raw = read_config(args.config)
    plan = load_plan(raw, args.root)  # raises ConfigError: the message the graph and the action would give
    # A snippet's `{task_id}` only warns in a preview; a launch refuses it, as the action would.
    for path, placeholder in placeholder_urls(plan.config):
        where = ".".join(map(str, written_path(raw, path)))
        raise CliError(f"{where}: the URL still holds the placeholder {placeholder}: replace it before launching")
    action_input = copy.deepcopy(raw)
    if args.dry_run:
        print(json.dumps(action_input, indent=2, sort_keys=True, ensure_ascii=False))
        return 0

    import taskcluster  # noqa: PLC0415 (only a real launch needs the client)

    options = _client_options(taskcluster)
    repo = args.repo or _git("config", "--get", "remote.origin.url") or _fail(
        "no --repo given and this checkout has no `origin` remote")
    branch = args.branch or _current_branch()
    revision = _branch_head(repo, branch)
    on_branch = branch == _git("symbolic-ref", "--quiet", "--short", "HEAD")
    local = _git("rev-parse", "--verify", "-q", "HEAD") if on_branch else ""
    if local and local != revision:
        print(f"note: this checkout is at {local[:12]}; the run uses {branch} as pushed, {revision[:12]}",
              file=sys.stderr)
    trust_domain = read_strict_yaml(Path(args.root) / "config.yml")["trust-domain"]
    route = f"{trust_domain}.v2.{project_of(repo)}.revision.{revision}.taskgraph.decision"
    root_url = options["rootUrl"].rstrip("/")

    try:
        decision_task_id = _decision_task(taskcluster, options, route, branch, revision)
        print(f"Decision task of {branch} ({revision[:12]}): {root_url}/tasks/{decision_task_id}", file=sys.stderr)
        action = _train_action(taskcluster, options, decision_task_id)
        import jsone  # noqa: PLC0415

        payload = jsone.render(action["hookPayload"],
                               {"input": action_input, "taskId": None, "taskGroupId": decision_task_id})
        response = taskcluster.Hooks(options).triggerHook(action["hookGroupId"], action["hookId"], payload)
    except (taskcluster.TaskclusterRestFailure, taskcluster.TaskclusterAuthFailure) as e:
        raise CliError(_rest_failure(e)) from None
    except taskcluster.TaskclusterFailure as e:  # connection errors, authentication failures
        raise CliError(f"Taskcluster at {root_url}: {' '.join(str(e).split())}") from None

    action_task_id = (response.get("status") or {}).get("taskId") or response.get("taskId")
    if not action_task_id:
        raise CliError(f"the hook {action['hookGroupId']}/{action['hookId']} created no task: {json.dumps(response)}")
    print(f"Train action task: {root_url}/tasks/{action_task_id}", file=sys.stderr)
    # The action's decision creates the training tasks in the task group named after its task.
    print(f"{root_url}/tasks/groups/{action_task_id}")
    return 0


def project_of(repo):
    """The project name of the index routes: the repository's name (Taskcluster-GitHub's
    `event.repository.name`), from any form of URL or path."""
    name = repo.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]
    return name[: -len(".git")] if name.endswith(".git") else name


def _client_options(taskcluster):
    options = taskcluster.optionsFromEnvironment()
    if not options.get("rootUrl"):
        raise CliError("TASKCLUSTER_ROOT_URL is not set (the Taskcluster deployment that runs the training)")
    if not (options.get("credentials") or {}).get("clientId"):
        raise CliError("no Taskcluster credentials: set TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN "
                       "(`eval $(taskcluster signin)` does)")
    return options


def _decision_task(taskcluster, options, route, branch, revision):
    try:
        task_id = taskcluster.Index(options).findTask(route)["taskId"]
    except taskcluster.TaskclusterRestFailure as e:
        if e.status_code != 404:
            raise
        raise CliError(f"no decision task is indexed at {route}: has the push of {revision[:12]} ({branch}) been "
                       "built? Taskcluster-GitHub creates one for each push to a repository wired to it") from None
    state = taskcluster.Queue(options).status(task_id)["status"]["state"]
    if state != "completed":
        raise CliError(f"the decision task of {branch} ({task_id}) is {state}: launch once it has completed")
    return task_id


def _train_action(taskcluster, options, decision_task_id):
    from taskcluster.download import downloadArtifactToBuf  # noqa: PLC0415

    import aiohttp  # noqa: PLC0415 (the client's artifact download uses it)

    try:
        data, _content_type = downloadArtifactToBuf(taskId=decision_task_id, name=ACTIONS_ARTIFACT,
                                                    queueService=taskcluster.Queue(options))
    except aiohttp.ClientError as e:
        raise CliError(f"cannot download {ACTIONS_ARTIFACT} of the decision task {decision_task_id}: "
                       f"{' '.join(str(e).split())[:300]}") from None
    try:
        actions = json.loads(bytes(data))["actions"]
    except (ValueError, KeyError, TypeError):
        raise CliError(f"{ACTIONS_ARTIFACT} of the decision task {decision_task_id} is not an actions file") from None
    for action in actions:
        if action.get("name") == ACTION_NAME and action.get("kind") == "hook":
            return action
    raise CliError(f"the decision task {decision_task_id} offers no `{ACTION_NAME}` action "
                   f"(its actions: {', '.join(sorted(a.get('name', '?') for a in actions)) or 'none'})")


def _rest_failure(e):
    reason = {401: "the credentials were refused", 403: "the credentials lack a scope"}.get(e.status_code, "")
    body = e.body.get("message", "") if isinstance(e.body, dict) else ""
    first = " ".join((body or str(e)).split())[:500]
    return f"Taskcluster answered {e.status_code}{': ' + reason if reason else ''}: {first}"


def _git(*args):
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _current_branch():
    return _git("symbolic-ref", "--quiet", "--short", "HEAD") or _fail(
        "this checkout is on no branch: give --branch")


def _branch_head(repo, branch):
    try:
        result = subprocess.run(["git", "ls-remote", "--", repo, f"refs/heads/{branch}"], capture_output=True,
                                text=True, timeout=120, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.TimeoutExpired:
        raise CliError(f"git ls-remote {repo}: no answer in 120 s") from None
    if result.returncode != 0:
        raise CliError(f"git ls-remote {repo}: {' '.join(result.stderr.split())[:300]}")
    if not result.stdout.strip():
        raise CliError(f"{repo} has no branch {branch!r} (push it first)")
    return result.stdout.split()[0]


def _fail(message):
    raise CliError(message)
