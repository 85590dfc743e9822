"""Benchmark the data steps on a large toy corpus: wall time and peak RSS of each step process.

    .venv/bin/python scripts/benchmark_steps.py --lines 1000000 [--workdir DIR] [--markdown]

Writes a toy ru-en corpus of `--lines` short pairs (tests/toydata.py, 3-8 words a side) split
over two datasets with 10% of the pairs repeated, then runs, each as its own process the way a
task runs it: clean_parallel on each dataset, merge_parallel over both (with max-sentences at
80% of the lines, so the seeded sampling runs too), merge_mono on one side, and align.py on the
merged corpus (tokenization, eflomal both directions, symmetrization, priors). Peak RSS is the
step process's own maximum resident set (os.wait4), wall time its elapsed time. Not a test:
numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.common.io import write_lines  # noqa: E402
from tests import toydata  # noqa: E402


def make_corpus(directory: Path, lines: int) -> None:
    half = lines // 2
    for number, (start, count) in enumerate(((0, half), (half, lines - half)), start=1):
        prefix = directory / "raw" / str(number) / f"toy_{number}"
        prefix.parent.mkdir(parents=True, exist_ok=True)
        pairs = toydata.pairs(count, seed=100 + number)
        repeated = pairs[: count // 10]
        with write_lines(f"{prefix}.ru.zst") as s, write_lines(f"{prefix}.en.zst") as t:
            for a, b in pairs[: count - len(repeated)] + repeated:
                s.write(a)
                t.write(b)


def run(name: str, script: str, *args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed:\n{stderr.decode()}")
    last = stderr.decode().strip().splitlines()[-1] if stderr.strip() else ""
    return {"step": name, "seconds": elapsed, "rss_mib": usage.ru_maxrss / 1024, "log": last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--workdir")
    parser.add_argument("--make-corpus", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_corpus:
        make_corpus(Path(args.make_corpus), args.lines)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        work = Path(work)
        start = time.monotonic()
        # In a child process: a forked step process starts with its parent's resident memory in
        # its peak RSS, so the parent must stay small (the toy corpus is built in memory).
        subprocess.run([sys.executable, __file__, "--make-corpus", str(work), "--lines", str(args.lines)], check=True)
        print(f"corpus of {args.lines} pairs written in {time.monotonic() - start:.0f} s", file=sys.stderr)
        results = []
        for number in (1, 2):
            results.append(run(f"clean_parallel (dataset {number}, {args.lines // 2} pairs)", "pipeline/clean/clean_parallel.py",
                               "--src", "ru", "--trg", "en", "--dataset", f"toy_{number}",
                               "--input-prefix", work / "raw" / str(number) / f"toy_{number}",
                               "--output-prefix", work / "clean" / str(number) / f"toy_{number}"))
        results.append(run(f"merge_parallel (both cleaned datasets, max {int(args.lines * 0.8)})", "pipeline/clean/merge_parallel.py",
                           "--src", "ru", "--trg", "en", "--datasets-dir", work / "clean",
                           "--max-sentences", int(args.lines * 0.8), "--output-prefix", work / "corpus"))
        results.append(run("merge_mono (the en side, excluding nothing)", "pipeline/clean/merge_mono.py", "--language", "en",
                           "--datasets-dir", work / "clean", "--output", work / "mono.en.zst"))
        results.append(run("align (merged corpus, priors written)", "pipeline/alignments/align.py", "--src", "ru", "--trg", "en",
                           "--corpus-prefix", work / "corpus", "--priors-output", work / "aligned" / "corpus.priors",
                           "--output-prefix", work / "aligned" / "corpus"))
    print(f"Measured on {time.strftime('%Y-%m-%d')}, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {args.lines:,} pairs:\n")
    print("| step | wall seconds | peak RSS MiB | its last log line |")
    print("| --- | ---: | ---: | --- |")
    for r in results:
        print(f"| {r['step']} | {r['seconds']:.1f} | {r['rss_mib']:.0f} | {r['log'].replace('|', '/')} |")


if __name__ == "__main__":
    main()
