"""Keep the best-scored share of the distilled corpus (cross-entropy filtering).

Inputs: `{corpus-prefix}.{src}.zst`, `{corpus-prefix}.{trg}.zst` (the teacher-translated corpus)
and `--scores` (`scores.txt` from pipeline/cefilter/score.py: one number per pair, the first
column of each line, higher is better: a log-probability under the backward model).
Output: `{output-prefix}.{src}.zst`, `{output-prefix}.{trg}.zst`: the `--keep` share (default
0.95) of pairs with the highest scores, in corpus order. Published artifacts: `corpus.{src}.zst`,
`corpus.{trg}.zst`. A score count that differs from the corpus, or a score that is not a number,
fails the step naming the file and line.

Memory: 4 bytes a pair for the scores plus one byte for the selection; the text is streamed.
"""

from __future__ import annotations

import argparse
import array
import math
import sys
from typing import List, Optional

import numpy as np

from pipeline.common.io import StepError, read_lines, read_parallel, run, write_lines


def read_scores(path: str) -> np.ndarray:
    values = array.array("f")
    for number, line in enumerate(read_lines(path), start=1):
        field = line.split("\t")[0].split(" ")[0].strip()
        try:
            value = float(field)
        except ValueError:
            raise StepError(f"{path}: line {number}: {field[:30]!r} is not a number") from None
        if math.isnan(value):
            raise StepError(f"{path}: line {number}: score is NaN")
        values.append(value)
    return np.frombuffer(values, dtype=np.float32) if len(values) else np.zeros(0, np.float32)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--corpus-prefix", required=True)
    parser.add_argument("--scores", required=True)
    parser.add_argument("--keep", type=float, default=0.95, help="share of the pairs to keep (0, 1]")
    parser.add_argument("--output-prefix", required=True)
    args = parser.parse_args(argv)
    if not 0 < args.keep <= 1:
        raise StepError(f"--keep {args.keep}: must be in (0, 1]")
    scores = read_scores(args.scores)
    src_in, trg_in = f"{args.corpus_prefix}.{args.src}.zst", f"{args.corpus_prefix}.{args.trg}.zst"
    count = len(scores)
    keep_count = max(1, int(round(count * args.keep))) if count else 0
    keep = np.zeros(count, dtype=bool)
    if keep_count:
        # Stable: among equal scores the earlier pairs are kept.
        order = np.argsort(-scores, kind="stable")
        keep[order[:keep_count]] = True
    index = 0
    with write_lines(f"{args.output_prefix}.{args.src}.zst") as s_out, \
            write_lines(f"{args.output_prefix}.{args.trg}.zst") as t_out:
        for s, t in read_parallel(src_in, trg_in):
            if index >= count:
                raise StepError(f"{args.scores}: has {count} scores, fewer than the pairs of {src_in}")
            if keep[index]:
                s_out.write(s)
                t_out.write(t)
            index += 1
        if index != count:
            raise StepError(f"{args.scores}: has {count} scores, {src_in} has {index} pairs")
    print(f"ce_filter: kept {s_out.count} of {count} pairs (share {args.keep})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
