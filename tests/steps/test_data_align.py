"""align.py: ICU tok-icu text that detokenizes exactly, eflomal alignments, priors written and read."""

import pytest

from pipeline.alignments.align import IcuTokenizer, detokenize, grow_diag_final_and
from pipeline.common.io import write_lines
from tests import toydata
from tests.steps.conftest_data import lines, run_step

PAIRS = toydata.pairs(300, seed=41)


def diagonal(tokenized_src, tokenized_trg):
    """The known alignment of a toy pair: word k of the source is word k of the target."""
    src_words = [i for i, tok in enumerate(tokenized_src.split(" ")) if tok != "▁"]
    trg_words = [j for j, tok in enumerate(tokenized_trg.split(" ")) if tok != "▁"]
    assert len(src_words) == len(trg_words)
    return " ".join(f"{i}-{j}" for i, j in zip(src_words, trg_words))


@pytest.mark.parametrize("text,language", [
    ("Привет,  мир! Это тест 3.5 e-mail.", "ru"),
    ("Hello, world:  it's a test (really).", "en"),
    ("日本語のテキストです。", "ja"),
    (" leading and trailing ", "en"),
])
def test_tok_icu_detokenizes_exactly(text, language):
    tokens = IcuTokenizer(language).tokenize(text)
    assert detokenize(" ".join(tokens)) == text
    assert all(tokens)


def test_tok_icu_marks_spaces():
    assert " ".join(IcuTokenizer("en").tokenize("The little girl, seeing")) == "The ▁ little ▁ girl , ▁ seeing"


def test_grow_diag_final_and():
    forward = {(0, 0), (1, 1), (2, 1)}
    reverse = {(0, 0), (1, 1), (2, 2)}
    # From the intersection (0,0),(1,1), grow-diag adds union points next to an alignment point while
    # either of their ends is unaligned (Koehn et al.): (2,1) below (1,1) (source 2 unaligned), then
    # (2,2) diagonal to (1,1) (target 2 still unaligned).
    assert grow_diag_final_and(forward, reverse) == [(0, 0), (1, 1), (2, 1), (2, 2)]
    # final-and adds points whose two ends are both unaligned, forward first: (3,3), then not (1,3).
    assert grow_diag_final_and({(0, 0), (3, 3)}, {(0, 0), (1, 3)}) == [(0, 0), (3, 3)]


def test_align_parallel_finds_the_known_alignments_and_writes_priors(tmp_path):
    with write_lines(str(tmp_path / "corpus.ru.zst")) as s, write_lines(str(tmp_path / "corpus.en.zst")) as t:
        for a, b in PAIRS:
            s.write(a)
            t.write(b)
    result = run_step("pipeline/alignments/align.py", "--src", "ru", "--trg", "en", "--corpus-prefix",
                      tmp_path / "corpus", "--priors-output", tmp_path / "out" / "corpus.priors",
                      "--output-prefix", tmp_path / "out" / "corpus")
    assert result.returncode == 0, result.stderr
    tok_ru, tok_en = lines(tmp_path / "out" / "corpus.tok-icu.ru.zst"), lines(tmp_path / "out" / "corpus.tok-icu.en.zst")
    assert [detokenize(x) for x in tok_ru] == [a for a, _ in PAIRS]
    assert [detokenize(x) for x in tok_en] == [b for _, b in PAIRS]
    alignments = lines(tmp_path / "out" / "corpus.aln.zst")
    expected = [diagonal(a, b) for a, b in zip(tok_ru, tok_en)]
    correct = sum(a == e for a, e in zip(alignments, expected))
    assert len(alignments) == len(PAIRS)
    assert correct >= 0.95 * len(PAIRS), [(a, e) for a, e in zip(alignments, expected) if a != e][:5]
    priors = (tmp_path / "out" / "corpus.priors").read_text().splitlines()
    assert any(line.startswith("LEX\t") for line in priors) and any(line.startswith("HMMF\t") for line in priors)

    # Back-translations aligned with those priors, in chunks: still the known alignments.
    mono = toydata.pairs(60, seed=42)
    with write_lines(str(tmp_path / "mono.ru.zst")) as s, write_lines(str(tmp_path / "mono.en.zst")) as t:
        for a, b in mono:
            s.write(a)
            t.write(b)
    result = run_step("pipeline/alignments/align.py", "--src", "ru", "--trg", "en", "--src-corpus",
                      tmp_path / "mono.ru.zst", "--trg-corpus", tmp_path / "mono.en.zst", "--priors",
                      tmp_path / "out" / "corpus.priors", "--chunk-lines", "25", "--output-prefix", tmp_path / "bt" / "mono")
    assert result.returncode == 0, result.stderr
    assert "into 3 chunk(s)" in result.stderr
    tok_ru, tok_en = lines(tmp_path / "bt" / "mono.tok-icu.ru.zst"), lines(tmp_path / "bt" / "mono.tok-icu.en.zst")
    alignments = lines(tmp_path / "bt" / "mono.aln.zst")
    expected = [diagonal(a, b) for a, b in zip(tok_ru, tok_en)]
    assert sum(a == e for a, e in zip(alignments, expected)) >= 0.95 * len(mono)


def test_align_missing_priors_is_one_line(tmp_path):
    with write_lines(str(tmp_path / "c.ru.zst")) as s, write_lines(str(tmp_path / "c.en.zst")) as t:
        s.write("Бава.")
        t.write("Baba.")
    result = run_step("pipeline/alignments/align.py", "--src", "ru", "--trg", "en", "--corpus-prefix", tmp_path / "c",
                      "--priors", tmp_path / "nope.priors", "--output-prefix", tmp_path / "o")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"align.py: error: {tmp_path / 'nope.priors'}: no such priors file"
    assert not (tmp_path / "o.aln.zst").exists()
