"""pipeline.common.marian's option handling: how a config's marian-args override a step's preset."""

import pytest

from pipeline.common.io import StepError
from pipeline.common.marian import format_after, merge_options, parse_after, parse_options, render_options
from pipeline.train.train import assemble_options, parse_args


def test_options_parse_values_switches_and_negative_numbers():
    options = parse_options(["--dim-vocabs", "8", "8", "--overwrite", "--workspace", "-4000", "--after=50u", "-w", "1"])
    assert options == {"dim-vocabs": ["8", "8"], "overwrite": [], "workspace": ["-4000"], "after": ["50u"], "w": ["1"]}
    with pytest.raises(StepError, match="'8' is not an option"):
        parse_options(["8", "--after", "1u"])


def test_later_layers_win_and_false_removes():
    preset = {"dim-emb": ["512"], "mini-batch-fit": [], "after": ["0"]}
    config = parse_options(["--dim-emb", "64", "--mini-batch-fit", "false", "--after", "100u"])
    merged = merge_options(preset, config)
    assert render_options(merged) == ["--dim-emb", "64", "--after", "100u"]


def test_after_units():
    assert parse_after("50u") == (50, "batches")
    assert parse_after("2e") == (2, "epochs") and parse_after("3") == (3, "epochs")
    assert parse_after("10Gt") == (10 * 10**9, "labels-total")
    assert parse_after("0") is None
    assert format_after(150, "batches") == "150u"
    with pytest.raises(StepError, match="--after 'soon'"):
        parse_after("soon")


def test_config_overrides_the_preset_and_the_best_metric_leads_validation():
    args, marian_args = parse_args([
        "--src", "ru", "--trg", "en", "--vocab-src", "v", "--vocab-trg", "v", "--devset-prefix", "d",
        "--best-model", "bleu-detok", "--output-dir", "o", "--model-type", "teacher", "--train-corpus-prefix", "c",
        "--seed", "3", "--", "--dim-emb", "64", "--valid-metrics", "chrf", "bleu-detok", "--cpu-threads", "1",
    ])
    options = assemble_options(args, marian_args, joint_vocab=False)
    assert options["dim-emb"] == ["64"] and options["transformer-heads"] == ["16"]  # teacher preset, config wins
    assert options["valid-metrics"] == ["bleu-detok", "chrf"]
    assert options["seed"] == ["3"] and "tied-embeddings" in options and "tied-embeddings-all" not in options
    assert "mini-batch-fit" not in options  # GPU-only preset options stay out of a CPU run


def test_options_the_step_sets_cannot_come_from_the_config():
    args, marian_args = parse_args([
        "--src", "ru", "--trg", "en", "--vocab-src", "v", "--vocab-trg", "v", "--devset-prefix", "d",
        "--best-model", "chrf", "--output-dir", "o", "--model-type", "student", "--train-corpus-prefix", "c",
        "--", "--train-sets", "a", "b",
    ])
    with pytest.raises(StepError, match="--train-sets is set by train.py"):
        assemble_options(args, marian_args, joint_vocab=True)


def test_a_config_cannot_remove_what_the_step_relies_on():
    args, marian_args = parse_args([
        "--src", "ru", "--trg", "en", "--vocab-src", "v", "--vocab-trg", "v", "--devset-prefix", "d",
        "--best-model", "chrf", "--output-dir", "o", "--model-type", "student", "--train-corpus-prefix", "c",
        "--", "--keep-best", "false",
    ])
    with pytest.raises(StepError, match="--keep-best false: train.py needs --keep-best"):
        assemble_options(args, marian_args, joint_vocab=True)


def test_removing_cpu_threads_or_after_is_not_setting_them(monkeypatch):
    from pipeline.common import marian

    monkeypatch.setattr(marian, "gpu_count", lambda: 2)  # a GPU worker
    args, marian_args = parse_args([
        "--src", "ru", "--trg", "en", "--vocab-src", "v", "--vocab-trg", "v", "--devset-prefix", "d",
        "--best-model", "chrf", "--output-dir", "o", "--model-type", "teacher", "--train-corpus-prefix", "c",
        "--", "--cpu-threads", "false", "--exponential-smoothing", "false",
    ])
    options = assemble_options(args, marian_args, joint_vocab=True)
    assert options["devices"] == ["0", "1"] and "cpu-threads" not in options
    assert "mini-batch-fit" in options and "exponential-smoothing" not in options  # GPU preset, minus the removal
