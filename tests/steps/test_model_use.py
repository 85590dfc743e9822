"""The steps that use a trained model, on the shared toy student: translate (single model,
teacher ensemble, n-best), score, eval, and a model fetched by the continuation download."""

import functools
import http.server
import json
import shutil
import statistics
import threading

import pytest
import sacrebleu

from pipeline.common.io import read_lines, write_lines
from tests.steps.conftest import SRC, TRG, check, error_line, run_step

BEST = "final.model.npz.best-chrf.npz"
CPU = ["--", "--cpu-threads", "1"]


@pytest.fixture(scope="module")
def teachers(student, tmp_path_factory):
    """A two-member ensemble laid out as the graph fetches it: DIR/<member>/{model, vocabs}."""
    root = tmp_path_factory.mktemp("teachers")
    for member in ("1", "2"):
        (root / member).mkdir()
        for name in (BEST, f"vocab.{SRC}.spm", f"vocab.{TRG}.spm"):
            shutil.copy(student / name, root / member / name)
    return root


def test_translate_one_model(student, toy, tmp_path):
    output = tmp_path / "file.1.out.zst"
    check(run_step("pipeline/translate/translate.py", "--input", toy / f"flores_devtest.{SRC}.zst",
                   "--models", student / BEST, "--vocab-src", student / f"vocab.{SRC}.spm",
                   "--vocab-trg", student / f"vocab.{TRG}.spm", "--output", output, *CPU))
    lines = list(read_lines(str(output)))
    assert len(lines) == 40
    assert sum(1 for line in lines if line.strip()) > 30
    assert not any(set(line) & set("бвгдклмн") for line in lines)  # English-like output


def test_translate_ensemble_nbest_decodes_with_every_member(teachers, toy, tmp_path):
    output = tmp_path / "file.1.nbest.zst"
    result = check(run_step("pipeline/translate/translate.py", "--input", toy / f"devset.{SRC}.zst",
                            "--models-dir", teachers, "--model-name", BEST, "--src", SRC, "--trg", TRG,
                            "--decoder", "marian", "--nbest", "--output", output,
                            "--", "--cpu-threads", "1", "--beam-size", "3", "--precision", "float16"))
    for member in ("1", "2"):
        assert f"Loading model from {teachers}/{member}/{BEST}" in result.stderr
    assert "needs a GPU; decoding in float32 on CPU" in result.stderr
    entries = [line.split(" ||| ") for line in read_lines(str(output))]
    assert all(len(entry) == 4 and "F0=" in entry[2] and "F1=" in entry[2] for entry in entries)
    ids = [int(entry[0]) for entry in entries]
    assert sorted(set(ids)) == list(range(60)) and max(ids.count(i) for i in set(ids)) <= 3


def test_ensemble_members_with_different_vocabs_are_refused(teachers, toy, tmp_path):
    mixed = tmp_path / "mixed"
    shutil.copytree(teachers, mixed)
    (mixed / "2" / f"vocab.{TRG}.spm").write_bytes((toy / "vocab" / f"vocab.{TRG}.spm").read_bytes()[:-7] + b"garbage")
    line = error_line(run_step("pipeline/translate/translate.py", "--input", toy / f"devset.{SRC}.zst",
                               "--models-dir", mixed, "--model-name", BEST, "--src", SRC, "--trg", TRG,
                               "--output", tmp_path / "out.zst", *CPU))
    assert f"{mixed}/2/vocab.{TRG}.spm: differs from {mixed}/1/vocab.{TRG}.spm" in line
    assert not (tmp_path / "out.zst").exists()


def test_translate_refuses_a_smaller_vocab_before_marian_crashes(student, toy, tmp_path):
    check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix", toy / "corpus",
                   "--sample-size", 300, "--vocab-size", 150, "--output-dir", tmp_path / "vocab"))
    small = tmp_path / "vocab" / f"vocab.{TRG}.spm"
    line = error_line(run_step("pipeline/translate/translate.py", "--input", toy / f"devset.{SRC}.zst",
                               "--models", student / BEST, "--vocab-src", student / f"vocab.{SRC}.spm",
                               "--vocab-trg", small, "--output", tmp_path / "out.zst", *CPU))
    assert f"{small}: has 150 pieces but the target embeddings of {student}/{BEST} have 200 rows" in line
    assert not (tmp_path / "out.zst").exists()
    line = error_line(run_step("pipeline/cefilter/score.py", "--model", student / BEST, "--vocab-src",
                               student / f"vocab.{SRC}.spm", "--vocab-trg", small, "--corpus-prefix", toy / "devset",
                               "--src", TRG, "--trg", SRC, "--output", tmp_path / "scores.txt", *CPU))
    assert f"{small}: has 150 pieces but the target embeddings of {student}/{BEST} have 200 rows" in line


def test_other_decoders_are_a_clear_error(teachers, toy, tmp_path):
    line = error_line(run_step("pipeline/translate/translate.py", "--input", toy / f"devset.{SRC}.zst",
                               "--models-dir", teachers, "--model-name", BEST, "--src", SRC, "--trg", TRG,
                               "--decoder", "ctranslate2", "--output", tmp_path / "out.zst"))
    assert "--decoder ctranslate2" in line and "Marian only" in line


def test_translate_missing_input_names_it(student, tmp_path):
    line = error_line(run_step("pipeline/translate/translate.py", "--input", tmp_path / "file.1.zst",
                               "--models", student / BEST, "--vocab-src", student / f"vocab.{SRC}.spm",
                               "--vocab-trg", student / f"vocab.{TRG}.spm", "--output", tmp_path / "o.zst", *CPU))
    assert f"{tmp_path}/file.1.zst: no such file" in line


def test_score_ranks_real_pairs_above_shuffled_ones(student, toy, tmp_path):
    # The student is ru -> en; as the "backwards model" of an en -> ru experiment it scores
    # P(en | ru): score.py feeds the corpus's {trg} side (ru) to the model as its source.
    pairs = list(zip(read_lines(str(toy / f"devset.{SRC}.zst")), read_lines(str(toy / f"devset.{TRG}.zst"))))
    for name, data in (("real", pairs), ("shuffled", [(s, pairs[(i + 7) % len(pairs)][1]) for i, (s, _) in enumerate(pairs)])):
        with write_lines(str(tmp_path / f"{name}.{SRC}.zst")) as out:
            out.write_all(src for src, _ in data)
        with write_lines(str(tmp_path / f"{name}.{TRG}.zst")) as out:
            out.write_all(trg for _, trg in data)
    means = {}
    for name in ("real", "shuffled"):
        scores = tmp_path / f"{name}.scores.txt"
        check(run_step("pipeline/cefilter/score.py", "--model", student / BEST, "--vocab-src",
                       student / f"vocab.{SRC}.spm", "--vocab-trg", student / f"vocab.{TRG}.spm",
                       "--corpus-prefix", tmp_path / name, "--src", TRG, "--trg", SRC, "--output", scores, *CPU))
        values = [float(line) for line in scores.read_text().splitlines()]
        assert len(values) == len(pairs)
        means[name] = statistics.mean(values)
    assert means["real"] > means["shuffled"]


def test_score_line_count_mismatch_is_one_line(student, toy, tmp_path):
    with write_lines(str(tmp_path / f"c.{SRC}.zst")) as out:
        out.write_all(["a", "b"])
    with write_lines(str(tmp_path / f"c.{TRG}.zst")) as out:
        out.write_all(["a"])
    line = error_line(run_step("pipeline/cefilter/score.py", "--model", student / BEST, "--vocab-src",
                               student / f"vocab.{TRG}.spm", "--vocab-trg", student / f"vocab.{SRC}.spm",
                               "--corpus-prefix", tmp_path / "c", "--src", SRC, "--trg", TRG,
                               "--output", tmp_path / "scores.txt", *CPU))
    assert f"{tmp_path}/c.{TRG}.zst: has 1 lines" in line
    assert not (tmp_path / "scores.txt").exists()


def check_metrics(output, dataset, toy):
    metrics = json.loads((output / f"{dataset}.metrics.json").read_text())
    hypotheses = list(read_lines(str(output / f"{dataset}.{TRG}.translations.zst")))
    references = list(read_lines(str(toy / f"{dataset}.{TRG}.zst")))
    assert len(hypotheses) == len(references) == metrics["lines"]
    # The published numbers are sacrebleu's on the published translations.
    assert metrics["chrf"] == round(sacrebleu.corpus_chrf(hypotheses, [references]).score, 4)
    assert metrics["bleu"] == round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 4)
    assert metrics["chrf"] > 5
    # Streamed in batches (sacrebleu's per-sentence statistics summed): the same corpus scores.
    from pipeline.eval.eval import score

    batched = score(str(output / f"{dataset}.{TRG}.translations.zst"), str(toy / f"{dataset}.{TRG}.zst"), batch_lines=7)
    assert (batched["bleu"], batched["chrf"], batched["lines"]) == (metrics["bleu"], metrics["chrf"], metrics["lines"])
    return metrics


def test_eval_one_model(student, toy, tmp_path):
    check(run_step("pipeline/eval/eval.py", "--dataset-prefix", toy / "flores_devtest", "--model", student / BEST,
                   "--vocab-src", student / f"vocab.{SRC}.spm", "--vocab-trg", student / f"vocab.{TRG}.spm",
                   "--output-dir", tmp_path, "--src", SRC, "--trg", TRG, *CPU))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flores_devtest.en.translations.zst",
                                                         "flores_devtest.metrics.json"]
    check_metrics(tmp_path, "flores_devtest", toy)


def test_eval_teacher_ensemble(teachers, toy, tmp_path):
    check(run_step("pipeline/eval/eval.py", "--src", SRC, "--trg", TRG, "--dataset-prefix", toy / "flores_devtest",
                   "--models-dir", teachers, "--model-name", BEST, "--output-dir", tmp_path, *CPU))
    assert check_metrics(tmp_path, "flores_devtest", toy)["models"] == [BEST, BEST]


def test_eval_missing_reference_names_it(student, toy, tmp_path):
    shutil.copy(toy / f"flores_devtest.{SRC}.zst", tmp_path / f"half.{SRC}.zst")
    line = error_line(run_step("pipeline/eval/eval.py", "--dataset-prefix", tmp_path / "half", "--model",
                               student / BEST, "--vocab-src", student / f"vocab.{SRC}.spm", "--vocab-trg",
                               student / f"vocab.{TRG}.spm", "--output-dir", tmp_path / "out", "--src", SRC,
                               "--trg", TRG, *CPU))
    assert f"{tmp_path}/half.{TRG}.zst: no such file" in line


def test_a_downloaded_model_translates_like_the_original(student, toy, tmp_path):
    """The continuation download (pipeline/continuation/download.py) fetches a trained model over
    HTTP (loopback); the translation step uses it and produces the original's translations."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(student))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        check(run_step("pipeline/continuation/download.py", "--output-dir", tmp_path / "pretrained",
                       "--file", BEST, f"{url}/{BEST}", "--vocab-dir", url, "--src", SRC, "--trg", TRG,
                       "--allow-private-urls"))
    finally:
        server.shutdown()
    outputs = {}
    for name, directory in (("original", student), ("downloaded", tmp_path / "pretrained")):
        outputs[name] = tmp_path / f"{name}.zst"
        check(run_step("pipeline/translate/translate.py", "--input", toy / f"flores_devtest.{SRC}.zst",
                       "--models", directory / BEST, "--vocab-src", directory / f"vocab.{SRC}.spm",
                       "--vocab-trg", directory / f"vocab.{TRG}.spm", "--output", outputs[name], *CPU))
    assert list(read_lines(str(outputs["downloaded"]))) == list(read_lines(str(outputs["original"])))
