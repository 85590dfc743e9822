"""Score distilled sentence pairs with the backwards model (cross-entropy filtering input).

Inputs: --corpus-prefix P with --src/--trg (P.{src}.zst, the source sentences, and P.{trg}.zst,
their distilled translations); --model, the backwards model (trg -> src) with its vocabs:
--vocab-src is the model's source-side vocab (the {trg} language), --vocab-trg its target side.
The backwards model scores each pair in its own direction: log P(source | translation),
normalized by length (`pymarian score --normalize`), so a bad translation scores low.
Marian options after `--` override the defaults.

Artifact: --output (scores.txt): one score per corpus line, in corpus order.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from pipeline.common import marian
from pipeline.common.io import StepError, decompress_file, publish, run
from pipeline.translate.translate import split_marian_args

SCORE_DEFAULTS = {"normalize": [], "mini-batch": ["32"], "maxi-batch": ["100"], "max-length": ["1000"],
                  "max-length-crop": [], "workspace": ["2000"]}


def main(argv=None):
    argv, marian_args = split_marian_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--vocab-src", required=True)
    parser.add_argument("--vocab-trg", required=True)
    parser.add_argument("--corpus-prefix", required=True)
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    for path in (args.model, args.vocab_src, args.vocab_trg):
        if not os.path.isfile(path):
            raise StepError(f"{path}: no such file")
    marian.check_decoder_vocabs(args.model, [args.vocab_src, args.vocab_trg])
    with tempfile.TemporaryDirectory(prefix="score-") as work:
        # The backwards model reads the translations ({trg}) and scores the sources ({src}).
        model_source = os.path.join(work, f"corpus.{args.trg}")
        model_target = os.path.join(work, f"corpus.{args.src}")
        lines = decompress_file(f"{args.corpus_prefix}.{args.trg}.zst", model_source)
        src_lines = decompress_file(f"{args.corpus_prefix}.{args.src}.zst", model_target)
        if lines != src_lines:
            raise StepError(f"{args.corpus_prefix}.{args.trg}.zst: has {lines} lines, "
                            f"{args.corpus_prefix}.{args.src}.zst has {src_lines}")
        scores = os.path.join(work, "scores.txt")
        options = marian.with_devices(marian.merge_options(SCORE_DEFAULTS, marian.parse_options(marian_args)),
                                      "score.py")
        argv = marian.marian_command("score") + marian.render_options(options) + [
            "--model", args.model, "--vocabs", args.vocab_src, args.vocab_trg,
            "--train-sets", model_source, model_target, "--output", scores,
        ]
        if lines:
            marian.run_marian(argv, None, what="Marian scoring")
        else:
            open(scores, "w").close()
        produced = 0
        with open(scores, encoding="utf-8") as stream:
            for number, line in enumerate(stream, 1):
                try:
                    float(line)
                except ValueError:
                    raise StepError(f"{scores}: line {number} is not a score: {line.strip()[:80]!r}") from None
                produced += 1
        if produced != lines:
            raise StepError(f"{args.output}: Marian scored {produced} of {lines} lines of {args.corpus_prefix}")
        with publish(args.output) as partial:
            shutil.copyfile(scores, partial)
    print(f"score.py: scored {lines} pairs into {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
