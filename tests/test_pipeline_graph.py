"""The default pipeline graph: kinds, stages, fan-out, dependencies, fetches, commands, targets."""

import re

import pytest
from conftest import command, complete, fetched, flag, generate, labels_of_stage

PIPELINE_KINDS = {
    "dataset",
    "corpus-clean-parallel",
    "corpus-clean-parallel-fetch-bicleaner-model",
    "corpus-clean-parallel-bicleaner-ai",
    "corpus-clean-mono",
    "corpus-merge-parallel",
    "corpus-merge-mono",
    "corpus-merge-devset",
    "build-vocab",
    "corpus-align-parallel",
    "backtranslations-train-backwards-model",
    "backtranslations-mono-trg-chunk",
    "backtranslations-mono-trg-translate",
    "backtranslations-mono-trg-dechunk-translations",
    "corpus-align-backtranslations",
    "train-teacher-model",
    "distillation-mono-src-chunk",
    "distillation-mono-src-translate",
    "distillation-mono-src-dechunk-translations",
    "distillation-parallel-src-chunk",
    "distillation-parallel-src-translate",
    "distillation-parallel-src-extract-best",
    "distillation-parallel-src-dechunk-translations",
    "corpus-merge-distillation",
    "distillation-parallel-src-translations-score",
    "distillation-corpus-final-filtering",
    "corpus-align-distillation",
    "distillation-corpus-build-shortlist",
    "distillation-student-model-train",
    "distillation-student-model-finetune",
    "distillation-student-model-quantize",
    "export",
    "evaluate",
    "evaluate-teacher-ensemble",
    "evaluate-quantized",
    "all-pipeline",
}

ENSEMBLE_2 = {"experiment": {"teacher-ensemble": 2}}


@pytest.fixture(scope="module")
def graph():
    return generate()


@pytest.fixture(scope="module")
def ensemble_graph():
    return generate(ENSEMBLE_2)


def test_every_pipeline_kind_has_tasks(graph):
    kinds = {task.kind for task in graph.tasks.values()}
    assert PIPELINE_KINDS <= kinds
    assert "docker-image" in kinds
    assert "continuation" not in kinds  # no continuation in the default config


def test_every_pipeline_task_carries_stage_and_locales(graph):
    for task in graph.tasks.values():
        if task.kind == "docker-image":
            continue
        assert task.attributes["stage"], task.label
        assert task.attributes["src_locale"] == "ru"
        assert task.attributes["trg_locale"] == "en"


def test_evaluate_stages_and_labels(graph):
    assert labels_of_stage(graph, "evaluate-backwards") == ["evaluate-backward-flores-devtest-ru-en"]
    assert labels_of_stage(graph, "evaluate-teacher") == ["evaluate-teacher-flores-devtest-ru-en-1"]
    assert labels_of_stage(graph, "evaluate-student") == ["evaluate-student-flores-devtest-ru-en"]
    assert labels_of_stage(graph, "evaluate-finetuned-student") == ["evaluate-finetuned-student-flores-devtest-ru-en"]
    assert labels_of_stage(graph, "evaluate-teacher-ensemble") == ["evaluate-teacher-ensemble-flores-devtest-ru-en"]
    assert labels_of_stage(graph, "evaluate-quantized") == ["evaluate-quantized-flores-devtest-ru-en"]


def test_fan_out_per_dataset(graph):
    assert labels_of_stage(graph, "corpus-clean-parallel") == sorted(
        [
            "corpus-clean-parallel-opus-ada83_v1-ru-en",
            "corpus-clean-parallel-opus-ELRC-3075-wikipedia_health_v1-ru-en",
            "corpus-clean-parallel-mtdata-Tilde-airbaltic-1-eng-rus-ru-en",
            # opus_ada83_v1 has a Bicleaner threshold of 0: no Bicleaner task (see below).
            "corpus-clean-parallel-bicleaner-ai-opus-ELRC-3075-wikipedia_health_v1-ru-en",
            "corpus-clean-parallel-bicleaner-ai-mtdata-Tilde-airbaltic-1-eng-rus-ru-en",
            "corpus-clean-parallel-fetch-bicleaner-model-ru-en",
        ]
    )
    # A dataset in both mono lists is imported once per language.
    assert "dataset-opus-tldr-pages_v2023-08-29-ru" in graph.tasks
    assert "dataset-opus-tldr-pages_v2023-08-29-en" in graph.tasks
    assert "corpus-clean-mono-news-crawl-ru-news_2008-mono-src" in graph.tasks
    assert "corpus-clean-mono-news-crawl-en-news_2007-mono-trg" in graph.tasks
    assert labels_of_stage(graph, "corpus-merge-mono") == ["corpus-merge-mono-src-ru", "corpus-merge-mono-trg-en"]


def test_chunking_by_split_chunks(graph):
    for stage in (
        "backtranslations-mono-trg-translate",
        "distillation-mono-src-translate",
        "distillation-parallel-src-translate",
        "distillation-parallel-src-extract-best",
    ):
        labels = labels_of_stage(graph, stage)
        assert [label[-3:] for label in labels] == ["1/2", "2/2"], stage
    chunks = generate({"taskcluster": {"split-chunks": 5}})
    assert len(labels_of_stage(chunks, "backtranslations-mono-trg-translate")) == 5
    dechunk = "backtranslations-mono-trg-dechunk-translations-ru-en"
    assert len(fetched(chunks, dechunk)) == 6  # five chunks and the reference corpus


def test_teacher_ensemble_fans_in(ensemble_graph):
    teachers = labels_of_stage(ensemble_graph, "train-teacher-model")
    assert teachers == ["train-teacher-model-ru-en-1", "train-teacher-model-ru-en-2"]
    translate = ensemble_graph.tasks["distillation-mono-src-translate-ru-en-1/2"]
    assert set(teachers) <= set(translate.dependencies.values())
    fetches = fetched(ensemble_graph, "distillation-mono-src-translate-ru-en-1/2")
    for teacher in teachers:
        assert fetches[teacher] == ["final.model.npz.best-chrf.npz", "vocab.en.spm", "vocab.ru.spm"]
    assert labels_of_stage(ensemble_graph, "evaluate-teacher") == [
        "evaluate-teacher-flores-devtest-ru-en-1",
        "evaluate-teacher-flores-devtest-ru-en-2",
    ]
    # Members differ by seed, so their commands (and cache digests) differ.
    seeds = {flag(command(ensemble_graph, t), "--seed") for t in teachers}
    assert seeds == {"1", "2"}


def test_dependencies_and_fetches_follow_the_reference_shape(graph):
    assert fetched(graph, "build-vocab-ru-en") == {"corpus-merge-parallel-ru-en": ["corpus.en.zst", "corpus.ru.zst"]}
    assert fetched(graph, "backtranslations-train-backwards-model-ru-en") == {
        "corpus-merge-parallel-ru-en": ["corpus.en.zst", "corpus.ru.zst"],
        "corpus-merge-devset-ru-en": ["devset.en.zst", "devset.ru.zst"],
        "build-vocab-ru-en": ["vocab.en.spm", "vocab.ru.spm"],
    }
    assert fetched(graph, "corpus-align-backtranslations-ru-en") == {
        "corpus-merge-mono-trg-en": ["mono.en.zst"],
        "backtranslations-mono-trg-dechunk-translations-ru-en": ["mono.ru.zst"],
        "corpus-align-parallel-ru-en": ["corpus.priors"],
    }
    assert fetched(graph, "distillation-parallel-src-dechunk-translations-ru-en")["corpus-merge-parallel-ru-en"] == [
        "corpus.en.zst"
    ]
    assert fetched(graph, "corpus-merge-distillation-ru-en") == {
        "corpus-merge-parallel-ru-en": ["corpus.ru.zst"],
        "distillation-parallel-src-dechunk-translations-ru-en": ["corpus.en.zst"],
        "corpus-merge-mono-src-ru": ["mono.ru.zst"],
        "distillation-mono-src-dechunk-translations-ru-en": ["mono.en.zst"],
    }
    assert fetched(graph, "export-ru-en")["distillation-student-model-quantize-ru-en"] == ["model.intgemm8.bin"]
    assert fetched(graph, "corpus-merge-devset-ru-en") == {
        "dataset-flores-dev-ru-en": ["flores_dev.en.zst", "flores_dev.ru.zst"],
        "dataset-sacrebleu-wmt19-ru-en": ["sacrebleu_wmt19.en.zst", "sacrebleu_wmt19.ru.zst"],
    }


def test_commands_use_named_flags_only(graph):
    for label, task in graph.tasks.items():
        if task.kind in ("docker-image", "all-pipeline"):
            continue
        argv = command(graph, label)
        assert argv[0] == "python3" and argv[1].startswith("pipeline/"), label
        flags = argv[2:]
        marian = flags.index("--") if "--" in flags else len(flags)
        assert flags[0].startswith("--"), f"{label}: positional argument {flags[0]!r}"
        for i, element in enumerate(flags[:marian]):
            if not element.startswith("--"):
                assert flags[i - 1].startswith("--") or not flags[i - 1].startswith("-"), label


def test_config_values_reach_commands(graph):
    argv = command(graph, "corpus-clean-parallel-bicleaner-ai-opus-ELRC-3075-wikipedia_health_v1-ru-en")
    assert flag(argv, "--threshold") == "0.5"  # default threshold
    argv = command(graph, "train-teacher-model-ru-en-1")
    assert flag(argv, "--teacher-mode") == "two-stage"
    assert argv[argv.index("--") :][:3] == ["--", "--disp-freq", "1"]
    assert "--dim-vocabs" in argv and argv[argv.index("--dim-vocabs") + 1 : argv.index("--dim-vocabs") + 3] == [
        "1000",
        "1000",
    ]
    assert flag(command(graph, "corpus-merge-mono-trg-en"), "--max-sentences") == "1000"
    assert flag(command(graph, "dataset-news-crawl-news_2008-ru"), "--max-sentences") == "500"


def test_workers_by_stage(graph):
    assert graph.tasks["train-teacher-model-ru-en-1"].task["workerType"] == "b-linux-v100-gpu"
    assert graph.tasks["build-vocab-ru-en"].task["workerType"] == "b-linux-large-gcp"
    standard = generate({"taskcluster": {"worker-classes": {"train-teacher-model": "gcp-standard"}}})
    assert standard.tasks["train-teacher-model-ru-en-1"].task["workerType"] == "b-linux-v100-gpu-standard"
    for task in graph.tasks.values():
        if task.kind not in ("docker-image", "all-pipeline"):
            assert "mounts" not in task.task["payload"]
            assert task.task["payload"]["image"], task.label


def test_every_pipeline_task_is_cached(graph):
    for task in graph.tasks.values():
        if task.kind != "all-pipeline":
            assert task.attributes["cached_task"]["digest"], task.label
            assert re.match(r"^[0-9a-f]{64}$", task.attributes["cached_task"]["digest"])


def test_declared_artifacts(graph):
    assert graph.tasks["build-vocab-ru-en"].attributes["artifacts"] == ["vocab.ru.spm", "vocab.en.spm"]
    assert graph.tasks["corpus-merge-parallel-ru-en"].attributes["artifacts"] == ["corpus.ru.zst", "corpus.en.zst"]
    assert "final.model.npz.best-chrf.npz" in graph.tasks["train-teacher-model-ru-en-1"].attributes["artifacts"]


def test_all_pipeline_is_the_default_target():
    target = generate(attribute="target_task_set")
    assert sorted(target.tasks) == ["all-pipeline-ru-en-1"]
    full = generate()
    aggregate = full.tasks["all-pipeline-ru-en-1"]
    assert set(aggregate.dependencies.values()) == set(labels_of_stage(full, "export")) | {
        label for label, t in full.tasks.items() if t.attributes.get("stage", "").startswith("evaluate")
    }


def test_all_pipeline_splits_at_100_dependencies():
    many = generate(complete({"datasets": {"test": [f"sacrebleu_wmt{i}" for i in range(30)]}}))
    parts = labels_of_stage(many, "all-pipeline")
    assert parts == ["all-pipeline-ru-en-1", "all-pipeline-ru-en-2"]
    assert len(many.tasks["all-pipeline-ru-en-1"].dependencies) == 100


def test_target_stage_picks_targets():
    target = generate({"target-stage": "train-teacher-model"}, attribute="target_task_set")
    assert sorted(target.tasks) == ["train-teacher-model-ru-en-1"]


def test_deep_merge_keeps_the_default():
    graph = generate(ENSEMBLE_2)
    assert len(labels_of_stage(graph, "corpus-clean-parallel")) == 6  # default datasets kept (ada83: no Bicleaner)
    assert len(labels_of_stage(graph, "train-teacher-model")) == 2


def test_unknown_target_stage_is_a_config_error():
    from translations_taskgraph.training_config import ConfigError

    # Caught when the plan is built, so `taskgraph full` fails too, not only `taskgraph target`.
    for attribute in ("full_task_graph", "target_task_set"):
        with pytest.raises(ConfigError, match=r"at target-stage: unknown stage; did you mean 'train-teacher-model'\?; "
                                              r"expected one of: all-pipeline, .* \(got 'train-techer'\)"):
            generate({"target-stage": "train-techer"}, attribute=attribute)
    replaced = {"target-stage": "build-vocab", "continuation": {"vocab": {"src": "https://x.org/a", "trg": "https://x.org/b"}}}
    with pytest.raises(ConfigError, match=r"continuation replaced or pruned all its tasks; .* \(got 'build-vocab'\)"):
        generate(replaced, attribute="full_task_graph")


def test_public_pipeline_config_keys_work_unchanged():
    """Thresholds keyed by dataset file stems, url_ datasets and the other public-format keys."""
    config = {
        "experiment": {
            "spm-vocab-split": True,
            "bicleaner": {"default-threshold": 0.5, "dataset-thresholds": {"opus_ELRC-3075-wikipedia_health_v1": 0.6}},
            "monocleaner": {
                "mono-src": {"default-threshold": 0.5, "dataset-thresholds": {"news-crawl_news_2008": 0.0}},
                "mono-trg": {"default-threshold": 0.9, "dataset-thresholds": {"opus_tldr-pages/v2023-08-29": 0.6}},
            },
            "min-fluency-threshold": {"mono-src": 0.8, "mono-trg": 0.9},
        },
        "datasets": {
            "train": [
                "opus_ELRC-3075-wikipedia_health/v1",
                "url_https://storage.example.org/data/en-ru/corpus.[LANG].zst",
            ]
        },
        "taskcluster": {"upload-bucket": "dep"},
        "wandb-publication": True,
    }
    graph = generate(complete(config))
    threshold = {
        label: flag(command(graph, label), "--threshold" if "bicleaner" in label else "--fluency-threshold")
        for label in labels_of_stage(graph, "corpus-clean-parallel") + labels_of_stage(graph, "corpus-clean-mono")
        if "bicleaner-ai-" in label or "mono" in label
    }
    assert threshold["corpus-clean-parallel-bicleaner-ai-opus-ELRC-3075-wikipedia_health_v1-ru-en"] == "0.6"
    url_task = [label for label in threshold if "bicleaner-ai-url-" in label]
    assert len(url_task) == 1 and threshold[url_task[0]] == "0.5"
    assert threshold["corpus-clean-mono-news-crawl-ru-news_2008-mono-src"] == "0.0"
    assert threshold["corpus-clean-mono-opus-en-tldr-pages_v2023-08-29-mono-trg"] == "0.6"
    assert threshold["corpus-clean-mono-opus-ru-tldr-pages_v2023-08-29-mono-src"] == "0.5"
    assert "--split-vocab" in command(graph, "build-vocab-ru-en")
    url_import = [label for label in labels_of_stage(graph, "dataset") if label.startswith("dataset-url-")]
    assert flag(command(graph, url_import[0]), "--dataset") == config["datasets"]["train"][1]
    mono = command(graph, "corpus-clean-mono-news-crawl-ru-news_2008-mono-src")
    assert flag(mono, "--min-fluency-threshold") == "0.8"
    assert flag(command(graph, "export-ru-en"), "--upload-bucket") == "dep"
    teacher = command(graph, "train-teacher-model-ru-en-1")
    assert "--wandb-publication" in teacher and flag(teacher, "--experiment") == "ci"
    assert "--wandb-publication" not in command(generate(), "train-teacher-model-ru-en-1")


def test_newer_public_pipeline_keys_reach_commands():
    """Keys of the public pipeline's current configs (config.prod.yml style) are accepted and used."""
    config = {
        "experiment": {
            "student-model": "base-memory",
            "teacher-decoder": "ctranslate2",
            "archive-corpora": True,
            "dev-max-sentences": 5000,
            "spm-norm-rule": "nmt_nfkc",
        },
        "taskcluster": {"upload-bucket": "production"},
        "previous-group-ids": ["QDc7Pm4cSCy70tXhBUW-1w"],  # applied at decision time (test_train_action)
        "start-task-prefix": "train-teacher-model",
    }
    graph = generate(config)
    assert flag(command(graph, "distillation-student-model-train-ru-en"), "--student-model") == "base-memory"
    assert flag(command(graph, "distillation-mono-src-translate-ru-en-1/2"), "--decoder") == "ctranslate2"
    for label in ("corpus-align-parallel-ru-en", "corpus-align-backtranslations-ru-en", "corpus-align-distillation-ru-en"):
        assert flag(command(graph, label), "--archive-to-bucket") == "production"
    assert flag(command(graph, "corpus-merge-devset-ru-en"), "--max-sentences") == "5000"
    assert flag(command(graph, "build-vocab-ru-en"), "--norm-rule") == "nmt_nfkc"
    # Off by default: no flag at all.
    default = generate()
    assert "--archive-to-bucket" not in command(default, "corpus-align-parallel-ru-en")
    assert "--max-sentences" not in command(default, "corpus-merge-devset-ru-en")
    assert "--norm-rule" not in command(default, "build-vocab-ru-en")


def test_marian_switches():
    graph = generate({"marian-args": {"training-teacher": {"sync-sgd": True, "overwrite": False, "after": "2e"}}})
    marian = command(graph, "train-teacher-model-ru-en-1")
    marian = marian[marian.index("--") :]
    after_switch = marian[marian.index("--sync-sgd") + 1 :]
    assert not after_switch or after_switch[0].startswith("--")  # a bare switch, no value
    assert flag(marian, "--overwrite") == "false"  # removed: the step drops it from its preset too
    assert flag(marian, "--after") == "2e"


def test_local_optimization_is_offline_and_keeps_every_task():
    """`taskgraph optimized`/`morphed` locally never ask the Taskcluster index (sockets are blocked
    in tests): every target task is kept, as if nothing were cached."""
    from taskgraph.parameters import Parameters

    target = generate(attribute="target_task_graph")
    optimized = generate(attribute="optimized_task_graph")
    morphed = generate(attribute="morphed_task_graph")
    labels = {task.label for task in optimized.tasks.values()}
    assert labels == set(target.tasks)
    assert {task.label for task in morphed.tasks.values()} >= labels
    # Only local (non-strict) parameters get the preview strategies; a decision sets its own.
    assert Parameters(strict=False)["optimize_strategies"] == "translations_taskgraph.optimize:PREVIEW_STRATEGIES"


def test_backwards_model_always_reads_the_target_language():
    """Everything that runs the backwards model (translate, score, evaluate) gives it the target
    vocab as source vocab and swaps the languages; with split vocabs a mix-up would be wrong."""
    graph = generate({"experiment": {"spm-vocab-split": True}})
    users = (
        labels_of_stage(graph, "backtranslations-mono-trg-translate")
        + labels_of_stage(graph, "distillation-parallel-src-translations-score")
        + labels_of_stage(graph, "evaluate-backwards")
    )
    assert len(users) >= 4
    for label in users:
        argv = command(graph, label)
        assert flag(argv, "--vocab-src").endswith("/vocab.en.spm"), label
        assert flag(argv, "--vocab-trg").endswith("/vocab.ru.spm"), label
        if label.startswith("evaluate"):  # (scoring names the corpus's languages; translate none)
            assert (flag(argv, "--src"), flag(argv, "--trg")) == ("en", "ru"), label


def test_bicleaner_threshold_zero_skips_scoring(graph):
    """`dataset-thresholds: {opus_ada83_v1: 0.0}`: no Bicleaner task for that dataset; the merge
    fetches its cleaned files from the cleaning task, the other datasets from Bicleaner."""
    assert "corpus-clean-parallel-bicleaner-ai-opus-ada83_v1-ru-en" not in graph.tasks
    assert fetched(graph, "corpus-merge-parallel-ru-en") == {
        "corpus-clean-parallel-opus-ada83_v1-ru-en": ["opus_ada83_v1.en.zst", "opus_ada83_v1.ru.zst"],
        "corpus-clean-parallel-bicleaner-ai-opus-ELRC-3075-wikipedia_health_v1-ru-en": [
            "opus_ELRC-3075-wikipedia_health_v1.en.zst", "opus_ELRC-3075-wikipedia_health_v1.ru.zst"],
        "corpus-clean-parallel-bicleaner-ai-mtdata-Tilde-airbaltic-1-eng-rus-ru-en": [
            "mtdata_Tilde-airbaltic-1-eng-rus.en.zst", "mtdata_Tilde-airbaltic-1-eng-rus.ru.zst"],
    }
    # With every threshold 0, the Bicleaner model is not fetched either.
    zero = generate({"experiment": {"bicleaner": {"default-threshold": 0}}})
    assert not [label for label in zero.tasks if "bicleaner" in label]
    assert sorted(fetched(zero, "corpus-merge-parallel-ru-en")) == [
        "corpus-clean-parallel-mtdata-Tilde-airbaltic-1-eng-rus-ru-en",
        "corpus-clean-parallel-opus-ELRC-3075-wikipedia_health_v1-ru-en",
        "corpus-clean-parallel-opus-ada83_v1-ru-en",
    ]
