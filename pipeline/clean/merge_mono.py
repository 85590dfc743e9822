"""Merge the cleaned monolingual datasets of one language.

Inputs: `--datasets-dir` with each dataset's `<stem>.{language}.zst` (one sub-directory per
upstream task); `--parallel-corpus`, the merged parallel corpus's side in that language.
Output: `--output` (`mono.{language}.zst`): the datasets concatenated, duplicate lines dropped,
lines that are also in the parallel corpus dropped (they would be translated data the parallel
corpus already has), and beyond `--max-sentences` a seeded random sample of that size, in input
order. Published artifact: `mono.{locale}.zst`.

Streaming: two passes; memory is 8 bytes a line plus 8 bytes a distinct parallel line.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from pipeline.clean.merging import Selection, find_files, hash_set, positive_int
from pipeline.common.io import StepError, read_lines, run, write_lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--language", required=True)
    parser.add_argument("--datasets-dir", required=True)
    parser.add_argument("--parallel-corpus", help="lines to exclude (the parallel corpus in this language)")
    parser.add_argument("--max-sentences", type=positive_int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)

    files = find_files(args.datasets_dir, f".{args.language}.zst")
    if not files:
        raise StepError(f"{args.datasets_dir}: no *.{args.language}.zst datasets found")
    exclude = hash_set(read_lines(args.parallel_corpus)) if args.parallel_corpus else None
    selection = Selection()
    for path in files:
        count = selection.scan(line for line in read_lines(path))
        print(f"merge_mono: {path}: {count} lines", file=sys.stderr)
    keep = selection.finish(args.max_sentences, args.seed, exclude=exclude)
    index = 0
    with write_lines(args.output) as out:
        for path in files:
            for line in read_lines(path):
                if keep[index] and line.strip():
                    out.write(line)
                index += 1
    print(
        f"merge_mono: {out.count} of {len(keep)} lines written to {args.output} ({selection.duplicates} duplicates, "
        f"{selection.excluded} in the parallel corpus, {selection.truncated} beyond max-sentences)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    run(main)
