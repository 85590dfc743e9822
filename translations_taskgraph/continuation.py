"""Training continuation as one table of rules, applied to the pipeline plan.

Each continuation input (the vocab, a corpus, a model) gets a download task (kind `continuation`)
that publishes its files under the artifact names of the tasks it stands in for. A rule says which
tasks the input replaces and what the download publishes. The rewrite has two halves:

- the whole-graph half, `apply_continuation` (run by `pipeline.build_plan`): creates the downloads,
  takes the replaced tasks out of the plan and rewires every consumer edge to the download, and
  gives a training task that stays (a model in `continue` or `init` mode) an upstream on its
  download. Tasks that then feed nothing are pruned by `pipeline.prune`, evaluations of a replaced
  model with them. These are decisions about the whole graph: they must be made once, before any
  kind loads, so that every kind sees the same graph;
- the per-task half, the transform `translations_taskgraph.transforms.continuation`, listed in the
  `transforms:` of every kind named by a rule (`rewritten_kinds()`): it drops the kind's replaced
  tasks from the graph and adds to a training task the flags of its mode (`training_flags`:
  `train.py --resume-from` for the checkpoint to resume, `train.py --pretrained-model` for
  the weights to start from, the flag the fine-tuned student starts from the student with).
"""

import dataclasses
from dataclasses import dataclass

from .training_config import ConfigError, written_path
from .planned import FETCHES_DIR, Edge, PlannedTask, base_context, fmt

DOWNLOAD_KIND = "continuation"

BEST_MODEL = "final.model.npz.best-{best_model}.npz"
# Where the best model may be in a real model directory, by the names runs over the years gave it;
# the download publishes the first that exists as BEST_MODEL (download.py --file-candidates).
BEST_MODEL_CANDIDATES = (
    BEST_MODEL,
    "model.npz.best-{best_model}.npz",
    "final.model.npz",
    "model.npz",
)
VOCABS = ("vocab.{src}.spm", "vocab.{trg}.spm")
CHECKPOINT = (
    "model.npz",
    "model.npz.best-{best_model}.npz",
    "model.npz.optimizer.npz",
    "model.npz.progress.yml",
    "model.npz.yml",
)

# What a model download publishes, per mode. The vocab is always published (decided at run time
# between a joint vocab.spm and per-language files) because consumers must use the model's vocab.
MODEL_ARTIFACTS = {
    "use": (BEST_MODEL,) + VOCABS,
    "init": (BEST_MODEL,) + VOCABS,
    "continue": CHECKPOINT + (BEST_MODEL,) + VOCABS,
}


@dataclass(frozen=True)
class ModelRule:
    kind: str  # the training kind the model stands in for
    ensemble: bool = False  # one download per teacher-ensemble member
    # Later training starts from this model even in `use` mode (the fine-tuned student starts
    # from the student), so the whole graph must use the model's vocab then too.
    trained_on_when_used: bool = False


@dataclass(frozen=True)
class CorpusRule:
    stem: str  # artifact stem: corpus.{src}.zst or mono.{src}.zst
    replaces: tuple  # (kind, {attribute: value}) of the tasks whose output the corpus is
    replaces_with_alignments: tuple  # further tasks replaced when tok-*/alignments are given


MODEL_RULES = {
    "backwards": ModelRule(kind="backtranslations-train-backwards-model"),
    "teacher": ModelRule(kind="train-teacher-model", ensemble=True),
    "student": ModelRule(kind="distillation-student-model-train", trained_on_when_used=True),
}

CORPUS_RULES = {
    "parallel": CorpusRule(
        stem="corpus",
        replaces=(("corpus-merge-parallel", {}),),
        replaces_with_alignments=(("corpus-align-parallel", {}),),
    ),
    "backtranslations": CorpusRule(
        stem="mono",
        replaces=(
            ("backtranslations-mono-trg-dechunk-translations", {}),
            ("corpus-merge-mono", {"direction": "trg"}),
        ),
        replaces_with_alignments=(("corpus-align-backtranslations", {}),),
    ),
    "distillation": CorpusRule(
        stem="corpus",
        replaces=(("distillation-corpus-final-filtering", {}),),
        replaces_with_alignments=(("corpus-align-distillation", {}),),
    ),
}

VOCAB_REPLACES = (("build-vocab", {}),)

# Flags of the training script that resume from a checkpoint, and the Marian options for the
# known traps of resuming (an early-stopped model stops at once; a new corpus needs a new position).
CONTINUE_FLAGS = ("--resume-from", "{fetch[pretrained]}")
RESET_STALLED_MARIAN_ARGS = ("--valid-reset-stalled",)
NO_RESTORE_CORPUS_MARIAN_ARGS = ("--no-restore-corpus",)
INIT_FLAGS = ("--pretrained-model", "{fetch[pretrained]}/" + BEST_MODEL)


def apply_continuation(plan, templates):
    continuation = plan.config.get("continuation") or {}
    if not continuation:
        return
    template = templates[DOWNLOAD_KIND][0]
    context = base_context(plan.config)
    vocab_provider = None
    if "vocab" in continuation:
        vocab_provider = _apply_vocab(plan, template, context, continuation["vocab"])
    for name, corpus in sorted((continuation.get("corpora") or {}).items()):
        _apply_corpus(plan, template, context, name, corpus)
    for name, model in sorted((continuation.get("models") or {}).items(), key=_model_order):
        model_vocab = _apply_model(plan, template, context, name, model)
        if model_vocab is not None and vocab_provider is None:
            # Training on from a model needs the model's own vocab, everywhere.
            vocab_provider = model_vocab
            _replace_vocab(plan, model_vocab, f"replaced by the vocab of continuation.models.{name}")
    if "vocab" in continuation:
        _replace_vocab(plan, vocab_provider, "replaced by continuation.vocab")


def vocab_files(vocab, context):
    """[(published name, URL)] of the vocab input."""
    return [(fmt(VOCABS[0], context), vocab["src"]), (fmt(VOCABS[1], context), vocab["trg"])]


def corpus_files(name, corpus, context):
    """[(published name, URL)] of a corpus input: the two sides, and tokens + alignments if given."""
    stem, src, trg = CORPUS_RULES[name].stem, context["src"], context["trg"]
    files = [(f"{stem}.{src}.zst", corpus["src"]), (f"{stem}.{trg}.zst", corpus["trg"])]
    if "alignments" in corpus:
        files += [
            (f"{stem}.tok-icu.{src}.zst", corpus["tok-src"]),
            (f"{stem}.tok-icu.{trg}.zst", corpus["tok-trg"]),
            (f"{stem}.aln.zst", corpus["alignments"]),
        ]
    return files


def model_artifacts(mode, context):
    """The names a model download publishes in a mode (the vocab included)."""
    return [fmt(artifact, context) for artifact in MODEL_ARTIFACTS[mode]]


def check_pins(config, raw):
    """Every `sha256` pin must name a file its input publishes (checked when the plan is built);
    an error names the key as the user wrote it in `raw`."""
    try:
        _check_pins(config)
    except ConfigError as error:
        path = written_path(raw, error.path)
        if path != list(error.path):
            raise error.at(path) from None
        raise


def _check_pins(config):
    continuation = config.get("continuation") or {}
    context = base_context(config)
    inputs = []
    if "vocab" in continuation:
        inputs.append((["vocab"], continuation["vocab"], [n for n, _ in vocab_files(continuation["vocab"], context)]))
    for name, corpus in sorted((continuation.get("corpora") or {}).items()):
        inputs.append((["corpora", name], corpus, [n for n, _ in corpus_files(name, corpus, context)]))
    for name, model in sorted((continuation.get("models") or {}).items()):
        inputs.append((["models", name], model, model_artifacts(model["mode"], context)))
    for path, spec, published in inputs:
        for pin in sorted(spec.get("sha256") or {}):
            if pin not in published:
                raise ConfigError(
                    ["continuation", *path, "sha256", pin],
                    f"pins must name a file this input publishes: {', '.join(published)}",
                )


def _apply_vocab(plan, template, context, vocab):
    files = vocab_files(vocab, context)
    return _download(plan, template, context, "vocab", label="continuation-vocab-{src}-{trg}", files=files,
                     pins=vocab.get("sha256"))


def _apply_corpus(plan, template, context, name, corpus):
    rule = CORPUS_RULES[name]
    aligned = "alignments" in corpus
    download = _download(plan, template, context, f"corpus-{name}", label=f"continuation-corpus-{name}-{{src}}-{{trg}}",
                         files=corpus_files(name, corpus, context), pins=corpus.get("sha256"))
    for kind, attributes in rule.replaces + (rule.replaces_with_alignments if aligned else ()):
        _replace(plan, {task.label: download for task in plan.find(kind, **attributes)},
                 f"replaced by continuation.corpora.{name}")


def _apply_model(plan, template, context, name, model):
    """Download the model (per ensemble member); return the download whose vocab all must use, if any."""
    rule = MODEL_RULES[name]
    trained = plan.find(rule.kind)
    urls = model["urls"]
    ensemble = plan.config["experiment"]["teacher-ensemble"]
    if len(set(urls)) < len(urls):
        where = ".".join(map(str, written_path(plan.raw, ["continuation", "models", name])))
        plan.warnings.append(f"{where}: the same URL is listed more than once; those members are one model")
    if rule.ensemble and model["mode"] == "use" and len(urls) != ensemble:
        where = ".".join(map(str, written_path(plan.raw, ["continuation", "models", name])))
        plan.warnings.append(
            f"{where}: mode use with {len(urls)} URL(s) makes an ensemble of {len(urls)}; "
            f"experiment.teacher-ensemble ({ensemble}) does not apply"
        )
    downloads = {}
    for task in trained:
        member = task.context.get("member")
        url = urls[member - 1] if rule.ensemble and len(urls) > 1 else urls[0]
        downloads[task.label] = _download(
            plan, template, {**context, **({"member": member} if member else {})}, f"model-{name}",
            label=f"continuation-model-{name}-{{src}}-{{trg}}" + (f"-{member}" if rule.ensemble else ""),
            files=[(artifact, _model_file_urls(url, artifact, context))
                   for artifact in model_artifacts(model["mode"], context)
                   if artifact not in {fmt(v, context) for v in VOCABS}],
            vocab_dir=url, pins=model.get("sha256"), mode=model["mode"],
        )
    if model["mode"] == "use":
        _replace(plan, downloads, f"replaced by continuation.models.{name} (mode use)")
    else:
        for task in trained:
            _attach_pretrained(task, downloads[task.label], model)
    if trained and (model["mode"] != "use" or rule.trained_on_when_used):
        return downloads[trained[0].label]
    return None


def _model_file_urls(url, artifact, context):
    """The URL of a model file; for the best model, the candidate URLs, in order."""
    if artifact != fmt(BEST_MODEL, context):
        return f"{url.rstrip('/')}/{artifact}"
    return [f"{url.rstrip('/')}/{fmt(name, context)}" for name in BEST_MODEL_CANDIDATES]


def _replace_vocab(plan, provider, reason):
    for kind, attributes in VOCAB_REPLACES:
        _replace(plan, {task.label: provider for task in plan.find(kind, **attributes)}, reason)


def _model_order(item):
    # The teacher's vocab wins when several models bring their own.
    return ("teacher", "backwards", "student").index(item[0])


def _download(plan, template, context, input_name, *, label, files, pins=None, vocab_dir=None, mode=None):
    label = fmt(label, context)
    artifacts = [name for name, _url in files]
    if vocab_dir:
        artifacts += [fmt(v, context) for v in VOCABS]
    task_context = {**context, "label": label, "input": input_name}
    task_context["stage"] = fmt(template["stage"], task_context)
    task = PlannedTask(label=label, kind=DOWNLOAD_KIND, template=template, context=task_context,
                       artifacts=artifacts)
    args = []
    for name, url in files:
        # One URL, or candidate URLs: the first that exists is published under `name`.
        args += ["--file", name, url] if isinstance(url, str) else ["--file-candidates", name, *url]
    if vocab_dir:
        args += ["--vocab-dir", vocab_dir, "--src", context["src"], "--trg", context["trg"]]
    for name, digest in sorted((pins or {}).items()):
        args += ["--pin", name, digest]
    task.extra_args = args
    urls = {u for _n, url in files for u in ([url] if isinstance(url, str) else url)}
    task.continuation = {"input": input_name, "mode": mode, "urls": sorted(urls | ({vocab_dir} if vocab_dir else set()))}
    plan.tasks[label] = task
    return task


def _replace(plan, mapping, reason):
    """Remove the tasks of `mapping` ({label: download}) and point their consumers at the download."""
    mapping = {label: download for label, download in mapping.items() if label in plan.tasks}
    if not mapping:
        return
    for label, download in mapping.items():
        # Kept for the kind's continuation transform, which drops it from the graph.
        plan.replaced[label] = (plan.tasks.pop(label), download.label)
        plan.removed[label] = reason
    for consumer in plan.tasks.values():
        for name, edge in list(consumer.upstreams.items()):
            download = mapping.get(edge.label)
            if download is None:
                continue
            if edge.subject:
                # An evaluation of a model that is only downloaded: nothing new to measure.
                del consumer.upstreams[name]
                continue
            missing = [a for a in edge.artifacts if a not in download.artifacts]
            if missing:
                if edge.optional:
                    del consumer.upstreams[name]
                    continue
                raise ValueError(
                    f"continuation rule error: {consumer.label} fetches {missing} from {edge.label}, "
                    f"which {download.label} does not publish"
                )
            plan.rewired[(consumer.label, name)] = (edge.label, download.label)
            edge.label = download.label


def _attach_pretrained(task, download, model):
    """A training task that stays fetches the download (its flags come from `training_flags`)."""
    task.upstreams["pretrained"] = Edge(label=download.label, artifacts=list(download.artifacts), dest="pretrained")
    task.continuation = {"input": download.continuation["input"], "mode": model["mode"], "download": download.label}


def model_rule_of_kind(kind):
    """(name, ModelRule) of the training kind a continuation model stands in for, or None."""
    for name, rule in MODEL_RULES.items():
        if rule.kind == kind:
            return name, rule
    return None


def training_flags(plan, task):
    """(script flags, Marian arguments) for a training task that resumes (`continue`) or starts
    (`init`) from a downloaded model; ([], []) for any other task. Our own templates, rendered
    now: user values never pass through str.format."""
    found = model_rule_of_kind(task.kind)
    if not found or not task.continuation.get("download"):
        return [], []
    model = plan.config["continuation"]["models"][found[0]]
    context = {**task.context, "fetch": {"pretrained": f"{FETCHES_DIR}/pretrained"}}
    args, marian_args = [], []
    if model["mode"] == "continue":
        args += [fmt(arg, context) for arg in CONTINUE_FLAGS]
        if model.get("reset-stalled"):
            marian_args += list(RESET_STALLED_MARIAN_ARGS)
        if model.get("restore-corpus") is False:
            marian_args += list(NO_RESTORE_CORPUS_MARIAN_ARGS)
    elif model["mode"] == "init":
        args += [fmt(arg, context) for arg in INIT_FLAGS]
    return args, marian_args


def with_training_flags(plan, task):
    """The task as the continuation transform hands it on: a copy with `training_flags` added
    (the task itself when it gets none; the plan's tasks are shared and never changed)."""
    args, marian_args = training_flags(plan, task)
    if not (args or marian_args):
        return task
    return dataclasses.replace(
        task, extra_args=task.extra_args + args, extra_marian_args=task.extra_marian_args + marian_args
    )


def rewritten_kinds():
    """The kinds whose tasks the rules replace or rewrite: each lists the continuation transform."""
    kinds = {rule.kind for rule in MODEL_RULES.values()}
    kinds |= {kind for kind, _ in VOCAB_REPLACES}
    for rule in CORPUS_RULES.values():
        kinds |= {kind for kind, _ in rule.replaces + rule.replaces_with_alignments}
    return kinds
