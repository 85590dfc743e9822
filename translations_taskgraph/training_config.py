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
import ipaddress
import json
import logging
import re
import socket
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

from . import marian_options
from .strict_yaml import read_strict_yaml

logger = logging.getLogger(__name__)

# A complete config is merged over the pipeline defaults; a snippet over the CI example.
PIPELINE_DEFAULTS_PATH = Path(__file__).parent / "configs" / "pipeline-defaults.yml"
CI_EXAMPLE_PATH = Path(__file__).parent / "configs" / "ci-example.yml"
PIPELINE_DEFAULTS = "the pipeline defaults"
CI_EXAMPLE = "the CI example"
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
URL_KEYS = ("url", "urls", "task-id", "task-ids")  # the spellings a model's URLs may be given in
MODES = ("use", "continue", "init")
MODEL_TYPES = ("default",)
CORPUS_NAMES = ("parallel", "backtranslations", "distillation")
# The same for continuation corpora: the public pipeline's configs call the distillation corpus
# `student-distillation`.
CORPUS_ALIASES = {
    "parallel": "parallel",
    "backtranslations": "backtranslations",
    "backtranslation": "backtranslations",
    "distillation": "distillation",
    "student-distillation": "distillation",
}
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
SPM_NORM_RULES = ("nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity")  # SentencePiece's built-in rules
DATASET_CATEGORIES = ("train", "devtest", "test", "mono-src", "mono-trg")

_LOCALE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# <importer>_<name>: names may pin a revision (`hfp_org/name:subset@d30a823`) and mtdata ids may
# hold non-ASCII letters; no whitespace or control characters.
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*_[\w.\-/:\[\]@+]+$")
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
        if isinstance(value, bool):
            # YAML 1.1 reads unquoted yes/no/on/off (`trg: no`, Norwegian) as booleans.
            raise Invalid(f"expected {what}; YAML read an unquoted yes/no/on/off as {value}: quote it")
        # fullmatch, never match: `$` also matches before a trailing newline ("ru\n").
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise Invalid(f"expected {what}")
        return value

    validator.json_schema = {"type": "string", "pattern": pattern.pattern}
    validator.expected = what
    return validator


def normalize_url(value):
    """Return the canonical download URL for a config URL, or raise Invalid.

    `gs://bucket/path` is rewritten to its public HTTPS form; http(s) URLs are kept as given.
    """
    what = "an http(s):// or gs:// URL"
    if not isinstance(value, str) or not value:
        raise Invalid(f"expected {what}")
    if any(ch.isspace() for ch in value) or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise Invalid(f"expected {what} without whitespace (found whitespace or control characters)")
    if not value.isascii():
        raise Invalid(f"expected {what} (non-ASCII characters must be percent-encoded)")
    try:
        parts = urlsplit(value)
    except ValueError as e:  # e.g. an unbalanced "[" in the host: "Invalid IPv6 URL"
        raise Invalid(f"expected {what} ({e})") from None
    if "@" in parts.netloc:
        # Any scheme, gs:// too: task definitions, logs and parameters are public.
        raise Invalid(f"expected {what} without credentials (task definitions are public)")
    if parts.scheme == "gs":
        if not _GCS_BUCKET.fullmatch(parts.netloc) or not parts.path.strip("/"):
            raise Invalid("expected gs://<bucket>/<path>")
        if parts.query or parts.fragment or "?" in value or "#" in value:
            raise Invalid("expected gs://<bucket>/<path> without '?' or '#' (write the https:// URL instead)")
        return f"https://storage.googleapis.com/{parts.netloc}{parts.path}"
    if parts.scheme not in ("http", "https"):
        raise Invalid(f"expected {what}")
    if not parts.hostname:
        raise Invalid(f"expected {what} with a host name")
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError:
        raise Invalid(f"expected {what} with a valid port number") from None
    return value


_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{0,221}")
# Host names that never name a public server: the Taskcluster proxy of a task (`taskcluster`),
# loopback names, mDNS and cloud-internal names (GCP's metadata server is metadata.google.internal).
_PRIVATE_NAMES = ("localhost", "taskcluster")
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


def private_host(url):
    """Why the host of an http(s) URL is not a public server, or None. Literal checks only (no DNS):
    loopback, link-local, private and reserved addresses in any form a resolver accepts (`127.1`,
    `0x7f000001`, `[::ffff:127.0.0.1]`), `localhost`, the Taskcluster proxy host `taskcluster`, and
    single-label names (resolved against the worker's own network)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host:
        return None
    labels = host.split(".")
    if all(_IPV4_PART.fullmatch(label) for label in labels):
        try:  # inet_aton reads every IPv4 form getaddrinfo does (`127.1`, `2130706433`, `0x7f.1`)
            address = ipaddress.ip_address(socket.inet_aton(host))
        except (OSError, ValueError):
            return f"{host!r} is not a valid IPv4 address"
    else:
        try:
            address = ipaddress.ip_address(host.split("%")[0])  # [fe80::1%eth0]: no zone
        except ValueError:
            address = None
    if address is not None:
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if address.is_global and not address.is_multicast:
            return None
        kind = ("a loopback" if address.is_loopback else "a link-local" if address.is_link_local
                else "an unspecified" if address.is_unspecified else "a private or reserved")
        return f"{address} is {kind} address"
    if host in _PRIVATE_NAMES or host.endswith(_PRIVATE_SUFFIXES):
        return f"{host!r} is a local or internal host name"
    if len(labels) == 1:
        return f"{host!r} is a single-label host name (the worker's own network)"
    return None


def _url(value):
    return normalize_url(value)


_url.expected = "an http(s):// or gs:// URL"
_url.json_schema = {"type": "string", "pattern": "^(https?|gs)://\\S+$"}


def model_url(value):
    """A model URL: the directory its files are fetched from, by appending their names.

    A trailing `/` is dropped, so `.../student` and `.../student/` are one input (one cache digest).
    """
    url = normalize_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise Invalid(f"expected {_url.expected} of a directory, without '?' or '#' (file names are appended to it)")
    return url.rstrip("/")


model_url.expected = _url.expected + " (a directory: no '?' or '#')"
model_url.json_schema = {"type": "string", "pattern": "^(https?|gs)://[^\\s?#]+$"}


# --------------------------------------------------------------------------------------------
# The schema. Keys follow the public pipeline's training config so its configs work unchanged.
def _string_or_bool(value):
    """A flag the public pipeline writes as the string "true"/"false"; YAML booleans work too."""
    if value not in ("true", "false") and not isinstance(value, bool):
        raise Invalid(f"expected {_string_or_bool.expected}")
    return value


_string_or_bool.expected = "'true', 'false', true or false"
_string_or_bool.json_schema = {"enum": ["true", "false", True, False]}


def _number(value):
    """An int or a float; YAML booleans are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid("expected a number")
    return value


_number.expected = "a number"
_number.json_schema = {"type": "number"}


def _integer(minimum, maximum=None):
    """An int in range; YAML booleans are not numbers here (voluptuous' int accepts them)."""

    def validator(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum
        ):
            raise Invalid(f"expected {validator.expected}")
        return value

    validator.json_schema = {"type": "integer", "minimum": minimum}
    validator.expected = f"an integer of at least {minimum}"
    if maximum is not None:
        validator.json_schema["maximum"] = maximum
        validator.expected = f"an integer from {minimum} to {maximum}"
    return validator


_MARIAN_OPTION = re.compile(r"^[a-z0-9][a-z0-9-]*$")
def _marian_value(value):
    # A boolean is a Marian switch: true passes the bare option. false or null removes the option
    # (one inherited from the defaults, too).
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise Invalid(f"expected {_marian_value.expected}")
    return value


_marian_value.expected = "a string, a number, true for a switch, or false/null to remove the option"
_marian_value.json_schema = {"type": ["string", "number", "boolean", "null"]}
_marian_args = {_matching(_MARIAN_OPTION, "a Marian option name without dashes, e.g. 'after'"): _marian_value}

# Every key carries its description: docs/training-config.md is generated from this schema
# (`python -m translations_taskgraph.config_reference`), so the reference cannot drift from it.
def _req(key, description):
    return Required(key, description=description)


def _opt(key, description, **kwargs):
    return Optional(key, description=description, **kwargs)


_PINS = {str: _matching(_SHA256, "a 64-character lowercase hex sha256")}
_PINS_TEXT = "sha256 pins keyed by published artifact name, checked by the download task"

MODEL_SCHEMA = {
    _req("urls", "where the model's files are (`url` for one; `task-id`/`task-ids` for Taskcluster tasks)"): All(
        [model_url], Length(min=1)
    ),
    _req("mode", "`use` the model as is, `continue` its training, or `init` a new training from it"): _one_of(MODES),
    _opt("type", "the model format: Marian `.npz`", default="default"): _one_of(MODEL_TYPES),
    _opt("sha256", _PINS_TEXT): _PINS,
    _opt("reset-stalled", "continue only: reset early stopping's stalled counter (`--valid-reset-stalled`)"): bool,
    _opt("restore-corpus", "continue only: `false` drops the saved corpus position (`--no-restore-corpus`)"): bool,
}

CORPUS_SCHEMA = {
    _req("src", "the source side (`.zst`)"): _url,
    _req("trg", "the target side (`.zst`)"): _url,
    _opt("tok-src", "the ICU-tokenized source side; with tok-trg and alignments, or none of them"): _url,
    _opt("tok-trg", "the ICU-tokenized target side"): _url,
    _opt("alignments", "the word alignments of the tokenized sides; replaces the corpus's alignment step"): _url,
    _opt("sha256", _PINS_TEXT): _PINS,
}

CONTINUATION_SCHEMA = {
    _opt("models", "pretrained models, by model (aliases: see docs/continuation.md)"): {
        _opt(name, "a pretrained model"): MODEL_SCHEMA for name in MODEL_NAMES
    },
    _opt("vocab", "an existing vocab: replaces build-vocab"): {
        _req("src", "the source-language SentencePiece model"): _url,
        _req("trg", "the target-language SentencePiece model (the same URL twice for a joint vocab)"): _url,
        _opt("sha256", _PINS_TEXT): _PINS,
    },
    _opt("corpora", "existing corpora: replace the stages that would produce them"): {
        _opt(name, "an existing corpus"): CORPUS_SCHEMA for name in CORPUS_NAMES
    },
}

_DATASET_LIST = [_matching(_DATASET, "a dataset name '<importer>_<name>' such as 'opus_ada83/v1'")]
_DATASET_TEXT = {
    "train": "parallel training datasets, each imported, cleaned and filtered, then merged",
    "devtest": "validation datasets, merged into the devset every training uses",
    "test": "evaluation datasets: one evaluate task per dataset and model",
    "mono-src": "source-language monolingual datasets, translated by the teachers for distillation",
    "mono-trg": "target-language monolingual datasets, back-translated for teacher training",
}
_MARIAN_TEXT = {
    "training-backward": "Marian options for training the backwards model",
    "training-teacher": "Marian options for training the teachers",
    "training-student": "Marian options for training the student",
    "training-student-finetuned": "Marian options for fine-tuning the student",
    "decoding-backward": "Marian options for back-translating with the backwards model",
    "decoding-teacher": "Marian options for translating with the teacher ensemble",
}
_THRESHOLDS_TEXT = "per-dataset thresholds, keyed by dataset name or file stem (`opus_ada83_v1`)"


def _thresholds(what):
    return {
        _req("default-threshold", f"the {what} threshold of datasets not listed below (0: no scoring, all kept)"): _number,
        _opt("dataset-thresholds", _THRESHOLDS_TEXT): {str: _number},
    }


def _mono_max(side):
    return {
        _req("total", f"at most this many {side} sentences in all"): _integer(1),
        _req("per-dataset", f"at most this many {side} sentences from one dataset"): _integer(1),
    }


def _per_side(validator, what):
    return {_req("mono-src", f"{what} for mono-src"): validator, _req("mono-trg", f"{what} for mono-trg"): validator}


TRAINING_CONFIG_SCHEMA = Schema(
    {
        _req("experiment", "what to train"): {
            _req("name", "the experiment name (Weights & Biases, exports)"): All(str, Length(min=1)),
            _req("src", "the source locale"): _matching(_LOCALE, "a locale code such as 'ru' or 'zh_hant'"),
            _req("trg", "the target locale"): _matching(_LOCALE, "a locale code such as 'ru' or 'zh_hant'"),
            _req("teacher-ensemble", "how many teachers to train (one task per member)"): _integer(1, 16),
            _opt("teacher-mode", "teacher training in one stage or two", default="two-stage"): _one_of(
                ("one-stage", "two-stage")
            ),
            _opt("teacher-decoder", "the decoder the teachers translate with", default="marian"): _one_of(
                TEACHER_DECODERS
            ),
            _opt("student-model", "the student architecture", default="tiny"): _one_of(STUDENT_MODELS),
            _opt("corpus-max-sentences", "at most this many sentences in the merged parallel corpus"): _integer(1),
            _opt("dev-max-sentences", "at most this many sentences in the merged devset"): _integer(1),
            _opt(
                "archive-corpora",
                "publish the word-aligned corpora (what `continuation.corpora` can reuse) to "
                "`taskcluster.upload-bucket` from the alignment steps",
                default=False,
            ): bool,
            _opt("mono-max-sentences-src", "limits on the source monolingual data (none: all of it)"): _mono_max(
                "mono-src"
            ),
            _opt("mono-max-sentences-trg", "limits on the target monolingual data (none: all of it)"): _mono_max(
                "mono-trg"
            ),
            _req("spm-sample-size", "how many sentences SentencePiece trains the vocab on"): _integer(1),
            _opt("spm-vocab-size", "the vocab size"): _integer(1),
            _opt("spm-vocab-split", "separate source and target vocabs instead of a joint one", default=False): bool,
            _opt("spm-norm-rule", "the SentencePiece normalization rule"): _one_of(SPM_NORM_RULES),
            _req("best-model", "the validation metric that picks the best checkpoint"): _one_of(BEST_MODEL_METRICS),
            _opt("use-opuscleaner", "clean parallel data with OpusCleaner", default="false"): _string_or_bool,
            _opt("opuscleaner-mode", "per-dataset OpusCleaner configs or the defaults", default="defaults"): _one_of(
                ("custom", "defaults")
            ),
            _req("bicleaner", "Bicleaner AI filtering of the parallel datasets"): _thresholds("Bicleaner AI"),
            _opt("monocleaner", "Monocleaner filtering of the monolingual datasets"): {
                _req("mono-src", "for mono-src datasets"): _thresholds("fluency"),
                _req("mono-trg", "for mono-trg datasets"): _thresholds("fluency"),
            },
            _opt("min-fluency-threshold", "minimum fluency score of monolingual sentences"): _per_side(
                _number, "the minimum"
            ),
            _opt("hplt-min-doc-score", "minimum HPLT document score of monolingual sentences"): _per_side(
                _number, "the minimum"
            ),
        },
        _req("marian-args", "extra Marian options per step, `option: value` without dashes"): {
            _opt(key, text): _marian_args for key, text in _MARIAN_TEXT.items()
        },
        _req("datasets", "the datasets, by category; a list replaces the default's list"): {
            _req(category, _DATASET_TEXT[category]): _DATASET_LIST for category in DATASET_CATEGORIES
        },
        _req("target-stage", "the stage whose tasks are the targets (`all-pipeline`: everything)"): All(
            str, Length(min=1)
        ),
        _opt(
            "previous-group-ids",
            "reuse the completed tasks of these task groups (later groups win); applied by the "
            "`train` action, never by local generation",
        ): [_matching(_TASK_ID, "a Taskcluster task group id (22 characters)")],
        _opt(
            "start-task-prefix",
            "with previous-group-ids: run the tasks whose label starts with this again, and "
            "everything downstream of them",
        ): _matching(_LABEL_PREFIX, "the start of a task label, e.g. 'train-teacher-model'"),
        _opt(
            "existing_tasks",
            "tasks to reuse, `label: task id`; merged into the `existing_tasks` parameter by the "
            "`train` action (over previous-group-ids), never by local generation",
        ): {str: _matching(_TASK_ID, "a Taskcluster task id (22 characters of A-Z a-z 0-9 _ -)")},
        _opt("wandb-publication", "publish training metrics to Weights & Biases", default=False): bool,
        _opt(
            "allow-private-urls",
            "accept config URLs on loopback, link-local and private addresses, single-label hosts "
            "(`localhost`, the Taskcluster proxy `taskcluster`) and `.local`/`.internal` names, in "
            "`continuation` and `url_` datasets; passed to the download and dataset tasks as "
            "`--allow-private-urls`. For local runs and tests only",
            default=False,
        ): bool,
        _req("taskcluster", "how the graph runs on Taskcluster"): {
            _opt("split-chunks", "how many chunks the translation steps split their input into", default=1): _integer(
                1, 1000
            ),
            _opt("upload-bucket", "the bucket exports (and archived corpora) are uploaded to"): str,
            _req("worker-classes", "the worker class per kind (`default` for the rest)"): {
                _req("default", "the worker class of kinds not listed"): _one_of(WORKER_CLASSES),
                str: _one_of(WORKER_CLASSES),
            },
        },
        _opt("continuation", "reuse pretrained models, a vocab and corpora (docs/continuation.md)"): CONTINUATION_SCHEMA,
    }
)


# The keys a training config may have at its top level (the legacy block included).
TOP_LEVEL_KEYS = tuple(
    sorted({getattr(key, "schema", key) for key in TRAINING_CONFIG_SCHEMA.schema} | {"pretrained-models"})
)


def _nested_key_parents(node=TRAINING_CONFIG_SCHEMA.schema, path=()):
    """{key: [parent path, ...]} for every named key below the top level (model aliases included)."""
    parents = {}
    for key, value in node.items():
        name = getattr(key, "schema", key)
        if not isinstance(name, str):
            continue
        if path:
            parents.setdefault(name, []).append(".".join(path))
        if isinstance(value, dict):
            for child, where in _nested_key_parents(value, (*path, name)).items():
                parents.setdefault(child, []).extend(where)
    if path != ():
        return parents
    for alias in MODEL_ALIASES:
        parents.setdefault(alias, []).append("continuation.models")
    for key in URL_KEYS:
        parents.setdefault(key, []).append("continuation.models.<model>")
    generic = {f"continuation.models.{m}": "continuation.models.<model>" for m in MODEL_NAMES}
    generic.update({f"continuation.corpora.{c}": "continuation.corpora.<corpus>" for c in CORPUS_NAMES})
    return {
        key: sorted({generic.get(p, p) for p in where}, key=lambda p: (p.count("."), p))
        for key, where in parents.items()
    }


# Where a key found at the wrong level belongs (`src` -> experiment, continuation.vocab, ...).
NESTED_KEY_PARENTS = _nested_key_parents()


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


@functools.lru_cache(maxsize=2)
def _parsed(path):
    # Parsed once: every config load merges over these, and YAML parsing dominated plan building.
    return read_strict_yaml(path)


def pipeline_defaults():
    """What a complete config gets for the keys it leaves out: presets fit for a real run."""
    return copy.deepcopy(_parsed(PIPELINE_DEFAULTS_PATH))


def ci_example():
    """The CI example (a tiny ru -> en run), a complete config merged over the pipeline defaults."""
    return deep_merge(_parsed(PIPELINE_DEFAULTS_PATH), _parsed(CI_EXAMPLE_PATH))


def default_training_config():
    """The config `taskgraph full` generates without a training config: the CI example."""
    return ci_example()


def is_snippet(raw):
    """A snippet gives neither experiment.src/trg nor datasets (every block of the user docs is
    one): it is previewed on the CI example. Any other config is complete."""
    if not isinstance(raw, dict):
        return False
    experiment = raw.get("experiment")
    names_languages = isinstance(experiment, dict) and ("src" in experiment or "trg" in experiment)
    return not names_languages and "datasets" not in raw


def config_base(raw):
    """(name, config) that `raw` is merged over: the CI example for a snippet, else the pipeline
    defaults."""
    if is_snippet(raw):
        return CI_EXAMPLE, ci_example()
    return PIPELINE_DEFAULTS, pipeline_defaults()


SNIPPET_WARNING = (
    "this config is a snippet (it gives neither experiment.src/trg nor datasets): previewed on the CI "
    "example (a tiny ru -> en run that trains 50 updates); for a real run, write a complete config "
    "(docs/continuation.md, \"Snippets and complete configs\")"
)


# Redaction and shortening of what messages echo. Linear on any input: the URL regex has no nested
# or overlapping repetition (each run stops at "/", "?" or whitespace, so runs never overlap).
_URL_TAIL = re.compile(r"://[^\s'\"]*")
_URL_CREDENTIALS = re.compile(r"://[^/?#@\s]*@")
MESSAGE_LIMIT = 300  # characters of one error line
_SHOWN_STRING = 60  # characters of one value echoed in a message


def _redact_url(match):
    url = _URL_CREDENTIALS.sub("://***@", match.group(0))
    query = url.find("?")
    if query >= 0:
        fragment = url.find("#", query)
        url = url[: query + 1] + "***" + (url[fragment:] if fragment >= 0 else "")
    return url


def redact(text):
    """`text` with the credentials (`user:pass@`) and query strings of its URLs replaced by `***`."""
    return _URL_TAIL.sub(_redact_url, text) if "://" in text else text


def shorten(text, limit=_SHOWN_STRING):
    """At most `limit` characters: the start and the end of a longer text around an ellipsis."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[: limit - tail - 1]}…{text[len(text) - tail:]}"


def escape_controls(text):
    """Control, format and separator characters (newlines, ESC, bidi overrides, NUL...) escaped:
    an error message is one line and cannot forge another."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def one_line(text, limit=MESSAGE_LIMIT):
    """A message as one clean line: URLs redacted, control characters escaped, at most `limit`."""
    text = str(text)
    if len(text) > 64 * limit:
        text = text[: 32 * limit] + "…" + text[-32 * limit:]  # bounds the work below
    return shorten(escape_controls(redact(text)), limit)


def show_value(value, depth=0):
    """A short, redacted repr of a config value of any type or size (bounded work)."""
    if isinstance(value, str):
        return repr(shorten(redact(value) if len(value) <= 1 << 20 else value[:_SHOWN_STRING]))
    if isinstance(value, (bool, float)) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**18 else "<a number with more than 18 digits>"
    if isinstance(value, (dict, list)):
        if depth >= 2:
            return "{…}" if isinstance(value, dict) else "[…]"
        items = value.items() if isinstance(value, dict) else value
        shown = []
        for index, item in enumerate(items):
            if index == 3:
                shown.append("…")
                break
            if isinstance(value, dict):
                shown.append(f"{show_value(item[0], depth + 1)}: {show_value(item[1], depth + 1)}")
            else:
                shown.append(show_value(item, depth + 1))
        text = ", ".join(shown)
        return f"{{{text}}}" if isinstance(value, dict) else f"[{text}]"
    return f"<{type(value).__name__}>"


def _show_key(key):
    return shorten(key if isinstance(key, str) else show_value(key), 40)


class ConfigError(SchemaValidationError):
    """A training config problem, reported as one message without traceback: one line of at most
    MESSAGE_LIMIT characters, values shortened, control characters escaped, and never the
    credentials or query string of a URL (the message may land in a public log)."""

    def __init__(self, path, message, value=None, has_value=False):
        where = ".".join(_show_key(p) for p in path) or "<root>"
        text = f"Invalid training_config at {where}: {message}"
        if has_value:
            text += f" (got {show_value(value)})"
        super().__init__(one_line(text))
        self.path = tuple(path)
        self.parts = (message, value, has_value)

    def at(self, path):
        """The same error, reported at another key path (where the user wrote the key)."""
        return ConfigError(path, *self.parts)

    def logged(self):
        """Log the message and return the error: taskgraph's CLI prints no traceback for a
        SchemaValidationError and expects its message to have been logged already."""
        logger.error(str(self))
        return self

    def __reduce__(self):
        # taskgraph loads kinds in forked children and pickles their exceptions back; without this
        # the error arrives as a generic Exception and the CLI prints a traceback.
        return (_rebuild_config_error, (self.args[0], self.path, self.parts))


def _rebuild_config_error(text, path, parts):
    error = ConfigError.__new__(ConfigError)
    SchemaValidationError.__init__(error, text)
    error.path = tuple(path)
    error.parts = parts
    return error


def _suggest(key, valid):
    match = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _normalise_model_keys(models, path, hints, written):
    """Map every model spelling onto its canonical key (teacher, backwards, student).

    `written` records, per canonical model path, the path and URL key the user wrote, so later
    errors name the key as written (`pretrained-models.train-teacher.type`, `....url`).
    """
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
        url_key = next(k for k in URL_KEYS if k in value)
        written[("continuation", "models", name)] = (path + [key], url_key)
    return canonical




def task_artifacts_url(task_id):
    """The `public/build` artifacts of a Taskcluster task, on the root URL generation runs with."""
    root = os.environ.get("TASKCLUSTER_ROOT_URL", DEFAULT_ROOT_URL).rstrip("/")
    return f"{root}/api/queue/v1/task/{task_id}/artifacts/public/build"


def _task_ids(value, path):
    ids = value if isinstance(value, list) else [value]
    for index, task_id in enumerate(ids):
        if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
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
            model_url(value)
        except Invalid as error:
            raise ConfigError(path + ["url"], error.error_message, value, True) from None
        model["urls"] = [value]
    elif key == "urls":
        model["urls"] = [value] if isinstance(value, str) else value
    else:
        model["urls"] = _task_ids(value, path + [key])
    return model


def _written_path(path, written):
    """`path` of the normalised config, as the user wrote it."""
    path = list(path)
    origin = written.get(tuple(path[:3]))
    if origin is None:
        return path
    prefix, url_key = origin
    rest = path[3:]
    if rest and rest[0] == "urls" and url_key != "urls":
        # `url`/`task-id` hold one value where `urls` holds a list: drop the index.
        rest = [url_key] + (rest[2:] if url_key in ("url", "task-id") else rest[1:])
    return prefix + rest


def _normalise_corpus_keys(corpora, path, hints, written):
    """Map every corpus spelling onto its canonical key; unknown names are left to the schema."""
    canonical, spelled = {}, {}
    for key, value in corpora.items():
        name = CORPUS_ALIASES.get(key, key)
        if name in canonical:
            raise ConfigError(path + [key], f"the {name} corpus is given twice (as {spelled[name]!r} and {key!r})")
        if key != name:
            hints.append(f"{'.'.join(path + [key])}: read as {'.'.join(path + [name])}")
            written[("continuation", "corpora", name)] = (path + [key], None)
        canonical[name], spelled[name] = value, key
    return canonical


def _normalise_continuation(config, hints, warnings, written):
    """Canonical spellings, `url` -> `urls`, and the legacy `pretrained-models` block."""
    continuation = config.get("continuation")
    if continuation is not None and not isinstance(continuation, dict):
        raise ConfigError(["continuation"], "expected a mapping with models, vocab or corpora", continuation, True)
    continuation = dict(continuation or {})
    corpora = continuation.get("corpora")
    if isinstance(corpora, dict):
        continuation["corpora"] = _normalise_corpus_keys(corpora, ["continuation", "corpora"], hints, written)
    models = continuation.get("models")
    if models is not None:
        continuation["models"] = _normalise_model_keys(models, ["continuation", "models"], hints, written)

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
        earlier = dict(written)
        legacy = _normalise_model_keys(block, path, [], written)
        merged = dict(continuation.get("models") or {})
        for name, model in legacy.items():
            if name in merged:
                key = ("continuation", "models", name)
                raise ConfigError(
                    written[key][0],
                    f"the {name} model is configured both here and in {'.'.join(earlier[key][0])}; keep one",
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
    if _bad_key(error.path):
        # The key itself failed its validator (e.g. a Marian option written with dashes).
        return ConfigError(path, message, error.path[-1], True)
    if message.startswith("length of value must be at least"):
        return ConfigError(path, "must not be empty", value, found)
    if message.startswith("required key not provided"):
        return ConfigError(path, "required key is missing" + _expected_at(error.path))
    if message.startswith("expected") and "expected" in message and found:
        return ConfigError(path, message, value, True)
    return ConfigError(path, message, value, found)


def _bad_key(path):
    """Whether the last key of `path` is rejected by the key validator of its mapping."""
    node = _schema_node_at(path[:-1]) if path else None
    if not isinstance(node, dict) or not isinstance(path[-1], str):
        return False
    for key in node:
        if callable(key) and not isinstance(key, type) and not hasattr(key, "schema"):
            try:
                key(path[-1])
            except Invalid:
                return True
    return False


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
    keys = {str(getattr(k, "schema", k)) for k in node if isinstance(getattr(k, "schema", k), str)}
    if node is MODEL_SCHEMA:
        keys = (keys - {"urls"}) | set(URL_KEYS)  # the spellings a model's URLs may be given in
    return sorted(keys)


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


# Bounds on the shape of a raw training config, far above any real one (the largest public configs
# have a few thousand values), far below what would make generation slow or a task unable to start.
MAX_VALUES = 200_000  # values once YAML aliases are expanded (shared references count every time)
MAX_DEPTH = 32
MAX_STRING = 8192  # characters of one string (Linux refuses argv elements over 128 KiB)
MAX_TEXT = 1 << 20  # characters of all strings together
MAX_INTEGER = 2**63


def _type_problem(value):
    """Why a value is not JSON-like data (str, number, bool, null, list, mapping), or None."""
    if isinstance(value, (str, bool)) or value is None:
        return None
    if isinstance(value, int):
        return None if -MAX_INTEGER <= value <= MAX_INTEGER else "expected a number below 2**63"
    if isinstance(value, float):
        return None if value == value and abs(value) != float("inf") else "expected a finite number"
    kind = {"date": "a date", "datetime": "a date and time", "bytes": "binary data (!!binary)",
            "set": "a set (!!set)", "tuple": "a list of pairs"}.get(type(value).__name__, type(value).__name__)
    return f"expected text, a number, true/false, a list or a mapping; YAML read {kind}: quote it as text"


def _string_problem(text):
    if len(text) > MAX_STRING:
        return f"longer than {MAX_STRING} characters ({len(text)})"
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def check_shape(raw):
    """Raise ConfigError unless `raw` is plain JSON-like data of bounded size: string keys, no
    recursion (a recursive YAML anchor), no dates, sets or binary, no NUL, strings and nesting
    within MAX_STRING and MAX_DEPTH, at most MAX_VALUES values and MAX_TEXT characters once YAML
    aliases are expanded. Runs before anything serializes or walks the config, in bounded time."""
    budget = {"values": MAX_VALUES, "text": MAX_TEXT}

    def string(text, path):
        problem = _string_problem(text)
        if problem:
            raise ConfigError(path, problem, text, True)
        spend(0, len(text))

    done = {}  # id(container) -> (values, text, height) of a checked one: an alias is not walked again

    def spend(values, text):
        budget["values"] -= values
        budget["text"] -= text
        if budget["values"] < 0:
            raise ConfigError([], f"more than {MAX_VALUES} values (are YAML aliases expanding it?)")
        if budget["text"] < 0:
            raise ConfigError([], f"more than {MAX_TEXT} characters of text in all")

    def walk(node, path, on_path):
        """Check `node`; return its height (levels of containers, 0 for a scalar)."""
        spend(1, 0)
        if isinstance(node, str):
            string(node, path)
            return 0
        if not isinstance(node, (dict, list)):
            problem = _type_problem(node)
            if problem:
                raise ConfigError(path, problem, node, True)
            return 0
        if id(node) in done:
            values, text, height = done[id(node)]
            if len(path) + height > MAX_DEPTH:
                raise ConfigError(path, f"nested more than {MAX_DEPTH} levels deep")
            spend(values - 1, text)
            return height
        if id(node) in on_path:
            raise ConfigError(path, "contains itself (a recursive YAML anchor)")
        if len(path) >= MAX_DEPTH:
            raise ConfigError(path[:MAX_DEPTH], f"nested more than {MAX_DEPTH} levels deep")
        before = dict(budget)
        height = 0
        on_path.add(id(node))
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    kind = ("true/false (YAML reads unquoted yes/no/on/off as booleans)" if isinstance(key, bool)
                            else "a number" if isinstance(key, (int, float)) else "null" if key is None
                            else f"a {type(key).__name__}")
                    raise ConfigError(path + [key], f"keys must be text, this one is {kind}: quote it")
                string(key, path + [key])
                height = max(height, walk(value, path + [key], on_path))
        else:
            for index, value in enumerate(node):
                height = max(height, walk(value, path + [index], on_path))
        on_path.discard(id(node))
        done[id(node)] = (before["values"] - budget["values"] + 1, before["text"] - budget["text"], height + 1)
        return height + 1

    walk(raw, [], set())


def config_json(raw):
    """The canonical JSON text of a raw training config (None means {}), after `check_shape`."""
    raw = {} if raw is None else raw
    check_shape(raw)
    return json.dumps(raw, sort_keys=True)


def _config_urls(config):
    """(key path, URL) of every URL the config makes tasks download: continuation inputs (task
    ids as their artifact URLs) and `url_` datasets."""
    continuation = config.get("continuation", {})
    for side in ("src", "trg"):
        if side in continuation.get("vocab", {}):
            yield ["continuation", "vocab", side], continuation["vocab"][side]
    for name, corpus in continuation.get("corpora", {}).items():
        for key in ("src", "trg", *ALIGNMENT_KEYS):
            if key in corpus:
                yield ["continuation", "corpora", name, key], corpus[key]
    for name, model in continuation.get("models", {}).items():
        for index, url in enumerate(model["urls"]):
            yield ["continuation", "models", name, "urls", index], url
    for category in DATASET_CATEGORIES:
        for index, dataset in enumerate(config["datasets"][category]):
            if dataset.startswith("url_"):
                yield ["datasets", category, index], dataset[len("url_"):]


def _check_url_hosts(config, warnings):
    """Config URLs name public hosts, unless `allow-private-urls: true` (local runs and tests)."""
    if config.get("allow-private-urls"):
        warnings.append(
            "allow-private-urls is true: config URLs may name loopback, private and internal hosts "
            "(local runs and tests only)"
        )
        return
    for path, url in _config_urls(config):
        try:
            problem = private_host(normalize_url(url))
        except Invalid:
            continue  # not a URL (a url_ dataset's own checks report it)
        if problem:
            raise ConfigError(
                path,
                f"expected a URL of a public host: {problem} (write allow-private-urls: true at the "
                "top level of the training config for local runs and tests)",
                url,
                True,
            )


# --------------------------------------------------------------------------------------------
# Complete configs, Marian options and URL texts (checked when a config is loaded).
def _incomplete(raw):
    """The error of a complete config missing its languages or datasets, or None. A complete config
    is merged over the pipeline defaults, which name no languages and list no datasets: it gives
    both itself (a config for en -> de never keeps the CI example's ru-en datasets)."""
    if is_snippet(raw):
        return None
    experiment = raw.get("experiment") if isinstance(raw.get("experiment"), dict) else {}
    if "datasets" not in raw:
        given = "/".join(key for key in ("src", "trg") if key in experiment)
        return ConfigError(
            ["datasets"],
            f"required: a complete config (it sets experiment.{given}) lists its own train, devtest, test, "
            f"mono-src and mono-trg datasets ([] for none); the pipeline defaults have none, and only a "
            f"snippet (no src/trg, no datasets) is previewed on the CI example's",
        )
    for key in ("src", "trg"):
        if key not in experiment:
            return ConfigError(
                ["experiment", key],
                "required: this is a complete config (it lists datasets), so it names its languages: "
                "experiment.src and experiment.trg",
            )
    return None


# The pymarian command a marian-args section passes its options to.
MARIAN_SECTION_COMMANDS = {
    "training-backward": "train",
    "training-teacher": "train",
    "training-student": "train",
    "training-student-finetuned": "train",
    "decoding-backward": "decode",
    "decoding-teacher": "decode",
}


def _check_marian_args(config, raw):
    """Option names against the options Marian has (data/marian_options.json); a switch takes
    true. Options set to false or null are removed (false in the result: never passed), inherited
    ones included."""

    written = (raw.get("marian-args") if isinstance(raw.get("marian-args"), dict) else None) or {}
    for section, options in config["marian-args"].items():
        command = MARIAN_SECTION_COMMANDS[section]
        if section == "decoding-teacher" and config["experiment"]["teacher-decoder"] != "marian":
            command = None  # another decoder: its own options
        known = marian_options.options(command) if command else None
        for option, value in list(options.items()):
            if value is None or value is False:
                # Removed: kept as false (never passed), so a stored, reloaded config stays the same.
                options[option] = False
                continue
            if known is None:
                continue
            path = ["marian-args", section, option]
            spec = known.get(option)
            if spec is None:
                other = "decode" if command == "train" else "train"
                if option in marian_options.options(other):
                    problem = f"is an option of `pymarian {other}`, not of `pymarian {command}`"
                else:
                    problem = f"is not an option of `pymarian {command}`"
                match = difflib.get_close_matches(option, list(known), n=1, cutoff=0.6)
                hint = f"; did you mean {match[0]!r}?" if match else ""
                origin = "" if option in (written.get(section) or {}) else " (inherited)"
                raise ConfigError(path, f"unknown Marian option{origin}: --{option} {problem}{hint}")
            if spec["type"] is None and value is not True and str(value).lower() not in ("true", "1"):
                raise ConfigError(
                    path, f"--{option} is a switch: true passes it, false or null leaves it out", value, True
                )
    # One canonical order, whatever the config was merged over: the CI example's options in its
    # order, then the others by name. Loading a stored (complete) config again, as the decision task
    # does, passes the options in the order the preview showed.
    example = _parsed(CI_EXAMPLE_PATH).get("marian-args") or {}
    for section, options in config["marian-args"].items():
        order = list(example.get(section) or {})
        ranked = sorted(options, key=lambda o: (order.index(o), "") if o in order else (len(order), o))
        config["marian-args"][section] = {option: options[option] for option in ranked}


_PLACEHOLDER = re.compile(r"\{[^{}/]*\}|%7B[^/]*?%7D|<[^<>/]*>", re.IGNORECASE)
_NOT_LOCALES = {"aln", "tok", "icu", "spm", "zst", "txt", "gz", "npz", "bin", "dev", "all"}


def continuation_urls(config):
    """[(key path, URL, is a file)] of every URL in the continuation block."""
    continuation = config.get("continuation") or {}
    urls = []
    vocab = continuation.get("vocab") or {}
    urls += [(["continuation", "vocab", side], vocab[side], True) for side in ("src", "trg") if side in vocab]
    for name, corpus in sorted((continuation.get("corpora") or {}).items()):
        urls += [(["continuation", "corpora", name, key], value, True)
                 for key, value in sorted(corpus.items()) if key != "sha256"]
    for name, model in sorted((continuation.get("models") or {}).items()):
        urls += [(["continuation", "models", name, "urls", i], url, False) for i, url in enumerate(model["urls"])]
    return urls


def placeholder_urls(config):
    """[(key path, placeholder)] of URLs still holding a placeholder such as `{task_id}`."""
    found = []
    for path, url, _file in continuation_urls(config):
        match = _PLACEHOLDER.search(url)
        if match:
            found.append((path, match.group(0)))
    return found


def _url_locale(url):
    """The locale a file name carries before its extension (`vocab.ja.spm` -> `ja`), or None."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    name = re.sub(r"%2F", "/", name, flags=re.IGNORECASE).rsplit("/", 1)[-1]
    parts = name.split(".")
    if len(parts) < 3 or parts[-1] not in ("spm", "zst", "gz", "txt", "vocab"):
        return None
    candidate = parts[-2].lower()
    if candidate in _NOT_LOCALES or not _LOCALE.fullmatch(candidate):
        return None
    return candidate


def _check_url_texts(config, base_name, warnings, written):
    """Placeholders left in a URL are errors in a complete config, warnings in a snippet (only a
    preview); file names carrying another locale than the experiment's are warnings."""
    for path, placeholder in placeholder_urls(config):
        if base_name != CI_EXAMPLE:
            raise ConfigError(path, f"the URL still holds the placeholder {placeholder}: replace it with the real value")
        where = ".".join(map(str, _written_path(path, written)))
        warnings.append(f"{where}: the URL still holds the placeholder {placeholder}: replace it before launching")
    experiment = config["experiment"]
    languages = {experiment[side].lower().replace("-", "_").split("_")[0] for side in ("src", "trg")}
    for path, url, is_file in continuation_urls(config):
        locale = _url_locale(url) if is_file else None
        if locale and locale.replace("-", "_").split("_")[0] not in languages:
            where = ".".join(map(str, _written_path(path, written)))
            warnings.append(
                f"{where}: the file name says {locale!r}, but the experiment is "
                f"{experiment['src']} -> {experiment['trg']}: is it the right file?"
            )


def marian_args_origins(raw):
    """{section: [(option, value or None if removed, origin)]}: the Marian options a config passes,
    per section, and where each came from: `config`, `the pipeline defaults` or `the CI example`;
    options removed by false/null say what they removed."""
    config = load_training_config(raw, log=False)
    base_name, _base = config_base(raw)
    written = (raw or {}).get("marian-args") or {}
    if base_name == CI_EXAMPLE:
        layers = [(CI_EXAMPLE, _parsed(CI_EXAMPLE_PATH)), (PIPELINE_DEFAULTS, _parsed(PIPELINE_DEFAULTS_PATH))]
    else:
        layers = [(PIPELINE_DEFAULTS, _parsed(PIPELINE_DEFAULTS_PATH))]
    result = {}
    for section in MARIAN_SECTION_COMMANDS:
        rows = []
        mine = written.get(section) or {}
        for option, value in config["marian-args"].get(section, {}).items():
            if value is False:
                continue  # removed: listed below, from the config
            origin = "config" if option in mine else next(
                (name for name, layer in layers if option in ((layer.get("marian-args") or {}).get(section) or {})),
                "?",
            )
            rows.append((option, value, origin))
        for option, value in mine.items():
            if value is None or value is False:
                inherited = next(
                    (f"{name}'s {layer['marian-args'][section][option]}" for name, layer in layers
                     if option in ((layer.get("marian-args") or {}).get(section) or {})),
                    None,
                )
                rows.append((option, None, f"removed by the config{f' (was {inherited})' if inherited else ''}"))
        result[section] = rows
    return result


def load_training_config(raw=None, *, log=True):
    """Merge `raw` over the default config, normalise and validate it; return the result."""
    config, _hints, _warnings, _written = _load(config_json(raw), log)
    return copy.deepcopy(config)


def config_notes(raw=None):
    """The hints (non-canonical spellings) and warnings (legacy block) of a config."""
    _config, hints, warnings, _written = _load(config_json(raw), False)
    return list(hints), list(warnings)


def written_path(raw, path):
    """A key path of the loaded config as the user wrote it in `raw` (legacy block, aliases, url)."""
    written = dict(_load(config_json(raw), False)[3])
    return _written_path(path, written)


@functools.lru_cache(maxsize=16)
def _load(raw_json, log):
    raw = json.loads(raw_json)
    if not isinstance(raw, dict):
        raise ConfigError([], "expected a mapping", raw, True)
    base_name, base = config_base(raw)
    if raw == ci_example():
        base = ci_example()  # the CI example itself (the parameters' default): keep its option order
    config = deep_merge(base, raw)
    hints, warnings, written = [], [], {}
    if base_name == CI_EXAMPLE and raw:
        warnings.append(SNIPPET_WARNING)
    incomplete = _incomplete(raw)  # reported after any error about a value the config gives
    config = _normalise_continuation(config, hints, warnings, written)
    try:
        try:
            config = TRAINING_CONFIG_SCHEMA(config)
        except MultipleInvalid as e:
            errors = sorted(e.errors, key=lambda err: [str(p) for p in err.path])
            # A value the config gives that is wrong comes first; then what a complete config lacks.
            given = [err for err in errors if not str(err.error_message).startswith("required key not provided")]
            if incomplete is not None and not given:
                raise incomplete from None
            raise _error_from_voluptuous((given or errors)[0], config) from None
        if incomplete is not None:
            raise incomplete
        _check_rules(config)
        _check_marian_args(config, raw)
        _check_url_texts(config, base_name, warnings, written)
        _check_url_hosts(config, warnings)
    except ConfigError as error:
        path = _written_path(error.path, written)
        if path != list(error.path):
            raise error.at(path) from None
        raise
    if log:
        for hint in hints:
            logger.info(f"training_config hint: {hint}")
        for warning in warnings:
            logger.warning(f"training_config: {warning}")
    return config, tuple(hints), tuple(warnings), tuple(written.items())


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
    corpora = schema["properties"]["continuation"]["properties"]["corpora"]
    corpora["properties"] = {
        alias: copy.deepcopy(corpora["properties"][name]) for alias, name in CORPUS_ALIASES.items()
    }


def _to_json_schema(node, partial=False):
    if hasattr(node, "json_schema"):
        return dict(node.json_schema)
    if isinstance(node, dict):
        properties, required, additional = {}, [], False
        for key, value in node.items():
            name = getattr(key, "schema", key)
            if isinstance(name, str):
                properties[name] = _to_json_schema(value, partial)
                if getattr(key, "description", None):
                    properties[name]["description"] = key.description
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
