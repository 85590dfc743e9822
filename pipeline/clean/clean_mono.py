"""Clean one monolingual dataset: rules, then (threshold above 0) Monocleaner fluency scores.

Input: `--input` (`{dataset_file}.{locale}.zst`, the imported dataset).
Output: `--output` (`{dataset_file}.{locale}.zst`). Published artifact: `{dataset_file}.{locale}.zst`.

Rules, in order (the step logs how many lines each dropped): whitespace normalised; `empty`;
`length` (more than `--max-words` words or `--max-chars` characters); `script` (fewer than
`--min-script-share` of the letters in the language's scripts, see pipeline/clean/scripts.py);
`duplicate` (a set of 64-bit hashes of the lines seen, never the text).

Fluency: with `--fluency-threshold` above 0 the lines that passed the rules are scored by the
`monocleaner` package (requirements/cleaners.txt; its model for the language is fetched by
`monocleaner-download`) and lines scoring at or below the threshold are dropped; with
`--min-fluency-threshold` set, the threshold is never taken below it. A threshold of 0 (or none)
skips fluency scoring entirely.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Iterable, Iterator, List, Optional

from pipeline.clean.clean_parallel import add_rule_flags, normalize
from pipeline.clean.merging import record_hash
from pipeline.clean.scripts import base_language, has_script_table, script_share
from pipeline.common.io import StepError, read_lines, run, write_lines


def rule_filter(lines: Iterable[str], language: str, args, dropped: collections.Counter) -> Iterator[str]:
    check_script = has_script_table(language)
    seen = set()
    for line in lines:
        line = normalize(line)
        if not line:
            dropped["empty"] += 1
        elif len(line) > args.max_chars or line.count(" ") >= args.max_words:
            dropped["length"] += 1
        elif check_script and script_share(line, language) < args.min_script_share:
            dropped["script"] += 1
        else:
            key = record_hash(line)
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            yield line


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if not found:
        raise StepError(f"{name}: not installed (requirements/cleaners.txt); needed for a fluency threshold above 0")
    return found


def fluency_filter(lines: Iterable[str], language: str, threshold: float, workdir: str, dropped) -> Iterator[str]:
    """Lines whose Monocleaner score is above `threshold`, streamed through one monocleaner process."""
    model_dir = os.path.join(workdir, "monocleaner")
    lang = "nb" if base_language(language) == "no" else base_language(language)
    download = subprocess.run([_tool("monocleaner-download"), lang, model_dir], stdout=sys.stderr)
    if download.returncode != 0:
        raise StepError(f"monocleaner-download {lang}: exited with {download.returncode} (no fluency model)")
    process = subprocess.Popen(
        [_tool("monocleaner"), "--disable_hardrules", "--disable_lang_ident", os.path.join(model_dir, lang)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    failure = []

    def feed():
        try:
            for line in lines:
                process.stdin.write((line + "\n").encode("utf-8"))
        except BrokenPipeError:
            pass
        except BaseException as exc:
            failure.append(exc)
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    for number, raw in enumerate(process.stdout, start=1):
        text, _, score = raw.decode("utf-8").rstrip("\n").rpartition("\t")
        try:
            value = float(score)
        except ValueError:
            raise StepError(f"monocleaner: output line {number} has no score column") from None
        if value > threshold:
            yield text
        else:
            dropped["fluency"] += 1
    process.wait()
    feeder.join()
    if failure:
        raise failure[0]
    if process.returncode != 0:
        raise StepError(f"monocleaner exited with {process.returncode}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--language", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--fluency-threshold", type=float, default=0.0)
    parser.add_argument("--min-fluency-threshold", type=float, default=None)
    add_rule_flags(parser)
    args = parser.parse_args(argv)

    threshold = args.fluency_threshold
    if args.min_fluency_threshold is not None and threshold > 0:
        threshold = max(threshold, args.min_fluency_threshold)
    dropped = collections.Counter()
    total = [0]

    def counted(lines):
        for line in lines:
            total[0] += 1
            yield line

    with tempfile.TemporaryDirectory(prefix="clean-mono-") as workdir:
        lines = rule_filter(counted(read_lines(args.input)), args.language, args, dropped)
        if threshold > 0:
            lines = fluency_filter(lines, args.language, threshold, workdir, dropped)
        else:
            print("clean_mono: fluency threshold 0: no fluency scoring", file=sys.stderr)
        with write_lines(args.output) as out:
            out.write_all(lines)
    summary = ", ".join(f"{why} {n}" for why, n in sorted(dropped.items())) or "none"
    print(f"clean_mono: {args.dataset}: kept {out.count} of {total[0]} lines; dropped: {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
