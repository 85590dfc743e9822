"""Every task of every graph is a task the Taskcluster Queue and its worker would accept.

For the default graph and every parameter file in taskcluster/test/params/, each task of the full
graph is made submittable the way the decision task does it (taskgraph's own helpers, see
`submittable`): task references resolved against a fake label -> taskId mapping, `dependencies`,
`taskGroupId` and `schedulerId` filled in, relative timestamps resolved. The result must validate
against the Queue's create-task request schema, and its payload against the schema of the worker
implementation the task's worker pool runs (docker-worker or generic-worker); tasks on the
`built-in/succeed` worker only get the Queue schema. The few rules the Queue enforces beyond its
schema (deadline within 5 days, expiries in order) are checked too.

The schemas are Taskcluster's published ones, vendored unchanged in tests/data/taskcluster-schemas/.
The Queue validates formats (ajv); jsonschema only checks `date-time` and `uri` with optional
packages, so those two get small checkers of their own here.
"""

import copy
import datetime
import json
import re
from pathlib import Path

import pytest
import slugid
from jsonschema import Draft6Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT6
from taskgraph.util.parameterization import resolve_task_references, resolve_timestamps
from taskgraph.util.time import current_json_time

from conftest import PARAMS_DIR, TASKCLUSTER_DIR, generate, load_params_file

SCHEMAS_DIR = Path(__file__).resolve().parent / "data" / "taskcluster-schemas"

CREATE_TASK = "/schemas/queue/v1/create-task-request.json#"
PAYLOAD_SCHEMAS = {
    "docker-worker": "/schemas/docker-worker/v1/payload.json#",
    "generic-worker": "/schemas/generic-worker/multiuser_posix.json#",
}
NO_PAYLOAD_SCHEMA = {"succeed"}  # built-in/succeed: payload {}, no worker to validate it

PARAMS_FILES = sorted(path.stem for path in PARAMS_DIR.glob("*.yml"))
# Configs at the limits of what the schema accepts: the longest names must still give routes,
# labels and payloads the Queue takes.
LONG_DATASET = "opus_ParaCrawl-Bonus-Wikimedia-Commons-Translations-And-More-Words/v2024-01-01-extended"
EXTREME_CONFIGS = {
    "long-names": {
        # A complete config (it names its languages and datasets): merged over the pipeline defaults.
        "experiment": {"name": "long-names", "src": "zh_hant", "trg": "sr_latn_rs", "teacher-ensemble": 4},
        "datasets": {category: [LONG_DATASET, "mtdata_Statmt-news_commentary_wmt18-13-rus-eng"]
                     for category in ("train", "devtest", "test", "mono-src", "mono-trg")},
        "taskcluster": {"split-chunks": 20},
    },
}
GRAPHS = ["default", *PARAMS_FILES, *EXTREME_CONFIGS]


def schema_registry(root=SCHEMAS_DIR):
    """All vendored schemas in one registry, each under its own `$id` (refs are relative to it)."""
    resources = []
    for path in sorted(root.rglob("*.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"].rstrip("#"), DRAFT6.create_resource(contents)))
    return Registry().with_resources(resources)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")

format_checker = FormatChecker()
for _name, _check in Draft6Validator.FORMAT_CHECKER.checkers.items():
    format_checker.checkers[_name] = _check


@format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value):
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    return True


@format_checker.checks("uri")
def _is_uri(value):
    return not isinstance(value, str) or bool(_URI.match(value))


REGISTRY = schema_registry()


def validator(schema_id):
    schema = REGISTRY.contents(schema_id.rstrip("#"))
    return Draft6Validator(schema, registry=REGISTRY, format_checker=format_checker)


def schema_errors(schema_id, instance):
    """Readable validation errors (path: message), best match first."""
    errors = sorted(validator(schema_id).iter_errors(instance), key=lambda e: list(e.absolute_path))
    lines = []
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        line = f"{where}: {error.message}"
        for sub in error.context or []:
            line += f"\n        - {'/'.join(str(p) for p in sub.absolute_path) or '<root>'}: {sub.message}"
        lines.append(line)
    return lines


def _time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def queue_rule_errors(task_def):
    """What the Queue checks beyond the schema: deadline at most 5 days after `created`, `expires`
    not before the deadline, and no artifact outliving its task."""
    try:
        created, deadline = _time(task_def["created"]), _time(task_def["deadline"])
        expires = _time(task_def.get("expires", task_def["deadline"]))
    except (KeyError, TypeError, ValueError):
        return []  # the schema reports those
    errors = []
    if deadline > created + datetime.timedelta(days=5):
        errors.append(f"deadline {task_def['deadline']} is more than 5 days after created {task_def['created']}")
    if expires < deadline:
        errors.append(f"expires {task_def['expires']} is before the deadline {task_def['deadline']}")
    artifacts = task_def["payload"].get("artifacts") or {}
    for name, artifact in artifacts.items() if isinstance(artifacts, dict) else enumerate(artifacts):
        if isinstance(artifact, dict) and "expires" in artifact and _time(artifact["expires"]) > expires:
            errors.append(f"artifact {artifact.get('name', name)} expires {artifact['expires']}, after the task ({task_def['expires']})")
    return errors


def worker_implementations(graph_config, level):
    """(provisionerId, workerType) -> worker implementation, from the worker aliases of config.yml."""
    mapping = {}
    for alias in graph_config["workers"]["aliases"].values():
        provisioner = alias["provisioner"].format(level=level)
        worker_type = alias["worker-type"].format(level=level)
        mapping[(provisioner, worker_type)] = alias["implementation"]
    return mapping


def submittable(graph, graph_config, parameters):
    """label -> task definition as the decision task submits it (taskgraph's optimize + create code).

    Mirrors `taskgraph.optimize.base.get_subgraph` (task/artifact references against label_to_taskid,
    `dependencies` from the named links and soft dependencies) and `taskgraph.create.create_tasks` /
    `create_task` (decision-task dependency for roots, taskGroupId, schedulerId, timestamps).
    """
    decision_task_id = slugid.nice()
    label_to_taskid = {label: slugid.nice() for label in sorted(graph.tasks)}
    named_links = graph.graph.named_links_dict()
    scheduler_id = "{}-level-{}".format(graph_config["trust-domain"], parameters["level"])
    now = current_json_time(datetime_format=True)

    result = {}
    for label, task in sorted(graph.tasks.items()):
        dependencies = {name: label_to_taskid[dep] for name, dep in named_links.get(label, {}).items()}
        dependencies.update(
            {dep: label_to_taskid[dep] for dep in task.soft_dependencies if dep in label_to_taskid}
        )
        task_def = resolve_task_references(
            label,
            copy.deepcopy(task.task),
            task_id=label_to_taskid[label],
            decision_task_id=decision_task_id,
            dependencies=dependencies,
        )
        task_def.setdefault("dependencies", []).extend(sorted(dependencies.values()))
        if not any(dep in graph.tasks for dep in task.dependencies.values()):
            task_def["dependencies"].append(decision_task_id)
        task_def["taskGroupId"] = decision_task_id
        task_def["schedulerId"] = scheduler_id
        result[label] = resolve_timestamps(now, task_def)
    return result


def training_config(name):
    if name in EXTREME_CONFIGS:
        return EXTREME_CONFIGS[name]
    return None if name == "default" else load_params_file(name)


def test_schemas_are_the_published_ones():
    """The registry holds every schema the tests use, and the schemas resolve their own refs."""
    for schema_id in [CREATE_TASK, *PAYLOAD_SCHEMAS.values(), "/schemas/github/v1/taskcluster-github-config.v1.json#"]:
        schema = REGISTRY.contents(schema_id.rstrip("#"))
        Draft6Validator.check_schema(schema)
    # A create-task request without anything in it names the required fields (refs resolve).
    missing = schema_errors(CREATE_TASK, {})
    assert any("'metadata' is a required property" in line for line in missing), missing


def test_validation_catches_a_bad_task():
    """The machinery is not vacuous: known-bad tasks are rejected, with a readable error."""
    good = {
        "provisionerId": "translations-1",
        "workerType": "b-linux-large-gcp",
        "created": "2024-01-01T00:00:00.000Z",
        "deadline": "2024-01-02T00:00:00.000Z",
        "payload": {"image": "python:3.11", "maxRunTime": 60, "command": ["true"]},
        "metadata": {"name": "x", "description": "x", "owner": "a@b.c", "source": "https://example.com/"},
    }
    assert schema_errors(CREATE_TASK, good) == []
    assert schema_errors(PAYLOAD_SCHEMAS["docker-worker"], good["payload"]) == []
    unresolved = dict(good, deadline={"relative-datestamp": "1 day"})
    assert schema_errors(CREATE_TASK, unresolved)
    assert schema_errors(CREATE_TASK, dict(good, created="yesterday"))
    assert schema_errors(CREATE_TASK, dict(good, dependencies=["<build-vocab>"]))
    assert queue_rule_errors(good) == []
    assert queue_rule_errors(dict(good, deadline="2024-01-07T00:00:00.000Z"))
    assert queue_rule_errors(dict(good, expires="2023-12-31T00:00:00.000Z"))
    generic = {"command": [["true"]], "maxRunTime": 60}
    assert schema_errors(PAYLOAD_SCHEMAS["generic-worker"], generic) == []
    assert schema_errors(PAYLOAD_SCHEMAS["generic-worker"], dict(generic, image="python:3.11"))
    mounts = dict(good["payload"], mounts=[{"content": {"url": "https://example.com/x"}, "file": "x"}])
    assert any("mounts" in line for line in schema_errors(PAYLOAD_SCHEMAS["docker-worker"], mounts))


@pytest.mark.parametrize("name", GRAPHS)
def test_every_task_is_accepted_by_taskcluster(name):
    config = training_config(name)
    graph = generate(config)
    parameters = generate(config, attribute="parameters")
    graph_config = generate(config, attribute="graph_config")
    assert graph.tasks, f"{name}: empty graph"
    implementations = worker_implementations(graph_config, parameters["level"])

    failures = []
    for label, task_def in submittable(graph, graph_config, parameters).items():
        problems = [f"[create-task-request] {line}" for line in schema_errors(CREATE_TASK, task_def)]
        problems += [f"[queue] {line}" for line in queue_rule_errors(task_def)]
        pool = (task_def.get("provisionerId"), task_def.get("workerType"))
        implementation = implementations.get(pool)
        if implementation in PAYLOAD_SCHEMAS:
            schema_id = PAYLOAD_SCHEMAS[implementation]
            problems += [f"[{implementation} payload] {line}" for line in schema_errors(schema_id, task_def["payload"])]
        elif implementation in NO_PAYLOAD_SCHEMA:
            if task_def["payload"] != {}:
                problems.append(f"[{implementation}] payload must be empty, got {task_def['payload']!r}")
        else:
            problems.append(f"worker pool {pool[0]}/{pool[1]} is none of the worker aliases of {TASKCLUSTER_DIR / 'config.yml'}")
        failures += [f"{label}: {problem}" for problem in problems]

    assert not failures, f"{name}: {len(failures)} schema error(s):\n" + "\n".join(failures)
