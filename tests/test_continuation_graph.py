"""Training continuation: the graph each documented config and each model x mode produces."""

import itertools

import pytest
import yaml
from conftest import command, complete, fetched, flag, generate, labels_of_stage, load_params_file, plan

U = "https://example.org/run"
BEST = "final.model.npz.best-chrf.npz"
CHECKPOINT = ["model.npz", "model.npz.best-chrf.npz", "model.npz.optimizer.npz", "model.npz.progress.yml", "model.npz.yml"]
TRAINING_KIND = {
    "teacher": "train-teacher-model",
    "backwards": "backtranslations-train-backwards-model",
    "student": "distillation-student-model-train",
}
TRAINING_LABEL = {
    "teacher": "train-teacher-model-ru-en-1",
    "backwards": "backtranslations-train-backwards-model-ru-en",
    "student": "distillation-student-model-train-ru-en",
}
EVALUATE_STAGE = {"teacher": "evaluate-teacher", "backwards": "evaluate-backwards", "student": "evaluate-student"}


def kinds(graph):
    return {task.kind for task in graph.tasks.values()}


def consumers_of(graph, label):
    return sorted(t.label for t in graph.tasks.values() if label in t.dependencies.values())


# ------------------------------------------------------------------------------------------------
# The documented configs, as written.
def test_doc_configuration_block():
    """Continue a teacher from a Taskcluster task; use a backwards model from a bucket."""
    graph = generate(load_params_file("doc-continuation-models"))
    # backwards: use -> training gone, download in its place for every consumer.
    assert "backtranslations-train-backwards-model-ru-en" not in graph.tasks
    download = "continuation-model-backwards-ru-en"
    assert consumers_of(graph, download) == [
        "backtranslations-mono-trg-translate-ru-en-1/2",
        "backtranslations-mono-trg-translate-ru-en-2/2",
        "distillation-parallel-src-translations-score-ru-en",
    ]
    assert labels_of_stage(graph, "evaluate-backwards") == []
    argv = command(graph, download)
    base = "https://storage.googleapis.com/releng-translations-dev/models/en-fi/opusmt/student"
    # The best model: the first of the names real model directories hold (download.py --file-candidates).
    assert argv[argv.index("--file-candidates") + 1 : argv.index("--file-candidates") + 3] == [BEST, f"{base}/{BEST}"]
    assert flag(argv, "--vocab-dir") == base  # the trailing "/" as written is one spelling of it
    # teacher: continue -> training stays, resumes from the downloaded checkpoint.
    teacher = "train-teacher-model-ru-en-1"
    pretrained = fetched(graph, teacher)["continuation-model-teacher-ru-en-1"]
    assert set(CHECKPOINT + [BEST, "vocab.ru.spm", "vocab.en.spm"]) == set(pretrained)
    assert flag(command(graph, teacher), "--resume-from") == "/builds/worker/fetches/pretrained"
    teacher_url = "https://firefox-ci-tc.services.mozilla.com/api/queue/v1/task/{task_id}/artifacts/public/build"
    assert f"{teacher_url}/model.npz.optimizer.npz" in command(graph, "continuation-model-teacher-ru-en-1")
    assert labels_of_stage(graph, "evaluate-teacher") == ["evaluate-teacher-flores-devtest-ru-en-1"]
    # No continuation.vocab: the teacher's vocab replaces build-vocab for every consumer.
    assert "build-vocab-ru-en" not in graph.tasks
    shortlist = graph.tasks["distillation-corpus-build-shortlist-ru-en"]
    assert shortlist.dependencies["vocab"] == "continuation-model-teacher-ru-en-1"
    assert fetched(graph, shortlist.label)["continuation-model-teacher-ru-en-1"] == ["vocab.en.spm", "vocab.ru.spm"]


def test_recipe_train_a_new_teacher():
    graph = generate(load_params_file("recipe-train-new-teacher"))
    present = kinds(graph)
    assert "train-teacher-model" in present
    assert {"build-vocab", "corpus-merge-parallel", "corpus-align-parallel", "corpus-align-backtranslations",
            "backtranslations-train-backwards-model", "backtranslations-mono-trg-translate",
            "corpus-clean-parallel", "corpus-clean-parallel-bicleaner-ai"}.isdisjoint(present)
    assert fetched(graph, "train-teacher-model-ru-en-1") == {
        "continuation-vocab-ru-en": ["vocab.en.spm", "vocab.ru.spm"],
        "corpus-merge-devset-ru-en": ["devset.en.zst", "devset.ru.zst"],
        "continuation-corpus-parallel-ru-en": ["corpus.aln.zst", "corpus.tok-icu.en.zst", "corpus.tok-icu.ru.zst"],
        "continuation-corpus-backtranslations-ru-en": ["mono.aln.zst", "mono.tok-icu.en.zst", "mono.tok-icu.ru.zst"],
    }
    # The backwards model still scores the distillation corpus.
    assert "continuation-model-backwards-ru-en" in graph.tasks["distillation-parallel-src-translations-score-ru-en"].dependencies.values()
    # Without corpus.priors from a replaced alignment task, later alignment runs without priors.
    argv = command(graph, "corpus-align-distillation-ru-en")
    assert "--priors" not in argv


def test_recipe_distillation_data_and_new_student():
    graph = generate(load_params_file("recipe-distillation-and-student"))
    present = kinds(graph)
    assert "train-teacher-model" not in present
    assert labels_of_stage(graph, "evaluate-teacher") == []
    teacher = "continuation-model-teacher-ru-en-1"
    for label in labels_of_stage(graph, "distillation-mono-src-translate"):
        assert fetched(graph, label)[teacher] == [BEST, "vocab.en.spm", "vocab.ru.spm"]
    assert "distillation-student-model-train-ru-en" in graph.tasks
    assert "distillation-parallel-src-translations-score-ru-en" in graph.tasks
    # The backtranslation chain only fed the teacher: gone.
    assert "backtranslations-mono-trg-translate" not in present
    # Distillation of the parallel corpus uses the provided corpus.
    assert fetched(graph, "distillation-parallel-src-chunk-ru-en") == {
        "continuation-corpus-parallel-ru-en": ["corpus.en.zst", "corpus.ru.zst"]
    }


def test_recipe_distill_a_student_from_existing_data():
    graph = generate(load_params_file("recipe-distill-student-from-data"))
    stages = {t.attributes.get("stage") for t in graph.tasks.values()} - {None}
    assert stages == {
        "continuation-vocab", "continuation-corpus-distillation", "dataset", "corpus-merge-devset",
        "distillation-corpus-build-shortlist", "distillation-student-model-train",
        "distillation-student-model-finetune", "distillation-student-model-quantize", "export",
        "evaluate-student", "evaluate-finetuned-student", "evaluate-quantized", "all-pipeline",
    }
    assert fetched(graph, "distillation-student-model-train-ru-en")["continuation-corpus-distillation-ru-en"] == [
        "corpus.aln.zst", "corpus.tok-icu.en.zst", "corpus.tok-icu.ru.zst",
    ]
    assert fetched(graph, "distillation-corpus-build-shortlist-ru-en")["continuation-corpus-distillation-ru-en"] == [
        "corpus.en.zst", "corpus.ru.zst",
    ]


def test_recipe_finetune_an_existing_model():
    graph = generate(load_params_file("recipe-finetune-existing-model"))
    student = "distillation-student-model-train-en-ja"
    argv = command(graph, student)
    # A flag of the training step (the step checks the model fits the vocab, then tells Marian).
    flags = argv[: argv.index("--", 2)] if "--" in argv[2:] else argv
    assert flag(flags, "--pretrained-model") == f"/builds/worker/fetches/pretrained/{BEST}"
    assert fetched(graph, student)["continuation-model-student-en-ja"] == [BEST, "vocab.en.spm", "vocab.ja.spm"]
    # continuation.vocab wins over the model's vocab for every consumer.
    assert fetched(graph, student)["continuation-vocab-en-ja"] == ["vocab.en.spm", "vocab.ja.spm"]
    # Without alignments, alignment runs on the provided corpus (and without priors).
    assert fetched(graph, "corpus-align-distillation-en-ja") == {
        "continuation-corpus-distillation-en-ja": ["corpus.en.zst", "corpus.ja.zst"]
    }
    assert "train-teacher-model" not in kinds(graph)
    assert labels_of_stage(graph, "evaluate-student") == ["evaluate-student-flores-devtest-en-ja"]
    vocab = command(graph, "continuation-vocab-en-ja")
    assert "https://firefox-ci-tc.services.mozilla.com/api/queue/v1/task/VF2YHgQXQ4SOKUjnMLzzhw/runs/0/artifacts/public%2Fbuild%2Fvocab.en.spm" in vocab


def test_legacy_block_matches_the_current_form():
    legacy = generate(load_params_file("doc-legacy-pretrained-models"))
    current = generate(
        {
            "continuation": {
                "models": {
                    "teacher": {
                        "urls": ["https://firefox-ci-tc.services.mozilla.com/api/queue/v1/task/task-id/artifacts/public/build"],
                        "mode": "continue",
                        "type": "default",
                    },
                    "backwards": {
                        "urls": ["https://storage.googleapis.com/bucket-name/models/ru-en/backward"],
                        "mode": "use",
                        "type": "default",
                    },
                }
            }
        }
    )
    assert sorted(legacy.tasks) == sorted(current.tasks)
    for label in legacy.tasks:
        assert legacy.tasks[label].task["payload"] == current.tasks[label].task["payload"], label


# ------------------------------------------------------------------------------------------------
# Each model x mode.
@pytest.mark.parametrize("model", ["teacher", "backwards", "student"])
@pytest.mark.parametrize("mode", ["use", "continue", "init"])
def test_model_modes(model, mode):
    graph = generate({"continuation": {"models": {model: {"url": f"{U}/{model}", "mode": mode}}}})
    suffix = "-1" if model == "teacher" else ""
    download = f"continuation-model-{model}-ru-en{suffix}"
    training = TRAINING_LABEL[model]
    assert graph.tasks[download].attributes["stage"] == f"continuation-model-{model}"
    assert graph.tasks[download].task["payload"]["image"]
    assert graph.tasks[download].task["workerType"] == "b-linux-large-gcp"  # CPU, no GPU
    if mode == "use":
        assert training not in graph.tasks
        assert TRAINING_KIND[model] not in kinds(graph)
        assert labels_of_stage(graph, EVALUATE_STAGE[model]) == []
        assert consumers_of(graph, download)
        for consumer in consumers_of(graph, download):
            assert set(fetched(graph, consumer)[download]) <= set(graph.tasks[download].attributes["artifacts"])
        # The fine-tuned student starts from a used student: its vocab must be used everywhere.
        assert ("build-vocab-ru-en" in graph.tasks) == (model != "student")
        return
    assert fetched(graph, training)[download]
    argv = command(graph, training)
    assert labels_of_stage(graph, EVALUATE_STAGE[model])  # continue/init models are evaluated
    assert "build-vocab-ru-en" not in graph.tasks  # the model's vocab is used everywhere
    if mode == "continue":
        assert set(CHECKPOINT) <= set(fetched(graph, training)[download])
        assert flag(argv, "--resume-from") == "/builds/worker/fetches/pretrained"
        assert "--pretrained-model" not in argv
    else:
        assert flag(argv, "--pretrained-model") == f"/builds/worker/fetches/pretrained/{BEST}"
        assert "--resume-from" not in argv
        assert not set(CHECKPOINT) & set(fetched(graph, training)[download])


def test_continue_resets_map_to_marian_options():
    graph = generate(
        {"continuation": {"models": {"backwards": {"url": U, "mode": "continue", "reset-stalled": True,
                                                  "restore-corpus": False}}}}
    )
    argv = command(graph, "backtranslations-train-backwards-model-ru-en")
    marian = argv[argv.index("--", 2) :]
    assert "--valid-reset-stalled" in marian and "--no-restore-corpus" in marian
    plain = command(generate({"continuation": {"models": {"backwards": {"url": U, "mode": "continue"}}}}),
                    "backtranslations-train-backwards-model-ru-en")
    assert "--valid-reset-stalled" not in plain and "--no-restore-corpus" not in plain


# ------------------------------------------------------------------------------------------------
# Teacher ensembles.
def test_use_teacher_ensemble_gets_every_member():
    graph = generate({"continuation": {"models": {"teachers": {"urls": [f"{U}/a", f"{U}/b"], "mode": "use"}}}})
    downloads = labels_of_stage(graph, "continuation-model-teacher")
    assert downloads == ["continuation-model-teacher-ru-en-1", "continuation-model-teacher-ru-en-2"]
    assert flag(command(graph, downloads[0]), "--vocab-dir") == f"{U}/a"
    assert flag(command(graph, downloads[1]), "--vocab-dir") == f"{U}/b"
    for translate in labels_of_stage(graph, "distillation-parallel-src-translate"):
        assert set(downloads) <= set(graph.tasks[translate].dependencies.values())
    assert "train-teacher-model" not in kinds(graph)
    assert labels_of_stage(graph, "evaluate-teacher-ensemble") == []


def test_init_one_url_for_every_member():
    graph = generate({"experiment": {"teacher-ensemble": 2},
                      "continuation": {"models": {"teacher": {"url": f"{U}/t", "mode": "init"}}}})
    for member in (1, 2):
        training = f"train-teacher-model-ru-en-{member}"
        download = f"continuation-model-teacher-ru-en-{member}"
        assert download in graph.tasks[training].dependencies.values()
        assert flag(command(graph, download), "--vocab-dir") == f"{U}/t"
    assert len(labels_of_stage(graph, "evaluate-teacher")) == 2


def test_continue_one_url_per_member():
    graph = generate({"experiment": {"teacher-ensemble": 2},
                      "continuation": {"models": {"teacher": {"urls": [f"{U}/a", f"{U}/b"], "mode": "continue"}}}})
    assert flag(command(graph, "continuation-model-teacher-ru-en-1"), "--vocab-dir") == f"{U}/a"
    assert flag(command(graph, "continuation-model-teacher-ru-en-2"), "--vocab-dir") == f"{U}/b"
    digests = {graph.tasks[f"continuation-model-teacher-ru-en-{m}"].attributes["cached_task"]["digest"] for m in (1, 2)}
    assert len(digests) == 2


# ------------------------------------------------------------------------------------------------
# Vocab and corpora.
def test_vocab_replaces_build_vocab():
    graph = generate({"continuation": {"vocab": {"src": f"{U}/v.ru.spm", "trg": "gs://bucket/v.en.spm"}}})
    assert "build-vocab-ru-en" not in graph.tasks
    argv = command(graph, "continuation-vocab-ru-en")
    assert argv[argv.index("--file") :][:6] == [
        "--file", "vocab.ru.spm", f"{U}/v.ru.spm", "--file", "vocab.en.spm",
        "https://storage.googleapis.com/bucket/v.en.spm",
    ]
    for consumer in consumers_of(graph, "continuation-vocab-ru-en"):
        assert fetched(graph, consumer)["continuation-vocab-ru-en"] == ["vocab.en.spm", "vocab.ru.spm"]
    assert len(consumers_of(graph, "continuation-vocab-ru-en")) >= 8


CORPORA = ("parallel", "backtranslations", "distillation")


def _corpus(name, aligned):
    corpus = {"src": f"{U}/{name}.ru.zst", "trg": f"{U}/{name}.en.zst"}
    if aligned:
        corpus.update({"tok-src": f"{U}/{name}.tok.ru.zst", "tok-trg": f"{U}/{name}.tok.en.zst",
                       "alignments": f"{U}/{name}.aln.zst"})
    return corpus


CORPUS_CASES = [
    {name: aligned for name, aligned in zip(subset, flags)}
    for size in range(1, 4)
    for subset in itertools.combinations(CORPORA, size)
    for flags in itertools.product((False, True), repeat=size)
]


@pytest.mark.parametrize("case", CORPUS_CASES, ids=lambda c: "+".join(f"{k}{'-aln' if v else ''}" for k, v in c.items()))
def test_corpus_combinations(case):
    """Generation (with the artifact verification) succeeds and the right producers are gone."""
    config = {"continuation": {"corpora": {n: _corpus(n, a) for n, a in case.items()}}}
    graph = generate(config)
    present = kinds(graph)
    replaced = {
        "parallel": ("corpus-merge-parallel", "corpus-align-parallel"),
        "backtranslations": ("backtranslations-mono-trg-dechunk-translations", "corpus-align-backtranslations"),
        "distillation": ("distillation-corpus-final-filtering", "corpus-align-distillation"),
    }
    for name, aligned in case.items():
        producer, aligner = replaced[name]
        assert producer not in present
        if aligned:
            assert aligner not in present
        download = f"continuation-corpus-{name}-ru-en"
        if download not in graph.tasks:
            # Another provided corpus made this one unnecessary (e.g. distillation data makes
            # the teacher, the only consumer of back-translations, unnecessary).
            assert plan(config).removed[download].startswith("pruned"), download
            continue
        assert consumers_of(graph, download)
        if not aligned and name != "parallel":
            # Alignment runs on the provided corpus.
            assert download in graph.tasks[f"{aligner}-ru-en"].dependencies.values()
    # Every dechunk step keeps its reference corpus.
    for label, task in graph.tasks.items():
        if "dechunk" in task.kind:
            assert "reference" in task.dependencies


def test_parallel_corpus_without_alignments_is_aligned_when_needed():
    graph = generate({"continuation": {"corpora": {"parallel": _corpus("parallel", False)}}})
    assert fetched(graph, "corpus-align-parallel-ru-en") == {
        "continuation-corpus-parallel-ru-en": ["corpus.en.zst", "corpus.ru.zst"]
    }
    # Everything that made the parallel corpus is gone, dataset imports included.
    assert labels_of_stage(graph, "corpus-clean-parallel") == []
    assert "dataset-opus-ada83_v1-ru-en" not in graph.tasks
    assert "dataset-flores-devtest-ru-en" in graph.tasks  # still evaluated


def test_evaluations_are_dropped_only_for_use():
    for mode, expected in (("use", []), ("continue", ["evaluate-teacher-flores-devtest-ru-en-1"]),
                           ("init", ["evaluate-teacher-flores-devtest-ru-en-1"])):
        graph = generate({"continuation": {"models": {"teacher": {"url": U, "mode": mode}}}})
        assert labels_of_stage(graph, "evaluate-teacher") == expected, mode
        target = generate({"continuation": {"models": {"teacher": {"url": U, "mode": mode}}}},
                          attribute="target_task_set")
        assert sorted(target.tasks) == ["all-pipeline-ru-en-1"]


def test_task_id_shorthand_uses_the_root_url(monkeypatch):
    from translations_taskgraph.training_config import load_training_config

    monkeypatch.setenv("TASKCLUSTER_ROOT_URL", "https://tc.example.com/")
    config = load_training_config(
        {"experiment": {"teacher-ensemble": 2},
         "continuation": {"models": {"teacher": {"task-ids": ["VF2YHgQXQ4SOKUjnMLzzhw", "ABCDEFGHIJKLMNOPQRSTUv"],
                                                 "mode": "continue"}}}}
    )
    assert config["continuation"]["models"]["teacher"]["urls"] == [
        "https://tc.example.com/api/queue/v1/task/VF2YHgQXQ4SOKUjnMLzzhw/artifacts/public/build",
        "https://tc.example.com/api/queue/v1/task/ABCDEFGHIJKLMNOPQRSTUv/artifacts/public/build",
    ]


@pytest.mark.parametrize("name", ["doc-continuation-models", "recipe-train-new-teacher", "doc-legacy-pretrained-models"])
def test_doc_block_saved_directly_as_parameters(tmp_path, name):
    """A docs block saved as a parameters file, without `training_config:`, gives the same graph."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    block = tmp_path / f"{name}.yml"
    block.write_text(yaml.safe_dump(load_params_file(name)))
    taskgraph = str(Path(sys.executable).with_name("taskgraph"))
    env = {**os.environ, "TASKCLUSTER_ROOT_URL": "https://tc.example.com"}
    result = subprocess.run([taskgraph, "full", "-p", str(block)], capture_output=True, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(result.stdout.split()) == sorted(generate(load_params_file(name)).tasks)


def test_training_config_keys_both_at_top_level_and_inside_are_an_error():
    from translations_taskgraph.parameters import training_config_parameter
    from translations_taskgraph.training_config import ConfigError

    params = {"training_config": {"continuation": {}}, "continuation": {}}
    with pytest.raises(ConfigError, match="at continuation: given both at the top level"):
        training_config_parameter(params)
    assert training_config_parameter({"experiment": {"teacher-ensemble": 2}, "level": "3"}) == {
        "experiment": {"teacher-ensemble": 2}
    }


def test_whole_training_config_at_top_level_of_parameters(tmp_path):
    """A full training config (keys the default also has) saved as a parameters file is read as given.

    Non-strict loading fills `training_config` with the default; that filled-in default is not the
    user's and must not count as giving the keys twice.
    """
    from taskgraph.parameters import load_parameters_file

    from translations_taskgraph.parameters import training_config_parameter
    from translations_taskgraph.training_config import default_training_config

    config = default_training_config()
    config["experiment"].update({"src": "de", "trg": "fr", "teacher-ensemble": 2})
    config["continuation"] = {"models": {"backwards": {"url": f"{U}/backwards", "mode": "use"}}}
    graph = generate(config)  # also registers the project's parameter defaults
    path = tmp_path / "params.yml"
    path.write_text(yaml.safe_dump(config))
    params = load_parameters_file(str(path), strict=False)
    assert params["training_config"] == default_training_config()  # filled in by the defaults
    assert training_config_parameter(params) == config
    assert "train-teacher-model-de-fr-2" in graph.tasks
    assert not labels_of_stage(graph, "backtranslations-train-backwards-model")


def test_use_teacher_url_count_overriding_the_ensemble_size_is_warned_about():
    config = {"experiment": {"teacher-ensemble": 2},
              "continuation": {"models": {"teacher": {"urls": [f"{U}/a", f"{U}/b", f"{U}/c"], "mode": "use"}}}}
    assert plan(config).warnings == [
        "continuation.models.teacher: mode use with 3 URL(s) makes an ensemble of 3; "
        "experiment.teacher-ensemble (2) does not apply"
    ]
    assert len(labels_of_stage(generate(config), "continuation-model-teacher")) == 3
    config["experiment"]["teacher-ensemble"] = 3
    assert plan(config).warnings == []
    # Named as written: the legacy block.
    legacy = {"experiment": {"teacher-ensemble": 2},
              "pretrained-models": {"train-teacher": {"urls": [f"{U}/a"], "mode": "use"}}}
    assert plan(legacy).warnings == [
        "pretrained-models.train-teacher: mode use with 1 URL(s) makes an ensemble of 1; "
        "experiment.teacher-ensemble (2) does not apply"
    ]


def test_the_same_teacher_url_twice_is_warned_about():
    config = {"experiment": {"teacher-ensemble": 2},
              "continuation": {"models": {"teachers": {"urls": [f"{U}/t1", f"{U}/t1/"], "mode": "use"}}}}
    assert plan(config).warnings == [
        "continuation.models.teachers: the same URL is listed more than once; those members are one model"
    ]


def test_a_dataset_listed_twice_is_used_once_with_a_warning():
    twice = complete({"datasets": {"test": ["flores_devtest", "flores_devtest"]}})
    assert plan(twice).warnings == ["datasets.test lists 'flores_devtest' 2 times; it is used once"]
    assert labels_of_stage(generate(twice), "evaluate-student") == ["evaluate-student-flores-devtest-ru-en"]
