"""WMT News Crawl (`news-crawl_news.<year>`), monolingual: the shuffled, deduplicated
`{base}/news-crawl/<lang>/news.<year>.<lang>.shuffled.deduped.gz`; the first `--max-sentences`
lines are kept (the file is already shuffled)."""

from __future__ import annotations

from pipeline.clean.scripts import base_language
from pipeline.common.io import StepError
from pipeline.data.importing import Fetcher, base_url, quote_path, text_lines, write_mono

BASE = ("TRANSLATIONS_NEWS_CRAWL_URL", "https://data.statmt.org")


def import_mono(name: str, language: str, output: str, max_sentences, fetcher: Fetcher) -> int:
    if not name.startswith("news.") or "/" in name:
        raise StepError(f"news-crawl_{name}: expected news-crawl_news.<year>, e.g. news-crawl_news.2020")
    lang = base_language(language)
    url = f"{base_url(*BASE)}/news-crawl/{lang}/{quote_path(name)}.{lang}.shuffled.deduped.gz"
    path = fetcher.get(url, f"{name}.{lang}.gz", what=f"news-crawl {name} {lang}")
    return write_mono(output, text_lines(path, url), max_sentences, f"news-crawl_{name}")
