"""Build the lexical shortlist of the student: the likeliest target pieces for each source piece.

Inputs: --corpus-prefix P with --src/--trg (P.{src}.zst / P.{trg}.zst, the filtered distillation
corpus) and the SentencePiece vocabs (--vocab-src, --vocab-trg) the student decodes with.
Both sides are segmented into pieces, aligned with eflomal (chunks of --chunk-lines sentences, so
memory stays bounded) and the links counted: P(t | s) = links(s, t) / links(s). For each source
piece the --best-num likeliest target pieces with P above --threshold are kept.

Artifact: --output (lex.s2t.pruned.zst), Marian's text shortlist format: `trg src P(t|s)` per line
(`pymarian decode --shortlist FILE first best` reads it decompressed; `pymarian convert
--shortlist` turns it into the binary form the export publishes).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile

from pipeline.common.io import StepError, read_lines, read_parallel, run, write_lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--corpus-prefix", required=True)
    parser.add_argument("--vocab-src", required=True)
    parser.add_argument("--vocab-trg", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--best-num", type=int, default=100)
    parser.add_argument("--threshold", type=float, default=0.0001)
    parser.add_argument("--chunk-lines", type=int, default=2_000_000)
    return parser.parse_args(argv)


def load_spm(path):
    import sentencepiece

    if not os.path.isfile(path):
        raise StepError(f"{path}: no such file")
    try:
        return sentencepiece.SentencePieceProcessor(model_file=path)
    except (OSError, RuntimeError) as exc:
        raise StepError(f"{path}: not a SentencePiece model ({' '.join(str(exc).split())[:200]})") from None


def chunks(pairs, spm_src, spm_trg, size, work):
    """Yield (source pieces file, target pieces file) per chunk of `size` sentence pairs."""
    done = False
    index = 0
    while not done:
        src_path, trg_path = os.path.join(work, f"{index}.src"), os.path.join(work, f"{index}.trg")
        count = 0
        with open(src_path, "w", encoding="utf-8") as src_out, open(trg_path, "w", encoding="utf-8") as trg_out:
            for src_line, trg_line in pairs:
                src_pieces = spm_src.encode(src_line, out_type=str)
                trg_pieces = spm_trg.encode(trg_line, out_type=str)
                if not src_pieces or not trg_pieces:
                    continue
                src_out.write(" ".join(src_pieces) + "\n")
                trg_out.write(" ".join(trg_pieces) + "\n")
                count += 1
                if count == size:
                    break
            else:
                done = True
        if count:
            yield src_path, trg_path
        index += 1


def count_links(src_path, trg_path, links_path, counts):
    import eflomal

    with open(src_path, encoding="utf-8") as src_in, open(trg_path, encoding="utf-8") as trg_in:
        eflomal.Aligner().align(src_in, trg_in, links_filename_fwd=links_path, quiet=True)
    with open(src_path, encoding="utf-8") as src_in, open(trg_path, encoding="utf-8") as trg_in:
        for src_line, trg_line, links in zip(src_in, trg_in, read_lines(links_path)):
            src_pieces, trg_pieces = src_line.split(), trg_line.split()
            for link in links.split():
                i, _, j = link.partition("-")
                counts[src_pieces[int(i)]][trg_pieces[int(j)]] += 1


def main(argv=None):
    args = parse_args(argv)
    spm_src, spm_trg = load_spm(args.vocab_src), load_spm(args.vocab_trg)
    pairs = read_parallel(f"{args.corpus_prefix}.{args.src}.zst", f"{args.corpus_prefix}.{args.trg}.zst")
    counts = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory(prefix="shortlist-") as work:
        for number, (src_path, trg_path) in enumerate(chunks(pairs, spm_src, spm_trg, args.chunk_lines, work)):
            count_links(src_path, trg_path, os.path.join(work, f"{number}.links"), counts)
            os.unlink(src_path)
            os.unlink(trg_path)
    if not counts:
        raise StepError(f"{args.corpus_prefix}.{args.src}.zst: no sentence pairs to build a shortlist from")
    entries = 0
    with write_lines(args.output) as out:
        for src_piece in sorted(counts):
            targets = counts[src_piece]
            total = sum(targets.values())
            ranked = sorted(targets.items(), key=lambda item: (-item[1], item[0]))[: args.best_num]
            for trg_piece, links in ranked:
                probability = links / total
                if probability >= args.threshold:
                    out.write(f"{trg_piece} {src_piece} {probability:.6f}")
                    entries += 1
    print(f"generate_shortlist.py: {entries} entries for {len(counts)} source pieces in {args.output}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
