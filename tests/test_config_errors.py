"""Bad training configs end in one ConfigError naming the key path and what is accepted.

Also the accepted spellings: every model alias, `gs://` URLs, the legacy `pretrained-models` block
(top level and under `experiment`) and deep-merging a partial config over the default.
"""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from translations_taskgraph import training_config as tc
from translations_taskgraph.training_config import (
    MODEL_ALIASES,
    ConfigError,
    config_notes,
    default_training_config,
    load_training_config,
)

from conftest import ROOT, plan

T = "https://example.com/ru-en/teacher"
B = "https://example.com/ru-en/backwards"
URL_EXPECTATION = "expected an http(s):// or gs:// URL"


def _teacher(**model):
    return {"continuation": {"models": {"teacher": {"url": T, "mode": "use", **model}}}}


def _vocab(**vocab):
    return {"continuation": {"vocab": vocab}}


def _corpus(name="parallel", **corpus):
    return {"continuation": {"corpora": {name: corpus}}}


def complete(changes=None):
    """A complete config: the CI example written out in full, with `changes` merged in."""
    return tc.deep_merge(tc.ci_example(), changes or {})


def real_warnings(warnings):
    """The warnings besides the one saying a snippet is previewed on the CI example."""
    return [warning for warning in warnings if warning != tc.SNIPPET_WARNING]


# (id, config, key path, fragments the message must contain)
BAD_CONFIGS = [
    (
        "dataset-without-importer",
        {"datasets": {"train": ["ada83"]}},
        "datasets.train.0",
        ["expected a dataset name '<importer>_<name>' such as 'opus_ada83/v1'", "(got 'ada83')"],
    ),
    (
        "unknown-spm-norm-rule",
        {"experiment": {"spm-norm-rule": "bogus"}},
        "experiment.spm-norm-rule",
        ["expected one of: nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf, identity", "(got 'bogus')"],
    ),
    (
        "opuscleaner-flag-not-a-flag",
        {"experiment": {"use-opuscleaner": "maybe"}},
        "experiment.use-opuscleaner",
        ["expected 'true', 'false', true or false", "(got 'maybe')"],
    ),
    (
        "norwegian-read-as-false",
        {"experiment": {"trg": False}},
        "experiment.trg",
        ["YAML read an unquoted yes/no/on/off as False: quote it"],
    ),
    (
        "credentials-in-a-url-are-not-echoed",
        _vocab(src="https://user:secret@example.com/vocab.ru.spm", trg=T),
        "continuation.vocab.src",
        ["without credentials (task definitions are public)", "(got 'https://***@example.com/vocab.ru.spm')"],
    ),
    (
        "pin-for-a-file-the-mode-does-not-publish",
        {"continuation": {"models": {"teachers": {"url": T, "mode": "use", "sha256": {"model.npz": "0" * 64}}}}},
        "continuation.models.teachers.sha256.model.npz",
        ["pins must name a file this input publishes: final.model.npz.best-chrf.npz, vocab.ru.spm, vocab.en.spm"],
    ),
    (
        "pin-in-the-legacy-block-names-the-legacy-key",
        {"pretrained-models": {"train-teacher": {"urls": [T], "mode": "init", "sha256": {"model.npz": "0" * 64}}}},
        "pretrained-models.train-teacher.sha256.model.npz",
        ["pins must name a file this input publishes"],
    ),
    (
        "corpus-pin-for-alignments-not-given",
        _corpus(src=T, trg=T, sha256={"corpus.aln.zst": "0" * 64}),
        "continuation.corpora.parallel.sha256.corpus.aln.zst",
        ["pins must name a file this input publishes: corpus.ru.zst, corpus.en.zst"],
    ),
    (
        "url-with-bad-port",
        _vocab(src="http://example.com:abc/vocab.ru.spm", trg=T),
        "continuation.vocab.src",
        [URL_EXPECTATION + " with a valid port number", "'http://example.com:abc/vocab.ru.spm'"],
    ),
    (
        "unknown-model-setting-lists-every-url-spelling",
        _teacher(ulr=T),
        "continuation.models.teacher.ulr",
        ["unknown key; did you mean 'url'?", "accepted keys: mode, reset-stalled, restore-corpus, sha256, "
         "task-id, task-ids, type, url, urls"],
    ),
    (
        "model-url-with-query",
        _teacher(url="https://store.example.com/teacher?X-Signature=abc"),
        "continuation.models.teacher.url",
        # The query string (a signature) is never echoed.
        ["of a directory, without '?' or '#'", "'https://store.example.com/teacher?***'"],
    ),
    (
        "model-urls-entry-with-fragment",
        {"continuation": {"models": {"backwards": {"urls": [B + "#v2"], "mode": "use"}}}},
        "continuation.models.backwards.urls.0",
        ["of a directory, without '?' or '#'"],
    ),
    (
        "url-with-empty-host",
        _vocab(src="https:///vocab.ru.spm", trg=T),
        "continuation.vocab.src",
        [URL_EXPECTATION + " with a host name", "'https:///vocab.ru.spm'"],
    ),
    (
        "legacy-block-error-names-the-legacy-key",
        {"pretrained-models": {"train-teacher": {"urls": [T], "mode": "use", "type": "opusmt"}}},
        "pretrained-models.train-teacher.type",
        ["expected one of: default", "'opusmt'"],
    ),
    (
        "legacy-block-under-experiment-error-names-it",
        {"experiment": {"pretrained-models": {"train-backwards": {"urls": [B], "mode": "resume"}}}},
        "experiment.pretrained-models.train-backwards.mode",
        ["expected one of: use, continue, init", "'resume'"],
    ),
    (
        "alias-error-names-the-alias-as-written",
        {"continuation": {"models": {"teachers": {"urls": [T, "ftp://example.com/t2"], "mode": "use"}}}},
        "continuation.models.teachers.urls.1",
        [URL_EXPECTATION, "'ftp://example.com/t2'"],
    ),
    (
        "rule-error-names-the-url-key-as-written",
        {"experiment": {"teacher-ensemble": 3},
         "continuation": {"models": {"train-teacher": {"urls": [T, T], "mode": "continue"}}}},
        "continuation.models.train-teacher.urls",
        ["experiment.teacher-ensemble=3", "got 2 URLs"],
    ),
    (
        "empty-url-list",
        {"continuation": {"models": {"teacher": {"urls": [], "mode": "use"}}}},
        "continuation.models.teacher.urls",
        ["must not be empty", "(got [])"],
    ),
    (
        "marian-option-with-dashes-names-the-key",
        {"marian-args": {"training-teacher": {"--after": "10u"}}},
        "marian-args.training-teacher.--after",
        ["a Marian option name without dashes", "(got '--after')"],
    ),
    (
        "threshold-not-a-number",
        {"experiment": {"bicleaner": {"default-threshold": "high"}}},
        "experiment.bicleaner.default-threshold",
        ["expected a number", "(got 'high')"],
    ),
    (
        "ensemble-size-not-an-integer",
        {"experiment": {"teacher-ensemble": "two"}},
        "experiment.teacher-ensemble",
        ["expected an integer from 1 to 16", "(got 'two')"],
    ),
    (
        "unknown-student-model",
        {"experiment": {"student-model": "huge"}},
        "experiment.student-model",
        ["expected one of: tiny, base, base-memory", "'huge'"],
    ),
    (
        "archive-corpora-without-bucket",
        {"experiment": {"archive-corpora": True}},
        "experiment.archive-corpora",
        ["needs taskcluster.upload-bucket"],
    ),
    (
        "previous-group-id-not-a-task-group-id",
        {"previous-group-ids": ["not a group"]},
        "previous-group-ids.0",
        ["a Taskcluster task group id (22 characters)", "'not a group'"],
    ),
    (
        "start-task-prefix-with-space",
        {"start-task-prefix": "train teacher"},
        "start-task-prefix",
        ["the start of a task label", "'train teacher'"],
    ),
    (
        "unknown-mode",
        _teacher(mode="resume"),
        "continuation.models.teacher.mode",
        ["expected one of: use, continue, init", "'resume'"],
    ),
    (
        "type-opusmt",
        _teacher(type="opusmt"),
        "continuation.models.teacher.type",
        ["expected one of: default", "'opusmt'"],
    ),
    (
        "unknown-model-key-with-suggestion",
        {"continuation": {"models": {"teachr": {"url": T, "mode": "use"}}}},
        "continuation.models.teachr",
        ["unknown model", "teacher, backwards, student", "did you mean 'teacher'?"],
    ),
    (
        "unknown-continuation-key",
        {"continuation": {"model": {"teacher": {"url": T, "mode": "use"}}}},
        "continuation.model",
        ["unknown key", "did you mean 'models'?", "accepted keys: corpora, models, vocab"],
    ),
    (
        "unknown-corpus",
        _corpus("paralel", src=T, trg=T),
        "continuation.corpora.paralel",
        ["unknown key", "did you mean 'parallel'?", "backtranslations, distillation, parallel"],
    ),
    (
        "url-and-urls",
        {"continuation": {"models": {"teacher": {"url": T, "urls": [T], "mode": "use"}}}},
        "continuation.models.teacher",
        ["give exactly one of 'url' (one URL), 'urls' (a list), 'task-id' or 'task-ids'", "(got url, urls)"],
    ),
    (
        "no-url",
        {"continuation": {"models": {"teacher": {"mode": "use"}}}},
        "continuation.models.teacher",
        ["give exactly one of 'url' (one URL), 'urls' (a list), 'task-id' or 'task-ids'", "(none given)"],
    ),
    (
        "url-is-a-list",
        {"continuation": {"models": {"teacher": {"url": [T, T], "mode": "use"}}}},
        "continuation.models.teacher.url",
        ["expected a single URL string; use 'urls' for a list"],
    ),
    (
        "missing-mode",
        {"continuation": {"models": {"teacher": {"url": T}}}},
        "continuation.models.teacher.mode",
        ["required key is missing"],
    ),
    (
        "url-ftp",
        _teacher(url="ftp://example.com/teacher"),
        "continuation.models.teacher.url",
        [URL_EXPECTATION, "'ftp://example.com/teacher'"],
    ),
    (
        "url-relative-path",
        _teacher(url="models/ru-en/teacher"),
        "continuation.models.teacher.url",
        [URL_EXPECTATION, "'models/ru-en/teacher'"],
    ),
    (
        "url-empty",
        _teacher(url=""),
        "continuation.models.teacher.url",
        [URL_EXPECTATION, "(got '')"],
    ),
    (
        "url-with-space",
        _teacher(url="https://example.com/my teacher"),
        "continuation.models.teacher.url",
        [URL_EXPECTATION, "found whitespace or control characters"],
    ),
    (
        "url-with-newline",
        _vocab(src="https://example.com/vocab.ru.spm\nhttps://evil.example/x", trg=T),
        "continuation.vocab.src",
        [URL_EXPECTATION, "found whitespace or control characters"],
    ),
    (
        "url-non-ascii",
        _corpus(src="https://example.com/корпус.ru.zst", trg=T),
        "continuation.corpora.parallel.src",
        [URL_EXPECTATION, "non-ASCII characters must be percent-encoded"],
    ),
    (
        "url-in-list",
        {"continuation": {"models": {"teacher": {"urls": [T, "ftp://example.com/t2"], "mode": "use"}}}},
        "continuation.models.teacher.urls.1",
        [URL_EXPECTATION, "'ftp://example.com/t2'"],
    ),
    (
        "url-unbalanced-bracket",
        _vocab(src="https://[example.com/vocab.ru.spm", trg=T),
        "continuation.vocab.src",
        [URL_EXPECTATION, "Invalid IPv6 URL"],
    ),
    (
        "url-without-host",
        _vocab(src="https://:443/vocab.ru.spm", trg=T),
        "continuation.vocab.src",
        [URL_EXPECTATION + " with a host name"],
    ),
    (
        "url-gs-without-path",
        _vocab(src="gs://bucket", trg=T),
        "continuation.vocab.src",
        ["expected gs://<bucket>/<path>"],
    ),
    (
        "teacher-ensemble-mismatch",
        {
            "experiment": {"teacher-ensemble": 2},
            "continuation": {"models": {"teacher": {"urls": [T + "1", T + "2", T + "3"], "mode": "continue"}}},
        },
        "continuation.models.teacher.urls",
        ["experiment.teacher-ensemble=2", "got 3 URLs", "mode 'continue'"],
    ),
    (
        "backwards-two-urls",
        {"continuation": {"models": {"backwards": {"urls": [B, B + "2"], "mode": "use"}}}},
        "continuation.models.backwards.urls",
        ["the backwards model takes exactly one URL, got 2"],
    ),
    (
        "student-two-urls",
        {"continuation": {"models": {"student": {"urls": [T, T], "mode": "init"}}}},
        "continuation.models.student.urls",
        ["the student model takes exactly one URL, got 2"],
    ),
    (
        "corpus-only-tok-src",
        _corpus(src=T, trg=T, **{"tok-src": T}),
        "continuation.corpora.parallel",
        ["tok-src, tok-trg and alignments go together: all three or none", "missing tok-trg, alignments"],
    ),
    (
        "corpus-only-alignments",
        _corpus("distillation", src=T, trg=T, alignments=T),
        "continuation.corpora.distillation",
        ["all three or none", "missing tok-src, tok-trg"],
    ),
    (
        "corpus-missing-trg",
        _corpus(src=T),
        "continuation.corpora.parallel.trg",
        ["required key is missing"],
    ),
    (
        "vocab-missing-trg",
        _vocab(src=T),
        "continuation.vocab.trg",
        ["required key is missing"],
    ),
    (
        "legacy-and-continuation-teacher",
        {
            "pretrained-models": {"train-teacher": {"urls": [T], "mode": "continue"}},
            "continuation": {"models": {"teacher": {"url": T, "mode": "use"}}},
        },
        "pretrained-models.train-teacher",
        ["the teacher model is configured both here and in continuation.models.teacher; keep one"],
    ),
    (
        "legacy-under-experiment-and-continuation-teacher",
        {
            "experiment": {"pretrained-models": {"train-teacher": {"urls": [T], "mode": "continue"}}},
            "continuation": {"models": {"teacher": {"url": T, "mode": "use"}}},
        },
        "experiment.pretrained-models.train-teacher",
        ["the teacher model is configured both here and in continuation.models.teacher; keep one"],
    ),
    (
        "both-legacy-blocks-give-the-teacher",
        {
            "pretrained-models": {"train-teacher": {"urls": [T], "mode": "use"}},
            "experiment": {"pretrained-models": {"train-teacher-model": {"urls": [T], "mode": "use"}}},
        },
        "experiment.pretrained-models.train-teacher-model",
        ["the teacher model is configured both here and in pretrained-models.train-teacher; keep one"],
    ),
    (
        "teacher-and-teachers",
        {"continuation": {"models": {"teacher": {"url": T, "mode": "use"}, "teachers": {"url": T, "mode": "use"}}}},
        "continuation.models.teachers",
        ["the teacher model is given twice (as 'teacher' and 'teachers')"],
    ),
    (
        "reset-stalled-with-mode-use",
        _teacher(**{"reset-stalled": True}),
        "continuation.models.teacher.reset-stalled",
        ["only applies to mode 'continue', not 'use'"],
    ),
    (
        "restore-corpus-with-mode-init",
        {"continuation": {"models": {"student": {"url": T, "mode": "init", "restore-corpus": False}}}},
        "continuation.models.student.restore-corpus",
        ["only applies to mode 'continue', not 'init'"],
    ),
    (
        "bad-sha256-pin",
        _vocab(src=T, trg=T, sha256={"vocab.ru.spm": "ABC123"}),
        "continuation.vocab.sha256.vocab.ru.spm",
        ["expected a 64-character lowercase hex sha256", "'ABC123'"],
    ),
    (
        "src-equals-trg",
        {"experiment": {"src": "ru", "trg": "ru"}},
        "experiment.trg",
        ["must differ from experiment.src", "'ru'"],
    ),
    (
        "bad-locale",
        {"experiment": {"src": "Russian"}},
        "experiment.src",
        ["expected a locale code such as 'ru' or 'zh_hant'", "'Russian'"],
    ),
    (
        "unknown-top-level-key",
        {"target_stage": "train-teacher-model"},
        "target_stage",
        ["unknown key", "did you mean 'target-stage'?", "continuation, datasets, existing_tasks, experiment"],
    ),
    (
        "unknown-experiment-key",
        {"experiment": {"teacher_ensemble": 2}},
        "experiment.teacher_ensemble",
        ["unknown key", "did you mean 'teacher-ensemble'?"],
    ),
    (
        "bad-best-model",
        {"experiment": {"best-model": "accuracy"}},
        "experiment.best-model",
        ["expected one of: cross-entropy, ce-mean-words", "chrf", "'accuracy'"],
    ),
    (
        "teacher-ensemble-0",
        {"experiment": {"teacher-ensemble": 0}},
        "experiment.teacher-ensemble",
        ["expected an integer from 1 to 16", "(got 0)"],
    ),
    (
        "missing-mode-says-what-is-accepted",
        {"continuation": {"models": {"teacher": {"url": "https://example.org/t"}}}},
        "continuation.models.teacher.mode",
        ["required key is missing", "expected one of: use, continue, init"],
    ),
    (
        "missing-vocab-trg-says-what-is-accepted",
        {"continuation": {"vocab": {"src": "https://example.org/v.spm"}}},
        "continuation.vocab.trg",
        ["required key is missing", "expected an http(s):// or gs:// URL"],
    ),
    (
        "teacher-ensemble-bool",
        {"experiment": {"teacher-ensemble": True}},
        "experiment.teacher-ensemble",
        ["expected an integer", "(got True)"],
    ),
    (
        "marian-option-with-dashes",
        {"marian-args": {"training-teacher": {"--after": "10u"}}},
        "marian-args.training-teacher.--after",
        ["expected a Marian option name without dashes"],
    ),
    (
        "gs-url-with-query",
        {"continuation": {"vocab": {"src": "gs://b/v.spm?x=1", "trg": "gs://b/v.spm"}}},
        "continuation.vocab.src",
        ["without '?' or '#'"],
    ),
    (
        "teacher-ensemble-17",
        {"experiment": {"teacher-ensemble": 17}},
        "experiment.teacher-ensemble",
        ["expected an integer from 1 to 16", "(got 17)"],
    ),
    (
        "split-chunks-string",
        {"taskcluster": {"split-chunks": "2"}},
        "taskcluster.split-chunks",
        ["expected an integer", "(got '2')"],
    ),
    (
        "worker-class",
        {"taskcluster": {"worker-classes": {"default": "aws-spot"}}},
        "taskcluster.worker-classes.default",
        ["expected one of: gcp-standard, gcp-spot"],
    ),
    (
        "dataset-with-semicolon",
        {"datasets": {"train": ["opus_ada83/v1; rm -rf /"]}},
        "datasets.train.0",
        ["expected a dataset name '<importer>_<name>' such as 'opus_ada83/v1'", "'opus_ada83/v1; rm -rf /'"],
    ),
    (
        "datasets-not-a-list",
        {"datasets": {"train": None}},
        "datasets.train",
        ["expected a list"],
    ),
    (
        "continuation-not-a-mapping",
        {"continuation": "teacher"},
        "continuation",
        ["expected a mapping with models, vocab or corpora"],
    ),
    (
        "models-not-a-mapping",
        {"continuation": {"models": [T]}},
        "continuation.models",
        ["expected a mapping of model names to model settings"],
    ),
    (
        "model-not-a-mapping",
        {"continuation": {"models": {"teacher": T}}},
        "continuation.models.teacher",
        ["expected a mapping with url/urls and mode"],
    ),
    (
        "marian-arg-list",
        {"marian-args": {"training-teacher": {"after": ["10e"]}}},
        "marian-args.training-teacher.after",
        ["expected a string, a number, true for a switch, or false/null to remove the option", "(got ['10e'])"],
    ),
]


@pytest.mark.parametrize(
    "config, path, fragments", [case[1:] for case in BAD_CONFIGS], ids=[case[0] for case in BAD_CONFIGS]
)
def test_bad_config(config, path, fragments):
    # A config naming languages or datasets is complete: give it the whole CI example, so the error
    # is the one the case is about. The plan, not only the config schema: some checks (sha256
    # pins) belong to the continuation rules.
    raw = config if tc.is_snippet(config) else complete(config)
    with pytest.raises(ConfigError) as error:
        plan(raw)
    message = str(error.value)
    assert message.startswith(f"Invalid training_config at {path}: "), message
    assert ".".join(error.value.path) == path
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    # One line, no Python internals.
    assert "\n" not in message.replace("\\n", "")
    assert "Traceback" not in message


def test_config_error_is_a_schema_validation_error():
    from taskgraph.util.schema import SchemaValidationError

    assert issubclass(ConfigError, SchemaValidationError)


def test_config_error_survives_pickling():
    # taskgraph pickles the exceptions of kinds loaded in forked children back to the parent.
    import pickle

    with pytest.raises(ConfigError) as error:
        load_training_config(_teacher(mode="resume"))
    copy = pickle.loads(pickle.dumps(error.value))
    assert type(copy) is ConfigError
    assert str(copy) == str(error.value)
    assert copy.path == error.value.path


def test_bad_config_fails_plan():
    with pytest.raises(ConfigError):
        plan(_teacher(mode="resume"))


EMPTY_DATASET_LISTS = [
    ("train", "corpus-merge-parallel-ru-en", "continuation.corpora.parallel"),
    ("mono-src", "corpus-merge-mono-src-ru", "continuation.corpora.distillation"),
    ("mono-trg", "corpus-merge-mono-trg-en", "continuation.corpora.backtranslations"),
    ("devtest", "corpus-merge-devset-ru-en", None),
]


@pytest.mark.parametrize("category, merge, alternative", EMPTY_DATASET_LISTS, ids=[c[0] for c in EMPTY_DATASET_LISTS])
def test_empty_dataset_list_the_graph_needs_is_an_error(category, merge, alternative):
    with pytest.raises(ConfigError) as error:
        plan(complete({"datasets": {category: []}}))
    message = str(error.value)
    assert message.startswith(f"Invalid training_config at datasets.{category}: is empty, but {merge} needs"), message
    if alternative:
        assert message.endswith(f"(or give {alternative})"), message
    else:
        assert "(or " not in message


def test_empty_dataset_list_the_targets_do_not_need_drops_that_branch():
    """A teacher-only run needs no mono-src data: the distillation branch cannot be built and goes."""
    teacher_only = plan(complete({"target-stage": "train-teacher-model", "datasets": {"mono-src": []}}))
    assert {"train-teacher-model-ru-en-1", "evaluate-teacher-flores-devtest-ru-en-1"} <= set(teacher_only.tasks)
    assert not [label for label in teacher_only.tasks if label.startswith(("distillation-", "export"))]
    assert teacher_only.removed["export-ru-en"] == "cannot be built: datasets.mono-src is empty"
    # What only fed the dropped branch is pruned with it.
    assert teacher_only.removed["distillation-parallel-src-chunk-ru-en"].startswith("pruned")
    with pytest.raises(ConfigError, match=r"at datasets.mono-src: is empty, but corpus-merge-mono-src-ru needs"):
        plan(complete({"target-stage": "export", "datasets": {"mono-src": []}}))


@pytest.mark.parametrize(
    "category, corpus",
    [("train", "parallel"), ("mono-src", "distillation"), ("mono-trg", "backtranslations")],
)
def test_empty_dataset_list_is_fine_when_a_corpus_stands_in(category, corpus):
    url = "https://example.com/ru-en/corpus"
    config = {
        "datasets": {category: []},
        "continuation": {"corpora": {corpus: {"src": f"{url}.ru.zst", "trg": f"{url}.en.zst"}}},
    }
    assert "export-ru-en" in plan(complete(config)).tasks


@pytest.mark.parametrize(
    "params, message",
    [
        ({"src": "de"}, "at src: unknown parameter; 'src' is a training-config key under experiment or "
                        "continuation.vocab or continuation.corpora.<corpus>: nest it there"),
        ({"teacher-ensemble": 2}, "at teacher-ensemble: unknown parameter; 'teacher-ensemble' is a training-config "
                                  "key under experiment: nest it there"),
        ({"vocab": {"src": T, "trg": T}}, "at vocab: unknown parameter; 'vocab' is a training-config key under "
                                          "continuation: nest it there"),
        ({"train-teacher": {"urls": [T], "mode": "use"}}, "at train-teacher: unknown parameter; 'train-teacher' is a "
                                                          "training-config key under continuation.models"),
        ({"mode": "use"}, "'mode' is a training-config key under continuation.models.<model>"),
        ({"continuaton": {}}, "at continuaton: unknown parameter; did you mean the training-config key "
                              "'continuation'?"),
    ],
    ids=["src", "teacher-ensemble", "vocab", "legacy-model-key", "mode", "misspelled"],
)
def test_training_keys_at_the_wrong_level_of_a_parameters_file(params, message):
    """taskgraph would ignore these and build the default graph; they are the user's mistake."""
    from translations_taskgraph.parameters import training_config_parameter

    with pytest.raises(ConfigError) as error:
        training_config_parameter({"target_tasks_method": "default", **params})
    assert message in str(error.value)
    # Keys taskgraph knows, and keys unrelated to training, pass.
    assert training_config_parameter({"target_tasks_method": "default", "target-kinds": ["x"]}) == {}


def test_worker_classes_naming_no_kind_are_a_warning():
    """The public pipeline's configs name kinds that no longer exist: a warning, not an error."""
    stale = plan({"taskcluster": {"worker-classes": {"train-teacher": "gcp-standard"}}})
    assert "taskcluster.worker-classes.train-teacher: no kind of that name; did you mean 'train-teacher-model'?; " \
           "the setting is ignored" in stale.warnings
    stage = plan({"taskcluster": {"worker-classes": {"evaluate-teacher": "gcp-standard"}}})
    assert "taskcluster.worker-classes.evaluate-teacher: no kind of that name; stage 'evaluate-teacher' runs in " \
           "kind 'evaluate'; the setting is ignored" in stage.warnings
    tasks = plan({"taskcluster": {"worker-classes": {"train-teacher-model": "gcp-standard"}}}).tasks
    assert "train-teacher-model-ru-en-1" in tasks


def test_unused_per_dataset_settings_are_warned_about():
    config = {"experiment": {
        "bicleaner": {"default-threshold": 0.5, "dataset-thresholds": {"opus_ada83_v2": 0.1, "opus_ada83/v1": 0.2}},
        "monocleaner": {"mono-src": {"default-threshold": 0.5, "dataset-thresholds": {"news-crawl_news_2008": 0.1}},
                        "mono-trg": {"default-threshold": 0.5, "dataset-thresholds": {"hplt_mono_v2_0": 0.1}}},
    }}
    warnings = plan(config).warnings
    assert real_warnings(warnings) == [
        "experiment.bicleaner.dataset-thresholds.opus_ada83_v2: no dataset of this config has that name; "
        "the setting is unused",
        "experiment.monocleaner.mono-trg.dataset-thresholds.hplt_mono_v2_0: no dataset of this config has that "
        "name; the setting is unused",
    ]
    # A dataset that continuation makes unnecessary is still a dataset of the config: no warning.
    url = "https://example.com/ru-en/corpus"
    corpus = {"continuation": {"corpora": {"parallel": {"src": f"{url}.ru.zst", "trg": f"{url}.en.zst"}}}}
    assert real_warnings(plan({**corpus, "experiment": {"bicleaner": {"default-threshold": 0.5, "dataset-thresholds": {
        "opus_ada83_v1": 0.1}}}}).warnings) == []
    # A complete config inherits no per-dataset setting of the CI example: nothing to warn about.
    def threshold_warnings(config):
        return [w for w in plan(config).warnings if "dataset-thresholds" in w]

    books = {"experiment": {"name": "books", "src": "ru", "trg": "en"},
             "datasets": {**tc.ci_example()["datasets"], "train": ["opus_Books/v1"]}}
    assert threshold_warnings(books) == []
    assert "bicleaner" not in str(load_training_config(books)["experiment"]["bicleaner"].get("dataset-thresholds"))
    assert threshold_warnings(tc.deep_merge(books, {"experiment": {"bicleaner": {"dataset-thresholds": {
        "opus_ada83_v1": 0.3}}}}))[0].startswith("experiment.bicleaner.dataset-thresholds.opus_ada83_v1: no dataset")


def test_a_config_with_its_own_datasets_is_complete_and_never_gets_the_ci_example():
    """Merged over the pipeline defaults only: no `after`, vocab size, sentence caps, float16 or
    OpusCleaner of the CI example, and no warning about them."""
    own = {"experiment": {"name": "books", "src": "ru", "trg": "en"},
           "datasets": {**tc.ci_example()["datasets"], "train": ["opus_Books/v1"]}}
    config = load_training_config(own)
    assert config["marian-args"] == tc.pipeline_defaults()["marian-args"]
    for key in ("corpus-max-sentences", "mono-max-sentences-src", "mono-max-sentences-trg", "spm-vocab-size"):
        assert key not in config["experiment"], key
    assert config["experiment"]["use-opuscleaner"] == "false"
    assert config["taskcluster"]["split-chunks"] == 10
    assert plan(own).warnings == [] and config_notes(own) == ([], [])
    assert plan({}).warnings == [] and config_notes({}) == ([], [])  # the CI example itself


def test_dataset_names_that_become_one_label_are_an_error():
    with pytest.raises(ConfigError) as error:
        plan(complete({"datasets": {"train": ["opus_Books/v1", "opus_ada83/v1"],
                                    "devtest": ["flores_dev", "opus_Books_v1"]}}))
    assert str(error.value) == (
        "Invalid training_config at datasets.devtest.1: becomes the same task label as 'opus_Books/v1' "
        "(opus-Books_v1) once made label-safe; keep one (got 'opus_Books_v1')"
    )
    # The same name twice (as in the public pipeline's production config) is only a duplicate.
    tasks = plan(complete({"datasets": {"test": ["flores_devtest", "flores_devtest"]}})).tasks
    assert "evaluate-student-flores-devtest-ru-en" in tasks


def test_file_urls_may_carry_a_query_string():
    """Vocab and corpus URLs name files (signed URLs included); only model URLs are directories."""
    signed = "https://storage.example.com/vocab.ru.spm?X-Goog-Signature=abc&X-Goog-Expires=3600"
    config = load_training_config(_vocab(src=signed, trg=T))
    assert config["continuation"]["vocab"]["src"] == signed


def test_empty_test_list_only_drops_evaluations():
    tasks = plan(complete({"datasets": {"test": []}})).tasks
    assert "export-ru-en" in tasks
    assert not [label for label in tasks if label.startswith("evaluate")]


# ------------------------------------------------------------------------------------------------
# The CLI.
BAD_PARAMS = {
    "training_config": {
        "continuation": {"models": {"teachr": {"url": T, "mode": "use"}}},
    }
}


@pytest.mark.parametrize("serial", [False, True], ids=["forked", "serial"])
def test_cli_reports_bad_config_without_traceback(tmp_path, serial):
    params = tmp_path / "bad.yml"
    params.write_text(yaml.safe_dump(BAD_PARAMS))
    env = {k: v for k, v in os.environ.items() if k != "TASKGRAPH_SERIAL"}
    env["TASKCLUSTER_ROOT_URL"] = "https://tc.example.com"
    if serial:
        env["TASKGRAPH_SERIAL"] = "1"
    cli = Path(sys.executable).parent / "taskgraph"
    result = subprocess.run(
        [str(cli), "full", "-p", str(params)],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Invalid training_config at continuation.models.teachr: unknown model" in result.stderr
    assert "did you mean 'teacher'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.yml", "src: de\n   trg: fr\n", "Invalid parameters file bad.yml: not valid YAML: line 2, column 7: "
                                            "mapping values are not allowed here"),
        ("list.yml", "- a\n- b\n", "Invalid parameters file list.yml: expected a mapping of parameters, got a list"),
        ("params.yaml", "{}\n", "Invalid parameters file params.yaml: parameters files must end in .yml or .json"),
        ("empty.yml", "", None),
        ("comments.yml", "# nothing yet\n", None),
    ],
    ids=["not-yaml", "a-list", "yaml-extension", "empty", "only-comments"],
)
def test_cli_reports_unreadable_parameters_files_in_one_line(tmp_path, name, content, message):
    """taskgraph itself would print a traceback for these; an empty file means the defaults."""
    (tmp_path / name).write_text(content)
    env = {**os.environ, "TASKCLUSTER_ROOT_URL": "https://tc.example.com"}
    cli = Path(sys.executable).parent / "taskgraph"
    result = subprocess.run([str(cli), "full", "--root", str(ROOT / "taskcluster"), "-p", name], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr
    if message is None:
        assert result.returncode == 0 and "all-pipeline-ru-en-1" in result.stdout
    else:
        assert result.returncode == 1 and message in result.stderr
        assert len([line for line in result.stderr.splitlines() if "ERROR" in line]) == 1


# ------------------------------------------------------------------------------------------------
# Accepted spellings.
@pytest.mark.parametrize("alias", sorted(MODEL_ALIASES))
def test_every_model_alias_is_accepted_and_normalised(alias):
    canonical = MODEL_ALIASES[alias]
    raw = {"continuation": {"models": {alias: {"url": T, "mode": "use"}}}}
    config = load_training_config(raw)
    assert list(config["continuation"]["models"]) == [canonical]
    model = config["continuation"]["models"][canonical]
    assert model["urls"] == [T]
    assert model["mode"] == "use"
    assert model["type"] == "default"
    hints, warnings = config_notes(raw)
    assert warnings == [tc.SNIPPET_WARNING]
    if alias == canonical:
        assert hints == []
    else:
        assert hints == [f"continuation.models.{alias}: read as continuation.models.{canonical}"]


def test_alias_hint_is_logged(caplog):
    raw = {"continuation": {"models": {"train-backwards": {"url": B, "mode": "use"}}}}
    tc._load.cache_clear()
    with caplog.at_level(logging.INFO, logger=tc.__name__):
        load_training_config(raw)
    assert "continuation.models.train-backwards: read as continuation.models.backwards" in caplog.text


def test_urls_as_single_string_is_a_list():
    config = load_training_config({"continuation": {"models": {"backwards": {"urls": B, "mode": "use"}}}})
    assert config["continuation"]["models"]["backwards"]["urls"] == [B]


def test_gs_url_is_rewritten():
    raw = {
        "continuation": {
            "models": {"backwards": {"url": "gs://releng-translations-dev/models/en-fi/backwards", "mode": "use"}},
            "vocab": {"src": "gs://bucket/vocab.ru.spm", "trg": "https://example.com/vocab.en.spm"},
        }
    }
    config = load_training_config(raw)
    assert config["continuation"]["models"]["backwards"]["urls"] == [
        "https://storage.googleapis.com/releng-translations-dev/models/en-fi/backwards"
    ]
    assert config["continuation"]["vocab"]["src"] == "https://storage.googleapis.com/bucket/vocab.ru.spm"
    download = plan(raw).tasks["continuation-model-backwards-ru-en"]
    assert "https://storage.googleapis.com/releng-translations-dev/models/en-fi/backwards" in download.extra_args
    assert not any(arg.startswith("gs://") for arg in download.extra_args)


LEGACY = {
    "train-teacher": {"urls": [T], "mode": "continue", "type": "default"},
    "train-backwards": {"urls": [B], "mode": "use", "type": "default"},
}


@pytest.mark.parametrize(
    "raw, where",
    [
        ({"pretrained-models": LEGACY}, "pretrained-models"),
        ({"experiment": {"pretrained-models": LEGACY}}, "experiment.pretrained-models"),
    ],
    ids=["top-level", "under-experiment"],
)
def test_legacy_block_maps_onto_continuation_models(raw, where, caplog):
    config = load_training_config(raw)
    assert "pretrained-models" not in config
    assert "pretrained-models" not in config["experiment"]
    models = config["continuation"]["models"]
    assert set(models) == {"teacher", "backwards"}
    assert models["teacher"]["urls"] == [T] and models["teacher"]["mode"] == "continue"
    assert models["backwards"]["urls"] == [B] and models["backwards"]["mode"] == "use"
    _hints, warnings = config_notes(raw)
    warnings = real_warnings(warnings)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{where} is deprecated")
    assert "continuation.models" in warnings[0]

    tc._load.cache_clear()
    with caplog.at_level(logging.WARNING, logger=tc.__name__):
        load_training_config(raw)
    assert f"{where} is deprecated" in caplog.text


def test_legacy_block_and_continuation_combine_for_different_models():
    raw = {
        "pretrained-models": {"train-backwards": {"urls": [B], "mode": "use"}},
        "continuation": {"models": {"teacher": {"url": T, "mode": "continue"}}},
    }
    models = load_training_config(raw)["continuation"]["models"]
    assert set(models) == {"teacher", "backwards"}


def test_empty_legacy_block_is_ignored():
    config = load_training_config({"pretrained-models": {}})
    assert "continuation" not in config


def test_deep_merge_of_a_partial_config():
    raw = {"experiment": {"teacher-ensemble": 2}}
    config = load_training_config(raw)
    default = default_training_config()
    assert config["experiment"]["teacher-ensemble"] == 2
    assert config["experiment"]["src"] == default["experiment"]["src"]
    assert config["experiment"]["trg"] == default["experiment"]["trg"]
    assert config["experiment"]["bicleaner"] == default["experiment"]["bicleaner"]
    assert config["datasets"] == default["datasets"]
    assert config["marian-args"] == default["marian-args"]
    teachers = sorted(task.label for task in plan(raw).by_kind("train-teacher-model"))
    assert teachers == ["train-teacher-model-ru-en-1", "train-teacher-model-ru-en-2"]


def test_lists_replace_rather_than_merge():
    config = load_training_config(complete({"datasets": {"train": ["opus_ada83/v1"]}}))
    assert config["datasets"]["train"] == ["opus_ada83/v1"]
    assert config["datasets"]["devtest"] == default_training_config()["datasets"]["devtest"]


def test_loading_does_not_mutate_the_input():
    raw = {"continuation": {"models": {"teachers": {"url": T, "mode": "use"}}}, "pretrained-models": {}}
    snapshot = yaml.safe_dump(raw)
    load_training_config(raw)
    assert yaml.safe_dump(raw) == snapshot


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "taskcluster" / "test" / "params").glob("*.yml")))
def test_loading_is_idempotent(name):
    """The decision task stores the loaded config in parameters.yml; loading it again changes nothing."""
    raw = yaml.safe_load((ROOT / "taskcluster" / "test" / "params" / f"{name}.yml").read_text())["training_config"]
    loaded = load_training_config(raw)
    if tc.placeholder_urls(loaded):
        # A snippet still holding `{task_id}` previews; the decision's stored, complete config is an error.
        with pytest.raises(ConfigError, match="the URL still holds the placeholder"):
            load_training_config(loaded)
        return
    assert load_training_config(loaded) == loaded
