"""Streaming line I/O and atomic publishing, shared by every step.

- `read_lines(path)` yields the lines of a plain, `.gz` or `.zst` file one at a time (newline
  stripped), so no step holds a corpus in memory.
- `write_lines(path)` / `publish(path)` are context managers that write next to the final name
  and rename into place only when the block succeeds: an artifacts directory never holds a
  half-written file under a published name, whatever stops the step (an error, Ctrl-C, SIGTERM).
- `StepError` is an expected failure; `run(main)` turns it into one line on stderr and exit 1.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import signal
import sys
import tempfile
from typing import Callable, Iterable, Iterator, List, Optional

import zstandard

ZSTD_LEVEL = 10
PARTIAL_PREFIX = ".partial-"


class StepError(Exception):
    """An expected failure of a step: reported as one line naming the file and the reason."""


def _open_binary(path: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise StepError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise StepError(f"{path}: is a directory, expected a file") from None


class _ZstdReader(io.RawIOBase):
    """Decompresses every frame of a zstd stream; a stream cut inside a frame is an error.

    (zstandard's own stream_reader ends quietly at a truncated frame.)
    """

    def __init__(self, raw, path: str):
        self._raw, self._path = raw, path
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame = self._decompressor.decompressobj()
        self._in_frame = False
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            block = self._raw.read(1 << 17)
            if not block:
                if self._in_frame:
                    raise StepError(f"{self._path}: truncated zstd stream (the last frame is incomplete)")
                return 0
            while block:
                self._in_frame = True
                self._buffer += self._frame.decompress(block)
                if not self._frame.eof:
                    break
                block = self._frame.unused_data
                self._frame = self._decompressor.decompressobj()
                self._in_frame = False
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


@contextlib.contextmanager
def open_text(path: str) -> Iterator[io.TextIOBase]:
    """A text stream over a plain, gzip or zstd file (decided by the file's suffix)."""
    raw = _open_binary(path)
    try:
        if path.endswith(".zst"):
            stream = io.BufferedReader(_ZstdReader(raw, path), buffer_size=1 << 17)
        elif path.endswith(".gz"):
            stream = gzip.GzipFile(fileobj=raw)
        else:
            stream = raw
        yield io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
    finally:
        raw.close()


def read_lines(path: str) -> Iterator[str]:
    """The lines of `path`, without their newline. A damaged or non-UTF-8 file is a StepError."""
    with open_text(path) as text:
        try:
            for line in text:
                yield line[:-1] if line.endswith("\n") else line
        except (zstandard.ZstdError, OSError, EOFError) as exc:
            raise StepError(f"{path}: cannot decompress: {exc}") from None
        except UnicodeDecodeError as exc:
            raise StepError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_parallel(src_path: str, trg_path: str) -> Iterator[tuple]:
    """(src, trg) pairs of two line-aligned files; a length mismatch is a StepError naming both."""
    src_lines, trg_lines = read_lines(src_path), read_lines(trg_path)
    count = 0
    for src in src_lines:
        trg = next(trg_lines, None)
        if trg is None:
            raise StepError(f"{trg_path}: has {count} lines, fewer than {src_path}")
        count += 1
        yield src, trg
    if next(trg_lines, None) is not None:
        raise StepError(f"{trg_path}: has more lines than {src_path} ({count})")


@contextlib.contextmanager
def publish(path: str) -> Iterator[str]:
    """Yield a temporary path beside `path`; rename it to `path` when the block succeeds.

    The temporary name starts with a dot so it is recognisable; it is removed on any failure.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix="-" + os.path.basename(path), dir=directory)
    os.close(fd)
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


class LineWriter:
    """Writes lines (newline added) to a plain, gzip or zstd stream."""

    def __init__(self, binary, path: str):
        self._binary = binary
        if path.endswith(".zst"):
            self._stream = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(binary, closefd=False)
        elif path.endswith(".gz"):
            self._stream = gzip.GzipFile(fileobj=binary, mode="wb", mtime=0)
        else:
            self._stream = None
        self._text = io.TextIOWrapper(self._stream or binary, encoding="utf-8", newline="\n", write_through=False)
        self.count = 0

    def write(self, line: str) -> None:
        if "\n" in line:
            line = line.replace("\n", " ")
        self._text.write(line + "\n")
        self.count += 1

    def write_all(self, lines: Iterable[str]) -> int:
        for line in lines:
            self.write(line)
        return self.count

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
        if self._stream is not None:
            self._stream.close()


@contextlib.contextmanager
def write_lines(path: str) -> Iterator[LineWriter]:
    """A LineWriter whose file appears at `path` only when the block succeeds."""
    with publish(path) as partial:
        with open(partial, "wb") as binary:
            writer = LineWriter(binary, path)
            yield writer
            writer.close()


def compress_file(source: str, destination: str) -> None:
    """Compress `source` into `destination` (.zst or .gz), streaming, published atomically."""
    with publish(destination) as partial, open(source, "rb") as raw, open(partial, "wb") as out:
        if destination.endswith(".zst"):
            zstandard.ZstdCompressor(level=ZSTD_LEVEL).copy_stream(raw, out)
        else:
            with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
                while True:
                    block = raw.read(1 << 20)
                    if not block:
                        break
                    gz.write(block)


def decompress_file(source: str, destination: str) -> int:
    """Write the decompressed lines of `source` to plain `destination`; return the line count."""
    with write_lines(destination) as out:
        return out.write_all(read_lines(source))


class Terminated(BaseException):
    """SIGTERM arrived (a spot preemption, or the task's max-run-time)."""


def raise_on_sigterm() -> None:
    """Turn SIGTERM into an exception so `publish` blocks clean up before the process exits."""

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


def run(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> None:
    """Run a step's main: a StepError is one line on stderr and exit status 1; SIGTERM exits 143."""
    prog = os.path.basename(sys.argv[0]) or "step"
    raise_on_sigterm()
    try:
        status = main(argv)
    except StepError as exc:
        message = " ".join(str(exc).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(1)
    except Terminated:
        print(f"{prog}: terminated (SIGTERM); nothing partial was published", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(status or 0)
