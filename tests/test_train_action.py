"""The `train` action: registration, input schema, validation, and the graph it would create.

`taskgraph test-action-callback` runs in-process (`taskgraph.main.main`) so that everything that
would reach Taskcluster is replaced here: task creation, artifact writing and index lookups
during optimization.
"""

import copy
import json
import logging

import jsonschema
import pytest
import yaml

import taskgraph.create
import taskgraph.decision
import taskgraph.optimize.base
import taskgraph.util.taskcluster
from taskgraph.actions import registry
from taskgraph.optimize.strategies import IndexSearch

from translations_taskgraph.training_config import ConfigError, training_config_json_schema

from conftest import PARAMS_DIR, ROOT, TASKCLUSTER_DIR, generate, load_params_file

TASK_GROUP_ID = "Zx0b5yEFQ-OSqhqvAvU2KQ"
DECISION_TASK_ID = "ABCDEFGHIJKLMNOPQRSTUV"


def _register():
    """Register the plugin (imports translations_taskgraph.actions) as taskgraph would."""
    from taskgraph.config import load_graph_config

    graph_config = load_graph_config(str(TASKCLUSTER_DIR))
    graph_config.register()
    return graph_config


def _decision_parameters(graph_config):
    from taskgraph.parameters import parameters_loader

    return parameters_loader(None, strict=False, overrides={"training_config": {}})(graph_config)


@pytest.fixture
def offline_decision(monkeypatch, tmp_path):
    """Run decisions offline; record what would be created and written."""
    recorded = {"created": None, "artifacts": {}}

    def create_tasks(graph_config, taskgraph, label_to_taskid, params, decision_task_id):
        recorded["created"] = {taskgraph.tasks[task_id].label for task_id in taskgraph.graph.nodes}
        recorded["decision_task_id"] = decision_task_id

    def write_artifact(filename, data):
        recorded["artifacts"][filename] = copy.deepcopy(data)

    def no_index(*args, **kwargs):
        return {}

    monkeypatch.setattr(taskgraph.decision, "create_tasks", create_tasks)
    monkeypatch.setattr(taskgraph.decision, "write_artifact", write_artifact)
    monkeypatch.setattr(taskgraph.optimize.base, "find_task_id_batched", no_index)
    monkeypatch.setattr(taskgraph.optimize.base, "status_task_batched", no_index)
    monkeypatch.setattr(IndexSearch, "should_replace_task", lambda *args, **kwargs: False)
    # trigger_action_callback(test=True) flips these module globals; put them back afterwards.
    monkeypatch.setattr(taskgraph.create, "testing", False)
    monkeypatch.setattr(taskgraph.util.taskcluster, "testing", False)
    monkeypatch.setenv("TASK_ID", DECISION_TASK_ID)
    monkeypatch.setenv("TASKGRAPH_SERIAL", "1")
    # taskgraph_decision writes its optimization log under ./artifacts.
    monkeypatch.chdir(tmp_path)

    opt_log = logging.getLogger("optimization")
    handlers, root_level = list(opt_log.handlers), logging.root.level
    yield recorded
    for handler in opt_log.handlers[:]:
        if handler not in handlers:
            opt_log.removeHandler(handler)
            handler.close()
    logging.root.setLevel(root_level)


def _run_action(tmp_path, training_config, params=None):
    """`taskgraph test-action-callback ... train`, in-process; returns main()'s result."""
    from taskgraph.main import main

    params_file = tmp_path / "parameters.yml"
    params_file.write_text(yaml.safe_dump(params or {"training_config": {}}))
    input_file = tmp_path / "input.json"
    input_file.write_text(json.dumps(training_config))
    return main(
        [
            "test-action-callback",
            "--root", str(TASKCLUSTER_DIR),
            "--parameters", str(params_file),
            "--input", str(input_file),
            "--task-group-id", TASK_GROUP_ID,
            "train",
        ]
    )


def _with_dependencies(graph, labels):
    """`labels` and everything they transitively depend on, in `graph`."""
    result, stack = set(), list(labels)
    while stack:
        label = stack.pop()
        if label in result:
            continue
        result.add(label)
        stack.extend(graph.tasks[label].dependencies.values())
    return result


def _stage_labels(graph, stage):
    return {label for label, task in graph.tasks.items() if task.attributes.get("stage") == stage}


# ------------------------------------------------------------------------------------------------
# Registration and schema.
def test_train_action_is_registered():
    _register()
    from translations_taskgraph import actions

    assert registry.callbacks["train"] is actions.train_action
    entries = [action for action in registry.actions if action.cb_name == "train"]
    assert len(entries) == 1
    assert entries[0].permission == "generic"


def test_train_action_schema_is_the_training_config_schema():
    graph_config = _register()
    rendered = registry.render_actions_json(_decision_parameters(graph_config), graph_config, DECISION_TASK_ID)
    (train,) = [action for action in rendered["actions"] if action["name"] == "train"]
    assert train["schema"] == training_config_json_schema(partial=True)
    assert train["context"] == []
    assert train["kind"] == "hook"
    assert train["hookId"].startswith("in-tree-action-")
    assert "-generic/" in train["hookId"]
    decision_action = train["hookPayload"]["decision"]["action"]
    assert decision_action["cb_name"] == "train"
    assert decision_action["symbol"] == "train"
    assert decision_action["taskGroupId"] == DECISION_TASK_ID


@pytest.mark.parametrize(
    "name",
    [
        "recipe-train-new-teacher",
        "recipe-distillation-and-student",
        "recipe-distill-student-from-data",
        "recipe-finetune-existing-model",
        "doc-continuation-models",
        "doc-legacy-pretrained-models",
    ],
)
def test_action_schema_accepts_the_documented_configs(name):
    jsonschema.validate(load_params_file(name), training_config_json_schema(partial=True))


def test_action_schema_rejects_unknown_keys():
    schema = training_config_json_schema(partial=True)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"continuation": {"modles": {}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"experiment": {"teacher-ensemble": "two"}}, schema)


# ------------------------------------------------------------------------------------------------
# Validation of the input.
BAD_INPUT = {"continuation": {"models": {"teacher": {"url": "https://example.com/t", "mode": "resume"}}}}


def test_bad_input_raises_the_config_error(offline_decision):
    graph_config = _register()
    with pytest.raises(ConfigError) as error:
        registry.trigger_action_callback(
            task_group_id=TASK_GROUP_ID,
            task_id=None,
            input=BAD_INPUT,
            callback="train",
            parameters=_decision_parameters(graph_config),
            root=graph_config.root_dir,
            test=True,
        )
    assert "continuation.models.teacher.mode" in str(error.value)
    assert "use, continue, init" in str(error.value)
    assert offline_decision["created"] is None
    assert offline_decision["artifacts"] == {}


def test_bad_input_fails_the_cli(offline_decision, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _run_action(tmp_path, BAD_INPUT)
    assert exit_.value.code == 1
    assert "continuation.models.teacher.mode" in capsys.readouterr().err
    assert offline_decision["created"] is None


# ------------------------------------------------------------------------------------------------
# The graph the action creates.
CONTINUATION_INPUT = {
    **load_params_file("recipe-train-new-teacher"),
    "target-stage": "train-teacher-model",
}


def test_action_creates_target_stage_and_its_dependencies(offline_decision, tmp_path):
    assert _run_action(tmp_path, CONTINUATION_INPUT) is None
    created = offline_decision["created"]
    assert created is not None

    full = generate(CONTINUATION_INPUT)
    targets = _stage_labels(full, "train-teacher-model")
    assert targets == {"train-teacher-model-ru-en-1"}
    assert created == _with_dependencies(full, targets)

    # The continuation inputs are downloaded, and nothing they replace is built.
    assert "continuation-vocab-ru-en" in created
    assert "continuation-corpus-parallel-ru-en" in created
    assert "continuation-corpus-backtranslations-ru-en" in created
    assert not any(label.startswith("build-vocab") for label in created)
    assert not any(label.startswith("corpus-merge-parallel") for label in created)
    assert not any(label.startswith("corpus-align-") for label in created)
    # Nothing past the target stage.
    assert not any(label.startswith(("distillation-", "export", "all-pipeline")) for label in created)


def test_action_parameters(offline_decision, tmp_path):
    _run_action(tmp_path, CONTINUATION_INPUT)
    parameters = offline_decision["artifacts"]["parameters.yml"]
    assert parameters["training_config"] == CONTINUATION_INPUT
    assert parameters["target_tasks_method"] == "train-target-tasks"
    assert parameters["optimize_target_tasks"] is True
    assert parameters["tasks_for"] == "action"
    assert set(offline_decision["artifacts"]["target-tasks.json"]) == {"train-teacher-model-ru-en-1"}
    assert offline_decision["decision_task_id"] == DECISION_TASK_ID
    # actions.json of the new graph offers the train action again, with the derived schema.
    rendered = offline_decision["artifacts"]["actions.json"]
    (train,) = [action for action in rendered["actions"] if action["name"] == "train"]
    assert train["schema"] == training_config_json_schema(partial=True)


def test_action_with_default_config_creates_the_whole_pipeline(offline_decision, tmp_path):
    _run_action(tmp_path, {})
    created = offline_decision["created"]
    full = generate({})
    assert created == _with_dependencies(full, _stage_labels(full, "all-pipeline"))
    assert any(label.startswith("build-vocab") for label in created)
    assert not any(label.startswith("continuation-") for label in created)


def test_action_uses_decision_parameters_but_replaces_the_training_config(offline_decision, tmp_path):
    # The decision's own training config (here: a legacy block) does not leak into the action's.
    decision = {"training_config": yaml.safe_load((PARAMS_DIR / "doc-legacy-pretrained-models.yml").read_text())[
        "training_config"
    ]}
    _run_action(tmp_path, {"target-stage": "build-vocab"}, params=decision)
    created = offline_decision["created"]
    assert any(label.startswith("build-vocab") for label in created)
    assert not any(label.startswith("continuation-") for label in created)
    assert offline_decision["artifacts"]["parameters.yml"]["training_config"] == {"target-stage": "build-vocab"}


def test_repository_root():
    assert (ROOT / "taskcluster" / "config.yml").exists()
