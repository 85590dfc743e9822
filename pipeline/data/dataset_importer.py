"""Import one dataset by name: download it from its source and write zstd text.

`--dataset <importer>_<name>` as written in the training config:
  opus_<corpus>/<version>       OPUS (pipeline/data/import_opus.py)
  sacrebleu_<test set>          sacrebleu's test sets (import_sacrebleu.py)
  flores_dev, flores_devtest    FLORES-101 (import_flores.py)
  url_<http(s) URL with [LANG]> any URL of a plain/gz/zst text file (import_url.py)
  news-crawl_news.<year>        WMT News Crawl, monolingual (import_news_crawl.py)
  hplt_mono/v2.0                HPLT 2.0 cleaned, monolingual (import_hplt.py)
  mtdata_<mtdata dataset id>    mtdata's catalogue (import_mtdata.py)
  hf_<org>/<name>, hfp_<org>/<name>[:<subset>][@<revision>]
                                Hugging Face datasets (import_hf.py)

Parallel (`--src`, `--trg`): writes `{output-prefix}.{src}.zst` and `{output-prefix}.{trg}.zst`,
line-aligned. Monolingual (`--language`): writes `{output-prefix}.{language}.zst`, at most
`--max-sentences` lines. Published artifacts: `{dataset_file}.{src}.zst`, `{dataset_file}.{trg}.zst`
or `{dataset_file}.{locale}.zst`.

Every download goes through pipeline.common.http (retries, timeouts, atomic and verified files);
hosts on private networks are refused unless `--allow-private-urls` (config
`allow-private-urls: true`). Test-only base-URL overrides: see pipeline/data/importing.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import List, Optional

from pipeline.clean.merging import positive_int
from pipeline.common.io import StepError, run
from pipeline.data import (
    import_flores,
    import_hf,
    import_hplt,
    import_mtdata,
    import_news_crawl,
    import_opus,
    import_sacrebleu,
    import_url,
)
from pipeline.data.importing import Fetcher

PARALLEL = {
    "opus": import_opus.import_parallel,
    "sacrebleu": import_sacrebleu.import_parallel,
    "flores": import_flores.import_parallel,
    "url": import_url.import_parallel,
    "mtdata": import_mtdata.import_parallel,
    "hf": import_hf.import_parallel,
    "hfp": import_hf.import_parallel,
}
MONO = {
    "opus": import_opus.import_mono,
    "url": import_url.import_mono,
    "news-crawl": import_news_crawl.import_mono,
    "hplt": import_hplt.import_mono,
    "hf": import_hf.import_mono,
    "hfp": import_hf.import_mono,
}


def split_dataset(dataset: str):
    importer, sep, name = dataset.partition("_")
    if not sep or not name:
        raise StepError(f"--dataset {dataset!r}: expected <importer>_<name>, e.g. opus_ada83/v1")
    return importer, name


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--output-prefix", required=True)
    parser.add_argument("--src")
    parser.add_argument("--trg")
    parser.add_argument("--language", help="import a monolingual dataset in this language")
    parser.add_argument("--max-sentences", type=positive_int)
    parser.add_argument("--hplt-min-doc-score", type=float)
    parser.add_argument("--allow-private-urls", action="store_true")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--retries", type=int, default=5)
    args = parser.parse_args(argv)
    importer, name = split_dataset(args.dataset)
    mono = args.language is not None
    if mono == bool(args.src or args.trg) or (not mono and not (args.src and args.trg)):
        parser.error("give --language (monolingual) or both --src and --trg (parallel)")
    table = MONO if mono else PARALLEL
    if importer not in table:
        kind = "monolingual" if mono else "parallel"
        raise StepError(f"--dataset {args.dataset}: no {kind} importer {importer!r}; "
                        f"expected one of: {', '.join(sorted(table))}")
    with tempfile.TemporaryDirectory(prefix="dataset-") as workdir:
        fetcher = Fetcher(workdir, allow_private=args.allow_private_urls, timeout=args.timeout, retries=args.retries)
        if mono:
            output = f"{args.output_prefix}.{args.language}.zst"
            extra = {"min_doc_score": args.hplt_min_doc_score} if importer == "hplt" else {}
            count = table[importer](name, args.language, output, args.max_sentences, fetcher, **extra)
            print(f"dataset_importer: {args.dataset}: {count} lines into {output}", file=sys.stderr)
        else:
            count = table[importer](name, args.src, args.trg, args.output_prefix, fetcher)
            print(f"dataset_importer: {args.dataset}: {count} pairs into {args.output_prefix}.{{{args.src},{args.trg}}}.zst",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
