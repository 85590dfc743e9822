"""Merge the teacher's translations of the parallel corpus and of the mono-src corpus.

Inputs: `--parallel-src` / `--parallel-trg` (the parallel corpus's source side and its
translation by the teachers), `--mono-src` / `--mono-trg` (mono-src and its translation).
Output: `{output-prefix}.{src}.zst`, `{output-prefix}.{trg}.zst`: both corpora concatenated, with
duplicate pairs dropped. Published artifacts: `corpus.{src}.zst`, `corpus.{trg}.zst`.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

from pipeline.clean.merge_parallel import merge_pairs
from pipeline.clean.merging import positive_int
from pipeline.common.io import run


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--parallel-src", required=True)
    parser.add_argument("--parallel-trg", required=True)
    parser.add_argument("--mono-src")
    parser.add_argument("--mono-trg")
    parser.add_argument("--max-sentences", type=positive_int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output-prefix", required=True)
    args = parser.parse_args(argv)
    if bool(args.mono_src) != bool(args.mono_trg):
        parser.error("--mono-src and --mono-trg go together")
    files = [(args.parallel_src, args.parallel_trg)]
    if args.mono_src:
        files.append((args.mono_src, args.mono_trg))
    merge_pairs(files, args.output_prefix, args.src, args.trg, args.max_sentences, args.seed, "merge_corpus")
    return 0


if __name__ == "__main__":
    run(main)
