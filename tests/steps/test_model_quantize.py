"""The release branch on the shared toy student: shortlist, intgemm8 quantization, evaluation of
the quantized model with the shortlist on CPU, and the export."""

import gzip
import json

import pytest

from pipeline.common.io import read_lines
from tests.steps.conftest import ROOT, SRC, TRG, check, error_line, run_step

BEST = "final.model.npz.best-chrf.npz"


@pytest.fixture(scope="module")
def shortlist(student, toy, tmp_path_factory):
    output = tmp_path_factory.mktemp("shortlist") / "lex.s2t.pruned.zst"
    check(run_step("pipeline/alignments/generate_shortlist.py", "--src", SRC, "--trg", TRG,
                   "--corpus-prefix", toy / "corpus", "--vocab-src", student / f"vocab.{SRC}.spm",
                   "--vocab-trg", student / f"vocab.{TRG}.spm", "--output", output))
    return output


@pytest.fixture(scope="module")
def quantized(student, toy, shortlist, tmp_path_factory):
    output = tmp_path_factory.mktemp("quantized")
    result = check(run_step("pipeline/quantize/quantize.py", "--model", student / BEST,
                            "--vocab-src", student / f"vocab.{SRC}.spm", "--vocab-trg", student / f"vocab.{TRG}.spm",
                            "--shortlist", shortlist, "--devset-src", toy / f"devset.{SRC}.zst",
                            "--output-dir", output))
    return output, result.stderr


def test_shortlist_is_marians_text_format_with_probabilities(shortlist):
    entries = [line.split(" ") for line in read_lines(str(shortlist))]
    assert entries and all(len(entry) == 3 for entry in entries)
    totals = {}
    for trg, src, probability in entries:
        assert 0 < float(probability) <= 1
        totals[src] = totals.get(src, 0) + float(probability)
    assert all(total <= 1.0001 for total in totals.values())
    best = {}
    for trg, src, probability in entries:
        best.setdefault(src, (trg, float(probability)))
    assert best["."][0] == "."  # the toy pair's full stop translates to itself


def test_quantized_model_is_intgemm8_and_decodes(quantized, student):
    output, log = quantized
    assert [p.name for p in output.iterdir()] == ["model.intgemm8.bin"]
    assert (output / "model.intgemm8.bin").stat().st_size < (student / BEST).stat().st_size
    assert "Loading model from" in log and "model.intgemm8.bin" in log
    assert "--gemm-type intgemm8" in log or "gemm-type: intgemm8" in log or "intgemm" in log


def test_eval_quantized_uses_the_shortlist(quantized, shortlist, student, toy, tmp_path):
    result = check(run_step("pipeline/eval/eval_quantized.py", "--src", SRC, "--trg", TRG,
                            "--dataset-prefix", toy / "flores_devtest", "--model", quantized[0] / "model.intgemm8.bin",
                            "--shortlist", shortlist, "--vocab-src", student / f"vocab.{SRC}.spm",
                            "--vocab-trg", student / f"vocab.{TRG}.spm", "--output-dir", tmp_path,
                            "--", "--cpu-threads", "1"))
    assert "shortlist" in result.stderr.lower() and "50 50" in result.stderr
    metrics = json.loads((tmp_path / "flores_devtest.metrics.json").read_text())
    assert metrics["lines"] == 40 and metrics["chrf"] > 5
    assert len(list(read_lines(str(tmp_path / f"flores_devtest.{TRG}.translations.zst")))) == 40


def test_export_publishes_release_names(quantized, shortlist, student, tmp_path):
    check(run_step("pipeline/quantize/export.py", "--src", SRC, "--trg", TRG,
                   "--model", quantized[0] / "model.intgemm8.bin", "--shortlist", shortlist,
                   "--vocab-src", student / f"vocab.{SRC}.spm", "--vocab-trg", student / f"vocab.{TRG}.spm",
                   "--output-dir", tmp_path))
    pair = f"{SRC}{TRG}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        f"model.{pair}.intgemm8.bin.gz", f"lex.50.50.{pair}.s2t.bin.gz", f"vocab.{pair}.spm.gz"])
    assert gzip.decompress((tmp_path / f"model.{pair}.intgemm8.bin.gz").read_bytes()) == \
        (quantized[0] / "model.intgemm8.bin").read_bytes()
    assert gzip.decompress((tmp_path / f"vocab.{pair}.spm.gz").read_bytes()) == \
        (student / f"vocab.{SRC}.spm").read_bytes()
    lex = gzip.decompress((tmp_path / f"lex.50.50.{pair}.s2t.bin.gz").read_bytes())
    assert len(lex) > 8  # Marian's binary shortlist (magic number first)


def export_task(changes):
    """The export task the graph plans for a config snippet: (its step flags, declared artifacts)."""
    from translations_taskgraph.pipeline import build_plan
    from translations_taskgraph.transforms.pipeline_task import render_command

    plan = build_plan(changes, str(ROOT / "taskcluster/kinds"))
    task = next(t for t in plan.tasks.values() if t.template.get("script") == "pipeline/quantize/export.py")
    return render_command(task, plan.config), set(task.artifacts)


@pytest.mark.parametrize("split", [False, True])
def test_export_publishes_what_the_graph_declares(split, quantized, shortlist, student, toy, tmp_path):
    argv, declared = export_task({"experiment": {"spm-vocab-split": split}})
    vocab_trg = student / f"vocab.{TRG}.spm"
    if split:  # a target vocab of its own
        check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix", toy / "corpus",
                       "--sample-size", 300, "--vocab-size", 100, "--split-vocab", "--output-dir", tmp_path / "vocab"))
        vocab_trg = tmp_path / "vocab" / f"vocab.{TRG}.spm"
    flags = ["--split-vocab"] if "--split-vocab" in argv else []
    assert bool(flags) == split
    check(run_step("pipeline/quantize/export.py", "--src", SRC, "--trg", TRG, *flags,
                   "--model", quantized[0] / "model.intgemm8.bin", "--shortlist", shortlist,
                   "--vocab-src", student / f"vocab.{SRC}.spm", "--vocab-trg", vocab_trg, "--output-dir", tmp_path / "out"))
    assert {p.name for p in (tmp_path / "out").iterdir()} == declared
    if split:
        assert gzip.decompress((tmp_path / "out" / f"trgvocab.{SRC}{TRG}.spm.gz").read_bytes()) == vocab_trg.read_bytes()
        # Without the flag, two vocabs cannot take the joint release name.
        line = error_line(run_step("pipeline/quantize/export.py", "--src", SRC, "--trg", TRG,
                                   "--model", quantized[0] / "model.intgemm8.bin", "--shortlist", shortlist,
                                   "--vocab-src", student / f"vocab.{SRC}.spm", "--vocab-trg", vocab_trg,
                                   "--output-dir", tmp_path / "joint"))
        assert f"{vocab_trg}: differs from {student}/vocab.{SRC}.spm" in line and "spm-vocab-split" in line


def test_export_upload_needs_a_tool_and_says_so(quantized, shortlist, student, tmp_path):
    line = error_line(run_step("pipeline/quantize/export.py", "--src", SRC, "--trg", TRG,
                               "--model", quantized[0] / "model.intgemm8.bin", "--shortlist", shortlist,
                               "--vocab-src", student / f"vocab.{SRC}.spm", "--vocab-trg",
                               student / f"vocab.{TRG}.spm", "--output-dir", tmp_path, "--upload-bucket", "bucket",
                               env={"PATH": str(tmp_path / "empty-path")}))  # no gcloud: nothing leaves
    assert "gs://bucket/models/ru-en/" in line and "gcloud" in line


def test_quantize_refuses_a_vocab_of_another_size(student, toy, shortlist, tmp_path):
    check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix", toy / "corpus",
                   "--sample-size", 300, "--vocab-size", 150, "--output-dir", tmp_path / "vocab"))
    line = error_line(run_step("pipeline/quantize/quantize.py", "--model", student / BEST,
                               "--vocab-src", tmp_path / "vocab" / f"vocab.{SRC}.spm",
                               "--vocab-trg", student / f"vocab.{TRG}.spm", "--shortlist", shortlist,
                               "--devset-src", toy / f"devset.{SRC}.zst", "--output-dir", tmp_path / "out"))
    assert f"{tmp_path}/vocab/vocab.{SRC}.spm: has 150 pieces but the source embeddings of {student}/{BEST} have 200 rows" in line
    assert not (tmp_path / "out").exists()
