"""Word alignments of a parallel corpus with eflomal, over ICU-tokenized text.

Inputs: `{corpus-prefix}.{src}.zst` / `{corpus-prefix}.{trg}.zst`, or `--src-corpus` and
`--trg-corpus` (e.g. back-translations beside the mono corpus). `--priors FILE` aligns with
eflomal priors computed earlier (the parallel corpus's); without it the corpus is aligned
from scratch, and `--priors-output FILE` writes the priors of that alignment for later runs.
Outputs: `{output-prefix}.tok-icu.{src}.zst`, `{output-prefix}.tok-icu.{trg}.zst` and
`{output-prefix}.aln.zst` (plus the priors file). Published artifacts: `corpus.aln.zst` /
`mono.aln.zst`, the two `tok-icu` files, `corpus.priors` (parallel only).

The tok-icu format (the public pipeline's): the ICU word-break tokens of a line separated by
single spaces, every whitespace character of the original replaced by a `▁` token, so that
`detokenize` (drop the separating spaces, turn `▁` back into a space) restores the line exactly.
Alignments are `i-j` pairs of token indices into those tok-icu lines; eflomal aligns only the
word tokens (the `▁` tokens are never aligned), in both directions, and the two directions are
symmetrized with grow-diag-final-and.

Memory: eflomal holds the token ids of the sentences it aligns; corpora longer than
`--chunk-lines` are aligned chunk by chunk, all with priors (from `--priors`, or computed from
the first chunk), so memory is bounded by the chunk size. The text itself is streamed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from typing import Iterable, List, Optional, Set, Tuple

import eflomal
import icu

from pipeline.common.io import StepError, compress_file, read_parallel, run, write_lines

SPACE_TOKEN = "\u2581"  # ▁
DEFAULT_CHUNK_LINES = 5_000_000


class IcuTokenizer:
    def __init__(self, language: str):
        self._iterator = icu.BreakIterator.createWordInstance(icu.Locale(language.replace("-", "_")))

    def tokenize(self, text: str) -> List[str]:
        self._iterator.setText(text)
        tokens, start = [], 0
        for end in self._iterator:
            piece = text[start:end]
            start = end
            if piece.isspace():
                tokens.extend(SPACE_TOKEN for _ in piece)
            elif piece:
                tokens.append(piece.replace(" ", SPACE_TOKEN))
        return tokens


def detokenize(tokenized: str) -> str:
    return "".join(tokenized.split(" ")).replace(SPACE_TOKEN, " ")


def word_positions(tokens: List[str]) -> List[int]:
    """Indices of the tokens eflomal aligns (every token but the `▁` spaces)."""
    return [index for index, token in enumerate(tokens) if token != SPACE_TOKEN]


_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def grow_diag_final_and(forward: Set[Tuple[int, int]], reverse: Set[Tuple[int, int]]) -> List[Tuple[int, int]]:
    union = forward | reverse
    alignment = forward & reverse
    src_aligned = {i for i, _ in alignment}
    trg_aligned = {j for _, j in alignment}
    grown = True
    while grown:
        grown = False
        for i, j in sorted(alignment):
            for di, dj in _NEIGHBOURS:
                point = (i + di, j + dj)
                if point in union and point not in alignment and (
                    point[0] not in src_aligned or point[1] not in trg_aligned
                ):
                    alignment.add(point)
                    src_aligned.add(point[0])
                    trg_aligned.add(point[1])
                    grown = True
    for direction in (forward, reverse):
        for i, j in sorted(direction):
            if i not in src_aligned and j not in trg_aligned:
                alignment.add((i, j))
                src_aligned.add(i)
                trg_aligned.add(j)
    return sorted(alignment)


def parse_links(line: str, path: str, number: int) -> Set[Tuple[int, int]]:
    links = set()
    for pair in line.split():
        i, sep, j = pair.partition("-")
        if not sep or not i.isdigit() or not j.isdigit():
            raise StepError(f"{path}: line {number}: {pair!r} is not an i-j link")
        links.add((int(i), int(j)))
    return links


def _align_chunk(src_words: str, trg_words: str, fwd: str, rev: str, priors: Optional[str]) -> None:
    with contextlib.ExitStack() as stack:
        src_in = stack.enter_context(open(src_words, encoding="utf-8"))
        trg_in = stack.enter_context(open(trg_words, encoding="utf-8"))
        priors_in = stack.enter_context(open(priors, encoding="utf-8")) if priors else None
        eflomal.Aligner().align(
            src_in, trg_in, links_filename_fwd=fwd, links_filename_rev=rev, priors_input=priors_in, quiet=True
        )


def write_priors(src_words: str, trg_words: str, fwd: str, rev: str, output: str) -> None:
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open(p, encoding="utf-8")) for p in (src_words, trg_words, fwd, rev)]
        priors = eflomal.calculate_priors(*files)
    # Plain text (the kinds publish `corpus.priors`), written atomically.
    from pipeline.common.io import publish  # noqa: PLC0415

    with publish(output) as partial, open(partial, "w", encoding="utf-8") as out:
        eflomal.write_priors(out, *priors)


def tokenize_corpus(pairs: Iterable[Tuple[str, str]], src: str, trg: str, workdir: str, chunk_lines: int):
    """Write tok-icu text (whole) and word-only text (per chunk) into `workdir`; return the chunks."""
    src_tok, trg_tok = IcuTokenizer(src), IcuTokenizer(trg)
    chunks: List[Tuple[str, str]] = []
    with open(os.path.join(workdir, "tok.src"), "w", encoding="utf-8") as tok_s, \
            open(os.path.join(workdir, "tok.trg"), "w", encoding="utf-8") as tok_t:
        words_s = words_t = None
        count = 0
        try:
            for s, t in pairs:
                if count % chunk_lines == 0:
                    for f in (words_s, words_t):
                        if f:
                            f.close()
                    name = os.path.join(workdir, f"words.{len(chunks)}")
                    chunks.append((name + ".src", name + ".trg"))
                    words_s = open(chunks[-1][0], "w", encoding="utf-8")
                    words_t = open(chunks[-1][1], "w", encoding="utf-8")
                s_tokens, t_tokens = src_tok.tokenize(s), trg_tok.tokenize(t)
                tok_s.write(" ".join(s_tokens) + "\n")
                tok_t.write(" ".join(t_tokens) + "\n")
                words_s.write(" ".join(tok for tok in s_tokens if tok != SPACE_TOKEN) + "\n")
                words_t.write(" ".join(tok for tok in t_tokens if tok != SPACE_TOKEN) + "\n")
                count += 1
        finally:
            for f in (words_s, words_t):
                if f:
                    f.close()
    return chunks, count


def symmetrize_to(workdir: str, chunks, output: str) -> int:
    """Stream tok-icu lines and both link files; write symmetrized links in tok-icu indices."""
    written = 0
    with open(os.path.join(workdir, "tok.src"), encoding="utf-8") as tok_s, \
            open(os.path.join(workdir, "tok.trg"), encoding="utf-8") as tok_t, write_lines(output) as out:
        for number, (src_words, _trg) in enumerate(chunks):
            fwd_path, rev_path = src_words + ".fwd", src_words + ".rev"
            with open(fwd_path, encoding="utf-8") as fwd, open(rev_path, encoding="utf-8") as rev:
                for line_number, (f_line, r_line) in enumerate(zip(fwd, rev), start=1):
                    s_pos = word_positions(next(tok_s).rstrip("\n").split(" "))
                    t_pos = word_positions(next(tok_t).rstrip("\n").split(" "))
                    links = grow_diag_final_and(
                        parse_links(f_line, fwd_path, line_number), parse_links(r_line, rev_path, line_number)
                    )
                    try:
                        out.write(" ".join(f"{s_pos[i]}-{t_pos[j]}" for i, j in links))
                    except IndexError:
                        raise StepError(f"{fwd_path}: line {line_number}: a link beyond the sentence length") from None
                    written += 1
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--corpus-prefix")
    parser.add_argument("--src-corpus")
    parser.add_argument("--trg-corpus")
    parser.add_argument("--priors", help="eflomal priors to align with")
    parser.add_argument("--priors-output", help="write the priors of this alignment here")
    parser.add_argument("--output-prefix", required=True)
    parser.add_argument("--chunk-lines", type=int, default=DEFAULT_CHUNK_LINES)
    parser.add_argument("--archive-to-bucket", metavar="BUCKET",
                        help="experiment.archive-corpora: upload the aligned corpus to this bucket")
    args = parser.parse_args(argv)
    if args.archive_to_bucket is not None:
        raise StepError(
            f"--archive-to-bucket {args.archive_to_bucket}: archiving corpora to a bucket is not implemented by "
            "this step; set experiment.archive-corpora: false"
        )
    if args.corpus_prefix:
        if args.src_corpus or args.trg_corpus:
            parser.error("give --corpus-prefix or --src-corpus/--trg-corpus, not both")
        src_path, trg_path = f"{args.corpus_prefix}.{args.src}.zst", f"{args.corpus_prefix}.{args.trg}.zst"
    elif args.src_corpus and args.trg_corpus:
        src_path, trg_path = args.src_corpus, args.trg_corpus
    else:
        parser.error("--corpus-prefix or both --src-corpus and --trg-corpus are required")
    if args.chunk_lines < 1:
        parser.error("--chunk-lines must be at least 1")
    logging.getLogger("eflomal").setLevel(logging.WARNING)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="align-") as workdir:
        chunks, count = tokenize_corpus(read_parallel(src_path, trg_path), args.src, args.trg, workdir, args.chunk_lines)
        if count == 0:
            raise StepError(f"{src_path}: the corpus is empty, nothing to align")
        print(f"align: tokenized {count} pairs into {len(chunks)} chunk(s) in {time.monotonic() - started:.0f}s", file=sys.stderr)
        priors = args.priors
        if priors and not os.path.isfile(priors):
            raise StepError(f"{priors}: no such priors file")
        for index, (src_words, trg_words) in enumerate(chunks):
            _align_chunk(src_words, trg_words, src_words + ".fwd", src_words + ".rev", priors)
            if index == 0 and not args.priors:
                if args.priors_output or len(chunks) > 1:
                    target = args.priors_output or os.path.join(workdir, "first-chunk.priors")
                    write_priors(src_words, trg_words, src_words + ".fwd", src_words + ".rev", target)
                    if len(chunks) > 1:
                        priors = target
                        # Realign the first chunk with the priors too, like the others.
                        _align_chunk(src_words, trg_words, src_words + ".fwd", src_words + ".rev", priors)
            os.unlink(src_words)
            os.unlink(trg_words)
            print(f"align: aligned chunk {index + 1} of {len(chunks)} ({time.monotonic() - started:.0f}s)", file=sys.stderr)
        written = symmetrize_to(workdir, chunks, os.path.join(workdir, "aln"))
        print(f"align: symmetrized ({time.monotonic() - started:.0f}s)", file=sys.stderr)
        if written != count:
            raise StepError(f"eflomal wrote links for {written} of {count} sentences")
        compress_file(os.path.join(workdir, "aln"), f"{args.output_prefix}.aln.zst")
        compress_file(os.path.join(workdir, "tok.src"), f"{args.output_prefix}.tok-icu.{args.src}.zst")
        compress_file(os.path.join(workdir, "tok.trg"), f"{args.output_prefix}.tok-icu.{args.trg}.zst")
    print(f"align: {count} sentence pairs aligned into {args.output_prefix}.aln.zst", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
