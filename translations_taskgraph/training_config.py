"""The training config: one voluptuous schema, one alias table, one loader.

`load_training_config(raw)` deep-merges the user's `training_config` parameter over the embedded
default, rewrites every accepted spelling to its canonical form (logging a one-line hint), maps the
legacy `pretrained-models` block onto `continuation.models`, validates the result and returns it.
Any problem ends in a single `SchemaValidationError` naming the key path, the bad value and what
is accepted. The parameters, the kinds, the `train` action and the CLI all go through here.
"""

import copy
import difflib
import os
import functools
import json
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from taskgraph.util.schema import SchemaValidationError
from voluptuous import (
    All,
    Any,
    Invalid,
    Length,
    MultipleInvalid,
    Optional,
    Required,
    Schema,
)

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path(__file__).parent / "configs" / "default.yml"
# Where task ids given as `task-id` are resolved when TASKCLUSTER_ROOT_URL is not set.
DEFAULT_ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"

# --------------------------------------------------------------------------------------------
# The alias table: every spelling users (and the public pipeline's docs) have used for a
# continuation model, mapped to the one canonical key the rest of the code knows.
MODEL_ALIASES = {
    "teacher": "teacher",
    "teachers": "teacher",
    "train-teacher": "teacher",
    "train-teacher-model": "teacher",
    "backwards": "backwards",
    "backward": "backwards",
    "train-backwards": "backwards",
    "backtranslations-train-backwards-model": "backwards",
    "student": "student",
    "train-student": "student",
    "distillation-student-model-train": "student",
}
MODEL_NAMES = ("teacher", "backwards", "student")
MODES = ("use", "continue", "init")
MODEL_TYPES = ("default",)
CORPUS_NAMES = ("parallel", "backtranslations", "distillation")
ALIGNMENT_KEYS = ("tok-src", "tok-trg", "alignments")
BEST_MODEL_METRICS = (
    "cross-entropy",
    "ce-mean-words",
    "perplexity",
    "valid-script",
    "translation",
    "bleu",
    "bleu-detok",
    "bleu-segmented",
    "chrf",
)
WORKER_CLASSES = ("gcp-standard", "gcp-spot")
TEACHER_DECODERS = ("marian", "ctranslate2", "indictrans2")
STUDENT_MODELS = ("tiny", "base", "base-memory")
DATASET_CATEGORIES = ("train", "devtest", "test", "mono-src", "mono-trg")

_LOCALE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/:\[\]]*$")
_NORM_RULE = re.compile(r"^[A-Za-z0-9_]+$")
_LABEL_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")
_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


# --------------------------------------------------------------------------------------------
# Validators with messages that say what is accepted.
def _one_of(choices):
    def validator(value):
        if value not in choices:
            raise Invalid(f"expected one of: {', '.join(map(str, choices))}")
        return value

    validator.json_schema = {"enum": list(choices)}
    validator.expected = f"one of: {', '.join(map(str, choices))}"
    return validator


def _matching(pattern, what):
    def validator(value):
        if not isinstance(value, str) or not pattern.match(value):
            raise Invalid(f"expected {what}")
        return value

    validator.json_schema = {"type": "string", "pattern": pattern.pattern}
    validator.expected = what
    return validator


def normalize_url(value):
    """Return the canonical download URL for a config URL, or raise Invalid.

    `gs://bucket/path` is rewritten to its public HTTPS form; http(s) URLs are kept as given.
    """
    what = "an http(s):// or gs:// URL without whitespace"
    if not isinstance(value, str) or not value:
        raise Invalid(f"expected {what}")
    if any(ch.isspace() for ch in value) or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise Invalid(f"expected {what} (found whitespace or control characters)")
    if not value.isascii():
        raise Invalid(f"expected {what} (non-ASCII characters must be percent-encoded)")
    try:
        parts = urlsplit(value)
    except ValueError as e:  # e.g. an unbalanced "[" in the host: "Invalid IPv6 URL"
        raise Invalid(f"expected {what} ({e})") from None
    if parts.scheme == "gs":
        if not parts.netloc or not parts.path.strip("/"):
            raise Invalid("expected gs://<bucket>/<path>")
        if parts.query or parts.fragment or "?" in value or "#" in value:
            raise Invalid("expected gs://<bucket>/<path> without '?' or '#' (write the https:// URL instead)")
        return f"https://storage.googleapis.com/{parts.netloc}{parts.path}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"expected {what}")
    return value


def _url(value):
    return normalize_url(value)


_url.expected = "an http(s):// or gs:// URL"
_url.json_schema = {"type": "string", "pattern": "^(https?|gs)://\\S+$"}


# --------------------------------------------------------------------------------------------
# The schema. Keys follow the public pipeline's training config so its configs work unchanged.
_thresholds = {
    Required("default-threshold"): Any(float, int),
    Optional("dataset-thresholds"): {str: Any(float, int)},
}
def _integer(minimum, maximum=None):
    """An int in range; YAML booleans are not numbers here (voluptuous' int accepts them)."""

    def validator(value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("expected an integer")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            raise Invalid(f"expected an integer {bounds}")
        return value

    validator.json_schema = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        validator.json_schema["maximum"] = maximum
    return validator


_MARIAN_OPTION = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_mono_max = {Required("total"): _integer(1), Required("per-dataset"): _integer(1)}
_marian_args = {_matching(_MARIAN_OPTION, "a Marian option name without dashes, e.g. 'after'"): Any(str, int, float)}

MODEL_SCHEMA = {
    Required("urls"): All([_url], Length(min=1)),
    Required("mode"): _one_of(MODES),
    Optional("type", default="default"): _one_of(MODEL_TYPES),
    # sha256 pins, per published artifact name.
    Optional("sha256"): {str: _matching(_SHA256, "a 64-character lowercase hex sha256")},
    # Resume traps, mapped to Marian's own options (continue mode only).
    Optional("reset-stalled"): bool,
    Optional("restore-corpus"): bool,
}

CORPUS_SCHEMA = {
    Required("src"): _url,
    Required("trg"): _url,
    Optional("tok-src"): _url,
    Optional("tok-trg"): _url,
    Optional("alignments"): _url,
    Optional("sha256"): {str: _matching(_SHA256, "a 64-character lowercase hex sha256")},
}

CONTINUATION_SCHEMA = {
    Optional("models"): {Optional(name): MODEL_SCHEMA for name in MODEL_NAMES},
    Optional("vocab"): {
        Required("src"): _url,
        Required("trg"): _url,
        Optional("sha256"): {str: _matching(_SHA256, "a 64-character lowercase hex sha256")},
    },
    Optional("corpora"): {Optional(name): CORPUS_SCHEMA for name in CORPUS_NAMES},
}

TRAINING_CONFIG_SCHEMA = Schema(
    {
        Required("experiment"): {
            Required("name"): All(str, Length(min=1)),
            Required("src"): _matching(_LOCALE, "a locale code such as 'ru' or 'zh_hant'"),
            Required("trg"): _matching(_LOCALE, "a locale code such as 'ru' or 'zh_hant'"),
            Required("teacher-ensemble"): _integer(1, 16),
            Optional("teacher-mode", default="two-stage"): _one_of(("one-stage", "two-stage")),
            Optional("teacher-decoder", default="marian"): _one_of(TEACHER_DECODERS),
            Optional("student-model", default="tiny"): _one_of(STUDENT_MODELS),
            Optional("corpus-max-sentences"): _integer(1),
            Optional("dev-max-sentences"): _integer(1),
            # Publish the word-aligned corpora (the ones `continuation.corpora` can reuse) to
            # `taskcluster.upload-bucket` from the alignment steps.
            Optional("archive-corpora", default=False): bool,
            Required("mono-max-sentences-src"): _mono_max,
            Required("mono-max-sentences-trg"): _mono_max,
            Required("spm-sample-size"): _integer(1),
            Optional("spm-vocab-size"): _integer(1),
            Optional("spm-vocab-split", default=False): bool,
            Optional("spm-norm-rule"): _matching(_NORM_RULE, "a SentencePiece normalization rule such as 'nmt_nfkc'"),
            Required("best-model"): _one_of(BEST_MODEL_METRICS),
            Optional("use-opuscleaner", default="false"): Any("true", "false", bool),
            Optional("opuscleaner-mode", default="defaults"): _one_of(("custom", "defaults")),
            Required("bicleaner"): _thresholds,
            Optional("monocleaner"): {
                Required("mono-src"): _thresholds,
                Required("mono-trg"): _thresholds,
            },
            Optional("min-fluency-threshold"): {
                Required("mono-src"): Any(float, int),
                Required("mono-trg"): Any(float, int),
            },
            Optional("hplt-min-doc-score"): {
                Required("mono-src"): Any(float, int),
                Required("mono-trg"): Any(float, int),
            },
        },
        Required("marian-args"): {
            Optional(key): _marian_args
            for key in (
                "training-backward",
                "training-teacher",
                "training-student",
                "training-student-finetuned",
                "decoding-backward",
                "decoding-teacher",
            )
        },
        Required("datasets"): {
            Required(category): [_matching(_DATASET, "a dataset name such as 'opus_ada83/v1'")]
            for category in DATASET_CATEGORIES
        },
        Required("target-stage"): All(str, Length(min=1)),
        # Reuse the completed tasks of earlier task groups (applied by the decision task and the
        # `train` action, see reuse.py); later groups win. Tasks whose label starts with
        # `start-task-prefix`, and everything downstream of them, run again.
        Optional("previous-group-ids"): [_matching(_TASK_ID, "a Taskcluster task group id (22 characters)")],
        Optional("start-task-prefix"): _matching(_LABEL_PREFIX, "the start of a task label, e.g. 'train-teacher-model'"),
        Optional("wandb-publication", default=False): bool,
        Required("taskcluster"): {
            Optional("split-chunks", default=1): _integer(1, 1000),
            Optional("upload-bucket"): str,
            Required("worker-classes"): {
                Required("default"): _one_of(WORKER_CLASSES),
                str: _one_of(WORKER_CLASSES),
            },
        },
        Optional("continuation"): CONTINUATION_SCHEMA,
    }
)


# The keys a training config may have at its top level (the legacy block included).
TOP_LEVEL_KEYS = tuple(
    sorted({getattr(key, "schema", key) for key in TRAINING_CONFIG_SCHEMA.schema} | {"pretrained-models"})
)


# --------------------------------------------------------------------------------------------
def deep_merge(base, override):
    """Return `base` with `override` merged in: mappings merge key by key, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@functools.lru_cache(maxsize=1)
def _default_config_text():
    return DEFAULT_CONFIG_PATH.read_text()


@functools.lru_cache(maxsize=1)
def _parsed_default_config():
    return yaml.safe_load(_default_config_text())


def default_training_config():
    # Parsed once: every config load merges over it, and YAML parsing dominated plan building.
    return copy.deepcopy(_parsed_default_config())


class ConfigError(SchemaValidationError):
    """A training config problem, reported as one message without traceback."""

    def __init__(self, path, message, value=None, has_value=False):
        where = ".".join(str(p) for p in path) or "<root>"
        text = f"Invalid training_config at {where}: {message}"
        if has_value:
            text += f" (got {value!r})"
        super().__init__(text)
        self.path = tuple(path)

    def logged(self):
        """Log the message and return the error: taskgraph's CLI prints no traceback for a
        SchemaValidationError and expects its message to have been logged already."""
        logger.error(str(self))
        return self

    def __reduce__(self):
        # taskgraph loads kinds in forked children and pickles their exceptions back; without this
        # the error arrives as a generic Exception and the CLI prints a traceback.
        return (_rebuild_config_error, (self.args[0], self.path))


def _rebuild_config_error(text, path):
    error = ConfigError.__new__(ConfigError)
    SchemaValidationError.__init__(error, text)
    error.path = tuple(path)
    return error


def _suggest(key, valid):
    match = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _normalise_model_keys(models, path, hints):
    """Map every model spelling onto its canonical key (teacher, backwards, student)."""
    if not isinstance(models, dict):
        raise ConfigError(path, "expected a mapping of model names to model settings", models, True)
    canonical = {}
    spelled = {}
    for key, value in models.items():
        name = MODEL_ALIASES.get(key)
        if name is None:
            raise ConfigError(
                path + [key],
                f"unknown model; expected one of: {', '.join(MODEL_NAMES)}{_suggest(key, MODEL_ALIASES)}",
            )
        if name in canonical:
            raise ConfigError(
                path + [key], f"the {name} model is given twice (as {spelled[name]!r} and {key!r})"
            )
        if key != name:
            hints.append(f"{'.'.join(path + [key])}: read as {'.'.join(path + [name])}")
        canonical[name] = _normalise_model(value, path + [key])
        spelled[name] = key
    return canonical


URL_KEYS = ("url", "urls", "task-id", "task-ids")


def task_artifacts_url(task_id):
    """The `public/build` artifacts of a Taskcluster task, on the root URL generation runs with."""
    root = os.environ.get("TASKCLUSTER_ROOT_URL", DEFAULT_ROOT_URL).rstrip("/")
    return f"{root}/api/queue/v1/task/{task_id}/artifacts/public/build"


def _task_ids(value, path):
    ids = value if isinstance(value, list) else [value]
    for index, task_id in enumerate(ids):
        if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
            where = path + [index] if isinstance(value, list) else path
            raise ConfigError(where, "expected a Taskcluster task id (22 characters of A-Z a-z 0-9 _ -)", task_id, True)
    return [task_artifacts_url(task_id) for task_id in ids]


def _normalise_model(model, path):
    """`url`, `urls`, `task-id` or `task-ids` become `urls`, a list of URLs."""
    if not isinstance(model, dict):
        raise ConfigError(path, "expected a mapping with url/urls and mode", model, True)
    model = dict(model)
    given = [key for key in URL_KEYS if key in model]
    if len(given) != 1:
        problem = f"got {', '.join(given)}" if given else "none given"
        raise ConfigError(
            path, f"give exactly one of 'url' (one URL), 'urls' (a list), 'task-id' or 'task-ids' ({problem})"
        )
    key = given[0]
    value = model.pop(key)
    if key == "url":
        if not isinstance(value, str):
            raise ConfigError(path + ["url"], "expected a single URL string; use 'urls' for a list", value, True)
        try:
            normalize_url(value)
        except Invalid as error:
            raise ConfigError(path + ["url"], error.error_message, value, True) from None
        model["urls"] = [value]
    elif key == "urls":
        model["urls"] = [value] if isinstance(value, str) else value
    else:
        model["urls"] = _task_ids(value, path + [key])
    return model


def _normalise_continuation(config, hints, warnings):
    """Canonical spellings, `url` -> `urls`, and the legacy `pretrained-models` block."""
    continuation = config.get("continuation")
    if continuation is not None and not isinstance(continuation, dict):
        raise ConfigError(["continuation"], "expected a mapping with models, vocab or corpora", continuation, True)
    continuation = dict(continuation or {})
    models = continuation.get("models")
    if models is not None:
        continuation["models"] = _normalise_model_keys(models, ["continuation", "models"], hints)

    legacy_blocks = []
    if "pretrained-models" in config:
        legacy_blocks.append((["pretrained-models"], config.pop("pretrained-models")))
    experiment = config.get("experiment")
    if isinstance(experiment, dict) and "pretrained-models" in experiment:
        experiment = dict(experiment)
        legacy_blocks.append((["experiment", "pretrained-models"], experiment.pop("pretrained-models")))
        config["experiment"] = experiment
    for path, block in legacy_blocks:
        if not block:
            continue
        warnings.append(
            f"{'.'.join(path)} is deprecated; write it as continuation.models (same url/urls, mode, type)"
        )
        legacy = _normalise_model_keys(block, path, hints=[])
        merged = dict(continuation.get("models") or {})
        for name, model in legacy.items():
            if name in merged:
                raise ConfigError(
                    path, f"the {name} model is configured both here and in continuation.models; keep one"
                )
            merged[name] = model
        continuation["models"] = merged

    if continuation:
        config["continuation"] = continuation
    else:
        config.pop("continuation", None)
    return config


def _error_from_voluptuous(error, data):
    path = [str(p) for p in error.path]
    message = error.error_message or str(error)
    if message == "extra keys not allowed":
        parent = data
        for key in error.path[:-1]:
            parent = parent[key] if isinstance(parent, (dict, list)) else {}
        schema_keys = _schema_keys_at(error.path[:-1])
        hint = _suggest(error.path[-1], schema_keys) if schema_keys else ""
        accepted = f"; accepted keys: {', '.join(schema_keys)}" if schema_keys else ""
        return ConfigError(path, f"unknown key{hint}{accepted}")
    value, found = _lookup(data, error.path)
    if message.startswith("required key not provided"):
        return ConfigError(path, "required key is missing" + _expected_at(error.path))
    if message.startswith("expected") and "expected" in message and found:
        return ConfigError(path, message, value, True)
    return ConfigError(path, message, value, found)


def _lookup(data, path):
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None, False
    return data, True


def _schema_node_at(path):
    """The voluptuous schema node at a key path (None if the path leaves the schema)."""
    node = TRAINING_CONFIG_SCHEMA.schema
    for key in path:
        if isinstance(node, dict):
            match = [v for k, v in node.items() if getattr(k, "schema", k) == key]
            if not match:
                return None
            node = match[0]
        elif isinstance(node, list) and node:
            node = node[0]
        else:
            return None
    return node


def _schema_keys_at(path):
    node = _schema_node_at(path)
    if not isinstance(node, dict):
        return []
    return sorted(str(getattr(k, "schema", k)) for k in node if isinstance(getattr(k, "schema", k), str))


def _expected_at(path):
    """What a key accepts, for messages about a missing key: an enumeration or its keys."""
    node = _schema_node_at(path)
    if hasattr(node, "expected"):
        return f"; expected {node.expected}"
    if isinstance(node, dict):
        return f"; expected a mapping with keys: {', '.join(_schema_keys_at(path))}"
    return ""


def _check_rules(config):
    """Rules that span several keys and so do not fit the schema."""
    experiment = config["experiment"]
    if experiment["src"] == experiment["trg"]:
        raise ConfigError(["experiment", "trg"], "must differ from experiment.src", experiment["trg"], True)
    if experiment["archive-corpora"] and not config["taskcluster"].get("upload-bucket"):
        raise ConfigError(
            ["experiment", "archive-corpora"], "needs taskcluster.upload-bucket, the bucket to archive the corpora to"
        )
    continuation = config.get("continuation", {})
    ensemble = experiment["teacher-ensemble"]
    for name, model in continuation.get("models", {}).items():
        path = ["continuation", "models", name]
        count = len(model["urls"])
        if name != "teacher" and count != 1:
            raise ConfigError(path + ["urls"], f"the {name} model takes exactly one URL, got {count}")
        if name == "teacher" and model["mode"] != "use" and count not in (1, ensemble):
            raise ConfigError(
                path + ["urls"],
                f"mode {model['mode']!r} needs one URL for every member or exactly "
                f"experiment.teacher-ensemble={ensemble} URLs, got {count} URLs",
            )
        for key in ("reset-stalled", "restore-corpus"):
            if key in model and model["mode"] != "continue":
                raise ConfigError(path + [key], f"only applies to mode 'continue', not {model['mode']!r}")
    for name, corpus in continuation.get("corpora", {}).items():
        given = [key for key in ALIGNMENT_KEYS if key in corpus]
        if given and len(given) != len(ALIGNMENT_KEYS):
            missing = [key for key in ALIGNMENT_KEYS if key not in corpus]
            raise ConfigError(
                ["continuation", "corpora", name],
                f"tok-src, tok-trg and alignments go together: all three or none; missing {', '.join(missing)}",
            )


def load_training_config(raw=None, *, log=True):
    """Merge `raw` over the default config, normalise and validate it; return the result."""
    config, _hints, _warnings = _load(json.dumps(raw or {}, sort_keys=True), log)
    return copy.deepcopy(config)


def config_notes(raw=None):
    """The hints (non-canonical spellings) and warnings (legacy block) of a config."""
    _config, hints, warnings = _load(json.dumps(raw or {}, sort_keys=True), False)
    return list(hints), list(warnings)


@functools.lru_cache(maxsize=16)
def _load(raw_json, log):
    raw = json.loads(raw_json)
    if not isinstance(raw, dict):
        raise ConfigError([], "expected a mapping", raw, True)
    config = deep_merge(default_training_config(), raw)
    hints, warnings = [], []
    config = _normalise_continuation(config, hints, warnings)
    try:
        config = TRAINING_CONFIG_SCHEMA(config)
    except MultipleInvalid as e:
        first = sorted(e.errors, key=lambda err: [str(p) for p in err.path])[0]
        raise _error_from_voluptuous(first, config) from None
    _check_rules(config)
    if log:
        for hint in hints:
            logger.info(f"training_config hint: {hint}")
        for warning in warnings:
            logger.warning(f"training_config: {warning}")
    return config, tuple(hints), tuple(warnings)


def training_config_json_schema(partial=True):
    """A JSON schema derived from the voluptuous schema above.

    With `partial` (the train action's input), no key is required: the input is deep-merged over
    the default config and validated in full by `load_training_config`. It also accepts the
    spellings `load_training_config` normalises (every MODEL_ALIASES key, `url`, `urls`, `task-id` or
    `task-ids`, and the
    deprecated `pretrained-models` block), so the documented configs are valid action input.
    """
    schema = _to_json_schema(TRAINING_CONFIG_SCHEMA.schema, partial)
    if partial:
        _accept_input_spellings(schema)
    return schema


def _accept_input_spellings(schema):
    models = schema["properties"]["continuation"]["properties"]["models"]
    model = copy.deepcopy(models["properties"][MODEL_NAMES[0]])
    urls = model["properties"]["urls"]
    model["properties"]["urls"] = {"anyOf": [urls, dict(urls["items"])]}
    model["properties"]["url"] = dict(urls["items"])
    task_id = {"type": "string", "pattern": _TASK_ID.pattern}
    model["properties"]["task-id"] = task_id
    model["properties"]["task-ids"] = {"type": "array", "items": task_id, "minItems": 1}
    models["properties"] = {alias: copy.deepcopy(model) for alias in MODEL_ALIASES}
    schema["properties"]["pretrained-models"] = copy.deepcopy(models)
    schema["properties"]["experiment"]["properties"]["pretrained-models"] = copy.deepcopy(models)


def _to_json_schema(node, partial=False):
    if hasattr(node, "json_schema"):
        return dict(node.json_schema)
    if isinstance(node, dict):
        properties, required, additional = {}, [], False
        for key, value in node.items():
            name = getattr(key, "schema", key)
            if isinstance(name, str):
                properties[name] = _to_json_schema(value, partial)
                if isinstance(key, Required) and not partial:
                    required.append(name)
            else:
                additional = _to_json_schema(value, partial)
        schema = {"type": "object", "properties": properties, "additionalProperties": additional}
        if required:
            schema["required"] = sorted(required)
        return schema
    if isinstance(node, list):
        return {"type": "array", "items": _to_json_schema(node[0], partial) if node else {}}
    if node is str:
        return {"type": "string"}
    if node is bool:
        return {"type": "boolean"}
    if node is int:
        return {"type": "integer"}
    if node is float:
        return {"type": "number"}
    if isinstance(node, All):
        return _to_json_schema(node.validators[0], partial)
    if isinstance(node, Any):
        return {"anyOf": [_to_json_schema(v, partial) for v in node.validators]}
    if isinstance(node, str):
        return {"const": node}
    return {}
