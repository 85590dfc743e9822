"""mtdata datasets (`mtdata_<group>-<name>-<version>-<l1>-<l2>`, e.g. `mtdata_Tilde-airbaltic-1-eng-rus`).

The `mtdata` package is the catalogue and the parser: its index gives the entry's URL(s), archive
layout and format (TMX, TSV, plain text, SGML, ...) and its `Parser` reads the segments. The
download is ours (pipeline.common.http), placed where mtdata's cache expects it so mtdata never
downloads anything itself. Hugging Face-hosted mtdata entries are not supported here (mtdata loads
those with the `datasets` library): use an `hf_` dataset instead.

Test-only override: `TRANSLATIONS_MTDATA_URL` replaces the scheme and host of the entry's URLs.
Note: the first use of mtdata's index on a machine builds it (about 1-2 minutes, cached in
`$MTDATA`, default ~/.mtdata); later loads take about 15 seconds.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from pipeline.common.io import StepError, write_lines
from pipeline.data.importing import Fetcher

BASE_VARIABLE = "TRANSLATIONS_MTDATA_URL"


def _rewrite(url: str) -> str:
    base = os.environ.get(BASE_VARIABLE)
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def _side(tag, locale: str) -> bool:
    from mtdata.iso import iso3_code  # noqa: PLC0415

    try:
        wanted = iso3_code(locale.replace("_", "-").split("-")[0], fail_error=True)
    except Exception:  # mtdata raises a bare Exception for unknown codes
        raise StepError(f"mtdata: unknown language code {locale!r}") from None
    return tag.lang == wanted


def import_parallel(name: str, src: str, trg: str, output_prefix: str, fetcher: Fetcher) -> int:
    from mtdata.cache import Cache  # noqa: PLC0415
    from mtdata.entry import DatasetId  # noqa: PLC0415
    from mtdata.index import INDEX  # noqa: PLC0415
    from mtdata.parser import Parser  # noqa: PLC0415

    try:
        did = DatasetId.parse(name)
    except Exception as exc:  # noqa: BLE001 (mtdata raises bare Exceptions)
        raise StepError(f"mtdata_{name}: not an mtdata dataset id ({exc})") from None
    entry = INDEX.entries.get(did)
    if entry is None:
        raise StepError(f"mtdata_{name}: not in mtdata's index (mtdata list -id shows the ids)")
    first, second = did.langs
    if _side(first, src) and _side(second, trg):
        swapped = False
    elif _side(first, trg) and _side(second, src):
        swapped = True
    else:
        raise StepError(f"mtdata_{name}: its languages are {first}-{second}, not {src}-{trg}")
    cache = Cache(Path(fetcher.workdir) / "mtdata")
    urls = list(entry.url) if isinstance(entry.url, (list, tuple)) else [entry.url]
    for url in urls:
        if urllib.parse.urlsplit(url).hostname == "huggingface.co":
            raise StepError(f"mtdata_{name}: a Hugging Face dataset; import it with an hf_ dataset name instead")
        filename = entry.filename if len(urls) == 1 else None
        local = cache.get_local_path(url, filename=filename, fix_missing=False, entry=entry)
        local.parent.mkdir(parents=True, exist_ok=True)
        fetcher.get(_rewrite(url), os.path.relpath(local, fetcher.workdir), what=f"mtdata {name}")
        cache.get_flag_file(local).touch()
    path = cache.get_entry(entry)
    parser = Parser(path, ext=entry.in_ext or None, ent=entry)

    def segments():
        for record in parser.read_segs(show_pbar=False):
            if len(record) < 2:
                continue
            a, b = (record[0] or "").strip(), (record[1] or "").strip()
            if a and b:
                yield a.replace("\t", " "), b.replace("\t", " ")

    with write_lines(f"{output_prefix}.{src}.zst") as s_out, write_lines(f"{output_prefix}.{trg}.zst") as t_out:
        for a, b in segments():
            s, t = (b, a) if swapped else (a, b)
            s_out.write(s)
            t_out.write(t)
        if s_out.count == 0:
            raise StepError(f"mtdata_{name}: no sentence pairs")
    return s_out.count
