"""Snippets and complete configs: what a training config is merged over.

A config with neither experiment.src/trg nor datasets is a snippet, previewed on the CI example
with one warning line; any other config is complete and merged over the pipeline defaults only.
Also: placeholders left in URLs, file names carrying another locale, and misspelled parameters
keys in `taskgraph full`.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from translations_taskgraph import training_config as tc
from translations_taskgraph.training_config import SNIPPET_WARNING, ConfigError, config_notes, load_training_config

from conftest import PARAMS_DIR, ROOT, command, flag, generate, load_params_file, plan

EN_DE = {
    "experiment": {"name": "en-de-spring", "src": "en", "trg": "de"},
    "datasets": {
        "train": ["opus_ELRC-3075-wikipedia_health/v1", "mtdata_Statmt-news_commentary-16-deu-eng"],
        "devtest": ["flores_dev"],
        "test": ["flores_devtest"],
        "mono-src": ["news-crawl_news.2020"],
        "mono-trg": ["news-crawl_news.2020"],
    },
}
SNIPPET_PARAMS = sorted(p.stem for p in PARAMS_DIR.glob("*.yml") if tc.is_snippet(load_params_file(p.stem)))


def _taskgraph_full(tmp_path, params):
    path = tmp_path / "params.yml"
    path.write_text(yaml.safe_dump(params) if isinstance(params, dict) else params)
    env = {**os.environ, "TASKCLUSTER_ROOT_URL": "https://tc.example.com"}
    cli = Path(sys.executable).parent / "taskgraph"
    return subprocess.run([str(cli), "full", "-p", str(path)], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=300)


def test_no_config_is_the_ci_example():
    assert plan({}).config == load_training_config(tc.ci_example())
    assert plan({}).warnings == [] and config_notes({}) == ([], [])
    assert "train-teacher-model-ru-en-1" in plan({}).tasks
    # The CI example is itself complete: merged over the pipeline defaults, it is unchanged.
    assert tc.deep_merge(tc.pipeline_defaults(), tc.ci_example()) == tc.ci_example()


def test_the_pipeline_defaults_are_fit_for_a_real_run():
    defaults = tc.pipeline_defaults()
    for key in ("corpus-max-sentences", "mono-max-sentences-src", "mono-max-sentences-trg", "spm-vocab-size",
                "name", "src", "trg"):
        assert key not in defaults["experiment"], key
    assert "datasets" not in defaults
    options = {option for section in defaults["marian-args"].values() for option in section}
    assert not options & {"after", "dim-vocabs", "precision", "save-freq", "valid-freq"}


def test_the_doc_snippets_are_previewed_on_the_ci_example_with_one_warning():
    assert len(SNIPPET_PARAMS) >= 5
    for name in SNIPPET_PARAMS:
        _hints, warnings = config_notes(load_params_file(name))
        assert warnings.count(SNIPPET_WARNING) == 1, name
        assert plan(load_params_file(name)).config["experiment"]["src"] == "ru"


def test_taskgraph_full_says_a_snippet_is_a_preview_in_one_line(tmp_path):
    result = _taskgraph_full(tmp_path, (PARAMS_DIR / "recipe-train-new-teacher.yml").read_text())
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "is a snippet" in line]
    assert len(lines) == 1 and "WARNING" in lines[0] and "previewed on the CI example" in lines[0]


def test_a_complete_config_never_gets_the_ci_example():
    graph = generate(EN_DE)
    labels = set(graph.tasks)
    assert "train-teacher-model-en-de-1" in labels
    assert not [label for label in labels if "ru" in label.split("-")]  # no ru-en dataset of the CI example
    assert not [label for label in labels if "eng-rus" in label or "ada83" in label]
    teacher = command(graph, "train-teacher-model-en-de-1")
    for option in ("--after", "--dim-vocabs", "--save-freq", "--valid-freq"):
        assert option not in teacher, option
    assert flag(command(graph, "corpus-merge-parallel-en-de"), "--max-sentences") is None
    assert flag(command(graph, "build-vocab-en-de"), "--vocab-size") is None
    translate = command(graph, "distillation-mono-src-translate-en-de-1/10")
    assert "--precision" not in translate and flag(translate, "--mini-batch-words") == "4000"
    clean = command(graph, "corpus-clean-parallel-opus-ELRC-3075-wikipedia_health_v1-en-de")
    assert flag(clean, "--use-opuscleaner") == "false" and flag(clean, "--opuscleaner-mode") == "defaults"
    assert config_notes(EN_DE) == ([], [])


@pytest.mark.parametrize(
    "raw, path, message",
    [
        ({"experiment": {"src": "en", "trg": "de"}}, "datasets",
         "required: a complete config (it sets experiment.src/trg) lists its own train, devtest, test, mono-src "
         "and mono-trg datasets ([] for none)"),
        ({"experiment": {"trg": "de"}}, "datasets", "(it sets experiment.trg)"),
        ({"datasets": EN_DE["datasets"]}, "experiment.src",
         "required: this is a complete config (it lists datasets), so it names its languages"),
        ({"experiment": {"src": "en"}, "datasets": EN_DE["datasets"]}, "experiment.trg", "names its languages"),
        ({"experiment": {"src": "en", "trg": "de"}, "datasets": EN_DE["datasets"]}, "experiment.name",
         "required key is missing"),
        # A wrong value the config gives comes before what it lacks.
        ({"experiment": {"src": "en;id", "trg": "de"}}, "experiment.src", "expected a locale code"),
    ],
    ids=["languages-without-datasets", "trg-without-datasets", "datasets-without-languages", "no-trg", "no-name",
         "bad-value-first"],
)
def test_an_incomplete_complete_config_is_an_error_naming_what_it_needs(raw, path, message):
    with pytest.raises(ConfigError) as error:
        load_training_config(raw)
    assert str(error.value).startswith(f"Invalid training_config at {path}: "), error.value
    assert message in str(error.value)
    assert len(str(error.value)) <= 300


def test_taskgraph_full_rejects_a_config_changing_languages_without_datasets(tmp_path):
    result = _taskgraph_full(tmp_path, {"training_config": {"experiment": {"src": "en", "trg": "de"}}})
    assert result.returncode == 1
    assert "Invalid training_config at datasets: required: a complete config" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("key", ["training-config", "Training_config", "trainig_config", "TRAINING-CONFIG"])
def test_a_misspelled_parameters_key_fails_taskgraph_full_with_a_suggestion(tmp_path, key):
    result = _taskgraph_full(tmp_path, {key: {"experiment": {"teacher-ensemble": 2}}})
    assert result.returncode == 1, result.stdout[-500:]
    assert f"Invalid training_config at {key}: unknown parameter; did you mean 'training_config'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_misspelled_taskgraph_parameters_get_a_suggestion_too():
    from translations_taskgraph.parameters import training_config_parameter

    with pytest.raises(ConfigError, match="at target-tasks-method: unknown parameter; did you mean "
                                          "'target_tasks_method'"):
        training_config_parameter({"target-tasks-method": "default"})
    assert training_config_parameter({"existing_tasks": {}, "training_config": {}}) == {}


TASK_URL = "https://firefox-ci-tc.services.mozilla.com/api/queue/v1/task/{task_id}/artifacts/public/build"


def test_a_placeholder_url_is_a_warning_in_a_snippet_and_an_error_in_a_complete_config():
    snippet = {"continuation": {"models": {"teacher": {"urls": [TASK_URL], "mode": "use"}}}}
    _hints, warnings = config_notes(snippet)
    assert warnings == [SNIPPET_WARNING, "continuation.models.teacher.urls.0: the URL still holds the placeholder "
                                         "{task_id}: replace it before launching"]
    assert "continuation-model-teacher-ru-en-1" in plan(snippet).tasks  # the preview still generates
    with pytest.raises(ConfigError) as error:
        load_training_config({**EN_DE, **snippet})
    assert str(error.value) == ("Invalid training_config at continuation.models.teacher.urls.0: the URL still holds "
                                "the placeholder {task_id}: replace it with the real value")
    for url in ("https://x.org/task/%7Btask_id%7D/vocab.en.spm", "https://x.org/<task-id>/vocab.en.spm"):
        with pytest.raises(ConfigError, match="continuation.vocab.src: the URL still holds the placeholder"):
            load_training_config({**EN_DE, "continuation": {"vocab": {"src": url, "trg": "https://x.org/vocab.de.spm"}}})


def test_the_doc_block_with_task_id_placeholders_previews_with_its_warning():
    raw = load_params_file("doc-continuation-models")
    _hints, warnings = config_notes(raw)
    assert any("the URL still holds the placeholder {task_id}: replace it before launching" in w for w in warnings)
    assert plan(raw).tasks


@pytest.mark.parametrize(
    "continuation, warned",
    [
        ({"vocab": {"src": "https://x.org/vocab.en.spm", "trg": "https://x.org/vocab.ja.spm"}},
         ["continuation.vocab.trg: the file name says 'ja', but the experiment is en -> de: is it the right file?"]),
        ({"vocab": {"src": "https://x.org/vocab.spm", "trg": "https://x.org/vocab.spm"}}, []),
        ({"corpora": {"distillation": {
            "src": "https://x.org/corpus.en.zst", "trg": "https://x.org/corpus.de.zst",
            "tok-src": "https://x.org/corpus.tok-icu.en.zst", "tok-trg": "https://x.org/corpus.tok-icu.de.zst",
            "alignments": "https://x.org/corpus.aln.zst"}}}, []),
        ({"corpora": {"parallel": {"src": "https://x.org/p/public%2Fbuild%2Fcorpus.fr.zst",
                                   "trg": "https://x.org/corpus.de_AT.zst"}}},
         ["continuation.corpora.parallel.src: the file name says 'fr', but the experiment is en -> de: is it "
          "the right file?"]),
    ],
    ids=["other-locale", "joint-vocab", "tokens-and-alignments", "encoded-path-and-region"],
)
def test_file_names_carrying_another_locale_warn(continuation, warned):
    _hints, warnings = config_notes({**EN_DE, "continuation": continuation})
    assert warnings == warned


@pytest.mark.parametrize("name", [None] + sorted(p.stem for p in PARAMS_DIR.glob("*.yml")))
def test_the_decision_generates_what_the_preview_showed(name):
    """The decision task stores the loaded config (complete, so merged over the pipeline defaults
    when loaded again): every task keeps its command, Marian options and their order included."""
    from translations_taskgraph.continuation import with_training_flags
    from translations_taskgraph.transforms.pipeline_task import render_command

    raw = load_params_file(name) if name else {}
    preview = plan(raw)
    if tc.placeholder_urls(preview.config):
        with pytest.raises(ConfigError, match="the URL still holds the placeholder"):
            plan(preview.config)
        return
    decision = plan(preview.config)

    def commands(pipeline):
        # With the flags the continuation transform adds to continued training tasks.
        return {label: render_command(with_training_flags(pipeline, task), pipeline.config)
                for label, task in pipeline.tasks.items() if "script" in task.template}

    assert commands(decision) == commands(preview)


def test_launch_refuses_a_placeholder_url_before_contacting_anything(tmp_path, capsys):
    from translations_taskgraph import cli

    from conftest import TASKCLUSTER_DIR

    path = tmp_path / "snippet.yml"
    path.write_text(yaml.safe_dump({"continuation": {"models": {"teacher": {"url": TASK_URL, "mode": "use"}}}}))
    # --dry-run contacts nothing even when the config is fine; the placeholder stops it first.
    assert cli.main(["--root", str(TASKCLUSTER_DIR), "launch", str(path), "--dry-run"]) == 1
    assert capsys.readouterr().err == ("error: continuation.models.teacher.url: the URL still holds the placeholder "
                                       "{task_id}: replace it before launching\n")
