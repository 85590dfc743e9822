"""Transform-level tests, in taskgraph's style (pytest-taskgraph's `run_transform`, `make_task`).

The rendering transform (`transforms/pipeline_task.py`) and the continuation transform
(`transforms/continuation.py`) each run on the loader's items: one behaviour per test, without
generating a whole graph.
"""

import copy
import dataclasses
import os

import pytest
import yaml
from conftest import KINDS_DIR, TASKCLUSTER_DIR
from pytest_taskgraph import make_task
from taskgraph.config import load_graph_config
from taskgraph.transforms.base import TransformConfig

from translations_taskgraph import loader as pipeline_loader
from translations_taskgraph.continuation import rewritten_kinds
from translations_taskgraph.pipeline import Edge, PlannedTask
from translations_taskgraph.transforms import continuation as continuation_transform
from translations_taskgraph.transforms import pipeline_task

U = "https://example.org/run"
FETCHES = "/builds/worker/fetches"


@pytest.fixture
def datadir():
    """pytest-taskgraph's `graph_config` fixture reads its fake config under this directory."""
    return TASKCLUSTER_DIR.parent


@pytest.fixture
def transform_config(parameters):
    """A TransformConfig of one of our kinds, with the project's graph config and a training config."""

    def make(kind, training_config=None):
        params = copy.deepcopy(parameters)
        params["training_config"] = training_config or {}
        return TransformConfig(
            kind,
            os.path.join(KINDS_DIR, kind),
            {},
            params,
            {"docker-image-base": make_task("docker-image-base", kind="docker-image")},
            load_graph_config(str(TASKCLUSTER_DIR)),
            write_artifacts=False,
        )

    return make


def loaded(kind, config):
    """The items the pipeline loader hands the kind's transforms."""
    return list(pipeline_loader.loader(kind, config.path, {}, config.params, []))


def planned(label="step-ru-en", template=None, upstreams=None, **fields):
    template = {"stage": "step", "label": label, "script": "pipeline/x/step.py", "worker": "cpu", "name": "t",
                **(template or {})}
    context = {"src": "ru", "trg": "en", "stage": "step", "label": label, "best_model": "chrf",
               "artifacts": "/builds/worker/artifacts", "fetches": FETCHES}
    return PlannedTask(label=label, kind="step", template=template, context=context,
                       upstreams=upstreams or {}, artifacts=["out.zst"], **fields)


# ------------------------------------------------------------------------------------------------
# Rendering.
def test_render_writes_the_flags_of_the_template_as_argv(run_transform, transform_config):
    task = planned(
        template={"args": {
            "--corpus": "{fetch[corpus]}/corpus.{src}.zst",
            "--vocab-size": {"config": "experiment.spm-vocab-size"},
            "--switch": True,
            "--pair": ["{src}", "{trg}"],
        }},
        upstreams={"corpus": Edge(label="merge-ru-en", artifacts=["corpus.ru.zst"], dest="corpus")},
    )
    (out,) = run_transform(pipeline_task.transforms, [{"label": task.label, "planned": task}],
                           config=transform_config("build-vocab"))
    assert out["run"]["command"] == [
        "python3", "pipeline/x/step.py",
        "--corpus", f"{FETCHES}/corpus/corpus.ru.zst",
        "--vocab-size", "1000",
        "--switch",
        "--pair", "ru", "en",
    ]
    assert out["dependencies"] == {"corpus": "merge-ru-en"}
    assert out["fetches"] == {"corpus": [{"artifact": "corpus.ru.zst", "dest": "corpus", "extract": False}]}
    assert out["attributes"]["artifacts"] == ["out.zst"]
    assert out["worker-type"] == "cpu-spot"
    assert f"command:{out['run']['command']!r}" in out["cache"]["digest-data"]


def test_render_drops_a_flag_whose_optional_upstream_is_not_in_the_graph(run_transform, transform_config):
    task = planned(template={"args": {"--priors": "{fetch[priors]}/corpus.priors", "--out": "{artifacts}"}})
    (out,) = run_transform(pipeline_task.transforms, [{"label": task.label, "planned": task}],
                           config=transform_config("build-vocab"))
    assert out["run"]["command"] == ["python3", "pipeline/x/step.py", "--out", "/builds/worker/artifacts"]


def test_render_gives_two_edges_from_one_producer_one_dependency(run_transform, transform_config):
    download = "continuation-model-teacher-ru-en-1"
    task = planned(upstreams={
        "vocab": Edge(label=download, artifacts=["vocab.ru.spm"], dest="vocab"),
        "pretrained": Edge(label=download, artifacts=["model.npz"], dest="pretrained"),
    })
    (out,) = run_transform(pipeline_task.transforms, [{"label": task.label, "planned": task}],
                           config=transform_config("train-teacher-model"))
    assert out["dependencies"] == {"pretrained": download}
    assert out["fetches"] == {"pretrained": [
        {"artifact": "model.npz", "dest": "pretrained", "extract": False},
        {"artifact": "vocab.ru.spm", "dest": "vocab", "extract": False},
    ]}


def test_render_makes_aggregates_succeed_without_running(run_transform, transform_config):
    task = planned(label="all-pipeline-ru-en-1", template={"role": "aggregate", "script": None},
                   upstreams={"export-ru-en": Edge(label="export-ru-en", artifacts=[], dest="export-ru-en")})
    (out,) = run_transform(pipeline_task.transforms, [{"label": task.label, "planned": task}],
                           config=transform_config("all-pipeline"))
    assert out["worker"] == {"implementation": "succeed"}
    assert out["dependencies"] == {"export-ru-en": "export-ru-en"}
    assert out["attributes"]["aggregate"] is True


def test_render_rejects_an_item_the_loader_would_not_make(run_transform, transform_config):
    with pytest.raises(Exception, match="plannd"):
        run_transform(pipeline_task.transforms, [{"label": "x", "plannd": planned()}],
                      config=transform_config("build-vocab"))


def test_render_refuses_a_replaced_task_in_a_kind_without_the_continuation_transform(run_transform, transform_config):
    item = {"label": "build-vocab-ru-en", "planned": planned("build-vocab-ru-en"), "replaced-by": "continuation-vocab-ru-en"}
    with pytest.raises(Exception, match="list translations_taskgraph.transforms.continuation:transforms"):
        run_transform(pipeline_task.transforms, [item], config=transform_config("build-vocab"))


# ------------------------------------------------------------------------------------------------
# Continuation.
VOCAB = {"continuation": {"vocab": {"src": f"{U}/vocab.ru.spm", "trg": f"{U}/vocab.en.spm"}}}


def test_continuation_drops_the_tasks_a_download_stands_in_for(run_transform, transform_config):
    config = transform_config("build-vocab", VOCAB)
    items = loaded("build-vocab", config)
    assert [(i["label"], i.get("replaced-by")) for i in items] == [("build-vocab-ru-en", "continuation-vocab-ru-en")]
    assert run_transform(continuation_transform.transforms, items, config=config) == []


def test_continuation_leaves_a_kind_without_continuation_as_it_is(run_transform, transform_config):
    config = transform_config("build-vocab")
    items = loaded("build-vocab", config)
    (out,) = run_transform(continuation_transform.transforms, items, config=config)
    assert out["planned"] is items[0]["planned"]
    assert out["continuation-applied"] is True


@pytest.mark.parametrize(
    "model, args, marian_args",
    [
        ({"mode": "continue"}, ["--resume-from", f"{FETCHES}/pretrained"], []),
        ({"mode": "continue", "reset-stalled": True, "restore-corpus": False},
         ["--resume-from", f"{FETCHES}/pretrained"], ["--valid-reset-stalled", "--no-restore-corpus"]),
        ({"mode": "init"}, ["--pretrained-model", f"{FETCHES}/pretrained/final.model.npz.best-chrf.npz"], []),
    ],
    ids=["continue", "continue-reset-stalled-new-corpus", "init"],
)
def test_continuation_gives_a_continued_training_task_the_flags_of_its_mode(
    run_transform, transform_config, model, args, marian_args
):
    training = {"continuation": {"models": {"backwards": {"url": U, **model}}}}
    config = transform_config("backtranslations-train-backwards-model", training)
    (item,) = loaded("backtranslations-train-backwards-model", config)
    before = copy.deepcopy(item["planned"])
    (out,) = run_transform(continuation_transform.transforms, [item], config=config)
    assert out["planned"].extra_args == args
    assert out["planned"].extra_marian_args == marian_args
    assert out["planned"].upstreams["pretrained"].label == "continuation-model-backwards-ru-en"
    # The plan is shared by every kind: its task is copied, never changed.
    assert dataclasses.asdict(item["planned"]) == dataclasses.asdict(before)
    # ... and the rendered command carries the flags.
    (rendered,) = run_transform(pipeline_task.transforms, [out], config=config)
    command = rendered["run"]["command"]
    for flag in args:
        assert flag in command
    if marian_args:
        assert command[command.index("--") + 1:][-len(marian_args):] == marian_args


def test_a_continued_task_in_a_kind_without_the_transform_fails(run_transform, transform_config):
    training = {"continuation": {"models": {"backwards": {"url": U, "mode": "init"}}}}
    config = transform_config("backtranslations-train-backwards-model", training)
    items = loaded("backtranslations-train-backwards-model", config)
    with pytest.raises(Exception, match="training continuation rewrites backtranslations-train-backwards-model-ru-en"):
        run_transform(pipeline_task.transforms, items, config=config)


def test_every_kind_a_rule_names_lists_the_continuation_transform_and_no_other_does():
    listing = set()
    for kind in sorted(os.listdir(KINDS_DIR)):
        kind_config = yaml.safe_load(open(os.path.join(KINDS_DIR, kind, "kind.yml")))
        if "translations_taskgraph.transforms.continuation:transforms" in (kind_config.get("transforms") or []):
            listing.add(kind)
    assert listing == rewritten_kinds()
