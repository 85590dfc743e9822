"""Hugging Face datasets (`hf_<org>/<name>` and `hfp_<org>/<name>`, each optionally
`:<subset>` and `@<revision>`), read through the Hugging Face datasets-server API.

- `{server}/splits?dataset=<org>/<name>` lists the subsets (configs) and splits; the subset is the
  one named, else the only one; the split is `train` when there is one, else the only one.
- `{server}/rows?dataset=…&config=…&split=…&offset=N&length=100` pages through the rows.
- A parallel row is `{"translation": {"<src>": …, "<trg>": …}}` (the `datasets` Translation
  feature) or has one column per language code; a monolingual row has a column named by the
  language or `text`.
- `@<revision>`: the datasets-server serves the dataset's current revision only, so the revision
  is checked against `{hub}/api/datasets/<org>/<name>` (`sha`): a dataset that moved on fails the
  step instead of silently importing other data.
`hf_` and `hfp_` are read the same way.

Test-only overrides: `TRANSLATIONS_HF_SERVER_URL` (https://datasets-server.huggingface.co),
`TRANSLATIONS_HF_HUB_URL` (https://huggingface.co).
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from typing import Iterator, Optional, Tuple

from pipeline.clean.scripts import base_language
from pipeline.common.io import StepError, write_lines
from pipeline.data.importing import Fetcher, base_url

SERVER = ("TRANSLATIONS_HF_SERVER_URL", "https://datasets-server.huggingface.co")
HUB = ("TRANSLATIONS_HF_HUB_URL", "https://huggingface.co")
PAGE = 100
_NAME = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?::(?P<subset>[^@]+))?(?:@(?P<revision>[\w.-]+))?$")


def parse_name(name: str) -> Tuple[str, Optional[str], Optional[str]]:
    match = _NAME.match(name)
    if not match:
        raise StepError(f"hf_{name}: expected <org>/<name>[:<subset>][@<revision>]")
    return match.group("repo"), match.group("subset"), match.group("revision")


class _Reader:
    def __init__(self, name: str, fetcher: Fetcher):
        self.name = name
        self.repo, self.subset, self.revision = parse_name(name)
        self.fetcher = fetcher
        self.server = base_url(*SERVER)
        self.requests = 0

    def get_json(self, url: str, what: str):
        self.requests += 1
        path = self.fetcher.get(url, f"hf-{self.requests}.json", what=what)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except ValueError as exc:
            raise StepError(f"hf_{self.name}: {what}: not JSON ({exc})") from None
        finally:
            os.unlink(path)

    def check_revision(self) -> None:
        if not self.revision:
            return
        info = self.get_json(f"{base_url(*HUB)}/api/datasets/{self.repo}", "dataset info")
        sha = str(info.get("sha") or "")
        if not sha.startswith(self.revision):
            raise StepError(
                f"hf_{self.name}: pinned to revision {self.revision}, but the dataset is now at {sha[:12] or 'unknown'} "
                "and the datasets-server serves the current revision only"
            )

    def choose_split(self) -> Tuple[str, str]:
        query = urllib.parse.urlencode({"dataset": self.repo})
        data = self.get_json(f"{self.server}/splits?{query}", "list of splits")
        splits = [(s.get("config"), s.get("split")) for s in data.get("splits", [])]
        configs = sorted({c for c, _ in splits})
        if self.subset:
            if self.subset not in configs:
                raise StepError(f"hf_{self.name}: no subset {self.subset!r} (has: {', '.join(configs) or 'none'})")
            config = self.subset
        elif len(configs) == 1:
            config = configs[0]
        else:
            raise StepError(f"hf_{self.name}: name a subset with :<subset> (has: {', '.join(configs) or 'none'})")
        names = [s for c, s in splits if c == config]
        if "train" in names:
            return config, "train"
        if len(names) == 1:
            return config, names[0]
        raise StepError(f"hf_{self.name}: subset {config} has no train split (has: {', '.join(names)})")

    def rows(self, limit: Optional[int] = None) -> Iterator[dict]:
        self.check_revision()
        config, split = self.choose_split()
        offset, total = 0, None
        while total is None or offset < total:
            length = PAGE if limit is None else min(PAGE, limit - offset)
            if length <= 0:
                return
            query = urllib.parse.urlencode(
                {"dataset": self.repo, "config": config, "split": split, "offset": offset, "length": length}
            )
            page = self.get_json(f"{self.server}/rows?{query}", f"rows {offset}-{offset + length}")
            total = int(page.get("num_rows_total", 0))
            rows = page.get("rows") or []
            if not rows:
                if offset < total:
                    raise StepError(f"hf_{self.name}: the server returned no rows at offset {offset} of {total}")
                return
            for item in rows:
                yield item.get("row", {})
            offset += len(rows)


def _column(row: dict, locale: str) -> Optional[str]:
    for key in (locale, locale.replace("_", "-"), locale.replace("-", "_"), base_language(locale)):
        if key in row:
            return key
    return None


def _text(row: dict, locale: str, name: str) -> str:
    source = row["translation"] if isinstance(row.get("translation"), dict) else row
    key = _column(source, locale)
    if key is None:
        raise StepError(f"hf_{name}: rows have no {locale!r} column (columns: {', '.join(sorted(source))})")
    value = source[key]
    return "" if value is None else " ".join(str(value).split())


def import_parallel(name: str, src: str, trg: str, output_prefix: str, fetcher: Fetcher) -> int:
    reader = _Reader(name, fetcher)
    with write_lines(f"{output_prefix}.{src}.zst") as s_out, write_lines(f"{output_prefix}.{trg}.zst") as t_out:
        for row in reader.rows():
            s, t = _text(row, src, name), _text(row, trg, name)
            if s and t:
                s_out.write(s)
                t_out.write(t)
        if s_out.count == 0:
            raise StepError(f"hf_{name}: no sentence pairs")
    return s_out.count


def import_mono(name: str, language: str, output: str, max_sentences, fetcher: Fetcher) -> int:
    reader = _Reader(name, fetcher)
    with write_lines(output) as out:
        for row in reader.rows():
            key = _column(row, language) or ("text" if "text" in row else None)
            if key is None:
                raise StepError(f"hf_{name}: rows have no {language!r} or text column (columns: {', '.join(sorted(row))})")
            for line in str(row[key] or "").split("\n"):
                line = line.strip()
                if line:
                    out.write(line)
                if max_sentences is not None and out.count >= max_sentences:
                    break
            if max_sentences is not None and out.count >= max_sentences:
                break
        if out.count == 0:
            raise StepError(f"hf_{name}: no lines")
    return out.count
