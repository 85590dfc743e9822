"""Train a Marian model: the backwards model, a teacher, the student or the fine-tuned student.

Inputs
  --train-corpus-prefix P   P.{src}.zst / P.{trg}.zst: plain text, or ICU tokens (`*.tok-icu`, the
                            alignment steps' output) that are turned back into text
  --alignments FILE         word alignments of that corpus: Marian's guided alignment, mapped onto
                            SentencePiece pieces (pipeline/train/corpus.py)
  --backtranslations-prefix / --backtranslations-alignments  the teacher's back-translated corpus
  --vocab-src / --vocab-trg  SentencePiece vocabs; --devset-prefix P: P.{src}.zst / P.{trg}.zst
  --best-model METRIC        the validation metric whose best checkpoint is the result
  -- MARIAN OPTIONS          the config's `marian-args`; each option overrides the preset's, and
                            `--option false` removes the preset's option (not --keep-best)
Model type presets (PRESETS below): backwards, teacher (--teacher-mode one-stage: original and
back-translated data mixed; two-stage: that, then the original corpus alone from the first
stage's checkpoint, each stage for `--after`), student and finetuned-student (--student-model
tiny, base or base-memory).

Continuation
  --resume-from DIR         continue: DIR's checkpoint set (model.npz, .optimizer.npz,
                            .progress.yml, .yml and the best model) is put in the model directory
                            under Marian's names before Marian starts, so Marian goes on from the
                            checkpoint's update with its optimizer state. A checkpoint that
                            already reached `--after` is an error saying how to extend it.
  --pretrained-model FILE   init: Marian's --pretrained-model (weights only; progress from zero).
Before Marian starts, the model resumed or initialised from must fit the vocab: the vocab files
shipped beside it (vocab.{src}.spm, vocab.{trg}.spm) must have the same sha256 as --vocab-src /
--vocab-trg, and its embedding rows must equal the vocab sizes.
SIGTERM (spot preemption) is forwarded to Marian, which saves a checkpoint; the checkpoint set is
then published and the step exits non-zero, so a `continue` run resumes from it. A Taskcluster
retry of the task (RUN_ID > 0) resumes by itself from the checkpoint set of the latest earlier run
that published one (fetched from the Queue at TASKCLUSTER_ROOT_URL).

Artifacts (--output-dir), all published atomically
  final.model.npz.best-{metric}.npz (+ .decoder.yml), vocab.{src}.spm, vocab.{trg}.spm, and
  Marian's checkpoint set: model.npz, model.npz.best-{metric}.npz, model.npz.optimizer.npz,
  model.npz.progress.yml, model.npz.yml.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from typing import Dict, List, Optional

import yaml

from pipeline.common import marian
from pipeline.common.io import StepError, publish, read_lines, run, write_lines
from pipeline.common.marian import MODEL, best_name, merge_options, parse_options, render_options
from pipeline.train.corpus import corpus_lines

MODEL_TYPES = ("backwards", "teacher", "student", "finetuned-student")
METRICS = ("chrf", "ce-mean-words", "bleu-detok")

# Options every model shares; then per model type. The config's marian-args override any of them.
COMMON = {
    "type": ["transformer"],
    "max-length": ["400"],
    "maxi-batch": ["1000"],
    "early-stopping": ["20"],
    "valid-freq": ["3000u"],
    "save-freq": ["3000u"],
    "disp-freq": ["1000u"],
    "after": ["0"],
    "cost-type": ["ce-mean-words"],
    "valid-max-length": ["300"],
    "valid-mini-batch": ["32"],
    "beam-size": ["6"],
    "normalize": ["1.0"],
    "overwrite": [],
    "keep-best": [],
    "quiet-translation": [],
    "label-smoothing": ["0.1"],
    "optimizer-params": ["0.9", "0.98", "1e-09"],
    "clip-norm": ["0"],
    "learn-rate": ["0.0003"],
    "lr-warmup": ["8000"],
    "lr-decay-inv-sqrt": ["8000"],
    "lr-report": [],
    "transformer-dropout": ["0.1"],
    "guided-alignment-weight": ["0.1"],
}

# Only when training on GPUs (real runs): on CPU a 12 GB workspace and smoothed weights that barely
# move in 100 updates would spoil a toy run. A config removes any preset option with `option: false`
# (the graph passes `--option false`).
GPU = {"mini-batch-fit": [], "workspace": ["12000"], "sync-sgd": [], "exponential-smoothing": []}

TRANSFORMER_BASE = {
    "dim-emb": ["512"], "enc-depth": ["6"], "dec-depth": ["6"], "transformer-heads": ["8"],
    "transformer-dim-ffn": ["2048"], "transformer-postprocess": ["dan"],
}
TRANSFORMER_BIG = {
    "dim-emb": ["1024"], "enc-depth": ["6"], "dec-depth": ["6"], "transformer-heads": ["16"],
    "transformer-dim-ffn": ["4096"], "transformer-postprocess": ["dan"], "learn-rate": ["0.0002"],
}
# Students: a deep encoder and a shallow SSRU decoder (fast on CPU).
_STUDENT = {
    "enc-depth": ["6"], "transformer-decoder-autoreg": ["rnn"], "dec-cell": ["ssru"],
    "transformer-ffn-activation": ["relu"], "transformer-heads": ["8"], "transformer-postprocess": ["dan"],
    "learn-rate": ["0.0003"],
}
STUDENTS = {
    "tiny": {**_STUDENT, "dim-emb": ["256"], "dec-depth": ["2"], "transformer-dim-ffn": ["1536"]},
    "base": {**_STUDENT, "dim-emb": ["512"], "dec-depth": ["2"], "transformer-dim-ffn": ["2048"]},
    "base-memory": {**_STUDENT, "dim-emb": ["384"], "dec-depth": ["4"], "transformer-dim-ffn": ["1536"]},
}
PRESETS = {
    "backwards": TRANSFORMER_BASE,
    "teacher": TRANSFORMER_BIG,
}
FINETUNE = {"learn-rate": ["0.0001"], "lr-warmup": ["0"], "lr-decay-inv-sqrt": ["0"], "early-stopping": ["10"]}

# Set by this step from its flags; a config that sets them would bypass its checks.
STEP_OPTIONS = {"model", "m", "train-sets", "t", "vocabs", "v", "valid-sets", "guided-alignment",
                "log", "valid-log", "pretrained-model", "tsv", "tsv-fields"}
# Preset options the step relies on: a config cannot remove them.
STEP_NEEDS_WHY = {"keep-best": "it publishes the best model Marian keeps"}
STEP_NEEDS = set(STEP_NEEDS_WHY)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--vocab-src", required=True)
    parser.add_argument("--vocab-trg", required=True)
    parser.add_argument("--devset-prefix", required=True)
    parser.add_argument("--best-model", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--experiment", default="")
    parser.add_argument("--wandb-publication", action="store_true")
    parser.add_argument("--model-type", required=True, choices=MODEL_TYPES)
    parser.add_argument("--teacher-mode", choices=("one-stage", "two-stage"), default="two-stage")
    parser.add_argument("--student-model", choices=sorted(STUDENTS), default="tiny")
    parser.add_argument("--train-corpus-prefix", required=True)
    parser.add_argument("--alignments")
    parser.add_argument("--backtranslations-prefix")
    parser.add_argument("--backtranslations-alignments")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--resume-from", metavar="DIR")
    parser.add_argument("--pretrained-model", metavar="FILE")
    parser.add_argument("--work-dir", help="Marian's model directory and data (default: beside --output-dir)")
    argv = list(sys.argv[1:] if argv is None else argv)
    marian_args = []
    if "--" in argv:
        split = argv.index("--")
        argv, marian_args = argv[:split], argv[split + 1:]
    args = parser.parse_args(argv)
    if args.resume_from and args.pretrained_model:
        parser.error("--resume-from (continue) and --pretrained-model (init) exclude each other")
    return args, marian_args


def preset(args, joint_vocab: bool, gpus: bool) -> Dict[str, List[str]]:
    layers = [COMMON, GPU if gpus else {}]
    if args.model_type in ("student", "finetuned-student"):
        layers.append(STUDENTS[args.student_model])
    else:
        layers.append(PRESETS[args.model_type])
    if args.model_type == "finetuned-student":
        layers.append(FINETUNE)
    layers.append({"tied-embeddings-all": []} if joint_vocab else {"tied-embeddings": []})
    return merge_options(*layers)


def assemble_options(args, marian_args, joint_vocab):
    config = parse_options(marian_args)
    owned = sorted(set(config) & STEP_OPTIONS)
    if owned:
        raise StepError(f"Marian arguments: --{owned[0]} is set by train.py from its own flags; remove it")
    needed = sorted(STEP_NEEDS & (set(config) - marian.given(config)))
    if needed:
        raise StepError(f"Marian arguments: --{needed[0]} false: train.py needs --{needed[0]} "
                        f"({STEP_NEEDS_WHY[needed[0]]}); remove `{needed[0]}: false` from the config")
    gpus = "cpu-threads" not in marian.given(config) and marian.gpu_count() > 0
    options = merge_options(preset(args, joint_vocab, gpus), config)
    metrics = options.get("valid-metrics") or [args.best_model] + [m for m in METRICS if m != args.best_model]
    options["valid-metrics"] = [args.best_model] + [m for m in metrics if m != args.best_model]
    if args.seed is not None:
        options["seed"] = [str(args.seed)]
    return marian.with_devices(options, "train.py")


# ------------------------------------------------------------------------------------------------
class Trainer:
    def __init__(self, args, marian_args):
        self.args = args
        # The model's direction: the backwards model translates trg -> src, from the same flags.
        self.reverse = args.model_type == "backwards"
        self.src, self.trg = (args.trg, args.src) if self.reverse else (args.src, args.trg)
        self.vocab_src, self.vocab_trg = ((args.vocab_trg, args.vocab_src) if self.reverse
                                          else (args.vocab_src, args.vocab_trg))
        output = os.path.abspath(args.output_dir)
        self.work = os.path.abspath(args.work_dir or os.path.join(os.path.dirname(output),
                                                                  "." + os.path.basename(output) + ".train"))
        self.model_dir = os.path.join(self.work, "model")
        self.data_dir = os.path.join(self.work, "data")
        self.log = os.path.join(self.work, "train.log")
        joint = marian.sha256(args.vocab_src) == marian.sha256(args.vocab_trg)
        self.options = assemble_options(args, marian_args, joint)
        # `after` removed by the config: Marian's default, no limit (early stopping only).
        self.after = marian.parse_after((self.options.get("after") or ["0"])[0])

    # -- inputs ----------------------------------------------------------------------------------
    def check_inputs(self):
        args = self.args
        for path in (args.vocab_src, args.vocab_trg):
            marian.spm_size(path)
        dim_vocabs = self.options.get("dim-vocabs")
        if args.resume_from:
            model = os.path.join(args.resume_from, MODEL)
            marian.check_model_fits_vocab(model, self.vocab_src, self.vocab_trg, self.src, self.trg, dim_vocabs)
        if args.pretrained_model:
            marian.check_model_fits_vocab(args.pretrained_model, self.vocab_src, self.vocab_trg, self.src,
                                          self.trg, dim_vocabs)

    def write_data(self, name, datasets) -> List[str]:
        """Plain source/target (and piece alignment) files of `datasets` for one stage."""
        import sentencepiece

        spm_src = sentencepiece.SentencePieceProcessor(model_file=self.vocab_src)
        spm_trg = sentencepiece.SentencePieceProcessor(model_file=self.vocab_trg)
        paths = [os.path.join(self.data_dir, f"{name}.{lang}") for lang in (self.src, self.trg)]
        aligned = all(aln for _prefix, aln in datasets)
        if aligned:
            paths.append(os.path.join(self.data_dir, f"{name}.aln"))
        with write_lines(paths[0]) as src_out, write_lines(paths[1]) as trg_out, \
                (write_lines(paths[2]) if aligned else contextlib.nullcontext()) as aln_out:
            for prefix, alignments in datasets:
                for src_text, trg_text, alignment in corpus_lines(
                        prefix, self.src, self.trg, alignments if aligned else None, spm_src, spm_trg,
                        reverse=self.reverse):
                    src_out.write(src_text)
                    trg_out.write(trg_text)
                    if aln_out is not None:
                        aln_out.write(alignment)
            if src_out.count == 0:
                raise StepError(f"{datasets[0][0]}.{self.src}.zst: the training corpus is empty")
        return paths

    def write_devset(self):
        paths = []
        for lang in (self.src, self.trg):
            source = f"{self.args.devset_prefix}.{lang}.zst"
            target = os.path.join(self.data_dir, f"devset.{lang}")
            with write_lines(target) as out:
                out.write_all(read_lines(source))
                if out.count == 0:
                    raise StepError(f"{source}: the devset is empty")
            paths.append(target)
        return paths

    # -- checkpoints -----------------------------------------------------------------------------
    def earlier_run_checkpoint(self) -> Optional[str]:
        """A Taskcluster retry (RUN_ID > 0, e.g. after a spot preemption) resumes from the checkpoint
        set an earlier run of this task published; the directory it was downloaded to, or None."""
        task_id, run_id = os.environ.get("TASK_ID"), os.environ.get("RUN_ID", "")
        root = os.environ.get("TASKCLUSTER_ROOT_URL", "").rstrip("/")
        if not task_id or not run_id.isdigit() or int(run_id) == 0 or not root:
            return None
        from pipeline.common.http import NotFound, download

        names = marian.checkpoint_names(self.args.best_model)
        target = os.path.join(self.work, "earlier-run")
        for run_number in range(int(run_id) - 1, -1, -1):
            base = f"{root}/api/queue/v1/task/{task_id}/runs/{run_number}/artifacts/public%2Fbuild%2F"
            try:
                for name in names[:4]:
                    # The worker's own Queue (TASKCLUSTER_ROOT_URL), which may be a local one.
                    download(base + name, os.path.join(target, name), timeout=120, retries=5, allow_private=True)
            except NotFound:
                shutil.rmtree(target, ignore_errors=True)
                continue
            for name in names[4:] + [f"vocab.{self.src}.spm", f"vocab.{self.trg}.spm"]:
                try:
                    download(base + name, os.path.join(target, name), timeout=120, retries=5, allow_private=True)
                except NotFound:
                    pass
            print(f"train.py: run {run_id} of task {task_id} resumes from the checkpoint run {run_number} "
                  f"published", file=sys.stderr)
            return target
        return None

    def restore_checkpoint(self):
        """Put the whole checkpoint set into the model directory under Marian's names."""
        directory = self.args.resume_from
        metric = self.args.best_model
        for name in marian.checkpoint_names(metric)[:4]:
            if not os.path.exists(os.path.join(directory, name)):
                raise StepError(
                    f"{os.path.join(directory, name)}: missing from the checkpoint to resume; without the whole "
                    f"set ({', '.join(marian.checkpoint_names(metric)[:4])}) Marian would silently start again "
                    f"at update 1"
                )
        progress = marian.read_progress(os.path.join(directory, MODEL + ".progress.yml"))
        for name in marian.checkpoint_names(metric)[:4]:
            shutil.copyfile(os.path.join(directory, name), os.path.join(self.model_dir, name))
        best = next((os.path.join(directory, n) for n in (best_name(metric), f"final.{best_name(metric)}")
                     if os.path.exists(os.path.join(directory, n))), None)
        if best:
            shutil.copyfile(best, os.path.join(self.model_dir, best_name(metric)))
            shipped = best + ".decoder.yml"
            if os.path.exists(shipped):
                shutil.copyfile(shipped, os.path.join(self.model_dir, best_name(metric) + ".decoder.yml"))
        else:
            print(f"train.py: note: {directory} has no {best_name(metric)}; the best model will be the best "
                  f"of the resumed run", file=sys.stderr)
        print(f"train.py: resuming from {directory} at update {progress['batches']} "
              f"(epoch {progress.get('epochs')})", file=sys.stderr)
        return progress

    def progress(self) -> Optional[dict]:
        path = os.path.join(self.model_dir, MODEL + ".progress.yml")
        return marian.read_progress(path) if os.path.exists(path) else None

    def stage_of_checkpoint(self) -> Optional[str]:
        path = os.path.join(self.model_dir, MODEL + ".yml")
        try:
            with open(path, encoding="utf-8") as stream:
                config = yaml.safe_load(stream) or {}
        except (OSError, yaml.YAMLError):
            return None
        sets = config.get("train-sets") or []
        return os.path.basename(str(sets[0])).split(".")[0] if sets else None

    # -- stages ----------------------------------------------------------------------------------
    def stages(self):
        args = self.args
        corpus = (args.train_corpus_prefix, args.alignments)
        if args.model_type != "teacher" or not args.backtranslations_prefix:
            return [("train", [corpus])]
        everything = [corpus, (args.backtranslations_prefix, args.backtranslations_alignments)]
        if args.teacher_mode == "one-stage":
            return [("train", everything)]
        return [("pretrain", everything), ("finetune", [corpus])]

    def stage_target(self, index: int):
        """(count, progress key) at which stage `index` stops, or None (early stopping only)."""
        if self.after is None:
            return None
        count, key = self.after
        return count * (index + 1), key

    def run(self):
        args = self.args
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.model_dir)
        os.makedirs(self.data_dir)
        self.from_earlier_run = False
        if not args.resume_from:
            earlier = self.earlier_run_checkpoint()
            if earlier:
                # The earlier run's checkpoint supersedes the weights it was initialised with.
                args.resume_from, args.pretrained_model, self.from_earlier_run = earlier, None, True
        self.check_inputs()
        devset = self.write_devset()
        if args.resume_from:
            self.restore_checkpoint()
        if args.wandb_publication:
            print("train.py: note: publishing to Weights & Biases is not available in this image; "
                  "the metrics are in Marian's log", file=sys.stderr)
        stages = self.stages()
        first = 0
        if args.resume_from and len(stages) > 1 and self.stage_of_checkpoint() == stages[-1][0]:
            first = len(stages) - 1
        if self.finished(stages):
            self.publish_all()
            return
        for index in range(first, len(stages)):
            name, datasets = stages[index]
            target = self.stage_target(index)
            progress = self.progress()
            if target and progress and progress.get(target[1], 0) >= target[0] and index < len(stages) - 1:
                print(f"train.py: stage {name} already complete in the checkpoint", file=sys.stderr)
                continue
            data = self.write_data(name, datasets)
            options = dict(self.options)
            if target:
                options["after"] = [marian.format_after(*target)]
            if index > 0 and progress and self.stage_of_checkpoint() == stages[index - 1][0]:
                # A later stage goes on from the previous stage's checkpoint on other data.
                options = merge_options(options, {"no-restore-corpus": [], "valid-reset-stalled": []})
            if len(data) == 3:
                options["guided-alignment"] = [data[2]]
            print(f"train.py: stage {name}: training {args.model_type} on {', '.join(p for p, _ in datasets)}",
                  file=sys.stderr)
            self.run_marian(options, data[:2], devset)
        self.publish_all()

    def finished(self, stages) -> bool:
        """Whether the resumed checkpoint already reached the last stage's `--after`: an error
        saying how to extend it, unless this is a retry whose earlier run had trained to the end."""
        progress = self.progress()
        if not progress:
            return False
        target = self.stage_target(len(stages) - 1)
        if target and progress.get(target[1], 0) >= target[0]:
            if self.from_earlier_run:
                print("train.py: the earlier run had finished training; publishing its checkpoint", file=sys.stderr)
                return True
            after = self.options["after"][0]
            raise StepError(
                f"{os.path.join(self.args.resume_from, MODEL + '.progress.yml')}: the checkpoint already reached "
                f"--after {after} ({progress.get(target[1])} {target[1]}); resuming would train 0 updates. "
                f"To train on, set a larger `after` in the config's marian-args "
                f"(e.g. {marian.format_after(progress.get(target[1]) // len(stages) + self.after[0], target[1])}"
                f"{f', per stage of the {len(stages)}' if len(stages) > 1 else ''})"
            )
        return False

    def run_marian(self, options, train_sets, devset):
        argv = marian.marian_command("train") + render_options(options) + [
            "--model", os.path.join(self.model_dir, MODEL),
            "--train-sets", *train_sets,
            "--vocabs", self.vocab_src, self.vocab_trg,
            "--valid-sets", *devset,
            "--log", self.log,
        ]
        if self.args.pretrained_model and not os.path.exists(os.path.join(self.model_dir, MODEL)):
            argv += ["--pretrained-model", self.args.pretrained_model]
        try:
            marian.run_marian(argv, None, what="Marian training", marian_log=self.log)
        except marian.MarianTerminated:
            self.publish_all(interrupted=True)
            progress = self.progress() or {}
            raise StepError(
                f"terminated (SIGTERM): Marian saved its checkpoint at update {progress.get('batches', '?')}; "
                f"published the checkpoint set to {self.args.output_dir} for a `continue` run"
            ) from None

    # -- publishing ------------------------------------------------------------------------------
    def publish_all(self, interrupted=False):
        metric = self.args.best_model
        out = self.args.output_dir
        os.makedirs(out, exist_ok=True)
        best = os.path.join(self.model_dir, best_name(metric))
        if not interrupted and not os.path.exists(best):
            raise StepError(
                f"{best}: Marian wrote no best model for {metric}: validation never ran "
                f"(valid-freq larger than the training run?)"
            )
        copies = [(os.path.join(self.model_dir, n), n) for n in marian.checkpoint_names(metric)]
        copies += [(self.vocab_src, f"vocab.{self.src}.spm"), (self.vocab_trg, f"vocab.{self.trg}.spm")]
        if os.path.exists(best):
            copies.append((best, f"final.{best_name(metric)}"))
        for source, name in copies:
            if not os.path.exists(source):
                continue
            with publish(os.path.join(out, name)) as partial:
                shutil.copyfile(source, partial)
        if os.path.exists(best):
            self.publish_decoder_yml(best)

    def publish_decoder_yml(self, best):
        """A decoder config for the final names: relative paths, Marian's own search settings."""
        name = f"final.{best_name(self.args.best_model)}"
        config = {}
        for candidate in (best + ".decoder.yml", os.path.join(self.model_dir, MODEL + ".decoder.yml")):
            if os.path.exists(candidate):
                with open(candidate, encoding="utf-8") as stream:
                    config = yaml.safe_load(stream) or {}
                break
        config.update({
            "models": [name],
            "vocabs": [f"vocab.{self.src}.spm", f"vocab.{self.trg}.spm"],
            "relative-paths": True,
        })
        for key, default in (("beam-size", 6), ("normalize", 1.0), ("mini-batch", 16), ("maxi-batch", 100)):
            config.setdefault(key, default)
        with publish(os.path.join(self.args.output_dir, name + ".decoder.yml")) as partial:
            with open(partial, "w", encoding="utf-8") as stream:
                yaml.safe_dump(config, stream, sort_keys=False)


def main(argv=None):
    args, marian_args = parse_args(argv)
    trainer = Trainer(args, marian_args)
    trainer.run()
    shutil.rmtree(trainer.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run(main)
