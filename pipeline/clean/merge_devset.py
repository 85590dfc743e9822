"""Merge the devtest datasets into the validation set used by training.

Inputs: `--datasets-dir` with each devtest dataset's `<stem>.{src}.zst` / `<stem>.{trg}.zst`
(one sub-directory per upstream task).
Output: `{output-prefix}.{src}.zst`, `{output-prefix}.{trg}.zst`: concatenated, duplicate pairs
dropped, and beyond `--max-sentences` (config `experiment.dev-max-sentences`, optional) a seeded
random sample of that size in input order. Published artifacts: `devset.{src}.zst`,
`devset.{trg}.zst`.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

from pipeline.clean.merge_parallel import merge_pairs
from pipeline.clean.merging import find_parallel, positive_int
from pipeline.common.io import run


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--datasets-dir", required=True)
    parser.add_argument("--max-sentences", type=positive_int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output-prefix", required=True)
    args = parser.parse_args(argv)
    files = find_parallel(args.datasets_dir, args.src, args.trg)
    merge_pairs(files, args.output_prefix, args.src, args.trg, args.max_sentences, args.seed, "merge_devset")
    return 0


if __name__ == "__main__":
    run(main)
