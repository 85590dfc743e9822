"""HTTP downloads shared by every step: one URL to one file, verified, published atomically.

    from pipeline.common.http import download, DownloadError
    result = download(url, "corpus.en.zst", timeout=120, retries=5, deadline=3600, max_bytes=2 ** 34)
    result.size, result.sha256, result.url   # .url is redacted: safe to log and to publish

What `download` guarantees:
- Nothing appears at `destination` unless the whole body arrived and passed its checks (it is
  written beside it and renamed by `pipeline.common.io.publish`): Content-Length is honoured (a
  short body is an error), a chunked body cut off is an error, `Content-Encoding: gzip/deflate` is
  decoded (any other encoding is refused), and the file is checked by its real parser, chosen by
  the destination's suffix (`verify_file`): SentencePiece loads a `.spm`, a `.yml`/`.yaml` parses to
  a mapping, a `.npz` is a zip of valid `.npy` arrays, `.zst` and `.gz` decompress whole. A body
  delimited only by the server closing the connection cannot prove it is complete, so it is
  accepted only for formats that mark their own end (`.npz`, `.zst`, `.gz`).
- Transient failures are retried with exponential backoff: network errors and timeouts, truncated
  bodies, HTTP 408, 429 and 5xx (honouring `Retry-After`). Other HTTP errors fail at once; 404 is
  `NotFound`, so a caller can try another name.
- `deadline` (seconds, or a `Deadline` shared by several downloads) bounds the whole call, waits
  included: a server trickling one byte a second cannot hold a task until its max-run-time.
  `max_bytes` caps the size of the file (announced or received, after decoding).
- Only public hosts are contacted unless `allow_private=True`: the host of the URL and of every
  redirect is resolved and each of its addresses checked; loopback, link-local (cloud metadata),
  private-range, unspecified and other non-global addresses are refused, and so is the Taskcluster
  proxy host `taskcluster`. The connection goes to the addresses that were checked. Environment
  proxies are not used (they would make the address checks meaningless).
- URLs with credentials (`user:pass@`) are refused and never echoed; query strings, which often
  carry tokens, are shown as `?…` in every message and in `.url` (`redact`).
- Failures are `DownloadError` (a `StepError`): one line naming the redacted URL and the reason.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import hashlib
import http.client
import ipaddress
import math
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from typing import Callable, Iterator, List, NamedTuple, Optional, Union

from pipeline.common.io import StepError, publish

USER_AGENT = "translations-pipeline-download/1.0"
CHUNK_SIZE = 1 << 20
MAX_BACKOFF_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 600.0  # a server asking for a longer pause is treated as down
# Taskcluster's proxy: a task with the proxy feature reaches Taskcluster APIs with its own scopes here.
PROXY_HOSTS = frozenset({"taskcluster"})
# Content-Encoding -> zlib wbits to decode it with (None: the body is the file).
SUPPORTED_ENCODINGS = {"": None, "identity": None, "gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
                       "deflate": zlib.MAX_WBITS}
PRIVATE_HINT = "private, loopback and link-local hosts are only allowed with allow-private-urls: true"

# Failures talking to the server (urllib.error.URLError is an OSError).
NETWORK_ERRORS = (OSError, http.client.HTTPException)


class DownloadError(StepError):
    """A download that failed for good: one line naming the (redacted) URL and the reason."""


class NotFound(DownloadError):
    """The server answered HTTP 404."""


class Refused(DownloadError):
    """The URL (or a redirect) leads to a host that is not allowed."""


class TooLarge(DownloadError):
    """The file is larger than `max_bytes`."""


class _Transient(Exception):
    """A failure worth retrying; `retry_after` is the server's Retry-After in seconds, if any."""

    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


class Downloaded(NamedTuple):
    url: str  # redacted: the query string is shown as "?…"
    size: int
    sha256: str


class Deadline:
    """A point in time after which no download may go on; share one among several downloads."""

    def __init__(self, seconds: Optional[float]):
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> Optional[float]:
        return None if self._end is None else self._end - time.monotonic()

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end


# --------------------------------------------------------------------------
# URLs


def redact(url: str) -> str:
    """`url` fit to print: credentials dropped, a query string shown as `?…`, no fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc.rpartition("@")[2]
    text = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return text + ("?…" if parts.query else "")


def check_url(url: str, what: str = "URL") -> None:
    """Refuse anything but a well-formed http(s) URL without credentials (`what` names it in errors)."""
    shown = redact(url)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError as exc:
        raise DownloadError(f"invalid URL {shown} for {what}: {exc}") from None
    if "@" in parts.netloc:
        raise DownloadError(f"invalid URL {shown} for {what}: URLs may not carry credentials (user:password@)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"invalid URL {shown} for {what}: must be an http(s) URL")
    if any(not "!" <= char <= "~" for char in url):
        raise DownloadError(
            f"invalid URL {shown} for {what}: spaces, control and non-ASCII characters must be percent-encoded"
        )


def address_problem(address: str) -> Optional[str]:
    """Why a connection to IP `address` is refused (None when it is a public address)."""
    ip = ipaddress.ip_address(address.partition("%")[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_private:
        return "a private-network address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "not a public address"
    return None


def resolve(host: str, port: int, allow_private: bool) -> list:
    """getaddrinfo for `host`, refusing hosts (or any of their addresses) that are not public."""
    name = host.rstrip(".").lower()
    if not allow_private and (name in PROXY_HOSTS or name == "localhost" or name.endswith(".localhost")):
        raise Refused(f"refusing to connect to {host}: an internal host; {PRIVATE_HINT}")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allow_private:
        for info in infos:
            problem = address_problem(info[4][0])
            if problem:
                where = "it is" if info[4][0] == host.strip("[]") else f"it resolves to {info[4][0]},"
                raise Refused(f"refusing to connect to {host}: {where} {problem}; {PRIVATE_HINT}")
    return infos


def _connect(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, *, allow_private=False):
    """socket.create_connection, but only to addresses `resolve` allowed."""
    host, port = address
    error = None
    for family, kind, proto, _name, sockaddr in resolve(host, port, allow_private):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error if error else OSError(f"no address for {host}")


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, allow_private=False, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(_connect, allow_private=allow_private)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, allow_private=False, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(_connect, allow_private=allow_private)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_private: bool):
        super().__init__()
        self.allow_private = allow_private

    def http_open(self, req):
        return self.do_open(functools.partial(_HTTPConnection, allow_private=self.allow_private), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_private: bool):
        super().__init__()
        self.allow_private = allow_private

    def https_open(self, req):
        return self.do_open(functools.partial(_HTTPSConnection, allow_private=self.allow_private), req,
                            context=self._context)


class SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only, never from https down to http, never to credentials.

    The target's host is checked like the first one when the connection is made.
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        source = redact(req.full_url)
        try:
            target_url = urllib.parse.urljoin(req.full_url, newurl)
            target = urllib.parse.urlsplit(target_url)
            target.port  # noqa: B018 (raises ValueError on a malformed port)
        except ValueError as exc:
            raise DownloadError(f"HTTP {code} from {source} redirects to a malformed URL: {exc}") from None
        shown = redact(target_url)
        if "@" in target.netloc:
            raise DownloadError(f"HTTP {code} from {source} redirects to a URL with credentials: {shown}")
        scheme = urllib.parse.urlsplit(req.full_url).scheme
        if target.scheme not in ("http", "https") or (scheme == "https" and target.scheme == "http"):
            raise DownloadError(
                f"HTTP {code} from {source} redirects to {shown}: only http(s) redirects "
                "are followed, and never from https to http"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req, fp, code, msg, headers):
        try:
            return super().http_error_302(req, fp, code, msg, headers)
        except ValueError as exc:  # urllib parses Location before asking redirect_request
            raise DownloadError(
                f"HTTP {code} from {redact(req.full_url)} redirects to a malformed URL: {exc}"
            ) from None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


@functools.lru_cache(maxsize=2)
def opener(allow_private: bool) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _HTTPHandler(allow_private), _HTTPSHandler(allow_private),
        SafeRedirects(),
    )


# --------------------------------------------------------------------------
# Verification of what arrived


def _npz_problem(path: str) -> Optional[str]:
    import numpy

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            if not members:
                return "the .npz archive holds no arrays"
            bad_member = archive.testzip()
            if bad_member is not None:
                return f"corrupt .npz archive: member {bad_member} fails its CRC check"
            for member in members:
                if not member.endswith(".npy"):
                    return f"not an .npz archive: member {member} is not an .npy array"
                with archive.open(member) as array:
                    version = numpy.lib.format.read_magic(array)
                    read_header = (numpy.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else numpy.lib.format.read_array_header_2_0)
                    shape, _fortran, dtype = read_header(array)
                    data_size = archive.getinfo(member).file_size - array.tell()
                expected = dtype.itemsize * math.prod(shape)
                if not dtype.hasobject and data_size != expected:
                    return (f"not a readable .npz archive: array {member} holds {data_size} bytes of data, "
                            f"its header ({dtype}, shape {shape}) calls for {expected}")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
            ValueError, SyntaxError) as exc:
        return f"not a readable .npz archive: {exc}"
    return None


def _feed(path: str, consume: Callable[[bytes], None], block_size: int = CHUNK_SIZE) -> int:
    size = 0
    with open(path, "rb") as file:
        while True:
            block = file.read(block_size)
            if not block:
                return size
            size += len(block)
            consume(block)


def _zst_problem(path: str) -> Optional[str]:
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    state = {"obj": dctx.decompressobj(), "pending": False}

    def consume(block):
        # Small input blocks bound the memory one call can expand into (zstd's ratio is bounded).
        while block:
            state["obj"].decompress(block)
            state["pending"] = True
            if not state["obj"].eof:
                return
            block = state["obj"].unused_data
            state["obj"], state["pending"] = dctx.decompressobj(), False

    try:
        if _feed(path, consume, block_size=4096) == 0:
            return "an empty file, not zstd data"
    except zstandard.ZstdError as exc:
        return f"not valid zstd data: {exc}"
    if state["pending"]:
        return "the zstd data ends in the middle of a frame (truncated)"
    return None


def _gz_problem(path: str) -> Optional[str]:
    try:
        with gzip.open(path, "rb") as stream:
            if not stream.read(1) and os.path.getsize(path) == 0:
                return "an empty file, not gzip data"
            while stream.read(CHUNK_SIZE):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return f"not complete gzip data: {exc}"
    return None


def _spm_problem(path: str) -> Optional[str]:
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.Load(path)
    except (RuntimeError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).replace(path, "the file").split())[:200]
        return f"not a SentencePiece model: {detail}"
    if processor.GetPieceSize() == 0:
        return "a SentencePiece model without pieces"
    return None


def _yaml_problem(path: str) -> Optional[str]:
    import yaml

    try:
        with open(path, "rb") as file:
            for event in yaml.parse(file, Loader=yaml.SafeLoader):
                if isinstance(event, yaml.AliasEvent):
                    return "YAML aliases are not accepted in downloaded files"
        with open(path, "rb") as file:
            document = yaml.safe_load(file)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return f"not valid YAML: {' '.join(str(exc).split())[:200]}"
    if not isinstance(document, dict):
        return f"not a YAML mapping (a {type(document).__name__}): an error page?"
    return None


CHECKS = {".npz": _npz_problem, ".zst": _zst_problem, ".gz": _gz_problem, ".spm": _spm_problem,
          ".yml": _yaml_problem, ".yaml": _yaml_problem}


# Formats whose parser notices a missing end (a zip's central directory, a zstd or gzip stream's
# last frame): only these may arrive in a body that ends when the server closes the connection.
SELF_DELIMITING = (".npz", ".zst", ".gz")


def self_delimiting(name: str) -> bool:
    return name.endswith(SELF_DELIMITING)


def verify_file(path: str, name: str) -> Optional[str]:
    """Check the file at `path` with the parser its `name`'s suffix calls for; return the problem."""
    for suffix, find_problem in CHECKS.items():
        if name.endswith(suffix):
            return find_problem(path)
    return None


# --------------------------------------------------------------------------
# Downloading


def note(message: str) -> None:
    prog = os.path.basename(sys.argv[0]) or "download"
    print(f"{prog}: {message}", flush=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def backoff(first_wait: float, attempt: int) -> float:
    """Wait before retry number `attempt` (1-based): doubles, capped at a minute."""
    return min(first_wait * 2 ** (attempt - 1), max(first_wait, MAX_BACKOFF_SECONDS))


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe_network_error(exc: BaseException, url: str, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g}s fetching {url}"
    detail = " ".join((str(reason) or type(reason).__name__).split())
    return f"network error fetching {url}: {detail}"


def _http_error(code: int, url: str, what: str, headers) -> Exception:
    if code >= 500 or code in (408, 429):
        return _Transient(f"HTTP {code} for {url}", retry_after(headers.get("Retry-After") if headers else None))
    if code == 404:
        return NotFound(f"HTTP 404 for {url} ({what})")
    return DownloadError(f"HTTP {code} for {url} ({what})")


class _Attempt:
    """One request, its body streamed into `out`."""

    def __init__(self, url, shown, what, out, timeout, deadline, max_bytes, allow_private, delimited):
        self.url, self.shown, self.what, self.out = url, shown, what, out
        self.timeout, self.deadline, self.max_bytes = timeout, deadline, max_bytes
        self.allow_private, self.delimited = allow_private, delimited

    def socket_timeout(self) -> float:
        remaining = self.deadline.remaining()
        return self.timeout if remaining is None else max(0.001, min(self.timeout, remaining))

    def too_big(self, size) -> DownloadError:
        return TooLarge(
            f"{self.shown} ({self.what}) is larger than the limit of {self.max_bytes} bytes ({size} bytes)"
        )

    def _decoded(self, decoder, chunk: bytes, encoding: str) -> Iterator[bytes]:
        """`chunk` decoded per Content-Encoding, in pieces of at most CHUNK_SIZE (a gzip bomb
        expands piece by piece, so `max_bytes` stops it before it fills memory or disk)."""
        if decoder is None:
            yield chunk
            return
        try:
            piece = decoder.decompress(chunk, CHUNK_SIZE)
            yield piece
            while decoder.unconsumed_tail:
                yield decoder.decompress(decoder.unconsumed_tail, CHUNK_SIZE)
        except zlib.error as exc:
            raise DownloadError(f"{self.shown} ({self.what}): body is not valid {encoding} data: {exc}") from None

    def run(self) -> Downloaded:
        request = urllib.request.Request(self.url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        timeout = self.socket_timeout()
        try:
            response = opener(self.allow_private).open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            headers = exc.headers
            exc.close()
            raise _http_error(exc.code, self.shown, self.what, headers) from None
        except Refused as exc:
            raise Refused(f"{exc} (fetching {self.shown}, {self.what})") from None
        except NETWORK_ERRORS as exc:
            raise _Transient(_describe_network_error(exc, self.shown, timeout)) from None
        with response:
            return self._read(response, timeout)

    def _read(self, response, timeout) -> Downloaded:
        length = response.headers.get("Content-Length")
        try:
            expected = int(length) if length is not None else None
        except ValueError:
            raise _Transient(f"invalid Content-Length {length[:40]!r} from {self.shown}") from None
        encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
        if encoding not in SUPPORTED_ENCODINGS:
            raise DownloadError(f"{self.shown} ({self.what}) is sent with Content-Encoding {encoding[:40]!r}, "
                                "which is not supported")
        wbits = SUPPORTED_ENCODINGS[encoding]
        decoder = zlib.decompressobj(wbits) if wbits else None
        if self.max_bytes is not None and expected is not None and not decoder and expected > self.max_bytes:
            raise self.too_big(expected)
        framed = expected is not None or response.chunked

        digest, received, size = hashlib.sha256(), 0, 0
        while True:
            if self.deadline.expired():
                raise DownloadError(
                    f"deadline of {self.deadline.seconds:g}s passed fetching {self.shown} ({self.what}) "
                    f"after {received} bytes"
                )
            try:
                chunk = response.read1(CHUNK_SIZE)
            except http.client.IncompleteRead:
                raise _Transient(f"truncated download of {self.shown}: the connection closed after "
                                 f"{received} bytes, before the end of the body") from None
            except NETWORK_ERRORS as exc:
                raise _Transient(_describe_network_error(exc, self.shown, timeout)) from None
            if not chunk:
                break
            received += len(chunk)
            for piece in self._decoded(decoder, chunk, encoding):
                size += len(piece)
                if self.max_bytes is not None and size > self.max_bytes:
                    raise self.too_big(f"at least {size}")
                self.out.write(piece)
                digest.update(piece)
        if expected is not None and received != expected:
            raise _Transient(f"truncated download of {self.shown}: received {received} of {expected} bytes")
        if decoder:
            tail = decoder.flush()
            if not decoder.eof:
                raise _Transient(f"truncated download of {self.shown}: the {encoding}-encoded body ends early")
            if decoder.unused_data:
                raise DownloadError(f"{self.shown} ({self.what}): data after the end of the {encoding}-encoded body")
            size += len(tail)
            if self.max_bytes is not None and size > self.max_bytes:
                raise self.too_big(f"at least {size}")
            self.out.write(tail)
            digest.update(tail)
        if not framed and not self.delimited:
            raise DownloadError(
                f"{self.shown} ({self.what}) was sent without Content-Length or chunked encoding, so "
                "there is no telling whether it arrived whole (only .npz, .zst and .gz files show their own end)"
            )
        return Downloaded(self.shown, size, digest.hexdigest())


def download(
    url: str,
    destination: str,
    *,
    timeout: float = 120.0,
    retries: int = 5,
    deadline: Union[None, float, Deadline] = None,
    max_bytes: Optional[int] = None,
    allow_private: bool = False,
    retry_wait: float = 5.0,
    sha256: Optional[str] = None,
    what: Optional[str] = None,
    verify_as: Optional[str] = None,
) -> Downloaded:
    """Download `url` to `destination`, verified; see the module docstring.

    `timeout` bounds each network operation; `retries` is the number of retries after a transient
    failure, the first after `retry_wait` seconds (doubling); `deadline` is seconds from now or a
    shared `Deadline`; `sha256` is the expected digest; `what` describes the file in messages;
    `verify_as` is the file name whose suffix picks the parser (default: `destination`).
    """
    check_url(url, what or "download")
    shown = redact(url)
    what = what or os.path.basename(destination)
    if not isinstance(deadline, Deadline):
        deadline = Deadline(deadline)
    name = verify_as or os.path.basename(destination)
    attempts = retries + 1
    try:
        with publish(destination) as partial, open(partial, "wb") as out:
            for attempt in range(1, attempts + 1):
                out.seek(0)
                out.truncate()
                if deadline.expired():
                    raise DownloadError(f"deadline of {deadline.seconds:g}s passed before fetching {shown} ({what})")
                try:
                    result = _Attempt(url, shown, what, out, timeout, deadline, max_bytes, allow_private,
                                      self_delimiting(name)).run()
                    break
                except _Transient as exc:
                    problem, wait = str(exc), exc.retry_after
                if attempt == attempts:
                    raise DownloadError(f"{problem} ({what}); gave up after {_plural(attempts, 'attempt')}")
                if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
                    raise DownloadError(f"{problem} ({what}); the server asks to retry in {wait:g}s, more than "
                                        f"the {MAX_RETRY_AFTER_SECONDS:g}s a download waits")
                wait = backoff(retry_wait, attempt) if wait is None else wait
                remaining = deadline.remaining()
                if remaining is not None and wait >= remaining:
                    raise DownloadError(
                        f"{problem} ({what}); no time left for retry {attempt} of {retries} within the "
                        f"deadline of {deadline.seconds:g}s (the next try would be in {wait:g}s)"
                    )
                note(f"{problem} ({what}); retrying in {wait:g}s (attempt {attempt + 1} of {attempts})")
                time.sleep(wait)
            out.flush()
            os.fsync(out.fileno())
            if sha256 is not None and result.sha256 != sha256.lower():
                raise DownloadError(f"sha256 mismatch for {what} from {shown}: expected {sha256.lower()}, "
                                    f"got {result.sha256}")
            problem = verify_file(partial, name)
            if problem:
                raise DownloadError(f"invalid {what} from {shown}: {problem}")
    except OSError as exc:  # local: the destination directory, a full disk (network errors are handled above)
        raise DownloadError(f"cannot write {destination} ({what}): {exc.strerror or exc}") from None
    return result


__all__: List[str] = ["Deadline", "DownloadError", "Downloaded", "NotFound", "Refused", "TooLarge", "check_url",
                      "download", "redact", "verify_file"]
