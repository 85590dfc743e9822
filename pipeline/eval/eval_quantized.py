"""Evaluate the quantized student as Firefox runs it: 8-bit model, lexical shortlist, CPU.

Inputs: --dataset-prefix P with --src/--trg, --model (model.intgemm8.bin), --shortlist (the
text shortlist, .zst; used with the same 50/50 settings the export converts it with),
--vocab-src/--vocab-trg. Marian options after `--` override the decoding defaults.

Artifacts (--output-dir), as eval.py: D.metrics.json and D.{trg}.translations.zst.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from pipeline.common import marian
from pipeline.common.io import StepError, run
from pipeline.eval.eval import evaluate
from pipeline.quantize.quantize import shortlist_options
from pipeline.translate.translate import split_marian_args


def main(argv=None):
    argv, marian_args = split_marian_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--dataset-prefix", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--shortlist", required=True)
    parser.add_argument("--vocab-src", required=True)
    parser.add_argument("--vocab-trg", required=True)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    for path in (args.model, args.vocab_src, args.vocab_trg):
        if not os.path.isfile(path):
            raise StepError(f"{path}: no such file")
    with tempfile.TemporaryDirectory(prefix="eval-quantized-") as work:
        options = marian.merge_options({"cpu-threads": [str(os.cpu_count() or 1)]},
                                       shortlist_options(args.shortlist, work), marian.parse_options(marian_args))
        evaluate("eval_quantized.py", args, [args.model], [args.vocab_src, args.vocab_trg], options)
    return 0


if __name__ == "__main__":
    run(main)
