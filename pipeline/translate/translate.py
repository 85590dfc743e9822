"""Translate a chunk of text with one Marian model or a teacher ensemble.

Inputs: --input FILE (.zst); either --models FILE... with --vocab-src/--vocab-trg (the backwards
model), or --models-dir DIR --model-name NAME with --src/--trg: every DIR/<member>/NAME decodes
as one ensemble, with the vocab each member ships (DIR/<member>/vocab.{src,trg}.spm, which must
be identical across members). --nbest writes Marian's n-best list (`id ||| text ||| features |||
score`, beam-size entries per line) for the distillation's best-of-n selection.
--decoder: the teachers' decoder; this pipeline decodes with Marian only.
Marian options after `--` (the config's `marian-args.decoding-*`) override the defaults of
pipeline.common.marian.DECODE_DEFAULTS; `--option false` removes one.

Artifact: --output (one translation, or beam-size n-best entries, per input line), published
atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from pipeline.common import marian
from pipeline.common.io import StepError, run


def split_marian_args(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        return argv[:split], argv[split + 1:]
    return argv, []


def add_model_args(parser):
    """One model (`--models`, `--vocab-src`, `--vocab-trg`) or an ensemble directory."""
    parser.add_argument("--models", "--model", nargs="+", dest="models", metavar="FILE")
    parser.add_argument("--vocab-src")
    parser.add_argument("--vocab-trg")
    parser.add_argument("--models-dir", metavar="DIR")
    parser.add_argument("--model-name", metavar="NAME")
    parser.add_argument("--src")
    parser.add_argument("--trg")


def resolve_models(args, parser):
    """(model paths, vocab paths) from either form of the model flags."""
    if args.models_dir:
        if args.models or not args.model_name or not (args.src and args.trg):
            parser.error("--models-dir needs --model-name, --src and --trg (and no --models)")
        return marian.ensemble_members(args.models_dir, args.model_name, args.src, args.trg)
    if not args.models or not (args.vocab_src and args.vocab_trg):
        parser.error("give --models with --vocab-src and --vocab-trg, or --models-dir with --model-name")
    for path in args.models + [args.vocab_src, args.vocab_trg]:
        if not os.path.isfile(path):
            raise StepError(f"{path}: no such file")
    return list(args.models), [args.vocab_src, args.vocab_trg]


def main(argv=None):
    argv, marian_args = split_marian_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    add_model_args(parser)
    parser.add_argument("--decoder", default="marian")
    parser.add_argument("--nbest", action="store_true")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.decoder != "marian":
        raise StepError(f"--decoder {args.decoder}: this pipeline's images decode with Marian only "
                        f"(set experiment.teacher-decoder: marian)")
    models, vocabs = resolve_models(args, parser)
    with tempfile.TemporaryDirectory(prefix="translate-") as work:
        lines = marian.decode(models, vocabs, args.input, args.output, work, marian.parse_options(marian_args),
                              "translate.py", nbest=args.nbest)
    print(f"translate.py: translated {lines} lines with {len(models)} model(s) into {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
