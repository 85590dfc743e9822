"""OPUS (`opus_<corpus>/<version>`): the moses-format zip of a language pair, or for a
monolingual dataset the corpus's `mono/<lang>.txt.gz`.

Parallel: `{base}/OPUS-<corpus>/<version>/moses/<l1>-<l2>.txt.zip` with the pair in OPUS's order
(alphabetical; the other order is tried when the first is not found), holding
`<corpus>.<l1>-<l2>.<l1>` and `<corpus>.<l1>-<l2>.<l2>`.
"""

from __future__ import annotations

import zipfile

from pipeline.common.http import NotFound
from pipeline.common.io import StepError
from pipeline.data.importing import Fetcher, base_url, binary_lines, quote_path, text_lines, write_mono, write_parallel

BASE = ("TRANSLATIONS_OPUS_URL", "https://object.pouta.csc.fi")


def _split(name: str):
    corpus, sep, version = name.partition("/")
    if not sep or not corpus or not version:
        raise StepError(f"opus_{name}: expected opus_<corpus>/<version>, e.g. opus_ada83/v1")
    return corpus, version


def import_parallel(name: str, src: str, trg: str, output_prefix: str, fetcher: Fetcher) -> int:
    corpus, version = _split(name)
    base = base_url(*BASE)
    pairs = [tuple(sorted((src, trg))), tuple(sorted((src, trg), reverse=True))]
    archive = None
    for l1, l2 in pairs:
        url = f"{base}/OPUS-{quote_path(corpus)}/{quote_path(version)}/moses/{l1}-{l2}.txt.zip"
        try:
            archive = fetcher.get(url, f"{l1}-{l2}.txt.zip", what=f"OPUS {name} {l1}-{l2}")
            break
        except NotFound:
            continue
    if archive is None:
        raise StepError(f"opus_{name}: OPUS has no moses zip for {src}-{trg} or {trg}-{src}")
    try:
        with zipfile.ZipFile(archive) as zf:
            names = {member.rsplit(".", 1)[-1]: member for member in zf.namelist() if f".{l1}-{l2}." in member}
            if src not in names or trg not in names:
                raise StepError(f"opus_{name}: the zip has no {src} and {trg} files (members: {', '.join(zf.namelist())})")
            with zf.open(names[src]) as s, zf.open(names[trg]) as t:
                return write_parallel(output_prefix, src, trg, binary_lines(s, names[src]), binary_lines(t, names[trg]),
                                      f"opus_{name}")
    except zipfile.BadZipFile as exc:
        raise StepError(f"opus_{name}: {archive}: not a zip file ({exc})") from None


def import_mono(name: str, language: str, output: str, max_sentences, fetcher: Fetcher) -> int:
    corpus, version = _split(name)
    url = f"{base_url(*BASE)}/OPUS-{quote_path(corpus)}/{quote_path(version)}/mono/{language}.txt.gz"
    path = fetcher.get(url, f"{language}.txt.gz", what=f"OPUS {name} mono {language}")
    return write_mono(output, text_lines(path, url), max_sentences, f"opus_{name}")
