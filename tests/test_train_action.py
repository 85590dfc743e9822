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


# ------------------------------------------------------------------------------------------------
# Reusing earlier task groups: previous-group-ids and start-task-prefix.
GROUP_1 = "QDc7Pm4cSCy70tXhBUW-1w"
GROUP_2 = "B04UrSOnT_iv0WqSw-yShg"
REPOSITORY = "https://github.com/translations-taskgraph/translations-taskgraph"  # the default parameters'
CACHE_PREFIX = "translations.v2.translations-taskgraph"


def _decision(level=3, domain="translations", repository=REPOSITORY):
    """The definition of a decision task, as .taskcluster.yml makes it."""
    env = {"TRANSLATIONS_BASE_REPOSITORY": repository, "DECISION_LEVEL": str(level)} if repository else {}
    return {"schedulerId": f"{domain}-level-{level}", "metadata": {"name": "Decision Task"},
            "payload": {"env": env}}


class FakeQueue:
    """queue.listTaskGroup over canned groups, two entries per page, as the real API pages; queue.task
    answers with the group's decision task (task id = group id), level 3 of this project unless given,
    and with the definitions of the groups' tasks."""

    def __init__(self, groups, decisions=None):
        self.groups = groups
        self.decisions = decisions or {}
        self.calls = []

    def task(self, task_id):
        self.calls.append(("task", task_id))
        for group_id, entries in self.groups.items():
            for entry in entries:
                if entry["status"]["taskId"] == task_id:
                    return {**entry["task"], "taskGroupId": group_id}
        if task_id not in self.groups:
            raise RuntimeError(f"ResourceNotFound: task {task_id} not found")
        return self.decisions.get(task_id) or _decision()

    def listTaskGroup(self, task_group_id, query=None):
        self.calls.append((task_group_id, dict(query or {})))
        entries = self.groups[task_group_id]
        start = int((query or {}).get("continuationToken", 0))
        page = {"taskGroupId": task_group_id, "tasks": entries[start : start + 2]}
        if start + 2 < len(entries):
            page["continuationToken"] = str(start + 2)
        return page


def _entry(label, task_id, state="completed", digest=None, scheduler="translations-level-3"):
    routes = [f"index.{CACHE_PREFIX}.cache.level-3.translations.v1.{label}.hash.{digest}"] if digest else []
    return {"status": {"taskId": task_id, "state": state},
            "task": {"metadata": {"name": label}, "schedulerId": scheduler, "routes": routes + ["checks"]}}


def _groups():
    return {
        GROUP_1: [
            _entry("build-vocab-ru-en", "vocab1vocab1vocab1voca"),
            _entry("corpus-merge-parallel-ru-en", "merge1merge1merge1merg"),
            _entry("train-teacher-model-ru-en-1", "teacher1teacher1teache", state="failed"),
            _entry("backtranslations-train-backwards-model-ru-en", "backwards1backwards1ba"),
            _entry("corpus-merge-devset-ru-en", "devset1devset1devset1d"),
        ],
        GROUP_2: [
            _entry("build-vocab-ru-en", "vocab2vocab2vocab2voca"),
            _entry("train-teacher-model-ru-en-1", "teacher2teacher2teache"),
        ],
    }


def _trust(level=3, digests=None):
    from translations_taskgraph.reuse import Trust

    return Trust(trust_domain="translations", level=level, repository=REPOSITORY,
                 repository_env="TRANSLATIONS_BASE_REPOSITORY", digests=digests or {})


def test_completed_tasks_follow_pages_and_skip_unfinished_tasks():
    from translations_taskgraph.reuse import completed_tasks

    queue = FakeQueue(_groups())
    assert {label: task_id for label, (task_id, _) in completed_tasks(GROUP_1, queue).items()} == {
        "build-vocab-ru-en": "vocab1vocab1vocab1voca",
        "corpus-merge-parallel-ru-en": "merge1merge1merge1merg",
        "backtranslations-train-backwards-model-ru-en": "backwards1backwards1ba",
        "corpus-merge-devset-ru-en": "devset1devset1devset1d",
    }
    assert queue.calls == [(GROUP_1, {}), (GROUP_1, {"continuationToken": "2"}), (GROUP_1, {"continuationToken": "4"})]


def test_later_groups_win_and_start_task_prefix_reruns_everything_downstream():
    from translations_taskgraph.reuse import downstream_of, existing_tasks

    from conftest import plan

    config = {"previous-group-ids": [GROUP_1, GROUP_2]}
    reused = existing_tasks(plan(config), _trust(), FakeQueue(_groups()))
    assert reused["build-vocab-ru-en"] == "vocab2vocab2vocab2voca"
    assert reused["train-teacher-model-ru-en-1"] == "teacher2teacher2teache"

    config = {**config, "start-task-prefix": "backtranslations-train-backwards-model"}
    pipeline = plan(config)
    rerun = downstream_of(pipeline, config["start-task-prefix"])
    # The backwards model, what it translates, and the teacher trained on those translations.
    assert {"backtranslations-train-backwards-model-ru-en", "corpus-align-backtranslations-ru-en",
            "train-teacher-model-ru-en-1", "export-ru-en"} <= rerun
    assert "build-vocab-ru-en" not in rerun and "corpus-merge-parallel-ru-en" not in rerun
    reused = existing_tasks(pipeline, _trust(), FakeQueue(_groups()))
    assert reused == {
        "build-vocab-ru-en": "vocab2vocab2vocab2voca",
        "corpus-merge-devset-ru-en": "devset1devset1devset1d",
        "corpus-merge-parallel-ru-en": "merge1merge1merge1merg",
    }


def test_no_previous_groups_asks_nothing():
    from translations_taskgraph.reuse import existing_tasks

    from conftest import plan

    queue = FakeQueue({})
    assert existing_tasks(plan({"start-task-prefix": "build-vocab"}), _trust(), queue) == {}
    assert queue.calls == []


@pytest.mark.parametrize(
    "decision, level, problem",
    [
        (_decision(level=1), 3, "its decision task ran at level 1, lower than this run's level 3"),
        (_decision(level=1), 2, "its decision task ran at level 1, lower than this run's level 2"),
        (_decision(domain="other-project"), 3, "not one of trust domain 'translations'"),
        (_decision(repository="https://github.com/someone/fork"), 3,
         "names 'https://github.com/someone/fork' in TRANSLATIONS_BASE_REPOSITORY, not this project's"),
        (_decision(repository=None), 1, "names no repository in TRANSLATIONS_BASE_REPOSITORY"),
        ({"schedulerId": "-", "payload": {}}, 1, "ran under scheduler '-'"),
    ],
    ids=["pull-request-into-level-3", "level-1-into-level-2", "other-trust-domain", "other-repository",
         "no-repository", "no-level"],
)
def test_untrusted_groups_are_an_error_naming_the_group(decision, level, problem):
    from translations_taskgraph.reuse import existing_tasks

    from conftest import plan

    queue = FakeQueue(_groups(), decisions={GROUP_2: decision})
    with pytest.raises(ConfigError) as error:
        existing_tasks(plan({"previous-group-ids": [GROUP_1, GROUP_2]}), _trust(level), queue)
    message = str(error.value)
    assert message.startswith(f"Invalid training_config at previous-group-ids: task group {GROUP_2} cannot be reused: ")
    assert problem in message
    assert GROUP_2 not in [call[0] for call in queue.calls if call[0] != "task"], "no task of it was listed"


@pytest.mark.parametrize("group_level, run_level", [(3, 3), (3, 1), (2, 1), (1, 1)])
def test_groups_of_the_same_or_a_higher_level_are_reused(group_level, run_level):
    from translations_taskgraph.reuse import existing_tasks

    from conftest import plan

    groups = {GROUP_2: [{**entry, "task": {**entry["task"], "schedulerId": f"translations-level-{group_level}"}}
                        for entry in _groups()[GROUP_2]]}
    queue = FakeQueue(groups, decisions={GROUP_2: _decision(level=group_level)})
    reused = existing_tasks(plan({"previous-group-ids": [GROUP_2]}), _trust(run_level), queue)
    assert reused == {"build-vocab-ru-en": "vocab2vocab2vocab2voca", "train-teacher-model-ru-en-1": "teacher2teacher2teache"}


def test_a_group_without_a_readable_decision_task_is_an_error():
    from translations_taskgraph.reuse import existing_tasks

    from conftest import plan

    missing = "AAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(ConfigError, match=f"task group {missing} cannot be reused: its decision task .* cannot be read"):
        existing_tasks(plan({"previous-group-ids": [missing]}), _trust(), FakeQueue(_groups()))


def test_a_task_of_another_scheduler_in_the_group_is_an_error():
    from translations_taskgraph.reuse import existing_tasks

    from conftest import plan

    groups = _groups()
    groups[GROUP_2].append(_entry("corpus-merge-devset-ru-en", "devset2devset2devset2d", scheduler="translations-level-1"))
    with pytest.raises(ConfigError, match=f"task group {GROUP_2} cannot be reused: its task corpus-merge-devset-ru-en"):
        existing_tasks(plan({"previous-group-ids": [GROUP_2]}), _trust(), FakeQueue(groups))


def test_reused_tasks_must_carry_the_graph_s_cache_digest():
    from translations_taskgraph.reuse import existing_tasks

    from conftest import plan

    vocab_digest, teacher_digest = "a" * 64, "b" * 64
    groups = {GROUP_2: [_entry("build-vocab-ru-en", "vocab2vocab2vocab2voca", digest=vocab_digest),
                        _entry("train-teacher-model-ru-en-1", "teacher2teacher2teache", digest="c" * 64)]}
    trust = _trust(digests={"build-vocab-ru-en": vocab_digest, "train-teacher-model-ru-en-1": teacher_digest})
    config = {"previous-group-ids": [GROUP_2]}
    with pytest.raises(ConfigError) as error:
        existing_tasks(plan(config), trust, FakeQueue(groups))
    message = str(error.value)
    assert message == (
        f"Invalid training_config at previous-group-ids: task group {GROUP_2} cannot be reused: its task "
        "train-teacher-model-ru-en-1 (teacher2teacher2teache) was made from other inputs (cache digest cccccccc…, "
        "this graph's bbbbbbbb…): rerun it (start-task-prefix) or drop the group"
    )

    # A task without a digest route cannot prove its inputs either.
    groups[GROUP_2][1] = _entry("train-teacher-model-ru-en-1", "teacher2teacher2teache")
    with pytest.raises(ConfigError, match="no cache digest"):
        existing_tasks(plan(config), trust, FakeQueue(groups))

    # Running the teacher again leaves only the vocab to reuse, and its digest matches.
    config["start-task-prefix"] = "train-teacher-model"
    assert existing_tasks(plan(config), trust, FakeQueue(groups)) == {"build-vocab-ru-en": "vocab2vocab2vocab2voca"}


def test_existing_tasks_of_the_config_are_checked_like_groups_and_win():
    from translations_taskgraph.reuse import existing_tasks

    from conftest import plan

    vocab = "a" * 64
    groups = {GROUP_1: [_entry("build-vocab-ru-en", "vocab1vocab1vocab1voca", digest=vocab)],
              GROUP_2: [_entry("build-vocab-ru-en", "vocab2vocab2vocab2voca", digest=vocab)]}
    trust = _trust(digests={"build-vocab-ru-en": vocab})
    config = {"previous-group-ids": [GROUP_1], "existing_tasks": {"build-vocab-ru-en": "vocab2vocab2vocab2voca"}}
    assert existing_tasks(plan(config), trust, FakeQueue(groups)) == {"build-vocab-ru-en": "vocab2vocab2vocab2voca"}

    # A task of a pull request's group, one made from other inputs, one the queue does not know.
    queue = FakeQueue(groups, decisions={GROUP_2: _decision(level=1)})
    with pytest.raises(ConfigError) as error:
        existing_tasks(plan(config), trust, queue)
    assert str(error.value) == (
        "Invalid training_config at existing_tasks.build-vocab-ru-en: task vocab2vocab2vocab2voca cannot be reused: "
        f"its task group {GROUP_2}: its decision task ran at level 1, lower than this run's level 3 "
        "(a pull request's or a branch's group?)"
    )
    with pytest.raises(ConfigError, match="existing_tasks.build-vocab-ru-en: .* was made from other inputs"):
        existing_tasks(plan(config), _trust(digests={"build-vocab-ru-en": "b" * 64}), FakeQueue(groups))
    unknown = {**config, "existing_tasks": {"build-vocab-ru-en": "AAAAAAAAAAAAAAAAAAAAAA"}}
    with pytest.raises(ConfigError, match="task AAAAAAAAAAAAAAAAAAAAAA cannot be reused: it .* cannot be read"):
        existing_tasks(plan(unknown), trust, FakeQueue(groups))


def test_start_task_prefix_must_start_a_label():
    from conftest import plan

    with pytest.raises(ConfigError) as error:
        plan({"start-task-prefix": "train-teachr"})
    assert str(error.value).startswith("Invalid training_config at start-task-prefix: starts no task label")
    assert "train-teacher-model" in str(error.value) and "(got 'train-teachr')" in str(error.value)


def test_action_reuses_completed_tasks_of_previous_groups(offline_decision, tmp_path, monkeypatch):
    import translations_taskgraph.reuse as reuse

    # An earlier run of the default config that got as far as the teacher, whose training failed;
    # a later run that built a new vocab. The new run starts again from the teacher.
    full = generate({})
    teacher = "train-teacher-model-ru-en-1"
    before_teacher = sorted(_with_dependencies(full, [teacher]) - {teacher})

    def entry(label, task_id, **kwargs):
        return _entry(label, task_id, digest=full.tasks[label].attributes["cached_task"]["digest"], **kwargs)

    groups = {
        GROUP_1: [entry(label, f"{n:04d}earlier-run-task-id"[:22]) for n, label in enumerate(before_teacher)]
        + [entry(teacher, "teacher1teacher1teache", state="failed")],
        GROUP_2: [entry("build-vocab-ru-en", "vocab2vocab2vocab2voca")],
    }
    monkeypatch.setattr(reuse, "get_taskcluster_client", lambda service: FakeQueue(groups))
    config = {"previous-group-ids": [GROUP_1, GROUP_2], "start-task-prefix": "train-teacher-model",
              "target-stage": "train-teacher-model"}
    _run_action(tmp_path, config)
    existing = offline_decision["artifacts"]["parameters.yml"]["existing_tasks"]
    assert set(existing) == set(before_teacher)
    assert existing["build-vocab-ru-en"] == "vocab2vocab2vocab2voca"  # the later group wins
    # Everything before the teacher is reused; only the teacher is created again.
    assert offline_decision["created"] == {teacher}

    # Starting again from the backwards model also retrains what depends on it.
    offline_decision["created"] = None
    _run_action(tmp_path, {**config, "start-task-prefix": "backtranslations-train-backwards-model"})
    created = offline_decision["created"]
    assert {"backtranslations-train-backwards-model-ru-en", "corpus-align-backtranslations-ru-en", teacher} <= created
    assert "build-vocab-ru-en" not in created and "corpus-merge-parallel-ru-en" not in created


def test_action_refuses_a_pull_request_group_and_creates_nothing(offline_decision, tmp_path, monkeypatch, capsys):
    import translations_taskgraph.reuse as reuse

    full = generate({})
    label = "build-vocab-ru-en"
    digest = full.tasks[label].attributes["cached_task"]["digest"]
    groups = {GROUP_1: [_entry(label, "vocab1vocab1vocab1voca", digest=digest, scheduler="translations-level-1")]}
    queue = FakeQueue(groups, decisions={GROUP_1: _decision(level=1)})
    monkeypatch.setattr(reuse, "get_taskcluster_client", lambda service: queue)
    with pytest.raises(SystemExit) as exit_:
        _run_action(tmp_path, {"previous-group-ids": [GROUP_1], "target-stage": "build-vocab"})
    assert exit_.value.code == 1
    assert f"task group {GROUP_1} cannot be reused: its decision task ran at level 1" in capsys.readouterr().err
    assert offline_decision["created"] is None


def test_action_refuses_a_task_made_from_other_inputs(offline_decision, tmp_path, monkeypatch, capsys):
    import translations_taskgraph.reuse as reuse

    groups = {GROUP_1: [_entry("build-vocab-ru-en", "vocab1vocab1vocab1voca", digest="0" * 64)]}
    monkeypatch.setattr(reuse, "get_taskcluster_client", lambda service: FakeQueue(groups))
    with pytest.raises(SystemExit) as exit_:
        _run_action(tmp_path, {"previous-group-ids": [GROUP_1], "target-stage": "build-vocab"})
    assert exit_.value.code == 1
    assert "its task build-vocab-ru-en (vocab1vocab1vocab1voca) was made from other inputs" in capsys.readouterr().err
    assert offline_decision["created"] is None


def test_decision_parameters_record_the_merged_config():
    from translations_taskgraph.parameters import get_decision_parameters

    graph_config = _register()
    parameters = {"training_config": {"experiment": {"teacher-ensemble": 2}}, "existing_tasks": {}}
    get_decision_parameters(graph_config, parameters)
    assert parameters["training_config"]["experiment"]["teacher-ensemble"] == 2
    assert parameters["training_config"]["experiment"]["src"] == "ru"  # merged over the default
    assert parameters["existing_tasks"] == {}
    with pytest.raises(ConfigError, match="continuation.models.teacher.mode"):
        get_decision_parameters(graph_config, {"training_config": BAD_INPUT})


def test_action_schema_carries_the_schema_descriptions():
    schema = training_config_json_schema(partial=True)
    mode = schema["properties"]["continuation"]["properties"]["models"]["properties"]["teacher"]["properties"]["mode"]
    assert mode["enum"] == ["use", "continue", "init"]
    assert "continue" in mode["description"]
    assert schema["properties"]["previous-group-ids"]["description"].startswith("reuse the completed tasks")
