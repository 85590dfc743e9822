"""Train the SentencePiece vocab on a sample of the parallel corpus.

Inputs: --corpus-prefix P (P.{src}.zst, P.{trg}.zst), --sample-size N (N random sentences of
the input train each vocab), --vocab-size, --split-vocab (one vocab per language instead of a
joint one), --norm-rule (a SentencePiece normalization rule, default nmt_nfkc).
The corpus is streamed into a plain file in a temporary directory; SentencePiece samples it
itself (it only samples above 100 sentences: smaller samples are drawn while streaming). A corpus
too small for the vocab size gets the largest vocab it supports (SentencePiece without its hard
limit) and a note saying so.

Artifacts (--output-dir): vocab.{src}.spm and vocab.{trg}.spm — the same file twice for a joint
vocab, so consumers always find both names.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile

from pipeline.common.io import StepError, publish, read_lines, run

NORM_RULES = ("nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--corpus-prefix", required=True)
    parser.add_argument("--sample-size", type=int, default=10_000_000)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--split-vocab", action="store_true")
    parser.add_argument("--norm-rule", choices=NORM_RULES, default="nmt_nfkc")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    return parser.parse_args(argv)


# SentencePiece samples `input_sentence_size` lines itself but only above this many.
SPM_MIN_SAMPLE = 100


def write_text(paths, target, sample_size):
    """The non-empty lines of `paths` into `target`; a sample of at most SPM_MIN_SAMPLE lines is
    drawn here (reservoir sampling), larger samples are drawn by SentencePiece."""
    count = 0
    reservoir = []
    rng = random.Random(1)
    with open(target, "w", encoding="utf-8") as out:
        for path in paths:
            for line in read_lines(path):
                if not line.strip():
                    continue
                line = line.replace("\t", " ")
                count += 1
                if sample_size > SPM_MIN_SAMPLE:
                    out.write(line + "\n")
                elif len(reservoir) < sample_size:
                    reservoir.append(line)
                else:
                    slot = rng.randrange(count)
                    if slot < sample_size:
                        reservoir[slot] = line
        for line in reservoir:
            out.write(line + "\n")
    if count == 0:
        raise StepError(f"{paths[0]}: no text to train a vocab on")
    return count


def train(text, model_prefix, args):
    import sentencepiece

    settings = dict(
        input=text, model_prefix=model_prefix, vocab_size=args.vocab_size, model_type="unigram",
        character_coverage=1.0, shuffle_input_sentence=True,
        input_sentence_size=args.sample_size if args.sample_size > SPM_MIN_SAMPLE else 0,
        normalization_rule_name=args.norm_rule, num_threads=args.threads, minloglevel=2,
    )
    try:
        sentencepiece.SentencePieceTrainer.train(**settings)
    except RuntimeError as exc:
        message = " ".join(str(exc).split())
        limit = re.search(r"value <= (\d+)", message)
        if not limit:
            raise StepError(f"{text}: SentencePiece failed: {message[:300]}") from None
        print(f"spm_vocab.py: note: the corpus supports at most {limit.group(1)} pieces, fewer than "
              f"--vocab-size {args.vocab_size}; training the largest vocab it supports", file=sys.stderr)
        settings["hard_vocab_limit"] = False
        try:
            sentencepiece.SentencePieceTrainer.train(**settings)
        except RuntimeError as exc2:
            raise StepError(f"{text}: SentencePiece failed: {' '.join(str(exc2).split())[:300]}") from None
    return model_prefix + ".model"


def main(argv=None):
    args = parse_args(argv)
    if args.vocab_size < 8 or args.sample_size < 1:
        raise StepError("--vocab-size must be at least 8 and --sample-size at least 1")
    paths = {lang: f"{args.corpus_prefix}.{lang}.zst" for lang in (args.src, args.trg)}
    with tempfile.TemporaryDirectory(prefix="spm-") as work:
        if args.split_vocab:
            models = {}
            for lang in (args.src, args.trg):
                text = os.path.join(work, f"text.{lang}")
                write_text([paths[lang]], text, args.sample_size)
                models[lang] = train(text, os.path.join(work, f"vocab.{lang}"), args)
        else:
            text = os.path.join(work, "text")
            write_text([paths[args.src], paths[args.trg]], text, args.sample_size)
            joint = train(text, os.path.join(work, "vocab"), args)
            models = {args.src: joint, args.trg: joint}
        for lang, model in models.items():
            with publish(os.path.join(args.output_dir, f"vocab.{lang}.spm")) as partial:
                shutil.copyfile(model, partial)
    return 0


if __name__ == "__main__":
    run(main)
