"""Any http(s) URL (`url_<URL>`): the URL with `[LANG]` replaced by each language is a plain,
gzip or zstd text file (recognised by its first bytes), one sentence a line."""

from __future__ import annotations

import os
import urllib.parse

from pipeline.common.io import StepError
from pipeline.data.importing import Fetcher, text_lines, write_mono, write_parallel


def _url_for(template: str, language: str) -> str:
    if "[LANG]" not in template:
        raise StepError(f"url_{template}: the URL needs a [LANG] placeholder for the language")
    url = template.replace("[LANG]", language)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise StepError(f"url_{template}: only http(s) URLs are supported")
    return url


def _name(url: str, language: str) -> str:
    base = os.path.basename(urllib.parse.urlsplit(url).path) or "file"
    return f"{language}.{base}.download"


def import_parallel(template: str, src: str, trg: str, output_prefix: str, fetcher: Fetcher) -> int:
    paths = {}
    for lang in (src, trg):
        url = _url_for(template, lang)
        paths[lang] = (fetcher.get(url, _name(url, lang), what=f"{lang} side of url_ dataset",
                                   verify_as=os.path.basename(urllib.parse.urlsplit(url).path)), url)
    return write_parallel(output_prefix, src, trg, text_lines(*paths[src]), text_lines(*paths[trg]), "url_ dataset")


def import_mono(template: str, language: str, output: str, max_sentences, fetcher: Fetcher) -> int:
    url = _url_for(template, language)
    path = fetcher.get(url, _name(url, language), what="url_ dataset",
                       verify_as=os.path.basename(urllib.parse.urlsplit(url).path))
    return write_mono(output, text_lines(path, url), max_sentences, "url_ dataset")
