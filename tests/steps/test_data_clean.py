"""clean_parallel (rules, OpusCleaner) and clean_mono, run as tasks run them."""

from pipeline.common.io import write_lines
from tests import toydata
from tests.steps.conftest_data import lines, run_step

GOOD = toydata.pairs(6, seed=11)


def write_pairs(prefix, pairs, src="ru", trg="en"):
    with write_lines(f"{prefix}.{src}.zst") as s, write_lines(f"{prefix}.{trg}.zst") as t:
        for a, b in pairs:
            s.write(a)
            t.write(b)


def test_clean_parallel_rules(tmp_path):
    long_ru = " ".join(["бава"] * 200) + "."
    pairs = [
        GOOD[0],
        ("", GOOD[1][1]),                                   # empty
        (long_ru, "Baba " * 200),                           # length
        ("Бава.", "Bababa babababa bababa babab babababab."),  # kept: under 10 chars is too short to judge a ratio
        ("Бава бава бава.", "Bababa babababa bababa babab babababab bababa."),  # ratio: 46 > 3 * 15 chars
        ("Hello there my friend.", "Hello there my friend!"),  # script: Latin on the ru side
        ("Бава  бава\tбава", "Бава бава бава"),          # script: Cyrillic on the en side
        (GOOD[2][0], GOOD[2][0]),                           # script too (identical Cyrillic)
        ("Ok 123 Бава.", "ok 123 бава."),                   # script: 2 of 6 letters of the en side are Latin
        GOOD[3],
        ("  " + GOOD[3][0] + "  ", GOOD[3][1]),             # duplicate once whitespace is normalised
        GOOD[4],
    ]
    write_pairs(tmp_path / "in", pairs)
    result = run_step("pipeline/clean/clean_parallel.py", "--src", "ru", "--trg", "en", "--dataset", "opus_toy/v1",
                      "--input-prefix", tmp_path / "in", "--output-prefix", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    kept = list(zip(lines(tmp_path / "out.ru.zst"), lines(tmp_path / "out.en.zst")))
    assert kept == [GOOD[0], ("Бава.", "Bababa babababa bababa babab babababab."), GOOD[3], GOOD[4]]
    assert ("kept 4 of 12 pairs; rules dropped: duplicate 1, empty 1, length 1, ratio 1, script 4"
            in result.stderr), result.stderr


def test_clean_parallel_identical_pairs(tmp_path):
    # Both sides pass the script check (a language pair sharing a script): only `identical` stops them.
    pairs = [("Der Hund.", "Der Hund."), ("Der Hund.", "The dog."), ("STOP", "stop")]
    write_pairs(tmp_path / "in", pairs, "de", "en")
    result = run_step("pipeline/clean/clean_parallel.py", "--src", "de", "--trg", "en", "--dataset", "x_y",
                      "--input-prefix", tmp_path / "in", "--output-prefix", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out.de.zst") == ["Der Hund."]
    assert "identical 2" in result.stderr


def test_clean_parallel_with_opuscleaner(tmp_path):
    # "Да." / five words passes the rules (too short for the ratio rule) but not OpusCleaner's
    # src_trg_ratio filter (1 token against 5): evidence that the OpusCleaner pipeline ran.
    pairs = [GOOD[0], ("Да.", "Yes yes yes yes yes."), GOOD[1]]
    write_pairs(tmp_path / "in", pairs)
    args = ["--src", "ru", "--trg", "en", "--dataset", "opus_toy/v1", "--input-prefix", tmp_path / "in"]
    without = run_step("pipeline/clean/clean_parallel.py", *args, "--output-prefix", tmp_path / "plain",
                       "--use-opuscleaner", "false")
    assert without.returncode == 0, without.stderr
    assert len(lines(tmp_path / "plain.ru.zst")) == 3
    result = run_step("pipeline/clean/clean_parallel.py", *args, "--output-prefix", tmp_path / "out",
                      "--use-opuscleaner", "true", "--opuscleaner-mode", "custom")
    assert result.returncode == 0, result.stderr
    assert list(zip(lines(tmp_path / "out.ru.zst"), lines(tmp_path / "out.en.zst"))) == [GOOD[0], GOOD[1]]
    assert "OpusCleaner dropped 1" in result.stderr


def test_clean_parallel_misaligned_input_is_one_line(tmp_path):
    with write_lines(str(tmp_path / "in.ru.zst")) as s, write_lines(str(tmp_path / "in.en.zst")) as t:
        s.write_all(["Бава.", "Бава бава."])
        t.write_all(["Baba."])
    result = run_step("pipeline/clean/clean_parallel.py", "--src", "ru", "--trg", "en", "--dataset", "x_y",
                      "--input-prefix", tmp_path / "in", "--output-prefix", tmp_path / "out")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "in.en.zst: has 1 lines, fewer than" in result.stderr
    assert not (tmp_path / "out.ru.zst").exists()


def test_clean_mono_rules_without_fluency(tmp_path):
    source = [GOOD[0][0], "", "Hello latin text.", GOOD[1][0], GOOD[0][0], " ".join(["ба"] * 300)]
    with write_lines(str(tmp_path / "in.ru.zst")) as out:
        out.write_all(source)
    result = run_step("pipeline/clean/clean_mono.py", "--language", "ru", "--dataset", "news-crawl_news.2008",
                      "--input", tmp_path / "in.ru.zst", "--fluency-threshold", "0", "--output", tmp_path / "out.ru.zst")
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out.ru.zst") == [GOOD[0][0], GOOD[1][0]]
    assert "no fluency scoring" in result.stderr
    assert "kept 2 of 6 lines; dropped: duplicate 1, empty 1, length 1, script 1" in result.stderr


def test_clean_mono_fluency_needs_monocleaner(tmp_path):
    with write_lines(str(tmp_path / "in.en.zst")) as out:
        out.write_all([GOOD[0][1]])
    result = run_step("pipeline/clean/clean_mono.py", "--language", "en", "--dataset", "x_y", "--input",
                      tmp_path / "in.en.zst", "--fluency-threshold", "0.5", "--output", tmp_path / "out.en.zst",
                      env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "clean_mono.py: error: monocleaner-download: not installed (requirements/cleaners.txt); needed for a "
        "fluency threshold above 0"
    ]
    assert not (tmp_path / "out.en.zst").exists()
