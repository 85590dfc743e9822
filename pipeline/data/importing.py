"""What every dataset importer shares: base URLs, downloading through pipeline.common.http, and
writing `{output-prefix}.{lang}.zst` from whatever format a source serves.

Base URLs of the public sources can be replaced FOR TESTS ONLY through environment variables
(the tests point them at a loopback server; nothing in the graph sets them):
`TRANSLATIONS_OPUS_URL` (https://object.pouta.csc.fi), `TRANSLATIONS_SACREBLEU_URL` (replaces the
scheme and host of sacrebleu's data URLs), `TRANSLATIONS_FLORES_URL`
(https://dl.fbaipublicfiles.com), `TRANSLATIONS_NEWS_CRAWL_URL` (https://data.statmt.org),
`TRANSLATIONS_HPLT_URL` (https://data.hplt-project.org).
"""

from __future__ import annotations

import gzip
import io
import os
import urllib.parse
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import zstandard

from pipeline.common.http import download
from pipeline.common.io import StepError, write_lines

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


def base_url(variable: str, default: str) -> str:
    return os.environ.get(variable, default).rstrip("/")


@dataclass
class Fetcher:
    """Downloads with the step's network settings."""

    workdir: str
    allow_private: bool = False
    timeout: float = 120.0
    retries: int = 5

    def get(self, url: str, name: str, what: Optional[str] = None, **kwargs) -> str:
        destination = os.path.join(self.workdir, name)
        download(url, destination, timeout=self.timeout, retries=self.retries, allow_private=self.allow_private,
                 what=what, **kwargs)
        return destination


def text_lines(path: str, what: str) -> Iterator[str]:
    """Lines of a plain, gzip or zstd file, recognised by its first bytes (not its name)."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic.startswith(ZSTD_MAGIC):
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        elif magic.startswith(GZIP_MAGIC):
            stream = gzip.GzipFile(fileobj=raw)
        else:
            stream = raw
        yield from binary_lines(stream, what)


def binary_lines(stream, what: str) -> Iterator[str]:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
    number = 0
    try:
        for number, line in enumerate(text, start=1):
            yield line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise StepError(f"{what}: not UTF-8 text after line {number} ({exc.reason})") from None
    except (zstandard.ZstdError, OSError, EOFError) as exc:
        raise StepError(f"{what}: cannot decompress after line {number}: {exc}") from None


def write_parallel(output_prefix: str, src: str, trg: str, src_lines: Iterable[str], trg_lines: Iterable[str],
                   what: str) -> int:
    src_iter, trg_iter = iter(src_lines), iter(trg_lines)
    with write_lines(f"{output_prefix}.{src}.zst") as s_out, write_lines(f"{output_prefix}.{trg}.zst") as t_out:
        for s in src_iter:
            t = next(trg_iter, None)
            if t is None:
                raise StepError(f"{what}: the {trg} side has {s_out.count} lines, fewer than the {src} side")
            s_out.write(s)
            t_out.write(t)
        if next(trg_iter, None) is not None:
            raise StepError(f"{what}: the {trg} side has more lines than the {src} side ({s_out.count})")
        if s_out.count == 0:
            raise StepError(f"{what}: no sentence pairs")
    return s_out.count


def write_mono(output: str, lines: Iterable[str], max_sentences: Optional[int], what: str) -> int:
    with write_lines(output) as out:
        for line in lines:
            if max_sentences is not None and out.count >= max_sentences:
                break
            if line.strip():
                out.write(line)
        if out.count == 0:
            raise StepError(f"{what}: no lines")
    return out.count


def quote_path(text: str) -> str:
    return urllib.parse.quote(text, safe="/-_.~")
