"""split_chunks, collect, extract_best and ce_filter: the data plumbing around translation."""

import os

from pipeline.common.io import write_lines
from tests import toydata
from tests.steps.conftest_data import lines, run_step

PAIRS = toydata.pairs(23, seed=31)
RU = [s for s, _ in PAIRS]
EN = [t for _, t in PAIRS]


def write(path, items):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with write_lines(str(path)) as out:
        out.write_all(items)


def test_split_then_collect_restores_the_corpus(tmp_path):
    write(tmp_path / "corpus.ru.zst", RU)
    write(tmp_path / "corpus.en.zst", EN)
    result = run_step("pipeline/translate/split_chunks.py", "--input", tmp_path / "corpus.ru.zst", "--reference",
                      tmp_path / "corpus.en.zst", "--chunks", "4", "--output-dir", tmp_path / "chunks")
    assert result.returncode == 0, result.stderr
    chunks = [lines(tmp_path / "chunks" / f"file.{i}.zst") for i in range(1, 5)]
    refs = [lines(tmp_path / "chunks" / f"file.{i}.ref.zst") for i in range(1, 5)]
    assert [len(c) for c in chunks] == [6, 6, 6, 5]
    assert sum(chunks, []) == RU and sum(refs, []) == EN
    # "Translate" each chunk (the toy dictionary), fetched into translations/<n>/ as the graph does.
    for i, chunk in enumerate(chunks, start=1):
        write(tmp_path / "translations" / str(i) / f"file.{i}.out.zst", [toydata.translate(s.lower()) for s in chunk])
    result = run_step("pipeline/translate/collect.py", "--chunks-dir", tmp_path / "translations", "--reference",
                      tmp_path / "corpus.ru.zst", "--output", tmp_path / "out" / "corpus.en.zst")
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out" / "corpus.en.zst") == EN


def test_split_more_chunks_than_lines(tmp_path):
    write(tmp_path / "mono.ru.zst", RU[:2])
    result = run_step("pipeline/translate/split_chunks.py", "--input", tmp_path / "mono.ru.zst", "--chunks", "3",
                      "--output-dir", tmp_path / "c")
    assert result.returncode == 0, result.stderr
    assert [lines(tmp_path / "c" / f"file.{i}.zst") for i in (1, 2, 3)] == [RU[:1], RU[1:2], []]


def test_collect_fails_on_a_line_count_mismatch(tmp_path):
    write(tmp_path / "ref.zst", RU)
    write(tmp_path / "t" / "1" / "file.1.out.zst", EN[:12])
    write(tmp_path / "t" / "2" / "file.2.out.zst", EN[12:-1])  # a chunk lost a line
    result = run_step("pipeline/translate/collect.py", "--chunks-dir", tmp_path / "t", "--reference",
                      tmp_path / "ref.zst", "--output", tmp_path / "out.zst")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"collect.py: error: {tmp_path / 'out.zst'}: the 2 translated chunks in {tmp_path / 't'} have 22 lines, "
        f"the reference {tmp_path / 'ref.zst'} has 23"
    ]
    assert not (tmp_path / "out.zst").exists()


def test_collect_fails_on_a_missing_chunk(tmp_path):
    write(tmp_path / "ref.zst", RU)
    write(tmp_path / "t" / "1" / "file.1.nbest.out.zst", EN[:12])
    write(tmp_path / "t" / "3" / "file.3.nbest.out.zst", EN[12:])
    result = run_step("pipeline/translate/collect.py", "--chunks-dir", tmp_path / "t", "--reference",
                      tmp_path / "ref.zst", "--output", tmp_path / "out.zst")
    assert result.returncode == 1
    assert "chunks 2 missing (have 2 of 3)" in result.stderr


def test_extract_best_picks_the_hypothesis_closest_to_the_reference(tmp_path):
    references = EN[:3]
    nbest = []
    for i, ref in enumerate(references):
        words = ref.rstrip(".").split()
        hypotheses = [" ".join(reversed(words)) + ".", "Unrelated zzz.", ref, " ".join(words[:-1]) + "."]
        nbest += [f"{i} ||| {h} ||| F0= -{j + 1}.5 ||| -{j + 1}.5" for j, h in enumerate(hypotheses)]
    write(tmp_path / "file.1.nbest.zst", nbest)
    write(tmp_path / "file.1.ref.zst", references)
    result = run_step("pipeline/translate/extract_best.py", "--nbest", tmp_path / "file.1.nbest.zst", "--reference",
                      tmp_path / "file.1.ref.zst", "--metric", "chrf", "--output", tmp_path / "file.1.nbest.out.zst")
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "file.1.nbest.out.zst") == references


def test_extract_best_fails_on_a_sentence_without_hypotheses(tmp_path):
    write(tmp_path / "n.zst", ["0 ||| a ||| F0= -1 ||| -1", "2 ||| c ||| F0= -1 ||| -1"])
    write(tmp_path / "r.zst", ["a", "b", "c"])
    result = run_step("pipeline/translate/extract_best.py", "--nbest", tmp_path / "n.zst", "--reference",
                      tmp_path / "r.zst", "--output", tmp_path / "o.zst")
    assert result.returncode == 1
    assert "no hypotheses for sentence id 1 (next id is 2)" in result.stderr
    assert not (tmp_path / "o.zst").exists()


def test_ce_filter_keeps_the_best_scored_share(tmp_path):
    write(tmp_path / "corpus.ru.zst", RU[:20])
    write(tmp_path / "corpus.en.zst", EN[:20])
    scores = [-(i % 7) - i / 100 for i in range(20)]  # higher is better
    (tmp_path / "scores.txt").write_text("".join(f"{s}\n" for s in scores))
    result = run_step("pipeline/cefilter/ce_filter.py", "--src", "ru", "--trg", "en", "--corpus-prefix",
                      tmp_path / "corpus", "--scores", tmp_path / "scores.txt", "--keep", "0.75",
                      "--output-prefix", tmp_path / "out" / "corpus")
    assert result.returncode == 0, result.stderr
    best = sorted(range(20), key=lambda i: -scores[i])[:15]
    assert lines(tmp_path / "out" / "corpus.ru.zst") == [RU[i] for i in sorted(best)]
    assert lines(tmp_path / "out" / "corpus.en.zst") == [EN[i] for i in sorted(best)]


def test_ce_filter_score_count_mismatch(tmp_path):
    write(tmp_path / "corpus.ru.zst", RU[:5])
    write(tmp_path / "corpus.en.zst", EN[:5])
    (tmp_path / "scores.txt").write_text("-1\n-2\n")
    result = run_step("pipeline/cefilter/ce_filter.py", "--src", "ru", "--trg", "en", "--corpus-prefix",
                      tmp_path / "corpus", "--scores", tmp_path / "scores.txt", "--output-prefix", tmp_path / "o")
    assert result.returncode == 1
    assert "has 2 scores, fewer than the pairs of" in result.stderr
