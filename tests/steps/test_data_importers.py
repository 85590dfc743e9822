"""The dataset importers against a loopback server serving each source's real format.

Each test serves what the source serves (an OPUS moses zip, sacrebleu's WMT tarball of fake-SGML
files, the FLORES-101 tarball, plain/gz/zst files, HPLT's shard list and jsonl.zst shards, an
mtdata TMX zip, the Hugging Face datasets-server API), points the importer's base URL at it (the
test-only environment overrides) and checks the written `.zst` files line by line.
"""

import hashlib
import json

import pytest

from pipeline.common.io import StepError
from pipeline.data import dataset_importer
from tests import toydata
from tests.steps.conftest_data import gz, lines, lines_text, loopback, run_step, tgz_bytes, zip_bytes, zst  # noqa: F401

PAIRS = toydata.pairs(20, seed=3)
RU = [s for s, _ in PAIRS]
EN = [t for _, t in PAIRS]


def importer(*args):
    return dataset_importer.main([*map(str, args), "--allow-private-urls", "--retries", "0"])


def test_opus_moses_zip_in_opus_pair_order(loopback, tmp_path, monkeypatch):
    loopback.add("/OPUS-ada83/v1/moses/en-ru.txt.zip", zip_bytes({
        "README": "readme", "LICENSE": "license", "ada83.en-ru.xml": "<xml/>",
        "ada83.en-ru.en": lines_text(EN), "ada83.en-ru.ru": lines_text(RU),
    }))
    monkeypatch.setenv("TRANSLATIONS_OPUS_URL", loopback.url)
    importer("--dataset", "opus_ada83/v1", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "opus_ada83_v1")
    assert lines(tmp_path / "opus_ada83_v1.ru.zst") == RU
    assert lines(tmp_path / "opus_ada83_v1.en.zst") == EN


def test_opus_tries_the_other_pair_order(loopback, tmp_path, monkeypatch):
    # Some OPUS corpora only publish one order; the importer asks for the other after a 404.
    loopback.add("/OPUS-odd/v2/moses/ru-en.txt.zip", zip_bytes({"odd.ru-en.en": lines_text(EN), "odd.ru-en.ru": lines_text(RU)}))
    monkeypatch.setenv("TRANSLATIONS_OPUS_URL", loopback.url)
    importer("--dataset", "opus_odd/v2", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "odd")
    assert lines(tmp_path / "odd.ru.zst") == RU
    assert loopback.hits == ["/OPUS-odd/v2/moses/en-ru.txt.zip", "/OPUS-odd/v2/moses/ru-en.txt.zip"]


def test_opus_mono_with_max_sentences(loopback, tmp_path, monkeypatch):
    loopback.add("/OPUS-tldr-pages/v2023-08-29/mono/ru.txt.gz", gz(lines_text(RU)))
    monkeypatch.setenv("TRANSLATIONS_OPUS_URL", loopback.url)
    importer("--dataset", "opus_tldr-pages/v2023-08-29", "--language", "ru", "--max-sentences", 5,
             "--output-prefix", tmp_path / "tldr")
    assert lines(tmp_path / "tldr.ru.zst") == RU[:5]


def test_opus_misaligned_zip_is_one_error_and_publishes_nothing(loopback, tmp_path, monkeypatch):
    loopback.add("/OPUS-bad/v1/moses/en-ru.txt.zip", zip_bytes({"bad.en-ru.en": lines_text(EN[:-1]), "bad.en-ru.ru": lines_text(RU)}))
    monkeypatch.setenv("TRANSLATIONS_OPUS_URL", loopback.url)
    with pytest.raises(StepError, match="the en side has 19 lines, fewer than the ru side"):
        importer("--dataset", "opus_bad/v1", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []


def _wmt19_tarball():
    def sgm(kind, lang, segments):
        body = "".join(f'<seg id="{i}">{text}</seg>\n' for i, text in enumerate(segments, start=1))
        return (f'<{kind}set setid="newstest2019" srclang="ru" trglang="en">\n'
                f'<doc sysid="ref" docid="toy-1" genre="news" origlang="ru">\n<p>\n{body}</p>\n</doc>\n</{kind}set>\n')

    return tgz_bytes({
        "sgm/newstest2019-ruen-src.ru.sgm": sgm("src", "ru", RU),
        "sgm/newstest2019-ruen-ref.en.sgm": sgm("ref", "en", EN),
    })


def test_sacrebleu_wmt19_through_sacrebleus_catalogue(loopback, tmp_path, monkeypatch):
    from sacrebleu.dataset import DATASETS

    tarball = _wmt19_tarball()
    loopback.add("/wmt19/translation-task/test.tgz", tarball)
    monkeypatch.setenv("TRANSLATIONS_SACREBLEU_URL", loopback.url)
    # The served tarball is a toy: register its md5 in place of the real one (the check stays on).
    monkeypatch.setattr(DATASETS["wmt19"], "md5", [hashlib.md5(tarball).hexdigest()])
    importer("--dataset", "sacrebleu_wmt19", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "wmt19")
    assert lines(tmp_path / "wmt19.ru.zst") == RU
    assert lines(tmp_path / "wmt19.en.zst") == EN


def test_sacrebleu_md5_mismatch_fails(loopback, tmp_path, monkeypatch):
    loopback.add("/wmt19/translation-task/test.tgz", _wmt19_tarball())
    monkeypatch.setenv("TRANSLATIONS_SACREBLEU_URL", loopback.url)
    with pytest.raises(StepError, match="is not sacrebleu's 84de7162d158e28403103b01aeefc39a"):
        importer("--dataset", "sacrebleu_wmt19", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "wmt19")
    assert not (tmp_path / "wmt19.ru.zst").exists()


def test_flores_tarball(loopback, tmp_path, monkeypatch):
    loopback.add("/flores101/dataset/flores101_dataset.tar.gz", tgz_bytes({
        "flores101_dataset/dev/rus.dev": lines_text(RU[:10]), "flores101_dataset/dev/eng.dev": lines_text(EN[:10]),
        "flores101_dataset/devtest/rus.devtest": lines_text(RU[10:]), "flores101_dataset/devtest/eng.devtest": lines_text(EN[10:]),
    }))
    monkeypatch.setenv("TRANSLATIONS_FLORES_URL", loopback.url)
    importer("--dataset", "flores_devtest", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "flores_devtest")
    assert lines(tmp_path / "flores_devtest.ru.zst") == RU[10:]
    assert lines(tmp_path / "flores_devtest.en.zst") == EN[10:]


@pytest.mark.parametrize("suffix,encode", [("txt", lambda t: t.encode()), ("gz", gz), ("zst", zst)])
def test_url_dataset_plain_gz_zst(loopback, tmp_path, suffix, encode):
    for lang, side in (("ru", RU), ("en", EN)):
        loopback.add(f"/files/corpus.{lang}.{suffix}", encode(lines_text(side)))
    importer("--dataset", f"url_{loopback.url}/files/corpus.[LANG].{suffix}", "--src", "ru", "--trg", "en",
             "--output-prefix", tmp_path / "url")
    assert lines(tmp_path / "url.ru.zst") == RU
    assert lines(tmp_path / "url.en.zst") == EN


def test_url_loopback_is_refused_without_allow_private_urls(loopback, tmp_path):
    loopback.add("/files/c.ru.txt", b"x\n")
    result = run_step("pipeline/data/dataset_importer.py", "--dataset", f"url_{loopback.url}/files/c.[LANG].txt",
                      "--language", "ru", "--output-prefix", tmp_path / "c")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "allow-private-urls" in result.stderr
    assert loopback.hits == []


def test_news_crawl(loopback, tmp_path, monkeypatch):
    loopback.add("/news-crawl/en/news.2007.en.shuffled.deduped.gz", gz(lines_text(EN)))
    monkeypatch.setenv("TRANSLATIONS_NEWS_CRAWL_URL", loopback.url)
    importer("--dataset", "news-crawl_news.2007", "--language", "en", "--max-sentences", 7,
             "--output-prefix", tmp_path / "news-crawl_news_2007")
    assert lines(tmp_path / "news-crawl_news_2007.en.zst") == EN[:7]


def test_hplt_filters_documents_segments_and_duplicates(loopback, tmp_path, monkeypatch):
    docs_1 = [
        {"text": "\n".join(RU[0:3]), "lang": ["rus_Cyrl"], "doc_scores": [9.5], "seg_langs": ["rus_Cyrl"] * 3},
        {"text": "\n".join(RU[3:5]), "lang": ["rus_Cyrl"], "doc_scores": [5.0], "seg_langs": ["rus_Cyrl"] * 2},  # low score
        {"text": "\n".join(EN[0:2]), "lang": ["eng_Latn"], "doc_scores": [9.9], "seg_langs": ["eng_Latn"] * 2},  # other language
        {"text": f"{RU[5]}\n{EN[5]}\n{RU[0]}", "lang": ["rus_Cyrl"], "doc_scores": [8.0],
         "seg_langs": ["rus_Cyrl", "eng_Latn", "rus_Cyrl"]},  # an English line; a duplicate
    ]
    docs_2 = [{"text": "\n".join(RU[6:12]), "lang": ["rus_Cyrl"], "doc_scores": [7.5], "seg_langs": ["rus_Cyrl"] * 6}]
    shard_1 = loopback.add("/two/cleaned/rus_Cyrl/1.jsonl.zst", zst(lines_text(json.dumps(d) for d in docs_1)))
    shard_2 = loopback.add("/two/cleaned/rus_Cyrl/2.jsonl.zst", zst(lines_text(json.dumps(d) for d in docs_2)))
    loopback.add("/two/cleaned/rus_Cyrl/3.jsonl.zst", None)  # never needed: max-sentences is reached first
    loopback.add("/two/cleaned/rus_Cyrl_map.txt", lines_text([shard_1, shard_2, loopback.url + "/two/cleaned/rus_Cyrl/3.jsonl.zst"]).encode())
    monkeypatch.setenv("TRANSLATIONS_HPLT_URL", loopback.url)
    importer("--dataset", "hplt_mono/v2.0", "--language", "ru", "--max-sentences", 8, "--hplt-min-doc-score", 7.0,
             "--output-prefix", tmp_path / "hplt_mono_v2_0")
    assert lines(tmp_path / "hplt_mono_v2_0.ru.zst") == RU[0:3] + [RU[5]] + RU[6:10]
    assert "/two/cleaned/rus_Cyrl/3.jsonl.zst" not in loopback.hits


def test_mtdata_tmx_zip_through_mtdatas_index_and_parser(loopback, tmp_path, monkeypatch):
    units = "".join(
        f'<tu><tuv xml:lang="en"><seg>{t}</seg></tuv><tuv xml:lang="ru"><seg>{s}</seg></tuv></tu>\n' for s, t in PAIRS
    )
    tmx = f'<?xml version="1.0" encoding="UTF-8"?>\n<tmx version="1.4"><header srclang="en"/><body>\n{units}</body></tmx>\n'
    loopback.add("/airbaltic.en-ru.tmx.zip", zip_bytes({"airbaltic.en-ru.tmx": tmx}))
    monkeypatch.setenv("TRANSLATIONS_MTDATA_URL", loopback.url)
    importer("--dataset", "mtdata_Tilde-airbaltic-1-eng-rus", "--src", "ru", "--trg", "en",
             "--output-prefix", tmp_path / "mtdata_Tilde-airbaltic-1-eng-rus")
    assert lines(tmp_path / "mtdata_Tilde-airbaltic-1-eng-rus.ru.zst") == RU
    assert lines(tmp_path / "mtdata_Tilde-airbaltic-1-eng-rus.en.zst") == EN


def _hf_server(loopback, rows, sha="d30a823abcdef"):
    loopback.add("/api/datasets/org/toy", json.dumps({"id": "org/toy", "sha": sha}).encode())
    loopback.add("/splits", lambda q: json.dumps({"splits": [
        {"dataset": "org/toy", "config": "ru-en", "split": "train"},
        {"dataset": "org/toy", "config": "ru-en", "split": "test"},
        {"dataset": "org/toy", "config": "de-en", "split": "train"},
    ]}).encode())

    def page(query):
        assert query["config"] == ["ru-en"] and query["split"] == ["train"]
        offset, length = int(query["offset"][0]), int(query["length"][0])
        chunk = rows[offset : offset + length]
        return json.dumps({"rows": [{"row_idx": offset + i, "row": r} for i, r in enumerate(chunk)],
                           "num_rows_total": len(rows)}).encode()

    loopback.add("/rows", page)


def test_hf_translation_rows_paged_with_subset_and_revision(loopback, tmp_path, monkeypatch):
    pairs = toydata.pairs(230, seed=5)
    _hf_server(loopback, [{"translation": {"ru": s, "en": t}} for s, t in pairs])
    monkeypatch.setenv("TRANSLATIONS_HF_SERVER_URL", loopback.url)
    monkeypatch.setenv("TRANSLATIONS_HF_HUB_URL", loopback.url)
    importer("--dataset", "hfp_org/toy:ru-en@d30a823", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "hf")
    assert lines(tmp_path / "hf.ru.zst") == [s for s, _ in pairs]
    assert lines(tmp_path / "hf.en.zst") == [t for _, t in pairs]
    assert loopback.hits.count("/rows") == 3  # pages of 100


def test_hf_moved_revision_fails(loopback, tmp_path, monkeypatch):
    _hf_server(loopback, [{"ru": RU[0], "en": EN[0]}], sha="ffff")
    monkeypatch.setenv("TRANSLATIONS_HF_SERVER_URL", loopback.url)
    monkeypatch.setenv("TRANSLATIONS_HF_HUB_URL", loopback.url)
    with pytest.raises(StepError, match="pinned to revision d30a823, but the dataset is now at ffff"):
        importer("--dataset", "hf_org/toy:ru-en@d30a823", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "hf")


def test_hf_language_columns_need_a_subset_when_there_are_several(loopback, tmp_path, monkeypatch):
    _hf_server(loopback, [{"ru": s, "en": t} for s, t in PAIRS])
    monkeypatch.setenv("TRANSLATIONS_HF_SERVER_URL", loopback.url)
    with pytest.raises(StepError, match=r"name a subset with :<subset> \(has: de-en, ru-en\)"):
        importer("--dataset", "hf_org/toy", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "hf")
    importer("--dataset", "hf_org/toy:ru-en", "--src", "ru", "--trg", "en", "--output-prefix", tmp_path / "hf")
    assert lines(tmp_path / "hf.en.zst") == EN


def test_unknown_importer_is_one_line(tmp_path):
    result = run_step("pipeline/data/dataset_importer.py", "--dataset", "nope_x", "--src", "ru", "--trg", "en",
                      "--output-prefix", tmp_path / "x")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "dataset_importer.py: error: --dataset nope_x: no parallel importer 'nope'; expected one of: "
        "flores, hf, hfp, mtdata, opus, sacrebleu, url"
    ]
