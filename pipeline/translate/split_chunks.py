"""Split a corpus into N contiguous chunks for parallel translation.

Inputs: `--input` (the text to translate) and, for n-best distillation, `--reference` (its
line-aligned reference translation); `--chunks N`.
Outputs in `--output-dir`: `file.{1..N}.zst` and, with `--reference`, `file.{1..N}.ref.zst`; chunk
i holds lines [i-1, i) * ceil(lines / N) of the input, so concatenating the chunks in order gives
the input back. A chunk may be empty when the corpus has fewer lines than chunks. Published
artifacts: `file.{chunk}.zst` (and `file.{chunk}.ref.zst`).

Two streaming passes: one to count the lines, one to write the chunks.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
from typing import List, Optional

from pipeline.common.io import StepError, read_lines, read_parallel, run, write_lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--reference")
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    if args.chunks < 1:
        raise StepError(f"--chunks {args.chunks}: must be at least 1")

    if args.reference:
        total = sum(1 for _ in read_parallel(args.input, args.reference))
        records = read_parallel(args.input, args.reference)
    else:
        total = sum(1 for _ in read_lines(args.input))
        records = ((line, None) for line in read_lines(args.input))
    if total == 0:
        raise StepError(f"{args.input}: is empty, nothing to translate")
    size = -(-total // args.chunks)
    os.makedirs(args.output_dir, exist_ok=True)
    # Chunks are contiguous: write them one after the other (one zstd stream open at a time).
    for chunk in range(1, args.chunks + 1):
        with contextlib.ExitStack() as stack:
            text = stack.enter_context(write_lines(os.path.join(args.output_dir, f"file.{chunk}.zst")))
            ref = (
                stack.enter_context(write_lines(os.path.join(args.output_dir, f"file.{chunk}.ref.zst")))
                if args.reference
                else None
            )
            for line, reference in itertools.islice(records, size):
                text.write(line)
                if ref is not None:
                    ref.write(reference)
    print(f"split_chunks: {total} lines of {args.input} into {args.chunks} chunks of up to {size}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
