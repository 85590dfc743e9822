"""marian-args: option names checked against the options Marian really has, `false`/`null` remove
an option, and `explain` shows every option passed with where it came from.

The option list (translations_taskgraph/data/marian_options.json) is regenerated here from the
installed pymarian's `--help` and compared with the committed file.
"""

import shutil
import sys
from pathlib import Path

import pytest

from translations_taskgraph import marian_options
from translations_taskgraph.training_config import ConfigError, ci_example, load_training_config, marian_args_origins

from conftest import TASKCLUSTER_DIR, command, generate, plan

TEACHER = "train-teacher-model-ru-en-1"


def test_the_option_list_is_what_pymarian_says():
    # The venv's pymarian (the one requirements/steps.txt pins), whether or not the venv is on PATH.
    executable = str(Path(sys.executable).parent / "pymarian")
    if not Path(executable).exists():
        executable = shutil.which("pymarian")
    assert marian_options.DATA_PATH.read_text(encoding="utf-8") == marian_options.generate(executable), (
        "regenerate with: python -m translations_taskgraph.marian_options"
    )


def test_the_option_list_knows_both_commands():
    train, decode = marian_options.options("train"), marian_options.options("decode")
    assert {"after", "early-stopping", "dim-vocabs", "valid-freq", "pretrained-model", "beam-size"} <= set(train)
    assert {"beam-size", "mini-batch-words", "precision", "n-best"} <= set(decode)
    assert "after" not in decode and "early-stopping" not in decode
    assert train["overwrite"]["type"] is None  # a switch
    assert train["after"] == {"type": "TEXT", "default": "0e", "many": False}


@pytest.mark.parametrize(
    "section, option, message",
    [
        ("training-teacher", "aftr", "unknown Marian option: --aftr is not an option of `pymarian train`; "
                                     "did you mean 'after'?"),
        ("training-student", "early-stoping", "did you mean 'early-stopping'?"),
        ("decoding-teacher", "after", "--after is an option of `pymarian train`, not of `pymarian decode`"),
        ("decoding-backward", "beam-sise", "is not an option of `pymarian decode`; did you mean 'beam-size'?"),
    ],
)
def test_a_misspelled_option_is_an_error_with_a_suggestion(section, option, message):
    with pytest.raises(ConfigError) as error:
        load_training_config({"marian-args": {section: {option: "10"}}})
    assert str(error.value).startswith(f"Invalid training_config at marian-args.{section}.{option}: "), error.value
    assert message in str(error.value)


def test_a_switch_takes_true():
    config = load_training_config({"marian-args": {"training-teacher": {"overwrite": True, "no-shuffle": "true"}}})
    assert config["marian-args"]["training-teacher"]["overwrite"] is True
    with pytest.raises(ConfigError, match=r"at marian-args.training-teacher.overwrite: --overwrite is a switch: "
                                          r"true passes it, false or null leaves it out \(got 'yes'\)"):
        load_training_config({"marian-args": {"training-teacher": {"overwrite": "yes"}}})


def test_false_and_null_remove_an_inherited_option():
    raw = {"marian-args": {"training-teacher": {"after": None, "dim-vocabs": False, "early-stopping": "5"}}}
    argv = command(generate(raw), TEACHER)
    marian = argv[argv.index("--", 2):]
    # Passed as an explicit removal: the step drops the option from its own preset too.
    assert marian[marian.index("--after"):][:2] == ["--after", "false"]
    assert marian[marian.index("--dim-vocabs"):][:2] == ["--dim-vocabs", "false"]
    assert marian[-4:] == ["--dim-vocabs", "false", "--early-stopping", "5"]
    assert "--disp-freq" in marian  # the rest of the CI example's options stay
    # Kept as false in the loaded config: stored by the decision task and loaded again (as a complete
    # config, over the pipeline defaults), it still removes the option.
    loaded = load_training_config(raw)
    assert loaded["marian-args"]["training-teacher"]["after"] is False
    assert load_training_config(loaded) == loaded


def test_origins_name_the_config_and_each_default():
    snippet = {"marian-args": {"training-teacher": {"after": None, "early-stopping": "5"},
                               "decoding-teacher": {"precision": False}}}
    origins = marian_args_origins(snippet)
    teacher = {option: (value, origin) for option, value, origin in origins["training-teacher"]}
    assert teacher["early-stopping"] == ("5", "config")
    assert teacher["disp-freq"] == ("1", "the CI example")
    assert teacher["after"] == (None, "removed by the config (was the CI example's 50u)")
    decoding = {option: (value, origin) for option, value, origin in origins["decoding-teacher"]}
    assert decoding == {"mini-batch-words": ("1000", "the CI example"),
                        "precision": (None, "removed by the config (was the CI example's float16)")}
    complete = {**ci_example(), "marian-args": {"decoding-teacher": {"beam-size": "4"}}}
    origins = marian_args_origins(complete)
    assert origins["training-teacher"] == []  # a complete config gets no CI option
    assert origins["decoding-teacher"] == [("mini-batch-words", "4000", "the pipeline defaults"),
                                           ("beam-size", "4", "config")]


def test_explain_shows_the_marian_options_of_each_stage(tmp_path, capsys):
    import yaml

    from translations_taskgraph import cli

    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({
        "marian-args": {"training-teacher": {"after": None, "early-stopping": "5"}},
        "continuation": {"models": {"teacher": {"url": "https://example.com/ru-en/teacher", "mode": "continue",
                                                "reset-stalled": True}}},
    }))
    assert cli.main(["--root", str(TASKCLUSTER_DIR), "explain", str(config)]) == 0
    out = capsys.readouterr().out
    section = out.split("Marian options (passed after `--`; `false`/`null` in the config removes one):\n", 1)[1]
    teacher = section.split("  training-student:")[0]
    lines = [" ".join(line.split()) for line in teacher.splitlines()]
    assert lines[lines.index("training-teacher: train-teacher-model (1 task)") + 1:] == [
        "--disp-freq 1 the CI example",
        "--save-freq 25 the CI example",
        "--valid-freq 50 the CI example",
        "--dim-vocabs 1000 1000 the CI example",
        "--early-stopping 5 config",
        "--after false removed by the config (was the CI example's 50u)",
        "--valid-reset-stalled continuation.models.teacher (mode continue)",
    ]
    assert "  decoding-teacher: distillation-mono-src-translate, distillation-parallel-src-translate (4 tasks)" in section
    # The options explain lists are the ones the task passes.
    argv = command(generate({"marian-args": {"training-teacher": {"after": None, "early-stopping": "5"}},
                             "continuation": {"models": {"teacher": {"url": "https://example.com/ru-en/teacher",
                                                                     "mode": "continue", "reset-stalled": True}}}}),
                   TEACHER)
    assert argv[argv.index("--", 2) + 1:] == ["--disp-freq", "1", "--save-freq", "25", "--valid-freq", "50",
                                              "--after", "false", "--dim-vocabs", "1000", "1000",
                                              "--early-stopping", "5", "--valid-reset-stalled"]


def test_the_default_options_are_all_real_options():
    """The CI example and the pipeline defaults pass the check themselves."""
    assert plan({}).config["marian-args"] == ci_example()["marian-args"]
