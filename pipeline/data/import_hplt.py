"""HPLT monolingual web text (`hplt_mono/v2.0`): the cleaned release's shard list
`{base}/two/cleaned/<lang3>_<Script>_map.txt` (one jsonl.zst shard URL a line), then the shards in
order, each document a JSON object with `text` (lines separated by newlines), `lang` (document
languages, most probable first), `doc_scores` (web-docs-scorer, overall score first) and
`seg_langs` (one language per line). Kept: lines of documents whose first language is the
requested one and whose overall score is at least `--hplt-min-doc-score`, whose own segment
language matches, deduplicated (64-bit hashes), until `--max-sentences`. Shards are downloaded one
at a time and deleted after reading."""

from __future__ import annotations

import json
import os
import urllib.parse

import icu

from pipeline.clean.merging import record_hash
from pipeline.common.io import StepError, write_lines
from pipeline.data.importing import Fetcher, base_url, text_lines

BASE = ("TRANSLATIONS_HPLT_URL", "https://data.hplt-project.org")
RELEASES = {"mono/v2.0": "two/cleaned"}


def hplt_locale(language: str) -> str:
    """`ru` -> `rus_Cyrl` (ICU's likely script; Korean is `kor_Hang` in HPLT)."""
    locale = icu.Locale.addLikelySubtags(icu.Locale(language.replace("-", "_")))
    if locale.getLanguage() == "ko":
        return "kor_Hang"
    return f"{locale.getISO3Language()}_{locale.getScript()}"


def import_mono(name: str, language: str, output: str, max_sentences, fetcher: Fetcher, min_doc_score=None) -> int:
    if name not in RELEASES:
        raise StepError(f"hplt_{name}: unknown HPLT release; expected one of: {', '.join('hplt_' + r for r in RELEASES)}")
    code = hplt_locale(language)
    base = base_url(*BASE)
    map_url = f"{base}/{RELEASES[name]}/{code}_map.txt"
    shard_list = fetcher.get(map_url, f"{code}_map.txt", what=f"HPLT shard list for {code}")
    shards = [line.strip() for line in text_lines(shard_list, map_url) if line.strip()]
    if not shards:
        raise StepError(f"hplt_{name}: {map_url} lists no shards")
    seen = set()
    with write_lines(output) as out:
        for number, shard_url in enumerate(shards, start=1):
            if max_sentences is not None and out.count >= max_sentences:
                break
            absolute = urllib.parse.urljoin(map_url, shard_url)
            path = fetcher.get(absolute, f"shard-{number}.jsonl.zst", what=f"HPLT shard {number} of {len(shards)}")
            for line_number, raw in enumerate(text_lines(path, absolute), start=1):
                if not raw.strip():
                    continue
                try:
                    doc = json.loads(raw)
                    text, langs, scores = doc["text"], doc["lang"], doc["doc_scores"]
                    seg_langs = doc.get("seg_langs") or [langs[0]] * (text.count("\n") + 1)
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    raise StepError(f"{absolute}: line {line_number}: not an HPLT document ({exc})") from None
                if not langs or langs[0] != code:
                    continue
                if min_doc_score is not None and scores and scores[0] < min_doc_score:
                    continue
                for seg_lang, sentence in zip(seg_langs, text.split("\n")):
                    sentence = sentence.strip()
                    if seg_lang != code or not sentence:
                        continue
                    key = record_hash(sentence)
                    if key in seen:
                        continue
                    seen.add(key)
                    out.write(sentence)
                    if max_sentences is not None and out.count >= max_sentences:
                        break
                if max_sentences is not None and out.count >= max_sentences:
                    break
            os.unlink(path)
        if out.count == 0:
            raise StepError(f"hplt_{name}: no {code} lines passed the filters (min doc score {min_doc_score})")
    return out.count
