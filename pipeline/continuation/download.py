#!/usr/bin/env python3
"""Download pretrained artifacts for training continuation.

A training run can continue from artifacts published elsewhere: a model
trained earlier, its SentencePiece vocabulary, or corpora that were already
cleaned, translated or aligned.  The task graph then adds a task that runs
this script, at run time, to fetch those artifacts into one output directory
under the file names that the downstream training steps expect.

Some decisions can only be made at run time, so they are made here:

* ``--optional-file NAME URL``: HTTP 404 means "this artifact does not
  exist"; the file is skipped with a note instead of failing the task.
* ``--vocab-dir URL --src LANG --trg LANG``: a joint vocabulary is published
  as ``URL/vocab.spm``, split ones as ``URL/vocab.{src}.spm`` and
  ``URL/vocab.{trg}.spm``.  Split vocabularies are used when both exist,
  otherwise the joint one is published under both per-language names.

Every download is checked: the byte count against Content-Length, the
sha256 against ``--pin`` when given, ``.npz`` files must be readable zip
archives, ``.zst`` files must start with the zstd magic bytes and ``.spm``
files must not be empty.  Network errors, timeouts, HTTP 5xx and truncated
bodies are retried with exponential backoff; HTTP 4xx fails at once.

Nothing is published unless everything succeeds: downloads are staged in a
temporary directory inside the output directory and renamed into place at
the end, followed by ``manifest.json`` ({name: {url, size, sha256}}).

Standard library only, Python 3.9+, so that it runs in any task image.
Exit status: 0 on success, 1 on a download or verification error (one line
on stderr), 2 on a command-line usage error.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

PROG = "download.py"
MANIFEST = "manifest.json"
CHUNK_SIZE = 1024 * 1024
MAX_BACKOFF_SECONDS = 60.0
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
USER_AGENT = "translations-continuation-download/1.0"
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")

# Failures talking to the server (urllib.error.URLError is an OSError).
NETWORK_ERRORS = (OSError, http.client.HTTPException)
# What zipfile may raise on a damaged archive.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
              NotImplementedError, ValueError)


class DownloadError(Exception):
    """An expected failure, reported as one line on stderr (exit status 1)."""


class NotFound(DownloadError):
    """The server answered HTTP 404."""


class Transient(Exception):
    """A failure worth retrying: network error, timeout, HTTP 5xx, truncated body."""


class Fetched(NamedTuple):
    """A downloaded file, staged but not yet published."""

    url: str
    path: str
    size: int
    sha256: str


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
    parser.add_argument("--file", nargs=2, action="append", dest="files",
                        metavar=("NAME", "URL"), help="required file, saved as DIR/NAME")
    parser.add_argument("--optional-file", nargs=2, action="append", dest="optional_files",
                        metavar=("NAME", "URL"), help="like --file, but skipped on HTTP 404")
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


def check_url(url: str, option: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise DownloadError(f"invalid URL {url!r} for {option}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DownloadError(f"invalid URL {url!r} for {option}: must be an http(s) URL")
    if any(not "!" <= char <= "~" for char in url):
        raise DownloadError(
            f"invalid URL {url!r} for {option}: spaces, control and non-ASCII characters must be percent-encoded"
        )


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
    if args.timeout <= 0:
        raise DownloadError("--timeout must be positive")
    if args.retries < 0 or args.retry_wait < 0:
        raise DownloadError("--retries and --retry-wait must not be negative")

    names = []
    for option, pairs in (("--file", args.files), ("--optional-file", args.optional_files)):
        for name, url in pairs:
            check_name(name, option)
            check_url(url, option)
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
            raise DownloadError(f"--pin {name}: no --file, --optional-file or vocabulary with that name")
        if not SHA256_RE.fullmatch(digest):
            raise DownloadError(f"--pin {name}: {digest!r} is not a hex sha256 digest")
        if name in pins:
            raise DownloadError(f"--pin {name} given more than once")
        pins[name] = digest.lower()
    return pins


# --------------------------------------------------------------------------
# Downloading


def note(message: str) -> None:
    print(f"{PROG}: {message}", flush=True)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def backoff(first_wait: float, attempt: int) -> float:
    """Wait before retry number `attempt` (1-based): doubles, capped at a minute."""
    return min(first_wait * 2 ** (attempt - 1), max(first_wait, MAX_BACKOFF_SECONDS))


def describe_network_error(exc: BaseException, url: str, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g}s fetching {url}"
    detail = str(reason) or type(reason).__name__
    return f"network error fetching {url}: {detail}"


def content_length(response: http.client.HTTPResponse) -> Optional[int]:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_chunks(response: http.client.HTTPResponse, url: str, timeout: float) -> Iterator[bytes]:
    """Yield the response body; network failures become Transient."""
    while True:
        try:
            chunk = response.read(CHUNK_SIZE)
        except http.client.IncompleteRead as exc:
            # Raised for a short Content-Length body and for a chunked body cut off: either way
            # the bytes so far are not the file (the caller reports how far it got, and retries).
            yield exc.partial
            raise BodyCutOff() from None
        except NETWORK_ERRORS as exc:
            raise Transient(describe_network_error(exc, url, timeout)) from None
        if not chunk:
            return
        yield chunk


class SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only, and never from https down to plain http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
            target.port  # noqa: B018 (raises ValueError on a malformed port)
        except ValueError as exc:
            raise DownloadError(f"HTTP {code} from {req.full_url} redirects to a malformed URL: {exc}") from None
        source = urllib.parse.urlsplit(req.full_url).scheme
        if target.scheme not in ("http", "https") or (source == "https" and target.scheme == "http"):
            raise DownloadError(
                f"HTTP {code} from {req.full_url} redirects to {target.geturl()}: only http(s) redirects "
                "are followed, and never from https to http"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req, fp, code, msg, headers):
        try:
            return super().http_error_302(req, fp, code, msg, headers)
        except ValueError as exc:  # urllib parses Location before asking redirect_request
            raise DownloadError(f"HTTP {code} from {req.full_url} redirects to a malformed URL: {exc}") from None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


OPENER = urllib.request.build_opener(SafeRedirects)


class BodyCutOff(Exception):
    """The connection closed before the end of the response body."""


class Fetcher:
    """Downloads URLs into a staging directory, with retries."""

    def __init__(self, staging: str, timeout: float, retries: int, retry_wait: float):
        self.staging = staging
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait

    def fetch(self, url: str, what: str) -> Fetched:
        """Download `url`; `what` describes the file in messages."""
        fd, path = tempfile.mkstemp(dir=self.staging, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha256 = self._fetch_with_retries(url, what, out)
        except BaseException:
            os.remove(path)
            raise
        return Fetched(url, path, size, sha256)

    def _fetch_with_retries(self, url: str, what: str, out) -> Tuple[int, str]:
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            out.seek(0)
            out.truncate()
            try:
                return self._attempt(url, what, out)
            except Transient as exc:
                problem = str(exc)
            if attempt < attempts:
                wait = backoff(self.retry_wait, attempt)
                note(f"{problem} ({what}); retrying in {wait:g}s (attempt {attempt + 1} of {attempts})")
                time.sleep(wait)
        raise DownloadError(f"{problem} ({what}); gave up after {plural(attempts, 'attempt')}")

    def _attempt(self, url: str, what: str, out) -> Tuple[int, str]:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            response = OPENER.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise http_error(exc.code, url, what) from None
        except NETWORK_ERRORS as exc:
            raise Transient(describe_network_error(exc, url, self.timeout)) from None

        digest = hashlib.sha256()
        size = 0
        with response:
            expected = content_length(response)
            try:
                for chunk in read_chunks(response, url, self.timeout):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            except BodyCutOff:
                if expected is None:
                    raise Transient(
                        f"truncated download of {url}: the connection closed after {size} bytes, "
                        "before the end of the body"
                    ) from None
        if expected is not None and size != expected:
            raise Transient(f"truncated download of {url}: received {size} of {expected} bytes")
        return size, digest.hexdigest()


def http_error(code: int, url: str, what: str) -> Exception:
    """Map an HTTP error status to the exception to raise: only 5xx is retried."""
    if code >= 500:
        return Transient(f"HTTP {code} for {url}")
    if code == 404:
        return NotFound(f"HTTP 404 for {url} ({what})")
    return DownloadError(f"HTTP {code} for {url} ({what})")


def fetch_vocab(fetcher: Fetcher, vocab_dir: str, src: str, trg: str) -> Dict[str, Fetched]:
    """Fetch split vocabularies if both exist, else the joint one under both names."""
    base = vocab_dir.rstrip("/")
    names = [f"vocab.{src}.spm", f"vocab.{trg}.spm"]
    tried = []
    split = {}
    for name in names:
        url = base + "/" + name
        tried.append(url)
        try:
            split[name] = fetcher.fetch(url, f"vocabulary {name}")
        except NotFound:
            note(f"{url} not found (HTTP 404); looking for a joint vocabulary")
            break
    else:
        note(f"using split vocabularies {', '.join(tried)}")
        return split

    for staged in split.values():
        os.remove(staged.path)
    joint_url = base + "/vocab.spm"
    tried.append(joint_url)
    try:
        joint = fetcher.fetch(joint_url, "joint vocabulary vocab.spm")
    except NotFound:
        raise DownloadError(
            f"no vocabulary found (tried {', '.join(tried)}): need both "
            f"{names[0]} and {names[1]}, or vocab.spm"
        ) from None
    note(f"using joint vocabulary {joint_url} as {names[0]} and {names[1]}")
    return {name: joint for name in names}


# --------------------------------------------------------------------------
# Verification


def npz_problem(path: str) -> Optional[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            if not archive.namelist():
                return "the .npz archive is empty"
            bad_member = archive.testzip()
    except ZIP_ERRORS as exc:
        return f"not a readable .npz (zip) archive: {exc}"
    if bad_member is not None:
        return f"corrupt .npz archive: member {bad_member} fails its CRC check"
    return None


def zst_problem(path: str) -> Optional[str]:
    with open(path, "rb") as file:
        head = file.read(len(ZSTD_MAGIC))
    if head != ZSTD_MAGIC:
        got = head.hex(" ") if head else "an empty file"
        return f"not zstd data: expected magic bytes 28 b5 2f fd, got {got}"
    return None


def spm_problem(path: str) -> Optional[str]:
    return "the vocabulary file is empty" if os.path.getsize(path) == 0 else None


CONTENT_CHECKS = {".npz": npz_problem, ".zst": zst_problem, ".spm": spm_problem}


def verify(name: str, fetched: Fetched, pin: Optional[str]) -> None:
    if pin is not None and fetched.sha256 != pin:
        raise DownloadError(
            f"sha256 mismatch for {name} from {fetched.url}: expected {pin}, got {fetched.sha256}"
        )
    for suffix, find_problem in CONTENT_CHECKS.items():
        if name.endswith(suffix):
            problem = find_problem(fetched.path)
            if problem:
                raise DownloadError(f"invalid {name} from {fetched.url}: {problem}")


# --------------------------------------------------------------------------
# Publishing


def publish(staged: Dict[str, Fetched], staging: str, output_dir: str) -> Dict[str, dict]:
    """Move the staged files into place and write manifest.json; return the manifest."""
    users = collections.Counter(fetched.path for fetched in staged.values())
    manifest = {}
    for name in sorted(staged):
        fetched = staged[name]
        users[fetched.path] -= 1
        source = fetched.path
        if users[fetched.path]:  # the same download is published under another name too
            fd, source = tempfile.mkstemp(dir=staging, suffix=".copy")
            os.close(fd)
            shutil.copyfile(fetched.path, source)
        os.replace(source, os.path.join(output_dir, name))
        manifest[name] = {"url": fetched.url, "size": fetched.size, "sha256": fetched.sha256}

    manifest_tmp = os.path.join(staging, MANIFEST)
    with open(manifest_tmp, "w", encoding="utf-8") as file:
        json.dump(manifest, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(manifest_tmp, os.path.join(output_dir, MANIFEST))
    return manifest


def download_all(args: argparse.Namespace, pins: Dict[str, str]) -> Dict[str, dict]:
    os.makedirs(args.output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".download-", dir=args.output_dir)
    try:
        fetcher = Fetcher(staging, args.timeout, args.retries, args.retry_wait)
        staged = {}
        for name, url in args.files:
            staged[name] = fetcher.fetch(url, f"required file {name}")
        for name, url in args.optional_files:
            try:
                staged[name] = fetcher.fetch(url, f"optional file {name}")
            except NotFound:
                note(f"optional file {name} not found (HTTP 404 for {url}); skipping it")
        if args.vocab_dir is not None:
            staged.update(fetch_vocab(fetcher, args.vocab_dir, args.src, args.trg))
        for name, fetched in staged.items():
            verify(name, fetched, pins.get(name))
        return publish(staged, staging, args.output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already reported by argparse
        return exc.code if isinstance(exc.code, int) else 2
    args.files = args.files or []
    args.optional_files = args.optional_files or []
    args.pins = args.pins or []
    try:
        pins = check_args(args)
        manifest = download_all(args, pins)
    except (DownloadError, OSError) as exc:  # OSError here is local: output dir, disk space
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    for name, entry in manifest.items():
        print(f"{name}\t{entry['size']}\t{entry['sha256']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
