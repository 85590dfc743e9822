"""Pick, for every source sentence, the n-best hypothesis closest to the reference.

Inputs: `--nbest` (Marian's n-best output: `id ||| text ||| feature scores ||| total`, ids 0..n-1
in order, several lines per id) and `--reference` (the chunk's reference translations, one line
per id). `--metric`: `bleu` uses sentence BLEU, anything else (chrf, the usual best-model metric)
sentence chrF, both from sacrebleu; ties keep the hypothesis Marian ranked first.
Output: `--output` (`file.{chunk}.nbest.out.zst`), one line per reference line. An id with no
hypothesis, ids out of order, a malformed line or a count that differs from the reference fail
the step naming the file and line.

Streams: one id's hypotheses at a time.
"""

from __future__ import annotations

import argparse
import sys
from typing import Iterator, List, Optional, Tuple

from sacrebleu.metrics import BLEU, CHRF

from pipeline.common.io import StepError, read_lines, run, write_lines


def nbest_groups(path: str) -> Iterator[Tuple[int, List[str]]]:
    current, hypotheses = None, []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split(" ||| ")
        if len(fields) < 2:
            raise StepError(f"{path}: line {number} is not an n-best line (id ||| text ||| ...)")
        try:
            ident = int(fields[0])
        except ValueError:
            raise StepError(f"{path}: line {number} starts with {fields[0][:20]!r}, not a sentence id") from None
        if ident != current:
            if current is not None:
                yield current, hypotheses
                if ident < current:
                    raise StepError(f"{path}: line {number}: sentence id {ident} after {current}")
            current, hypotheses = ident, []
        hypotheses.append(fields[1])
    if current is not None:
        yield current, hypotheses


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nbest", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--metric", default="chrf")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    metric = BLEU(effective_order=True) if args.metric.startswith("bleu") else CHRF()
    references = read_lines(args.reference)
    expected = 0
    with write_lines(args.output) as out:
        for ident, hypotheses in nbest_groups(args.nbest):
            reference = next(references, None)
            if reference is None:
                raise StepError(f"{args.nbest}: sentence id {ident}, but {args.reference} has only {expected} lines")
            if ident != expected:
                raise StepError(f"{args.nbest}: no hypotheses for sentence id {expected} (next id is {ident})")
            scores = [metric.sentence_score(h, [reference]).score for h in hypotheses]
            out.write(hypotheses[max(range(len(scores)), key=lambda i: (scores[i], -i))])
            expected += 1
        if next(references, None) is not None:
            raise StepError(f"{args.nbest}: has hypotheses for {expected} sentences, {args.reference} has more lines")
    print(f"extract_best: {expected} sentences, best of n by {type(metric).__name__}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
