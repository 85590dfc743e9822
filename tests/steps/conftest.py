"""Fixtures for the model-step tests: toy data, a vocab and small models trained once per session.

Every Marian run uses `--cpu-threads 1` (two threads can hang after training) under the
MARIAN_TIMEOUT watchdog of pipeline.common.marian. The shared model has dim 64 so that its
intgemm8 conversion decodes on CPU (dim 32 segfaults), and ~100 updates at learn-rate 0.005 so
it translates the toy language pair into non-empty output.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.common.io import write_lines
from tests import toydata

ROOT = Path(__file__).resolve().parents[2]
SRC, TRG = "ru", "en"
os.environ.setdefault("MARIAN_TIMEOUT", "180")

# Shrinks any preset to a model that trains ~100 updates in a few seconds on one CPU thread.
TOY_MARIAN = [
    "--dim-emb", "64", "--enc-depth", "1", "--dec-depth", "1", "--transformer-dim-ffn", "64",
    "--transformer-heads", "2", "--cpu-threads", "1", "--mini-batch-fit", "false", "--mini-batch", "32",
    "--workspace", "256", "--maxi-batch", "10", "--learn-rate", "0.005", "--lr-warmup", "0",
    "--lr-decay-inv-sqrt", "0", "--exponential-smoothing", "false", "--sync-sgd", "false",
    "--valid-metrics", "chrf", "ce-mean-words", "--valid-freq", "50u", "--save-freq", "50u",
    "--disp-freq", "10u", "--after", "100u", "--max-length", "100", "--beam-size", "2",
]


def run_step(script, *args, env=None, timeout=300):
    """Run a step as a task does: `python3 pipeline/...py` with PYTHONPATH=checkout."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def check(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def error_line(result):
    """The step's one-line error (the last stderr line), after asserting it failed with status 1."""
    assert result.returncode == 1, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def tokenize(sentence):
    """The alignment steps' ICU token format: words, punctuation, and `▁` for each space."""
    tokens = []
    for index, word in enumerate(sentence.split(" ")):
        if index:
            tokens.append("\u2581")
        if word.endswith("."):
            tokens += [word[:-1], "."]
        else:
            tokens.append(word)
    return " ".join(tokens)


def word_alignment(src_tokens, trg_tokens):
    """The toy pair is word for word: token k aligns with token k."""
    return " ".join(f"{k}-{k}" for k in range(min(len(src_tokens.split()), len(trg_tokens.split()))))


def write_toy_corpus(prefix, count, seed, tokenized=False):
    pairs = toydata.pairs(count, seed)
    if tokenized:
        pairs = [(tokenize(s), tokenize(t)) for s, t in pairs]
        with write_lines(f"{prefix}.aln.zst".replace(".tok-icu.aln", ".aln")) as out:
            out.write_all(word_alignment(s, t) for s, t in pairs)
    for index, lang in ((0, SRC), (1, TRG)):
        with write_lines(f"{prefix}.{lang}.zst") as out:
            out.write_all(pair[index] for pair in pairs)


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """Toy corpora: plain and tokenized+aligned training data, a devset, a test set, a vocab."""
    root = tmp_path_factory.mktemp("toy")
    write_toy_corpus(root / "corpus", 1200, seed=0)
    write_toy_corpus(root / "corpus.tok-icu", 1200, seed=0, tokenized=True)
    write_toy_corpus(root / "mono.tok-icu", 400, seed=3, tokenized=True)
    write_toy_corpus(root / "devset", 60, seed=1)
    write_toy_corpus(root / "flores_devtest", 40, seed=2)
    vocab = root / "vocab"
    check(run_step("pipeline/train/spm_vocab.py", "--src", SRC, "--trg", TRG, "--corpus-prefix", root / "corpus",
                   "--sample-size", 1000, "--vocab-size", 200, "--output-dir", vocab))
    return root


def train_args(toy, output, model_type="student", *extra, marian=()):
    return ["--src", SRC, "--trg", TRG, "--vocab-src", toy / "vocab" / f"vocab.{SRC}.spm",
            "--vocab-trg", toy / "vocab" / f"vocab.{TRG}.spm", "--devset-prefix", toy / "devset",
            "--best-model", "chrf", "--output-dir", output, "--experiment", "test", "--model-type", model_type,
            *extra, "--", *TOY_MARIAN, *marian]


@pytest.fixture(scope="session")
def student_run(toy, tmp_path_factory):
    """A toy student (guided alignment on the tokenized corpus), trained once: 100 updates.

    (output directory, the step's stderr: Marian's log)."""
    output = tmp_path_factory.mktemp("student")
    result = check(run_step("pipeline/train/train.py", *train_args(
        toy, output, "student", "--student-model", "tiny", "--train-corpus-prefix", toy / "corpus.tok-icu",
        "--alignments", toy / "corpus.aln.zst")))
    return output, result.stderr


@pytest.fixture(scope="session")
def student(student_run):
    return student_run[0]


def progress_batches(directory):
    import yaml

    return yaml.safe_load((Path(directory) / "model.npz.progress.yml").read_text())["batches"]


def updates_logged(log):
    """The update numbers of Marian's training progress lines (`Ep. 2 : Up. 110 : ...`)."""
    import re

    return [int(n) for n in re.findall(r"\] Ep\. \d+ : Up\. (\d+) : Sen\.", log)]
