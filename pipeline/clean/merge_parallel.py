"""Merge the cleaned parallel datasets into one training corpus.

Inputs: `--datasets-dir`, holding each dataset's `<stem>.{src}.zst` and `<stem>.{trg}.zst` (in
sub-directories, one per upstream task: `datasets/1/…`, `datasets/2/…`; other files such as
Bicleaner's `<stem>.best-scores.zst` are ignored).
Output: `{output-prefix}.{src}.zst` and `{output-prefix}.{trg}.zst`: the datasets concatenated in
order, duplicate pairs dropped (the first occurrence stays) and, beyond `--max-sentences`, a
seeded random sample of that size (in input order). Published artifacts: `corpus.{src}.zst`,
`corpus.{trg}.zst`.

Streaming: two passes over the inputs; memory is 8 bytes a pair (see pipeline/clean/merging.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from pipeline.clean.merging import Selection, find_parallel, positive_int
from pipeline.common.io import read_parallel, run, write_lines


def merge_pairs(files, output_prefix, src, trg, max_sentences=None, seed=1, log_name="merge"):
    """Merge (src file, trg file) pairs into `{output_prefix}.{src,trg}.zst`; return the Selection."""
    selection = Selection()
    for src_path, trg_path in files:
        count = selection.scan(f"{s}\t{t}" for s, t in read_parallel(src_path, trg_path))
        print(f"{log_name}: {src_path}: {count} pairs", file=sys.stderr)
    keep = selection.finish(max_sentences, seed)
    index = 0
    with write_lines(f"{output_prefix}.{src}.zst") as src_out, write_lines(f"{output_prefix}.{trg}.zst") as trg_out:
        for src_path, trg_path in files:
            for s, t in read_parallel(src_path, trg_path):
                if keep[index]:
                    src_out.write(s)
                    trg_out.write(t)
                index += 1
    print(
        f"{log_name}: {selection.kept} of {len(keep)} pairs written to {output_prefix}.{{{src},{trg}}}.zst "
        f"({selection.duplicates} duplicates, {selection.truncated} beyond max-sentences)",
        file=sys.stderr,
    )
    return selection


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--datasets-dir", required=True)
    parser.add_argument("--max-sentences", type=positive_int, default=None)
    parser.add_argument("--seed", type=int, default=1, help="seed of the sample kept beyond max-sentences")
    parser.add_argument("--output-prefix", required=True)
    args = parser.parse_args(argv)
    files = find_parallel(args.datasets_dir, args.src, args.trg)
    merge_pairs(files, args.output_prefix, args.src, args.trg, args.max_sentences, args.seed, "merge_parallel")
    return 0


if __name__ == "__main__":
    run(main)
