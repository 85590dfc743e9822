"""The merge steps: concatenation in fetch order, duplicates dropped, seeded sampling to max-sentences."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.clean import merge_parallel
from pipeline.common.io import write_lines
from tests import toydata
from tests.steps.conftest_data import lines, run_step

PAIRS = toydata.pairs(60, seed=21)


def write_dataset(directory, stem, pairs, src="ru", trg="en"):
    os.makedirs(directory, exist_ok=True)
    with write_lines(os.path.join(directory, f"{stem}.{src}.zst")) as s, \
            write_lines(os.path.join(directory, f"{stem}.{trg}.zst")) as t:
        for a, b in pairs:
            s.write(a)
            t.write(b)


def merged(prefix):
    return list(zip(lines(f"{prefix}.ru.zst"), lines(f"{prefix}.en.zst")))


def test_merge_parallel_concatenates_in_fetch_order_and_drops_duplicates(tmp_path):
    datasets = tmp_path / "datasets"
    write_dataset(datasets / "1", "opus_a", PAIRS[0:10])
    write_dataset(datasets / "2", "opus_b", PAIRS[20:25] + PAIRS[5:10])  # 5 duplicates of dataset 1
    write_dataset(datasets / "10", "mtdata_c", PAIRS[30:35] + [(PAIRS[0][0], "Other translation.")])
    with write_lines(str(datasets / "2" / "opus_b.best-scores.zst")) as scores:  # bicleaner's, ignored
        scores.write_all(["0.9"] * 10)
    result = run_step("pipeline/clean/merge_parallel.py", "--src", "ru", "--trg", "en", "--datasets-dir", datasets,
                      "--output-prefix", tmp_path / "corpus")
    assert result.returncode == 0, result.stderr
    # 10 before 2 would be string order; the fetch order is numeric.
    assert merged(tmp_path / "corpus") == PAIRS[0:10] + PAIRS[20:25] + PAIRS[30:35] + [(PAIRS[0][0], "Other translation.")]
    assert "21 of 26 pairs written" in result.stderr and "5 duplicates" in result.stderr


def test_merge_parallel_max_sentences_is_a_seeded_sample(tmp_path):
    write_dataset(tmp_path / "d" / "1", "x_a", PAIRS)
    runs = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result = run_step("pipeline/clean/merge_parallel.py", "--src", "ru", "--trg", "en", "--datasets-dir",
                          tmp_path / "d", "--max-sentences", "20", "--seed", seed, "--output-prefix", tmp_path / name)
        assert result.returncode == 0, result.stderr
        runs[name] = merged(tmp_path / name)
    assert len(runs["a"]) == 20
    assert runs["a"] == runs["b"]  # same seed, same sample
    assert runs["a"] != runs["c"]  # another seed, another sample
    for sample in runs.values():  # a subset, pairs intact, in input order
        positions = [PAIRS.index(pair) for pair in sample]
        assert positions == sorted(positions)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["а", "б", "в а", ""]), st.sampled_from(["a", "b", "c d"])), max_size=30),
       st.one_of(st.none(), st.integers(min_value=1, max_value=40)))
def test_merge_pairs_properties(tmp_path_factory, pairs, max_sentences):
    directory = tmp_path_factory.mktemp("m")
    write_dataset(directory / "in" / "1", "x", pairs)
    if not pairs:
        return
    merge_parallel.merge_pairs([(str(directory / "in" / "1" / "x.ru.zst"), str(directory / "in" / "1" / "x.en.zst"))],
                               str(directory / "out"), "ru", "en", max_sentences)
    result = merged(directory / "out")
    distinct = list(dict.fromkeys(pairs))
    assert len(set(result)) == len(result)  # no duplicates
    assert set(result) <= set(distinct)
    assert len(result) == min(len(distinct), max_sentences or len(distinct))
    assert result == [pair for pair in distinct if pair in set(result)]  # input order


def test_merge_mono_excludes_the_parallel_corpus(tmp_path):
    mono = [t for _, t in PAIRS]
    os.makedirs(tmp_path / "datasets" / "1")
    os.makedirs(tmp_path / "datasets" / "2")
    with write_lines(str(tmp_path / "datasets" / "1" / "news-crawl_news_2007.en.zst")) as out:
        out.write_all(mono[0:30])
    with write_lines(str(tmp_path / "datasets" / "2" / "opus_x.en.zst")) as out:
        out.write_all(mono[25:40])
    with write_lines(str(tmp_path / "corpus.en.zst")) as out:
        out.write_all(mono[0:5])
    result = run_step("pipeline/clean/merge_mono.py", "--language", "en", "--datasets-dir", tmp_path / "datasets",
                      "--parallel-corpus", tmp_path / "corpus.en.zst", "--output", tmp_path / "mono.en.zst")
    assert result.returncode == 0, result.stderr
    expected = list(dict.fromkeys(mono[5:40]))
    assert lines(tmp_path / "mono.en.zst") == expected
    result = run_step("pipeline/clean/merge_mono.py", "--language", "en", "--datasets-dir", tmp_path / "datasets",
                      "--parallel-corpus", tmp_path / "corpus.en.zst", "--max-sentences", "10",
                      "--output", tmp_path / "small.en.zst")
    small = lines(tmp_path / "small.en.zst")
    assert len(small) == 10 and set(small) <= set(expected)


def test_merge_devset_and_distillation_corpus(tmp_path):
    write_dataset(tmp_path / "dev" / "1", "flores_dev", PAIRS[0:5])
    write_dataset(tmp_path / "dev" / "2", "sacrebleu_wmt19", PAIRS[3:8])
    result = run_step("pipeline/clean/merge_parallel.py", "--src", "ru", "--trg", "en", "--datasets-dir", tmp_path / "dev",
                      "--output-prefix", tmp_path / "devset")
    assert result.returncode == 0, result.stderr
    assert merged(tmp_path / "devset") == PAIRS[0:8]

    write_dataset(tmp_path / "p", "corpus", PAIRS[0:10])
    write_dataset(tmp_path / "m", "mono", PAIRS[8:15])
    result = run_step("pipeline/distillation/merge_corpus.py", "--src", "ru", "--trg", "en",
                      "--parallel-src", tmp_path / "p" / "corpus.ru.zst", "--parallel-trg", tmp_path / "p" / "corpus.en.zst",
                      "--mono-src", tmp_path / "m" / "mono.ru.zst", "--mono-trg", tmp_path / "m" / "mono.en.zst",
                      "--output-prefix", tmp_path / "out" / "corpus")
    assert result.returncode == 0, result.stderr
    assert merged(tmp_path / "out" / "corpus") == PAIRS[0:15]


def test_merge_parallel_without_datasets_is_one_line(tmp_path):
    os.makedirs(tmp_path / "empty")
    result = run_step("pipeline/clean/merge_parallel.py", "--src", "ru", "--trg", "en", "--datasets-dir",
                      tmp_path / "empty", "--output-prefix", tmp_path / "corpus")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"merge_parallel.py: error: {tmp_path / 'empty'}: no *.ru.zst / *.en.zst datasets found"
    ]
