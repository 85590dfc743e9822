"""Clean one parallel dataset with rules (and, when asked, OpusCleaner filters first).

Inputs: `{input-prefix}.{src}.zst`, `{input-prefix}.{trg}.zst` (the imported dataset).
Outputs: `{output-prefix}.{src}.zst`, `{output-prefix}.{trg}.zst`, line-aligned. Published
artifacts: `{dataset_file}.{src}.zst`, `{dataset_file}.{trg}.zst`.

With `--use-opuscleaner true` the pairs first go through `opuscleaner-clean` (the `opuscleaner`
package): `--opuscleaner-mode custom` uses `pipeline/clean/opuscleaner/<dataset file stem>.filters.json`
when it exists (else the defaults), `defaults` always uses the default filter pipeline written by
`pipeline/clean/opuscleaner_filters.py`.

Then every pair goes through these rules, in order (the step logs how many pairs each dropped):
- whitespace is normalised (runs of spaces/tabs collapsed, ends stripped);
- `empty`: either side is empty;
- `length`: either side has more than `--max-words` words or `--max-chars` characters;
- `ratio`: the longer side has more than `--max-length-ratio` times the characters of the
  shorter one (both sides of at least 10 characters counted, short pairs are not judged);
- `script`: fewer than `--min-script-share` of a side's letters are in its language's scripts
  (Cyrillic for ru, Latin for en, ...; see pipeline/clean/scripts.py; no check for a language
  not in that table);
- `identical`: the two sides are the same text (ignoring case);
- `duplicate`: the pair occurred before in this dataset (a set of 64-bit hashes: 8 bytes plus set
  overhead per distinct pair, never the text).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import sys
from typing import Iterator, List, Optional, Tuple

from pipeline.clean import opuscleaner_filters
from pipeline.clean.merging import record_hash
from pipeline.clean.scripts import has_script_table, script_share
from pipeline.common.io import read_parallel, run, write_lines

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")


def normalize(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class Rules:
    def __init__(self, args, src: str, trg: str):
        self.args = args
        self.src, self.trg = src, trg
        self.check_script = {lang: has_script_table(lang) for lang in (src, trg)}
        self.dropped = collections.Counter()
        self.seen = set()

    def reason(self, s: str, t: str) -> Optional[str]:
        a = self.args
        if not s or not t:
            return "empty"
        if len(s) > a.max_chars or len(t) > a.max_chars or s.count(" ") >= a.max_words or t.count(" ") >= a.max_words:
            return "length"
        short, long_ = sorted((len(s), len(t)))
        if short >= 10 and long_ > a.max_length_ratio * short:
            return "ratio"
        for text, lang in ((s, self.src), (t, self.trg)):
            if self.check_script[lang] and script_share(text, lang) < a.min_script_share:
                return "script"
        if s.casefold() == t.casefold():
            return "identical"
        key = record_hash(f"{s}\t{t}")
        if key in self.seen:
            return "duplicate"
        self.seen.add(key)
        return None

    def apply(self, pairs) -> Iterator[Tuple[str, str]]:
        for s, t in pairs:
            s, t = normalize(s), normalize(t)
            why = self.reason(s, t)
            if why is None:
                yield s, t
            else:
                self.dropped[why] += 1


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_rule_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-words", type=int, default=150)
    parser.add_argument("--max-chars", type=int, default=1000)
    parser.add_argument("--max-length-ratio", type=float, default=3.0)
    parser.add_argument("--min-script-share", type=float, default=0.6)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--dataset", required=True, help="the dataset name as written in the config")
    parser.add_argument("--input-prefix", required=True)
    parser.add_argument("--output-prefix", required=True)
    parser.add_argument("--use-opuscleaner", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--opuscleaner-mode", choices=("custom", "defaults"), default="defaults")
    add_rule_flags(parser)
    args = parser.parse_args(argv)

    src_in, trg_in = f"{args.input_prefix}.{args.src}.zst", f"{args.input_prefix}.{args.trg}.zst"
    pairs = read_parallel(src_in, trg_in)
    total = collections.Counter()

    def counted(items):
        for item in items:
            total["in"] += 1
            yield item

    pairs = counted(pairs)
    rules = Rules(args, args.src, args.trg)
    src_out, trg_out = f"{args.output_prefix}.{args.src}.zst", f"{args.output_prefix}.{args.trg}.zst"
    with contextlib.ExitStack() as stack:
        if args.use_opuscleaner:
            pipeline_file = stack.enter_context(
                opuscleaner_filters.pipeline_for(args.dataset, args.input_prefix, args.opuscleaner_mode, args.src, args.trg)
            )
            print(f"clean_parallel: OpusCleaner filters from {pipeline_file}", file=sys.stderr)
            pairs = opuscleaner_filters.run_opuscleaner(pipeline_file, pairs, args.src, args.trg, f"{args.input_prefix}.*")
        s_out = stack.enter_context(write_lines(src_out))
        t_out = stack.enter_context(write_lines(trg_out))
        for s, t in rules.apply(pairs):
            s_out.write(s)
            t_out.write(t)
    after_opus = sum(rules.dropped.values()) + s_out.count
    dropped = ", ".join(f"{why} {n}" for why, n in sorted(rules.dropped.items())) or "none"
    opus = f"OpusCleaner dropped {total['in'] - after_opus}; " if args.use_opuscleaner else ""
    print(
        f"clean_parallel: {args.dataset}: kept {s_out.count} of {total['in']} pairs; {opus}rules dropped: {dropped}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    run(main)
