"""Hostile training configs end in one clean line, and config URLs reach only public hosts.

Point by point (issue 12, configuration side): validation regexes match whole values (a trailing
newline is an error); the redaction of URLs in messages is linear, so a megabyte of adversarial
text is reported at once; every error is one line of at most 300 characters with control
characters escaped and values shortened; shapes YAML or JSON can hold but a config cannot (non-string
keys, dates, sets, binary, recursion, alias bombs, deep nesting, NUL, lone surrogates, huge numbers,
strings over 8 KiB, a `training_config` that is a list or a scalar) are errors; credentials are
refused in URLs of every scheme and never echoed, query strings never printed by errors or
`explain`; loopback, link-local, private and proxy hosts are refused unless
`allow-private-urls: true`, which `explain` shows as a warning and which reaches the download and
dataset-import tasks as `--allow-private-urls`; those tasks run without the Taskcluster proxy.

No test measures speed: the slow cases run under a watchdog that only catches a hang.
"""

import contextlib
import datetime
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import translations_taskgraph.training_config as tc
from translations_taskgraph import cli
from translations_taskgraph.pipeline import build_plan
from translations_taskgraph.training_config import (
    MESSAGE_LIMIT,
    ConfigError,
    load_training_config,
    one_line,
    private_host,
    redact,
)
from translations_taskgraph.transforms.proxy import needs_proxy

from conftest import KINDS_DIR, ROOT, command, generate

V = {"src": "https://example.com/vocab.ru.spm", "trg": "https://example.com/vocab.en.spm"}
DATASETS = {"train": ["opus_ada83/v1"], "devtest": ["flores_dev"], "test": [], "mono-src": ["news-crawl_news.2021"],
            "mono-trg": ["news-crawl_news.2021"]}


def complete(experiment=None, **datasets):
    """A complete config (its own languages and datasets)."""
    return {"experiment": {"name": "hardening", "src": "ru", "trg": "en", **(experiment or {})},
            "datasets": {**DATASETS, **datasets}}


def plan(raw):
    """The plan of `raw` exactly as given (conftest's helper copies it and reads `[]` as `{}`)."""
    return build_plan(raw, KINDS_DIR)


@contextlib.contextmanager
def watchdog(seconds=60):
    """Fail instead of hanging forever (quadratic work on a megabyte never finishes in time)."""

    def expired(signum, frame):
        raise AssertionError(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def error_of(raw):
    with pytest.raises(ConfigError) as error:
        load_training_config(raw)
    return str(error.value)


def assert_clean(message):
    assert message.startswith("Invalid training_config at "), message
    assert len(message) <= MESSAGE_LIMIT, len(message)
    assert message.isprintable(), message  # no newline, ESC, NUL, bidi override, lone surrogate
    assert "SECRET" not in message, message


# ------------------------------------------------------------------------------------------------
# `$` matched before a trailing newline: every pattern now matches the whole value.
TRAILING_NEWLINE = {
    "src": (complete({"src": "ru\n"}), "experiment.src"),
    "trg": (complete({"trg": "en\n"}), "experiment.trg"),
    "dataset": (complete(train=["opus_ada83/v1\n"]), "datasets.train.0"),
    "pin": ({"continuation": {"vocab": {**V, "sha256": {"vocab.ru.spm": "a" * 64 + "\n"}}}},
            "continuation.vocab.sha256.vocab.ru.spm"),
    "marian-option": ({"marian-args": {"training-teacher": {"after\n": "10u"}}}, "marian-args.training-teacher.after\\n"),
    "task-id": ({"continuation": {"models": {"teacher": {"task-id": "A" * 22 + "\n", "mode": "use"}}}},
                "continuation.models.teacher.task-id"),
    "task-ids": ({"continuation": {"models": {"teacher": {"task-ids": ["A" * 22 + "\n"], "mode": "use"}}}},
                 "continuation.models.teacher.task-ids.0"),
    "group-id": ({"previous-group-ids": ["A" * 22 + "\n"]}, "previous-group-ids.0"),
    "start-task-prefix": ({"start-task-prefix": "train-teacher\n"}, "start-task-prefix"),
}


@pytest.mark.parametrize("raw, path", TRAILING_NEWLINE.values(), ids=TRAILING_NEWLINE)
def test_a_trailing_newline_is_an_error(raw, path):
    message = error_of(raw)
    assert_clean(message)
    assert message.startswith(f"Invalid training_config at {path}: expected"), message
    assert "\\n" in message  # shown escaped


def test_src_with_a_trailing_newline_fails_taskgraph_full_in_one_line(tmp_path):
    """It used to reach an index route and fail taskgraph's route check with a traceback."""
    params = tmp_path / "params.yml"
    params.write_text(yaml.safe_dump({"training_config": complete({"src": "ru\n"})}))
    result = taskgraph_full(params)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "Invalid training_config at experiment.src" in errors[0], result.stderr


def taskgraph_full(params):
    env = {**os.environ, "TASKCLUSTER_ROOT_URL": "https://tc.example.com"}
    taskgraph = Path(sys.executable).parent / "taskgraph"
    return subprocess.run([str(taskgraph), "full", "-p", str(params)], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------------------------------------
# Redaction is linear; every message is one short clean line.
ADVERSARIAL = {
    "schemes": "a://" * 300_000,
    "one-authority": "https://" + "a" * 1_000_000,
    "colons": "https://" + ":" * 1_000_000,
    "at-signs": "https://" + "@" * 1_000_000,
    "schemes-no-slash": "a:" * 500_000,
    "letters": "a" * 1_000_000,
    "queries": "https://h/?" * 100_000,
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL)
def test_redaction_of_a_megabyte_finishes(text):
    with watchdog(60):
        redacted = redact(text)
        line = one_line(text)
        message = error_of({"continuation": {"vocab": {"src": text, "trg": V["trg"]}}})
    assert len(redacted) <= len(text) + 3
    assert len(line) <= MESSAGE_LIMIT
    assert_clean(message)


def test_redaction_hides_credentials_and_queries():
    text = "see https://user:SECRET1@host/x?token=SECRET2#frag and gs://u:SECRET3@bucket/p, ftp://SECRET4@h"
    assert redact(text) == "see https://***@host/x?***#frag and gs://***@bucket/p, ftp://***@h"


HOSTILE_KEYS_AND_VALUES = {
    "control-key": {"experiment": {"n\x1b[31mame\nINFO - forged": 1}},
    "long-key": {"experiment": {"k" * 100_000: 1}},
    "bidi-key": {"experiment": {"name\u202e": 1}},
    "long-value": complete({"src": "r" * 8000}),
    "control-value": complete({"src": "ru\x1b[2J\r\x07"}),
    "long-url": {"continuation": {"vocab": {"src": "ftp://" + "a" * 8000, "trg": V["trg"]}}},
    "nested-value": complete({"src": [{"a" * 1000: ["b" * 1000] * 100}] * 100}),
    "unknown-long-stage": {"target-stage": "x" * 8000},
}


@pytest.mark.parametrize("raw", HOSTILE_KEYS_AND_VALUES.values(), ids=HOSTILE_KEYS_AND_VALUES)
def test_every_error_is_one_short_clean_line(raw):
    with watchdog(60):
        message = str(pytest.raises(ConfigError, plan, raw).value)
    assert_clean(message)


# ------------------------------------------------------------------------------------------------
# Shapes a config cannot have.
def recursive_list():
    items = []
    items.append(items)
    return {"datasets": {"train": items}}


def recursive_mapping():
    experiment = {}
    experiment["name"] = experiment
    return {"experiment": experiment}


def laughs(depth=9):
    node = ["lol"] * 10
    for _ in range(depth):
        node = [node] * 10  # shared references: 10**10 values once expanded, a few in memory
    return {"datasets": {"train": node}}


def nested(depth):
    node = "x"
    for _ in range(depth):
        node = [node]
    return {"experiment": {"name": node}}


SHAPES = {
    "int-key": ({1: "a"}, "keys must be text, this one is a number"),
    "bool-key": ({"experiment": {True: "a"}}, "this one is true/false"),
    "null-key": ({"experiment": {None: "a"}}, "this one is null"),
    "tuple-key": ({"experiment": {("a", 1): "a"}}, "this one is a tuple"),
    "mixed-keys": ({"b": 1, 2: 3, None: 4}, "keys must be text"),
    "date": ({"experiment": {"name": datetime.date(2024, 1, 1)}}, "YAML read a date"),
    "datetime": ({"experiment": {"name": datetime.datetime(2024, 1, 1, 12)}}, "YAML read a date and time"),
    "binary": ({"experiment": {"name": b"\x00\x01"}}, "YAML read binary data"),
    "set": ({"datasets": {"train": {"opus_a", "opus_b"}}}, "YAML read a set"),
    "recursive-list": (recursive_list(), "contains itself"),
    "recursive-mapping": (recursive_mapping(), "contains itself"),
    "billion-laughs": (laughs(), "more than 200000 values"),
    "deep": (nested(10_000), "nested more than 32 levels deep"),
    "nan": ({"experiment": {"bicleaner": {"default-threshold": float("nan")}}}, "expected a finite number"),
    "infinity": ({"experiment": {"bicleaner": {"default-threshold": float("inf")}}}, "expected a finite number"),
    "huge-int": ({"experiment": {"teacher-ensemble": 10**5000}}, "expected a number below 2**63"),
    "nul": ({"experiment": {"name": "ci\x00run"}}, "contains a NUL character"),
    "nul-in-key": ({"experiment": {"na\x00me": "x"}}, "contains a NUL character"),
    "surrogate": ({"experiment": {"name": "ci\ud800"}}, "not valid Unicode"),
    "argv-over-128k": ({"experiment": {"name": "n" * (128 * 1024 + 1)}}, "longer than 8192 characters"),
    "too-much-text": ({"experiment": {"name": "n"}, "x": ["a" * 8000] * 200}, "characters of text in all"),
    "list": ([{"experiment": {}}], "at <root>: expected a mapping"),
    "string": ("experiment", "at <root>: expected a mapping"),
    "number": (3, "at <root>: expected a mapping"),
    "false": (False, "at <root>: expected a mapping"),
    "empty-list": ([], "at <root>: expected a mapping"),
}


@pytest.mark.parametrize("raw, fragment", SHAPES.values(), ids=SHAPES)
def test_shapes_a_config_cannot_have_are_one_line_errors(raw, fragment):
    with watchdog(60):
        message = str(pytest.raises(ConfigError, plan, raw).value)
    assert_clean(message)
    assert fragment in message, message


@pytest.mark.parametrize(
    "name, text",
    [
        ("huge-number", "training_config:\n  experiment:\n    teacher-ensemble: " + "9" * 5000 + "\n"),
        ("deep-flow", "training_config:\n  experiment: " + "[" * 5000 + "]" * 5000 + "\n"),
        ("huge-file", "training_config:\n  experiment:\n    name: " + "x" * 300_000 + "\n"),
        ("list", "training_config: [1, 2]\n"),
        ("scalar", "training_config: abc\n"),
        ("nul", 'training_config:\n  experiment:\n    name: "a\\0b"\n'),
        ("credentials", "training_config:\n  continuation:\n    vocab:\n      src: gs://me:SECRET@b/v.spm\n"
                        "      trg: https://e.com/v.spm\n"),
    ],
)
def test_taskgraph_full_reports_bad_training_configs_in_one_line(tmp_path, name, text):
    params = tmp_path / f"{name}.yml"
    params.write_text(text)
    result = taskgraph_full(params)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "SECRET" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and ("Invalid training_config at " in errors[0] or "Invalid parameters file" in errors[0])
    assert len(errors[0]) < 400, errors[0]


# ------------------------------------------------------------------------------------------------
# Credentials and query strings.
CREDENTIAL_URLS = [
    "gs://user:SECRET@bucket/path/v.spm",
    "gs://SECRET@bucket/path/v.spm",
    "https://user:SECRET@example.com/v.spm",
    "http://SECRET@example.com/v.spm",
    "https://user:SECRET@example.com:8443/v.spm?sig=SECRET",
    "ftp://user:SECRET@example.com/v.spm",
]
SLOTS = {
    "vocab": lambda url: {"continuation": {"vocab": {"src": url, "trg": V["trg"]}}},
    "corpus": lambda url: {"continuation": {"corpora": {"parallel": {"src": url, "trg": V["trg"]}}}},
    "model-url": lambda url: {"continuation": {"models": {"backwards": {"url": url, "mode": "use"}}}},
    "model-urls": lambda url: {"continuation": {"models": {"teacher": {"urls": [V["src"], url], "mode": "use"}}}},
}


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_credentials_are_refused_for_every_scheme_and_never_echoed(url, slot):
    message = error_of(SLOTS[slot](url))
    assert_clean(message)
    assert "expected" in message


def test_query_strings_are_redacted_in_errors_and_explain(tmp_path, capsys):
    signed = "https://storage.example.com/corpus.ru.zst?X-Goog-Signature=SECRET&X-Goog-Expires=600"
    # An error about another key of the same block still never prints the signature.
    message = error_of({"continuation": {"corpora": {"parallel": {"src": signed, "trg": "ftp://x/p?SECRET"}}}})
    assert_clean(message)
    config = {"continuation": {"corpora": {"parallel": {"src": signed, "trg": V["trg"]}}}}
    assert load_training_config(config)["continuation"]["corpora"]["parallel"]["src"] == signed  # documented
    path = tmp_path / "signed.yml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "corpus.ru.zst?***" in out
    assert "SECRET" not in out


# ------------------------------------------------------------------------------------------------
# Private hosts.
PRIVATE_URLS = {
    "loopback": "http://127.0.0.1:8080/m",
    "loopback-short": "http://127.1/m",
    "loopback-decimal": "http://2130706433/m",
    "loopback-hex": "http://0x7f.0.0.1/m",
    "loopback-v6": "http://[::1]/m",
    "mapped-v6": "http://[::ffff:127.0.0.1]/m",
    "unspecified": "http://0.0.0.0/m",
    "ten": "https://10.1.2.3/m",
    "172-16": "https://172.16.5.4/m",
    "172-31": "https://172.31.255.254/m",
    "192-168": "https://192.168.0.10/m",
    "metadata": "http://169.254.169.254/computeMetadata/v1",
    "unique-local": "http://[fd12:3456::1]/m",
    "link-local-v6": "http://[fe80::1]/m",
    "localhost": "http://localhost:8000/m",
    "localhost-dot": "http://LOCALHOST./m",
    "sub-localhost": "http://a.localhost/m",
    "proxy": "http://taskcluster/api/queue/v1/task/x/artifacts/public/build",
    "single-label": "https://intranet/m",
    "gcp-metadata-name": "http://metadata.google.internal/computeMetadata/v1",
}
PUBLIC_URLS = ["https://example.com/m", "http://8.8.8.8/m", "https://172.32.0.1/m", "http://[2606:4700::1111]/m",
               "https://storage.googleapis.com/b/m", "gs://bucket/m"]


@pytest.mark.parametrize("url", PRIVATE_URLS.values(), ids=PRIVATE_URLS)
def test_private_hosts_are_recognised(url):
    assert private_host(url)


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_hosts_are_accepted(url):
    assert private_host(tc.normalize_url(url)) is None


URL_SLOTS = {
    **{name: (make, path) for (name, make), path in zip(SLOTS.items(), [
        "continuation.vocab.src", "continuation.corpora.parallel.src", "continuation.models.backwards.url",
        "continuation.models.teacher.urls.1"])},
    "url-dataset": (lambda url: complete(train=[f"url_{url}/[LANG].zst"]), "datasets.train.0"),
}


@pytest.mark.parametrize("slot", URL_SLOTS)
@pytest.mark.parametrize("url", [PRIVATE_URLS[n] for n in ("loopback", "metadata", "proxy", "ten", "loopback-v6")])
def test_private_hosts_are_refused_in_every_config_url(url, slot):
    make, path = URL_SLOTS[slot]
    message = error_of(make(url))
    assert_clean(message)
    assert message.startswith(f"Invalid training_config at {path}: expected a URL of a public host"), message
    assert "allow-private-urls: true" in message
    # The switch at the top level lets it through, with a warning.
    allowed = {**make(url), "allow-private-urls": True}
    load_training_config(allowed)
    _hints, warnings = tc.config_notes(allowed)
    assert any(w.startswith("allow-private-urls is true") for w in warnings), warnings


def test_task_id_urls_follow_the_root_url(monkeypatch):
    monkeypatch.setenv("TASKCLUSTER_ROOT_URL", "http://127.0.0.1:9000")
    raw = {"continuation": {"models": {"teacher": {"task-id": "A" * 22, "mode": "use"}}}}
    tc._load.cache_clear()
    try:
        assert "127.0.0.1 is a loopback address" in error_of(raw)
        load_training_config({**raw, "allow-private-urls": True})
    finally:
        tc._load.cache_clear()


def test_allow_private_urls_must_be_a_boolean():
    assert "allow-private-urls: expected bool" in error_of({"allow-private-urls": "yes"})


def test_allow_private_urls_reaches_download_and_dataset_tasks():
    config = {"allow-private-urls": True, "continuation": {"vocab": {
        "src": "http://127.0.0.1:8000/vocab.ru.spm", "trg": "http://127.0.0.1:8000/vocab.en.spm"}}}
    graph = generate(config)
    flagged = {label for label in graph.tasks if "--allow-private-urls" in graph.tasks[label].task["payload"].get(
        "command", [])}
    expected = {label for label, task in graph.tasks.items() if task.kind in ("continuation", "dataset")}
    assert "continuation-vocab-ru-en" in expected and any(k.startswith("dataset-") for k in expected)
    assert flagged == expected
    argv = command(graph, "continuation-vocab-ru-en")
    assert argv[argv.index("--allow-private-urls") + 1].startswith("--")  # a bare switch
    default = generate()
    assert not [label for label, task in default.tasks.items()
                if "--allow-private-urls" in task.task["payload"].get("command", [])]


def test_explain_shows_allow_private_urls_as_a_warning(tmp_path, capsys):
    path = tmp_path / "local.yml"
    path.write_text(yaml.safe_dump({"allow-private-urls": True, "continuation": {"vocab": {
        "src": "http://127.0.0.1:8000/vocab.ru.spm", "trg": "http://127.0.0.1:8000/vocab.en.spm"}}}))
    assert cli.main(["explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  warning: allow-private-urls is true: config URLs may name loopback" in out


# ------------------------------------------------------------------------------------------------
# The Taskcluster proxy.
def test_download_and_dataset_tasks_run_without_the_taskcluster_proxy():
    graph = generate({"continuation": {"vocab": V}})
    with_proxy = {label for label, task in graph.tasks.items()
                  if task.task["payload"].get("features", {}).get("taskclusterProxy")}
    downloads = {label for label, task in graph.tasks.items() if task.kind in ("continuation", "dataset")}
    assert "continuation-vocab-ru-en" in downloads
    assert not with_proxy & downloads
    # Other run-task tasks keep what taskgraph gives them (their own fetches may need it).
    assert "train-teacher-model-ru-en-1" in with_proxy


def test_a_task_with_scopes_to_use_keeps_the_proxy():
    cache = {"task-reference": "docker-worker:cache:translations-level-3-checkouts-<docker-image>"}
    assert not needs_proxy({"scopes": [cache]})
    assert not needs_proxy({})
    assert needs_proxy({"scopes": [cache, "queue:get-artifact:private/build/*"]})
    assert needs_proxy({"scopes": ["secrets:get:project/translations/ssh"]})


def test_a_signed_url_is_only_in_the_download_command():
    """The download needs the URL as written; attributes (published with the decision) and the
    rest of every task definition never hold its query string."""
    signed = "https://storage.example.com/c.ru.zst?X-Goog-Signature=SECRETSIG"
    graph = generate({"continuation": {"corpora": {"parallel": {"src": signed, "trg": V["trg"]}}}})
    holders = set()
    for label, task in graph.tasks.items():
        definition = {**task.task, "payload": {k: v for k, v in task.task["payload"].items() if k != "command"}}
        assert "SECRETSIG" not in repr(definition) + repr(task.attributes), label
        if "SECRETSIG" in repr(task.task["payload"].get("command")):
            holders.add(label)
    assert holders == {"continuation-corpus-parallel-ru-en"}
    urls = graph.tasks["continuation-corpus-parallel-ru-en"].attributes["continuation"]["urls"]
    assert "https://storage.example.com/c.ru.zst?***" in urls, urls


def test_diff_prints_no_query_string(tmp_path, capsys):
    base = tmp_path / "base.yml"
    base.write_text(yaml.safe_dump({"continuation": {"vocab": V}}))
    new = tmp_path / "new.yml"
    new.write_text(yaml.safe_dump({"continuation": {"vocab": {
        "src": "https://example.com/vocab.ru.spm?X-Signature=SECRETSIG", "trg": V["trg"]}}}))
    assert cli.main(["diff", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "https://example.com/vocab.ru.spm?***" in out
    assert "SECRETSIG" not in out


def test_warnings_naming_user_keys_are_one_line(caplog):
    """A key of the config reaches a warning: its control characters cannot forge log lines."""
    import logging

    raw = complete({"bicleaner": {"default-threshold": 0.5, "dataset-thresholds": {
        "opus_typo\nERROR - forged": 0.7}}})
    with caplog.at_level(logging.WARNING):
        plan(raw)
    forged = [r.getMessage() for r in caplog.records if "forged" in r.getMessage()]
    assert forged and all("\n" not in message and "\\n" in message for message in forged), forged
