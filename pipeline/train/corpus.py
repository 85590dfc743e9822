"""Training corpora for Marian: ICU tokens back to text, word alignments onto SentencePiece pieces.

The alignment steps publish `*.tok-icu.{lang}.zst` (ICU tokens separated by spaces, a space of the
text written as the token `▁`) and `*.aln.zst` (Pharaoh `i-j` pairs over those tokens). Marian
reads plain text and segments it with the SentencePiece vocab itself, so guided alignment must
index SentencePiece pieces: `write_training_corpus` streams a corpus, restores the text and maps
every word alignment onto the pieces that overlap the two words (the same segmentation Marian
makes: same vocab, no sampling).
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from pipeline.common.io import StepError, read_lines, read_parallel

SPACE_TOKEN = "\u2581"


def detokenize(line: str) -> Tuple[str, List[Tuple[int, int]]]:
    """The text of an ICU-tokenized line and each token's [start, end) among non-space characters."""
    tokens = line.split(" ") if line else []
    text, spans, position = [], [], 0
    for token in tokens:
        if token == SPACE_TOKEN:
            text.append(" ")
            spans.append((position, position))
            continue
        text.append(token)
        spans.append((position, position + len(token)))
        position += len(token)
    return "".join(text), spans


def _piece_spans(pieces: List[str]) -> Tuple[List[Tuple[int, int]], int]:
    spans, position = [], 0
    for piece in pieces:
        length = len(piece.replace(SPACE_TOKEN, ""))
        spans.append((position, position + length))
        position += length
    return spans, position


def token_pieces(token_spans, token_chars: int, pieces: List[str]) -> List[List[int]]:
    """For each token, the indices of the pieces that overlap it (a lone `▁` piece goes with the
    token after it).

    Positions count non-space characters; when normalization changed their number, positions
    are scaled so the two sides still line up.
    """
    piece_spans, piece_chars = _piece_spans(pieces)
    scale = (piece_chars / token_chars) if token_chars and piece_chars != token_chars else 1.0
    result = []
    for start, end in token_spans:
        lo, hi = start * scale, end * scale
        if hi <= lo:
            result.append([])
            continue
        # A piece that is only a word boundary (`▁`) belongs to the word after it.
        result.append([p for p, (a, b) in enumerate(piece_spans) if a < hi and max(b, a + 1) > lo])
    return result


def map_alignment(alignment: str, src_map, trg_map, where: str, reverse: bool = False) -> str:
    pairs = set()
    for pair in alignment.split():
        i, sep, j = pair.partition("-")
        if not sep or not i.isdigit() or not j.isdigit():
            raise StepError(f"{where}: {pair!r} is not an i-j word alignment")
        i, j = (int(j), int(i)) if reverse else (int(i), int(j))
        if i >= len(src_map) or j >= len(trg_map):
            raise StepError(f"{where}: alignment {pair} points past the sentence ({len(src_map)} source, "
                            f"{len(trg_map)} target tokens)")
        for p in src_map[i]:
            for q in trg_map[j]:
                pairs.add((p, q))
    return " ".join(f"{p}-{q}" for p, q in sorted(pairs))


def corpus_lines(prefix: str, src: str, trg: str, alignments: Optional[str], spm_src=None, spm_trg=None,
                 reverse: bool = False) -> Iterator[Tuple[str, str, Optional[str]]]:
    """(source text, target text, piece alignment or None) of a corpus, streamed.

    `reverse`: `src` is the corpus's target language (the backwards model); the alignment file's
    pairs are then swapped.
    """
    src_path, trg_path = f"{prefix}.{src}.zst", f"{prefix}.{trg}.zst"
    tokenized = alignments is not None or prefix.endswith(".tok-icu")
    pairs = read_parallel(src_path, trg_path)
    aln_lines = read_lines(alignments) if alignments else None
    for number, (src_line, trg_line) in enumerate(pairs, 1):
        if not tokenized:
            yield src_line, trg_line, None
            continue
        src_text, src_spans = detokenize(src_line)
        trg_text, trg_spans = detokenize(trg_line)
        if aln_lines is None:
            yield src_text, trg_text, None
            continue
        alignment = next(aln_lines, None)
        if alignment is None:
            raise StepError(f"{alignments}: has {number - 1} lines, fewer than {src_path}")
        src_pieces = spm_src.encode(src_text, out_type=str)
        trg_pieces = spm_trg.encode(trg_text, out_type=str)
        src_map = token_pieces(src_spans, src_spans[-1][1] if src_spans else 0, src_pieces)
        trg_map = token_pieces(trg_spans, trg_spans[-1][1] if trg_spans else 0, trg_pieces)
        yield src_text, trg_text, map_alignment(alignment, src_map, trg_map, f"{alignments} line {number}", reverse)
    if aln_lines is not None and next(aln_lines, None) is not None:
        raise StepError(f"{alignments}: has more lines than {src_path}")
