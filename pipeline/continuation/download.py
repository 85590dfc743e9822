#!/usr/bin/env python3
"""Download pretrained artifacts for training continuation.

A training run can continue from artifacts published elsewhere: a model trained earlier, its
SentencePiece vocabulary, or corpora that were already cleaned, translated or aligned. The task
graph adds a task that runs this script to fetch them into one output directory (the task's
artifacts directory) under the file names the downstream steps expect.

Inputs (flags):
* ``--file NAME URL``: fetch URL, publish it as NAME (repeatable).
* ``--file-candidates NAME URL [URL ...]``: NAME is published from the first URL
  that exists (HTTP 404 means "try the next"); a model directory holds its best
  model as ``final.model.npz.best-chrf.npz``, ``model.npz.best-chrf.npz`` or
  only ``model.npz``, depending on the run that wrote it.
* ``--vocab-dir URL --src LANG --trg LANG``: a joint vocabulary is published as ``URL/vocab.spm``,
  split ones as ``URL/vocab.{src}.spm`` and ``URL/vocab.{trg}.spm``. Split vocabularies are used
  when both exist (decided at run time), otherwise the joint one is published under both
  per-language names.
* ``--pin NAME SHA256``: the expected sha256 of the file published as NAME.
* ``--deadline SECONDS`` (default 14400, well inside the task's 6-hour max-run-time) bounds the
  whole run, retries and waits included; ``--max-bytes N`` (default 64 GiB) caps the bytes of all
  files together; ``--timeout`` bounds each network operation, ``--retries``/``--retry-wait``
  shape the retries of transient failures (network errors, truncated bodies, HTTP 408/429/5xx,
  honouring Retry-After).
* ``--allow-private-urls``: loopback, link-local, private-range hosts and the Taskcluster proxy
  host are refused (for every URL and every redirect) unless this is given; the graph passes it
  when the training config says ``allow-private-urls: true``.

Every download goes through ``pipeline.common.http.download``: the body must be complete
(Content-Length, chunked framing, Content-Encoding honoured) and each file is checked by its real
parser (SentencePiece loads a ``.spm``, a ``.yml`` is a YAML mapping, an ``.npz`` holds ``.npy``
arrays, a ``.zst`` decompresses whole).

Output: the files and ``manifest.json`` ({name: {url, size, sha256}}, URLs with their query
string redacted as ``?…``), published together or not at all: everything is staged in a hidden
directory beside the output directory (inside it only if the parent is on another disk), so even a
task killed outright uploads no partial file, and renamed into place at the end; a failure, SIGTERM
included, removes the staging directory and whatever was already renamed.

Exit status: 0 on success, 1 on a download or verification error (one line on stderr), 2 on a
command-line usage error, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from typing import Dict, List, NamedTuple, Optional

from pipeline.common.http import (
    Deadline,
    Downloaded,
    DownloadError,
    NotFound,
    TooLarge,
    check_url,
    download,
    note,
    redact,
)
from pipeline.common.io import run

PROG = "download.py"
MANIFEST = "manifest.json"
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
DEFAULT_DEADLINE = 4 * 3600.0
DEFAULT_MAX_BYTES = 64 * 2**30


class Staged(NamedTuple):
    """A downloaded file in the staging directory, not yet published."""

    path: str
    result: Downloaded


# --------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Download pretrained artifacts for training continuation."
    )
    parser.add_argument("--output-dir", required=True, metavar="DIR",
                        help="directory to publish the files and manifest.json into")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="timeout of every network operation (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=5, metavar="N",
                        help="retries after a transient failure (default: %(default)s)")
    parser.add_argument("--retry-wait", type=float, default=5.0, metavar="SECONDS",
                        help="wait before the first retry, doubled each time (default: %(default)s)")
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE, metavar="SECONDS",
                        help="time allowed for all downloads, retries included (default: %(default)s)")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                        help="the most bytes all files together may have (default: %(default)s, 64 GiB)")
    parser.add_argument("--allow-private-urls", action="store_true",
                        help="allow loopback, link-local, private-range and Taskcluster-proxy hosts")
    parser.add_argument("--file", nargs=2, action="append", dest="files",
                        metavar=("NAME", "URL"), help="required file, saved as DIR/NAME")
    parser.add_argument("--file-candidates", nargs="+", action="append", dest="candidates",
                        metavar="NAME URL", help="NAME URL [URL ...]: saved as DIR/NAME from the first URL "
                        "that exists (HTTP 404: the next); real model directories name the best model "
                        "differently over the years")
    parser.add_argument("--pin", nargs=2, action="append", dest="pins",
                        metavar=("NAME", "SHA256"), help="expected sha256 of the file published as NAME")
    parser.add_argument("--vocab-dir", metavar="URL",
                        help="directory holding vocab.spm or vocab.{src,trg}.spm")
    parser.add_argument("--src", metavar="LANG", help="source language (with --vocab-dir)")
    parser.add_argument("--trg", metavar="LANG", help="target language (with --vocab-dir)")
    return parser


def check_name(name: str, option: str) -> None:
    """Reject anything but a plain file name inside the output directory."""
    if not name or "/" in name or "\\" in name or ".." in name or "\0" in name or name == ".":
        raise DownloadError(
            f"invalid file name {name!r} for {option}: must be a plain file name without '/' or '..'"
        )
    if name == MANIFEST:
        raise DownloadError(f"invalid file name {name!r} for {option}: {MANIFEST} is reserved")


def vocab_names(args: argparse.Namespace) -> List[str]:
    return [f"vocab.{args.src}.spm", f"vocab.{args.trg}.spm"]


def check_vocab_args(args: argparse.Namespace) -> None:
    if args.vocab_dir is None:
        if args.src is not None or args.trg is not None:
            raise DownloadError("--src and --trg are only used with --vocab-dir")
        return
    check_url(args.vocab_dir, "--vocab-dir")
    if not args.src or not args.trg:
        raise DownloadError("--vocab-dir needs both --src and --trg")
    if args.src == args.trg:
        raise DownloadError(f"--src and --trg must differ (both are {args.src!r})")
    for name in vocab_names(args):
        check_name(name, "--src/--trg")


def check_args(args: argparse.Namespace) -> Dict[str, str]:
    """Validate the parsed arguments; return the pins as {name: lowercase sha256}."""
    if args.timeout <= 0 or args.deadline <= 0:
        raise DownloadError("--timeout and --deadline must be positive")
    if args.retries < 0 or args.retry_wait < 0:
        raise DownloadError("--retries and --retry-wait must not be negative")
    if args.max_bytes <= 0:
        raise DownloadError("--max-bytes must be positive")

    names = []
    for name, url in args.files:
        check_name(name, "--file")
        check_url(url, f"--file {name}")
        names.append(name)
    for name, *urls in args.candidates:
        if not urls:
            raise DownloadError(f"--file-candidates {name}: give at least one URL after the name")
        check_name(name, "--file-candidates")
        for url in urls:
            check_url(url, f"--file-candidates {name}")
        names.append(name)
    check_vocab_args(args)
    if args.vocab_dir is not None:
        names.extend(vocab_names(args))
    duplicates = sorted(name for name, count in collections.Counter(names).items() if count > 1)
    if duplicates:
        raise DownloadError(f"file name(s) requested more than once: {', '.join(duplicates)}")

    pins = {}
    for name, digest in args.pins:
        if name not in names:
            raise DownloadError(f"--pin {name}: no --file or vocabulary with that name")
        if not SHA256_RE.fullmatch(digest):
            raise DownloadError(f"--pin {name}: {digest[:80]!r} is not a hex sha256 digest")
        if name in pins:
            raise DownloadError(f"--pin {name} given more than once")
        pins[name] = digest.lower()
    return pins


# --------------------------------------------------------------------------
# Downloading


class Fetcher:
    """Downloads into the staging directory under one deadline and one byte budget."""

    def __init__(self, staging: str, args: argparse.Namespace):
        self.staging = staging
        self.args = args
        self.deadline = Deadline(args.deadline)
        self.budget = args.max_bytes

    def fetch(self, url: str, name: str, what: str) -> Staged:
        path = os.path.join(self.staging, name)
        try:
            result = download(
                url, path, timeout=self.args.timeout, retries=self.args.retries, deadline=self.deadline,
                max_bytes=self.budget, allow_private=self.args.allow_private_urls,
                retry_wait=self.args.retry_wait, what=what,
            )
        except TooLarge as exc:
            raise DownloadError(f"{exc}: the files together may have at most --max-bytes "
                                f"{self.args.max_bytes} bytes") from None
        self.budget -= result.size
        return Staged(path, result)


def in_directory(directory_url: str, name: str) -> str:
    """The URL of file `name` in the directory `directory_url` (a query string stays at the end)."""
    parts = urllib.parse.urlsplit(directory_url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + name))


def fetch_vocab(fetcher: Fetcher, vocab_dir: str, src: str, trg: str) -> Dict[str, Staged]:
    """Fetch split vocabularies if both exist, else the joint one under both names."""
    names = [f"vocab.{src}.spm", f"vocab.{trg}.spm"]
    tried = []
    split = {}
    for name in names:
        url = in_directory(vocab_dir, name)
        tried.append(redact(url))
        try:
            split[name] = fetcher.fetch(url, name, f"vocabulary {name}")
        except NotFound:
            note(f"{redact(url)} not found (HTTP 404); looking for a joint vocabulary")
            break
    else:
        note(f"using split vocabularies {', '.join(tried)}")
        return split

    for staged in split.values():
        os.remove(staged.path)
        fetcher.budget += staged.result.size
    joint_url = in_directory(vocab_dir, "vocab.spm")
    tried.append(redact(joint_url))
    try:
        joint = fetcher.fetch(joint_url, ".joint-vocab.spm", "joint vocabulary vocab.spm")
    except NotFound:
        raise DownloadError(
            f"no vocabulary found (tried {', '.join(tried)}): need both "
            f"{names[0]} and {names[1]}, or vocab.spm"
        ) from None
    note(f"using joint vocabulary {redact(joint_url)} as {names[0]} and {names[1]}")
    return {name: joint for name in names}


def fetch_first(fetcher: Fetcher, name: str, urls: List[str]) -> Staged:
    """`name` from the first of `urls` that exists (HTTP 404: the next); any other failure stops."""
    for url in urls:
        try:
            staged = fetcher.fetch(url, name, f"required file {name}")
        except NotFound:
            note(f"{redact(url)} not found (HTTP 404); trying the next name for {name}")
            continue
        note(f"using {redact(url)} as {name}")
        return staged
    raise DownloadError(f"no file for {name} (HTTP 404 for each of {', '.join(redact(url) for url in urls)})")


def check_pins(staged: Dict[str, Staged], pins: Dict[str, str]) -> None:
    for name, pin in pins.items():
        result = staged[name].result
        if result.sha256 != pin:
            raise DownloadError(f"sha256 mismatch for {name} from {result.url}: expected {pin}, got {result.sha256}")


# --------------------------------------------------------------------------
# Publishing


def publish_all(staged: Dict[str, Staged], staging: str, output_dir: str) -> Dict[str, dict]:
    """Move the staged files and manifest.json into `output_dir`, all of them or none.

    Everything that writes bytes (copies of a file published under two names, the manifest)
    happens in the staging directory first; then only renames remain, and if one of those fails
    (or SIGTERM arrives) the files already renamed are removed again.
    """
    ready = {}
    manifest = {}
    for name in sorted(staged):
        path = os.path.join(staging, ".ready-" + name)
        if sum(other.path == staged[name].path for other in staged.values()) > 1:
            shutil.copyfile(staged[name].path, path)
        else:
            os.replace(staged[name].path, path)
        ready[name] = path
        result = staged[name].result
        manifest[name] = {"url": result.url, "size": result.size, "sha256": result.sha256}
    manifest_path = os.path.join(staging, ".ready-" + MANIFEST)
    with open(manifest_path, "w", encoding="utf-8") as file:
        json.dump(manifest, file, indent=2, sort_keys=True, ensure_ascii=False)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    ready[MANIFEST] = manifest_path

    done = []
    try:
        for name, path in ready.items():  # the manifest last
            os.replace(path, os.path.join(output_dir, name))
            done.append(name)
    except BaseException:
        for name in done:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(output_dir, name))
        raise
    return manifest


def staging_directory(output_dir: str) -> str:
    """A fresh staging directory beside `output_dir` (the artifacts directory is uploaded even
    when the task is killed outright), or inside it when the parent is not on the same disk."""
    os.makedirs(output_dir, exist_ok=True)
    parent = os.path.dirname(os.path.abspath(output_dir))
    try:
        if os.stat(parent).st_dev == os.stat(output_dir).st_dev:
            return tempfile.mkdtemp(prefix=".download-", dir=parent)
    except OSError:
        pass
    return tempfile.mkdtemp(prefix=".download-", dir=output_dir)


def download_all(args: argparse.Namespace, pins: Dict[str, str]) -> Dict[str, dict]:
    staging = staging_directory(args.output_dir)
    try:
        fetcher = Fetcher(staging, args)
        staged = {}
        for name, url in args.files:
            staged[name] = fetcher.fetch(url, name, f"required file {name}")
        for name, *urls in args.candidates:
            staged[name] = fetch_first(fetcher, name, urls)
        if args.vocab_dir is not None:
            staged.update(fetch_vocab(fetcher, args.vocab_dir, args.src, args.trg))
        check_pins(staged, pins)
        return publish_all(staged, staging, args.output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already reported by argparse
        return exc.code if isinstance(exc.code, int) else 2
    args.files = args.files or []
    args.candidates = args.candidates or []
    args.pins = args.pins or []
    try:
        pins = check_args(args)
        manifest = download_all(args, pins)
    except (DownloadError, OSError) as exc:  # OSError here is local: output dir, disk space
        if isinstance(exc, OSError):
            exc = f"cannot publish into {args.output_dir}: {exc.strerror or exc}"
        message = " ".join(str(exc).split())
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        return 1
    for name, entry in manifest.items():
        print(f"{name}\t{entry['size']}\t{entry['sha256']}", flush=True)
    return 0


if __name__ == "__main__":
    run(main)
