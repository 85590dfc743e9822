"""Package the quantized student for release: release names, gzip, optional upload.

Inputs: --model (model.intgemm8.bin), --shortlist (text shortlist, .zst), --vocab-src,
--vocab-trg, --src/--trg. The shortlist is converted to Marian's binary form with
`pymarian convert --shortlist FILE 50 50 0` (first 50 and best 50 target pieces per source piece).

Artifacts (--output-dir), gzip-compressed:
  model.{src}{trg}.intgemm8.bin.gz, lex.50.50.{src}{trg}.s2t.bin.gz, and the vocab:
  vocab.{src}{trg}.spm.gz for a joint vocab, or with --split-vocab (the config's
  experiment.spm-vocab-split, which decides the names the graph declares)
  srcvocab.{src}{trg}.spm.gz and trgvocab.{src}{trg}.spm.gz. Without --split-vocab, two different
  vocab files are an error (a joint release name cannot hold them).
--upload-bucket B: also copy them to gs://B/models/{src}-{trg}/ with the `gcloud storage` CLI of
the image (nothing is uploaded without the flag).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from pipeline.common import marian
from pipeline.common.io import StepError, compress_file, decompress_file, run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--shortlist", required=True)
    parser.add_argument("--vocab-src", required=True)
    parser.add_argument("--vocab-trg", required=True)
    parser.add_argument("--split-vocab", action="store_true")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--upload-bucket")
    args = parser.parse_args(argv)
    pair = f"{args.src}{args.trg}"
    for path in (args.model, args.vocab_src, args.vocab_trg):
        if not os.path.isfile(path):
            raise StepError(f"{path}: no such file")
    if not args.split_vocab and marian.sha256(args.vocab_src) != marian.sha256(args.vocab_trg):
        raise StepError(f"{args.vocab_trg}: differs from {args.vocab_src}, but the release has one joint vocab "
                        f"(vocab.{pair}.spm.gz); set experiment.spm-vocab-split: true for split vocabs")
    published = []
    with tempfile.TemporaryDirectory(prefix="export-") as work:
        lex_text = os.path.join(work, "lex.s2t")
        if decompress_file(args.shortlist, lex_text) == 0:
            raise StepError(f"{args.shortlist}: the shortlist is empty")
        lex_bin = os.path.join(work, "lex.bin")
        marian.run_marian(marian.marian_command("convert") + [
            "--shortlist", lex_text, "50", "50", "0", "--dump-shortlist", lex_bin,
            "--vocabs", args.vocab_src, args.vocab_trg,
        ], None, what="Marian shortlist conversion")
        files = [(args.model, f"model.{pair}.intgemm8.bin.gz"), (lex_bin, f"lex.50.50.{pair}.s2t.bin.gz")]
        if args.split_vocab:
            files += [(args.vocab_src, f"srcvocab.{pair}.spm.gz"), (args.vocab_trg, f"trgvocab.{pair}.spm.gz")]
        else:
            files.append((args.vocab_src, f"vocab.{pair}.spm.gz"))
        for source, name in files:
            target = os.path.join(args.output_dir, name)
            compress_file(source, target)
            published.append(target)
    if args.upload_bucket:
        upload(published, f"gs://{args.upload_bucket}/models/{args.src}-{args.trg}/")
    print(f"export.py: published {', '.join(os.path.basename(p) for p in published)}", file=sys.stderr)
    return 0


def upload(paths, destination):
    tool = shutil.which("gcloud")
    if not tool:
        raise StepError(f"--upload-bucket: cannot upload to {destination}: no `gcloud` CLI in this image")
    for path in paths:
        result = subprocess.run([tool, "storage", "cp", path, destination], capture_output=True, text=True)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or ["no output"]
            raise StepError(f"{path}: upload to {destination} failed: {lines[-1]}")


if __name__ == "__main__":
    run(main)
