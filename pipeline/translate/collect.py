"""Join the translated chunks, in chunk order, into one file, checked against the reference.

Inputs: `--chunks-dir` holding one translated file per chunk, `file.{n}.out.zst` or
`file.{n}.nbest.out.zst` (in sub-directories per upstream task: `translations/1/…`); the chunk
numbers must be exactly 1..N. `--reference`: the corpus that was split and translated.
Output: `--output` (`mono.{trg}.zst`, `corpus.{trg}.zst`, ...). The output must have exactly as many
lines as the reference: otherwise the step fails naming both counts and nothing is published (a
translation that lost or added lines would misalign the whole corpus).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import List, Optional

from pipeline.common.io import StepError, read_lines, run, write_lines

CHUNK_FILE = re.compile(r"^file\.(\d+)\.(?:nbest\.)?out\.zst$")


def chunk_files(directory: str) -> List[str]:
    if not os.path.isdir(directory):
        raise StepError(f"{directory}: no such directory")
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            match = CHUNK_FILE.match(name)
            if match:
                number = int(match.group(1))
                if number in found:
                    raise StepError(f"{directory}: chunk {number} twice ({found[number]}, {os.path.join(root, name)})")
                found[number] = os.path.join(root, name)
    if not found:
        raise StepError(f"{directory}: no translated chunks (file.N.out.zst) found")
    missing = sorted(set(range(1, max(found) + 1)) - set(found))
    if missing:
        raise StepError(f"{directory}: chunks {', '.join(map(str, missing))} missing (have {len(found)} of {max(found)})")
    return [found[number] for number in sorted(found)]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks-dir", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    files = chunk_files(args.chunks_dir)
    expected = sum(1 for _ in read_lines(args.reference))
    with write_lines(args.output) as out:
        for path in files:
            out.write_all(read_lines(path))
        if out.count != expected:
            raise StepError(
                f"{args.output}: the {len(files)} translated chunks in {args.chunks_dir} have {out.count} lines, "
                f"the reference {args.reference} has {expected}"
            )
    print(f"collect: {out.count} lines from {len(files)} chunks into {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
