"""build-vocab (pipeline/train/spm_vocab.py) with real SentencePiece on toy data."""

import sentencepiece

from tests import toydata
from tests.steps.conftest import SRC, TRG, check, error_line, run_step, write_toy_corpus


def test_joint_vocab_is_published_under_both_names(toy):
    vocab = toy / "vocab"
    assert (vocab / f"vocab.{SRC}.spm").read_bytes() == (vocab / f"vocab.{TRG}.spm").read_bytes()
    processor = sentencepiece.SentencePieceProcessor(model_file=str(vocab / f"vocab.{SRC}.spm"))
    assert processor.GetPieceSize() == 200
    src, trg = toydata.pairs(1, seed=5)[0]
    for sentence in (src, trg):  # both scripts are covered: no unknown pieces
        assert processor.unk_id() not in processor.encode(sentence)
    assert sorted(p.name for p in vocab.iterdir()) == ["vocab.en.spm", "vocab.ru.spm"]


def test_split_vocab_has_one_language_each(tmp_path):
    write_toy_corpus(tmp_path / "corpus", 300, seed=4)
    check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix", tmp_path / "corpus",
                   "--sample-size", 300, "--vocab-size", 60, "--split-vocab", "--norm-rule", "identity",
                   "--output-dir", tmp_path / "out"))
    pieces = {}
    for lang in (SRC, TRG):
        processor = sentencepiece.SentencePieceProcessor(model_file=str(tmp_path / "out" / f"vocab.{lang}.spm"))
        pieces[lang] = "".join(processor.id_to_piece(i) for i in range(processor.GetPieceSize())
                               if not processor.is_control(i) and not processor.is_unknown(i))
    assert not set("бвгдклмн") & set(pieces[TRG])
    assert not set("bcdfghkl") & set(pieces[SRC])


def test_tiny_corpus_gets_the_largest_vocab_it_supports(tmp_path):
    write_toy_corpus(tmp_path / "corpus", 5, seed=4)
    result = check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix",
                            tmp_path / "corpus", "--sample-size", 100, "--vocab-size", 5000, "--output-dir", tmp_path))
    assert "supports at most" in result.stderr
    size = sentencepiece.SentencePieceProcessor(model_file=str(tmp_path / f"vocab.{SRC}.spm")).GetPieceSize()
    assert 8 < size < 5000


def test_missing_corpus_is_one_line_naming_it(tmp_path):
    line = error_line(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix",
                               tmp_path / "nothing", "--output-dir", tmp_path / "out"))
    assert f"{tmp_path}/nothing.{SRC}.zst: no such file" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
