"""The places where this plugin relies on taskgraph's internals, checked against the installed taskgraph.

Each test fails when a taskgraph upgrade changes the name, signature or call the plugin depends
on, instead of the plugin silently doing nothing (or crashing for users):

- `speedups.py` replaces `taskgraph.transforms.run.import_sibling_modules`, which the run
  transforms call once per kind;
- `parameters.py` wraps `taskgraph.parameters.load_parameters_file`, which `parameters_loader`
  calls, and reads the parameter names from taskgraph's msgspec `base_schema`;
- `register()` uses taskgraph's registries only (the target tasks method, the parameters
  extension) and writes no environment variable.
"""

import inspect
import os
import pathlib
import sys

import pytest
import taskgraph.parameters as taskgraph_parameters
import taskgraph.transforms.run as run
from taskgraph.config import load_graph_config
from taskgraph.target_tasks import _target_task_methods
from taskgraph.util import python_path

from conftest import TASKCLUSTER_DIR
from translations_taskgraph import parameters, speedups


@pytest.fixture(scope="module")
def registered():
    import translations_taskgraph

    translations_taskgraph.register(load_graph_config(str(TASKCLUSTER_DIR)))


def _inner_function(function, name):
    for const in function.__code__.co_consts:
        if inspect.iscode(const) and const.co_name == name:
            return const
    raise AssertionError(f"{function.__qualname__} has no inner function {name}")


def test_run_transforms_import_their_plugins_through_the_replaced_name(registered):
    # make_task_description looks the function up as a module global, with these exceptions: the
    # replacement must accept the call and stand in for exactly what it would import.
    assert "import_sibling_modules" in run.make_task_description.__code__.co_names
    assert 'import_sibling_modules(exceptions=("common.py",))' in inspect.getsource(run.make_task_description)
    assert list(inspect.signature(python_path.import_sibling_modules).parameters) == ["exceptions"]
    assert list(inspect.signature(speedups._already_imported).parameters) == ["exceptions"]
    assert run.import_sibling_modules is speedups._already_imported


def test_every_run_plugin_is_imported_once_registered(registered):
    directory = pathlib.Path(run.__file__).parent
    plugins = sorted(p.stem for p in directory.glob("*.py") if p.name not in ("__init__.py", "common.py"))
    assert plugins  # run_task, index_search, toolchain, ...
    for name in plugins:
        assert f"taskgraph.transforms.run.{name}" in sys.modules, name
    # The implementations registered themselves: run-task is the one every pipeline task uses.
    assert "docker-worker" in run.registry["run-task"]


def test_parameters_loader_reads_files_through_the_wrapped_name(registered):
    get_parameters = _inner_function(taskgraph_parameters.parameters_loader, "get_parameters")
    assert "load_parameters_file" in get_parameters.co_names
    assert list(inspect.signature(taskgraph_parameters.load_parameters_file).parameters)[:3] == [
        "spec", "strict", "overrides",
    ]
    assert getattr(taskgraph_parameters.load_parameters_file, "reports_unreadable_files", False)


def test_parameter_names_come_from_taskgraphs_schema():
    names = parameters.taskgraph_parameter_names()
    assert {"target_tasks_method", "head_rev", "existing_tasks", "optimize_strategies", "training_config"} <= names
    # The same names taskgraph validates a parameters file against.
    assert set(taskgraph_parameters._get_defaults(str(TASKCLUSTER_DIR.parent))) <= names


def test_the_target_method_is_registered_and_taskgraphs_default_is_left_alone(registered):
    assert _target_task_methods[parameters.TARGET_TASKS_METHOD].__module__ == "translations_taskgraph.target_tasks"
    assert _target_task_methods["default"].__module__ == "taskgraph.target_tasks"
    assert parameters.get_defaults(str(TASKCLUSTER_DIR.parent))["target_tasks_method"] == parameters.TARGET_TASKS_METHOD


def test_register_writes_no_environment_variable(monkeypatch):
    import translations_taskgraph

    for name in ("TASKCLUSTER_ROOT_URL", "TASKGRAPH_SERIAL"):
        monkeypatch.delenv(name, raising=False)
    snapshot = dict(os.environ)
    translations_taskgraph.register(load_graph_config(str(TASKCLUSTER_DIR)))
    assert dict(os.environ) == snapshot


def test_decision_targets_the_config_stage_unless_asked_otherwise(tmp_path):
    from translations_taskgraph.parameters import get_decision_parameters

    graph_config = load_graph_config(str(TASKCLUSTER_DIR))
    pushed = {"target_tasks_method": "default", "training_config": {}}
    get_decision_parameters(graph_config, pushed)
    assert pushed["target_tasks_method"] == parameters.TARGET_TASKS_METHOD
    asked = {"target_tasks_method": "nothing", "training_config": {}}
    get_decision_parameters(graph_config, asked)
    assert asked["target_tasks_method"] == "nothing"
