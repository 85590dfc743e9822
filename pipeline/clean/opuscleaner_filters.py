"""Running OpusCleaner's filter pipelines (the `opuscleaner` package) over a stream of pairs.

`pipeline_for(dataset, ...)` picks the filter pipeline: in `custom` mode a checked-in
`pipeline/clean/opuscleaner/<dataset file stem>.filters.json` when there is one, else (and in
`defaults` mode) a default pipeline written to a temporary file: whitespace normalised per side,
empty pairs removed, at most 150 tokens a side, a token-count ratio of at least 0.6 and, for
languages OpusCleaner's `alpha_ratio` filter knows, at least 40% of each side's characters in its
language's alphabet.

`run_opuscleaner(pipeline_file, pairs, src, trg)` streams the pairs through `opuscleaner-clean`
(a subprocess fed by a thread; argv list, never a shell string) and yields the surviving pairs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Iterable, Iterator, Tuple

from pipeline.common.io import StepError

CUSTOM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "opuscleaner")


def _file_stem(dataset: str) -> str:
    provider, _, name = dataset.partition("_")
    provider = re.sub(r"[^A-Za-z0-9-]+", "_", provider).strip("_")
    name = re.sub(r"[^A-Za-z0-9-]+", "_", name).strip("_")
    return f"{provider}_{name}" if name else provider


def _alpha_ratio_languages():
    try:
        import opuscleaner  # noqa: PLC0415
    except ImportError:
        return set()
    spec = os.path.join(os.path.dirname(opuscleaner.__file__), "filters", "alpha_ratio.json")
    with open(spec, encoding="utf-8") as f:
        return set(json.load(f)["parameters"]["LANG1"].get("allowed_values", []))


def default_pipeline(src: str, trg: str, files) -> dict:
    filters = [
        {"filter": "normalize_whitespace", "parameters": {"COLLAPSE": True}, "language": src},
        {"filter": "normalize_whitespace", "parameters": {"COLLAPSE": True}, "language": trg},
        {"filter": "remove_empty_lines", "parameters": {}, "language": None},
        {"filter": "max_length", "parameters": {"MAXLENGTH": 150, "MINLENGTH": 1}, "language": None},
        {"filter": "src_trg_ratio", "parameters": {"RATIO": 0.6, "LOG": False}, "language": None},
    ]
    known = _alpha_ratio_languages()
    if src in known and trg in known:
        filters.append({
            "filter": "alpha_ratio",
            "parameters": {"LANG1": src, "LANG2": trg, "SRCWORDRAT": 0.4, "TRGWORDRAT": 0.4,
                           "SRCALPHARAT": 0.4, "TRGALPHARAT": 0.4, "DEBUG": False},
            "language": None,
        })
    return {"version": 1, "files": list(files), "filters": filters}


@contextlib.contextmanager
def pipeline_for(dataset: str, input_prefix: str, mode: str, src: str, trg: str) -> Iterator[str]:
    """The path of the filters.json to use (a temporary file for the defaults, removed after)."""
    if mode == "custom":
        custom = os.path.join(CUSTOM_DIR, f"{_file_stem(dataset)}.filters.json")
        if os.path.exists(custom):
            yield custom
            return
    stem = os.path.basename(input_prefix)
    with tempfile.TemporaryDirectory(prefix="opuscleaner-") as directory:
        path = os.path.join(directory, "default.filters.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(default_pipeline(src, trg, [f"{stem}.{src}.gz", f"{stem}.{trg}.gz"]), f, indent=2)
        yield path


def _command():
    found = shutil.which("opuscleaner-clean", path=os.path.dirname(sys.executable)) or shutil.which("opuscleaner-clean")
    if not found:
        raise StepError("opuscleaner-clean: not installed (pip install 'opuscleaner>=0.7,<0.8'); needed by use-opuscleaner")
    return found


def run_opuscleaner(pipeline_file: str, pairs: Iterable[Tuple[str, str]], src: str, trg: str, what: str) -> Iterator[Tuple[str, str]]:
    env = dict(os.environ)
    # The filters are scripts run as `./name.py` (#!/usr/bin/env python3): use this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    process = subprocess.Popen(
        [_command(), "--input", "-", pipeline_file, src, trg],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=os.path.dirname(os.path.abspath(pipeline_file)),
    )
    failure = []
    stderr_tail = []

    def feed():
        try:
            for s, t in pairs:
                process.stdin.write(f"{s.replace(chr(9), ' ')}\t{t.replace(chr(9), ' ')}\n".encode("utf-8"))
        except BrokenPipeError:
            pass
        except BaseException as exc:  # a StepError reading the input: reported after the join
            failure.append(exc)
        finally:
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass

    def drain():
        for line in process.stderr:
            stderr_tail.append(line.decode("utf-8", "replace").rstrip())
            del stderr_tail[:-20]

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        for number, raw in enumerate(process.stdout, start=1):
            fields = raw.decode("utf-8").rstrip("\n").split("\t")
            if len(fields) != 2:
                raise StepError(f"opuscleaner-clean ({pipeline_file}): output line {number} has {len(fields)} columns, expected 2")
            yield fields[0], fields[1]
    finally:
        if process.poll() is None:
            process.stdout.close()
        process.wait()
        for thread in threads:
            thread.join()
    if failure:
        raise failure[0]
    if process.returncode != 0:
        detail = next((line for line in reversed(stderr_tail) if line.strip()), "no message")
        raise StepError(f"opuscleaner-clean on {what} with {pipeline_file} exited with {process.returncode}: {detail}")
