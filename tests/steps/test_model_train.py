"""train.py on real Marian (CPU, one thread): presets + config, guided alignment, the declared
artifacts, and the continuation contract proven on Marian's own evidence (progress.yml batches,
its log lines about the optimizer state and the pretrained model)."""

import functools
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import sentencepiece
import yaml

from pipeline.train.corpus import detokenize, map_alignment, token_pieces
from tests.steps.conftest import (
    ROOT, SRC, TRG, check, error_line, progress_batches, run_step, train_args, updates_logged, write_toy_corpus,
)

DECLARED = {
    "final.model.npz.best-chrf.npz", "final.model.npz.best-chrf.npz.decoder.yml", "model.npz",
    "model.npz.best-chrf.npz", "model.npz.optimizer.npz", "model.npz.progress.yml", "model.npz.yml",
    f"vocab.{SRC}.spm", f"vocab.{TRG}.spm",
}
STUDENT_FLAGS = ("--student-model", "tiny")


def student_args(toy, output, *extra, marian=()):
    return train_args(toy, output, "student", *STUDENT_FLAGS, "--train-corpus-prefix", toy / "corpus.tok-icu",
                      "--alignments", toy / "corpus.aln.zst", *extra, marian=marian)


def test_student_publishes_exactly_the_declared_artifacts(student_run, toy):
    output, log = student_run
    assert {p.name for p in output.iterdir()} == DECLARED
    assert progress_batches(output) == 100
    assert (output / "final.model.npz.best-chrf.npz").read_bytes() == (output / "model.npz.best-chrf.npz").read_bytes()
    decoder = yaml.safe_load((output / "final.model.npz.best-chrf.npz.decoder.yml").read_text())
    assert decoder["models"] == ["final.model.npz.best-chrf.npz"]
    assert decoder["vocabs"] == [f"vocab.{SRC}.spm", f"vocab.{TRG}.spm"] and decoder["relative-paths"] is True
    assert (output / f"vocab.{SRC}.spm").read_bytes() == (toy / "vocab" / f"vocab.{SRC}.spm").read_bytes()
    # Preset (student tiny: SSRU decoder), overridden by the config's options (dim 64), guided alignment.
    config = yaml.safe_load((output / "model.npz.yml").read_text())
    assert config["dec-cell"] == "ssru" and config["dim-emb"] == 64 and config["tied-embeddings-all"] is True
    assert config["guided-alignment"].endswith("train.aln")
    assert "[valid] Ep." in log and ": chrf :" in log
    assert not list(output.parent.glob(".student*.train"))  # the work directory is gone


def test_word_alignments_land_on_the_pieces_marian_sees(toy):
    processor = sentencepiece.SentencePieceProcessor(model_file=str(toy / "vocab" / f"vocab.{SRC}.spm"))
    text, spans = detokenize("Aб \u2581 вг .")
    assert text == "Aб вг."
    pieces = processor.encode(text, out_type=str)
    mapping = token_pieces(spans, spans[-1][1], pieces)
    assert mapping[1] == []  # the space token has no piece of its own
    # Every piece belongs to exactly the tokens it overlaps, in order.
    covered = sorted({p for token in mapping for p in token})
    assert covered == list(range(len(pieces)))
    # reverse (the backwards model): the file pair "1-0" is model source token 0, target token 1.
    aligned = map_alignment("1-0", mapping, [[0], [1, 2]], "test", reverse=True)
    assert aligned == " ".join(f"{p}-{q}" for p in mapping[0] for q in [1, 2])


def test_continue_resumes_marians_checkpoint(student, toy, tmp_path):
    output = tmp_path / "continued"
    result = check(run_step("pipeline/train/train.py", *student_args(
        toy, output, "--resume-from", student, marian=["--after", "130u", "--valid-freq", "30u"])))
    log = result.stderr
    assert progress_batches(output) == 130
    # Marian's evidence: optimizer state loaded, corpus position restored, updates go on from 100.
    assert "Loading Adam parameters" in log
    assert "Restoring the corpus state" in log
    assert min(updates_logged(log)) == 110, "Marian started again from update 1: the checkpoint set was not resumed"
    assert {p.name for p in output.iterdir()} == DECLARED


def test_a_lone_model_npz_is_refused_before_marian_restarts_silently(student, toy, tmp_path):
    partial = tmp_path / "only-model"
    partial.mkdir()
    for name in ("model.npz", f"vocab.{SRC}.spm", f"vocab.{TRG}.spm"):
        shutil.copy(student / name, partial / name)
    line = error_line(run_step("pipeline/train/train.py", *student_args(toy, tmp_path / "out", "--resume-from", partial)))
    assert f"{partial}/model.npz.optimizer.npz: missing from the checkpoint" in line
    assert "update 1" in line


def test_a_finished_checkpoint_says_how_to_extend_it(student, toy, tmp_path):
    started = time.monotonic()
    line = error_line(run_step("pipeline/train/train.py", *student_args(toy, tmp_path / "out", "--resume-from", student)))
    assert f"{student}/model.npz.progress.yml" in line and "already reached --after 100u" in line
    assert "larger `after`" in line and "200u" in line
    assert time.monotonic() - started < 60
    assert not (tmp_path / "out").exists()


def test_no_new_best_still_publishes_the_earlier_best(student, toy, tmp_path):
    # A checkpoint whose best chrF cannot be beaten: Marian writes no best file in the resumed run.
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(student, checkpoint)
    progress = yaml.safe_load((checkpoint / "model.npz.progress.yml").read_text())
    progress["validators"]["chrf"]["last-best"] = 100.0
    (checkpoint / "model.npz.progress.yml").write_text(yaml.safe_dump(progress))
    output = tmp_path / "stalled"
    result = check(run_step("pipeline/train/train.py", *student_args(
        toy, output, "--resume-from", checkpoint, marian=["--after", "110u"])))
    assert "chrf" in result.stderr and "stalled 1 times (last best: 100)" in result.stderr
    assert (output / "final.model.npz.best-chrf.npz").read_bytes() == (student / "model.npz.best-chrf.npz").read_bytes()
    assert (output / "model.npz.best-chrf.npz").read_bytes() == (student / "model.npz.best-chrf.npz").read_bytes()
    assert (output / "final.model.npz.best-chrf.npz.decoder.yml").exists()
    assert progress_batches(output) == 110


def test_init_starts_from_the_pretrained_weights_at_update_zero(student, toy, tmp_path):
    output = tmp_path / "init"
    result = check(run_step("pipeline/train/train.py", *student_args(
        toy, output, "--pretrained-model", student / "final.model.npz.best-chrf.npz", marian=["--after", "20u"])))
    assert f"Initializing model weights with pre-trained model {student}/final.model.npz.best-chrf.npz" in result.stderr
    assert min(updates_logged(result.stderr)) == 10
    assert progress_batches(output) == 20


def test_a_vocab_with_other_content_is_refused_naming_both_files(student, toy, tmp_path):
    write_toy_corpus(tmp_path / "other", 300, seed=7)
    check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix", tmp_path / "other",
                   "--sample-size", 300, "--vocab-size", 200, "--output-dir", tmp_path / "vocab"))
    args = student_args(toy, tmp_path / "out", "--pretrained-model", student / "final.model.npz.best-chrf.npz")
    args[args.index("--vocab-src") + 1] = tmp_path / "vocab" / f"vocab.{SRC}.spm"
    started = time.monotonic()
    line = error_line(run_step("pipeline/train/train.py", *args))
    assert f"{tmp_path}/vocab/vocab.{SRC}.spm: differs from the vocab {student}/vocab.{SRC}.spm" in line
    assert time.monotonic() - started < 60


def test_a_vocab_of_another_size_is_refused_naming_both_files(student, toy, tmp_path):
    lone = tmp_path / "model"
    lone.mkdir()
    shutil.copy(student / "final.model.npz.best-chrf.npz", lone / "model.npz")  # no vocab shipped beside it
    write_toy_corpus(tmp_path / "other", 300, seed=7)
    check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix", tmp_path / "other",
                   "--sample-size", 300, "--vocab-size", 120, "--output-dir", tmp_path / "vocab"))
    args = student_args(toy, tmp_path / "out", "--pretrained-model", lone / "model.npz")
    args[args.index("--vocab-src") + 1] = tmp_path / "vocab" / f"vocab.{SRC}.spm"
    line = error_line(run_step("pipeline/train/train.py", *args))
    assert f"{lone}/model.npz: its source embeddings have 200 rows but {tmp_path}/vocab/vocab.{SRC}.spm gives 120" in line


def test_sigterm_publishes_the_checkpoint_marian_saved(toy, tmp_path):
    output = tmp_path / "preempted"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "pipeline/train/train.py"), *map(str, student_args(
            toy, output, marian=["--after", "100000u", "--valid-freq", "100000u", "--save-freq", "100000u"]))],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if ": Up. 20 :" in line:
            process.send_signal(signal.SIGTERM)
            break
    _, rest = process.communicate(timeout=120)
    log = "".join(lines) + rest
    assert process.returncode == 1, log[-2000:]
    assert "terminated (SIGTERM): Marian saved its checkpoint" in log.strip().splitlines()[-1]
    assert {"model.npz", "model.npz.optimizer.npz", "model.npz.progress.yml", "model.npz.yml",
            f"vocab.{SRC}.spm", f"vocab.{TRG}.spm"} <= {p.name for p in output.iterdir()}
    assert progress_batches(output) >= 20
    assert not [p for p in output.iterdir() if p.name.startswith(".partial")]

    # A Taskcluster retry (run 1) resumes from what run 0 published, fetched from the Queue.
    queue = tmp_path / "queue"
    artifacts = queue / "api/queue/v1/task/TaskA/runs/0/artifacts/public/build"
    shutil.copytree(output, artifacts)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(queue))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = progress_batches(output)
    try:
        retried = check(run_step("pipeline/train/train.py", *student_args(
            toy, tmp_path / "retry", marian=["--after", f"{saved + 10}u"]),
            env={"TASK_ID": "TaskA", "RUN_ID": "1", "TASKCLUSTER_ROOT_URL": f"http://127.0.0.1:{server.server_address[1]}"}))
    finally:
        server.shutdown()
    assert "resumes from the checkpoint run 0 published" in retried.stderr
    assert "Loading Adam parameters" in retried.stderr
    assert min(updates_logged(retried.stderr)) > saved
    assert progress_batches(tmp_path / "retry") == saved + 10


def test_teacher_two_stage_finetunes_on_the_original_corpus(toy, tmp_path):
    output = tmp_path / "teacher"
    result = check(run_step("pipeline/train/train.py", *train_args(
        toy, output, "teacher", "--teacher-mode", "two-stage", "--train-corpus-prefix", toy / "corpus.tok-icu",
        "--alignments", toy / "corpus.aln.zst", "--backtranslations-prefix", toy / "mono.tok-icu",
        "--backtranslations-alignments", toy / "mono.aln.zst", "--seed", "2",
        marian=["--after", "20u", "--valid-freq", "20u"])))
    log = result.stderr
    assert "stage pretrain" in log and "stage finetune" in log
    assert "Done reading 1,600 sentences" in log and "Done reading 1,200 sentences" in log  # mixed, then original
    assert progress_batches(output) == 40
    assert yaml.safe_load((output / "model.npz.yml").read_text())["seed"] == 2
    assert {p.name for p in output.iterdir()} == DECLARED
    # Resumed when both stages are done: `after` counts per stage, so the hint is 40 // 2 + 20.
    line = error_line(run_step("pipeline/train/train.py", *train_args(
        toy, tmp_path / "again", "teacher", "--teacher-mode", "two-stage", "--train-corpus-prefix",
        toy / "corpus.tok-icu", "--alignments", toy / "corpus.aln.zst", "--backtranslations-prefix",
        toy / "mono.tok-icu", "--backtranslations-alignments", toy / "mono.aln.zst", "--resume-from", output,
        marian=["--after", "20u"])))
    assert "already reached --after 20u (40 batches)" in line and "(e.g. 40u, per stage of the 2)" in line


def removal_rendered_by_the_graph(section, options):
    """The Marian arguments the graph renders for `marian-args.<section>: {option: false, ...}`."""
    from translations_taskgraph.pipeline import build_plan
    from translations_taskgraph.transforms.pipeline_task import render_command

    plan = build_plan({"marian-args": {section: {option: False for option in options}}}, str(ROOT / "taskcluster/kinds"))
    task = next(t for t in plan.tasks.values() if t.template.get("marian-args") == section)
    argv = render_command(task, plan.config)
    rendered = argv[argv.index("--") + 1:]
    return [token for option in options for token in rendered[rendered.index(f"--{option}"):][:2]]


def test_backwards_model_translates_trg_to_src(toy, tmp_path):
    # Also: a config's `false` removes an option the step's preset sets (label smoothing 0.1 and
    # --lr-report in every preset), end to end: the graph's rendering, then the step on Marian.
    removed = removal_rendered_by_the_graph("training-teacher", ["label-smoothing", "lr-report"])
    assert removed == ["--label-smoothing", "false", "--lr-report", "false"]
    output = tmp_path / "backwards"
    check(run_step("pipeline/train/train.py", *train_args(
        toy, output, "backwards", "--train-corpus-prefix", toy / "corpus", marian=["--after", "10u", *removed])))
    config = yaml.safe_load((output / "model.npz.yml").read_text())
    assert config["label-smoothing"] == 0 and config["lr-report"] is False  # Marian's defaults
    assert config["transformer-dropout"] == 0.1  # the preset's other options stay
    assert [os.path.basename(p) for p in config["train-sets"]] == [f"train.{TRG}", f"train.{SRC}"]
    assert yaml.safe_load((output / "final.model.npz.best-chrf.npz.decoder.yml").read_text())["vocabs"] == [
        f"vocab.{TRG}.spm", f"vocab.{SRC}.spm"]


def test_marian_failure_is_one_line(toy, tmp_path):
    line = error_line(run_step("pipeline/train/train.py", *student_args(toy, tmp_path / "out",
                                                                        marian=["--no-such-option", "1"])))
    assert "Marian training failed (exit status 109)" in line and "--no-such-option" in line
    assert "(Marian's output is above)" in line  # it failed before it opened its log
    # A failure after Marian opened its log names the log, which holds Marian's error.
    line = error_line(run_step("pipeline/train/train.py", *student_args(toy, tmp_path / "out",
                                                                        marian=["--type", "no-such-model"])))
    assert "Marian training failed (" in line and "no-such-model" in line
    log = line.rsplit("(log: ", 1)[1].rstrip(")")
    assert os.path.isfile(log) and "no-such-model" in open(log).read()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_corrupt_alignments_are_one_line_naming_the_file(toy, tmp_path):
    from pipeline.common.io import write_lines

    with write_lines(str(tmp_path / "corpus.aln.zst")) as out:
        out.write("0-0 99-1")
    args = student_args(toy, tmp_path / "out")
    args[args.index("--alignments") + 1] = tmp_path / "corpus.aln.zst"
    line = error_line(run_step("pipeline/train/train.py", *args))
    assert f"{tmp_path}/corpus.aln.zst line 1: alignment 99-1 points past the sentence" in line
