"""sacrebleu test sets (`sacrebleu_<test set>`, e.g. `sacrebleu_wmt19`, `sacrebleu_wmt21/dev`).

The installed `sacrebleu` package is the catalogue: its dataset definition gives the archive
URLs, their md5 sums and, per language pair, the files inside; its own parsers turn the raw files
(SGML, XML, TSV, plain text) into source and reference lines. Only the download is ours
(pipeline.common.http), into a private directory, not sacrebleu's cache. A pair missing in one
direction is read from the other direction (source and reference swapped).
"""

from __future__ import annotations

import copy
import hashlib
import os
import urllib.parse

from pipeline.common.io import StepError
from pipeline.data.importing import Fetcher, text_lines, write_parallel

BASE_VARIABLE = "TRANSLATIONS_SACREBLEU_URL"


def _rewrite(url: str) -> str:
    base = os.environ.get(BASE_VARIABLE)
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return base.rstrip("/") + parts.path


def _md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_parallel(name: str, src: str, trg: str, output_prefix: str, fetcher: Fetcher) -> int:
    from sacrebleu.dataset import DATASETS  # noqa: PLC0415
    from sacrebleu.utils import extract_tarball  # noqa: PLC0415

    if name not in DATASETS:
        raise StepError(f"sacrebleu_{name}: not a sacrebleu test set (sacrebleu --list shows them)")
    dataset = copy.copy(DATASETS[name])
    dataset._outdir = os.path.join(fetcher.workdir, "sacrebleu")
    dataset._rawdir = os.path.join(dataset._outdir, "raw")
    os.makedirs(dataset._rawdir, exist_ok=True)
    if f"{src}-{trg}" in dataset.langpairs:
        langpair, swapped = f"{src}-{trg}", False
    elif f"{trg}-{src}" in dataset.langpairs:
        langpair, swapped = f"{trg}-{src}", True
    else:
        raise StepError(f"sacrebleu_{name}: no {src}-{trg} pair (has: {', '.join(sorted(dataset.langpairs)) or 'none'})")
    sums = dataset.md5 or [None] * len(dataset.data)
    for url, expected in zip(dataset.data, sums):
        filename = dataset._get_tarball_filename(url)
        path = fetcher.get(_rewrite(url), os.path.join("sacrebleu", "raw", filename), what=f"sacrebleu {name}")
        if expected and _md5(path) != expected:
            raise StepError(f"sacrebleu_{name}: {url}: md5 {_md5(path)} is not sacrebleu's {expected}")
        extract_tarball(path, dataset._rawdir)
    source = dataset.get_source_file(langpair)
    reference = dataset.get_reference_files(langpair)[0]
    src_file, trg_file = (reference, source) if swapped else (source, reference)
    return write_parallel(output_prefix, src, trg, text_lines(src_file, src_file), text_lines(trg_file, trg_file),
                          f"sacrebleu_{name}")
