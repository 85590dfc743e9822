"""Quantize the fine-tuned student to 8-bit integers for the CPU decoder.

Inputs: --model (the student's best .npz), --vocab-src/--vocab-trg, --shortlist (the text
lexical shortlist, .zst) and --devset-src (devset source sentences).
`pymarian convert --gemm-type intgemm8` writes Marian's binary model with 8-bit integer weights
and their quantization multipliers (Marian-dev computes them from the weights; it has no
separate "alphas" calibration step, hence the artifact name). The converted model is then
proven on the devset: the first --check-lines sentences are decoded with it and the shortlist on
CPU, and a model that fails or yields only empty lines is not published.

Artifact (--output-dir): model.intgemm8.bin.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from pipeline.common import marian
from pipeline.common.io import StepError, decompress_file, publish, read_lines, run, write_lines

ARTIFACT = "model.intgemm8.bin"
SHORTLIST_FIRST, SHORTLIST_BEST = "50", "50"


def shortlist_options(shortlist_zst, work):
    """Marian's --shortlist option for the text shortlist (decompressed into `work`)."""
    plain = os.path.join(work, "lex.s2t")
    if decompress_file(shortlist_zst, plain) == 0:
        raise StepError(f"{shortlist_zst}: the shortlist is empty")
    return {"shortlist": [plain, SHORTLIST_FIRST, SHORTLIST_BEST]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--vocab-src", required=True)
    parser.add_argument("--vocab-trg", required=True)
    parser.add_argument("--shortlist", required=True)
    parser.add_argument("--devset-src", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--gemm-type", default="intgemm8")
    parser.add_argument("--check-lines", type=int, default=100)
    args = parser.parse_args(argv)
    marian.check_decoder_vocabs(args.model, [args.vocab_src, args.vocab_trg])
    with tempfile.TemporaryDirectory(prefix="quantize-") as work:
        converted = os.path.join(work, ARTIFACT)
        marian.run_marian(marian.marian_command("convert") + [
            "--from", args.model, "--to", converted, "--gemm-type", args.gemm_type,
        ], None, what="Marian conversion")
        sample = os.path.join(work, "devset.txt")
        with write_lines(sample) as out:
            for line in read_lines(args.devset_src):
                if out.count >= args.check_lines:
                    break
                out.write(line)
        if not os.path.getsize(sample):
            raise StepError(f"{args.devset_src}: no devset sentences to check the quantized model with")
        output = os.path.join(work, "devset.out")
        options = {"cpu-threads": ["1"], **shortlist_options(args.shortlist, work)}
        marian.decode([converted], [args.vocab_src, args.vocab_trg], sample, output, os.path.join(work, "decode"),
                      options, "quantize.py")
        if not any(line.strip() for line in read_lines(output)):
            raise StepError(f"{args.model}: the quantized model translates the devset into empty lines")
        with publish(os.path.join(args.output_dir, ARTIFACT)) as partial:
            shutil.copyfile(converted, partial)
    print(f"quantize.py: {args.gemm_type} model published as {ARTIFACT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
