"""Every command the graph renders for a model step is accepted by that step: for the training
config of each parameters file (the CI example, the documented continuation configs and recipes,
the toy local run), each task's argv is parsed by the step itself. Train's Marian arguments go
through its option assembly too; the other steps run until their first missing input file, which
comes after their argument parsing."""

import contextlib
import importlib
import io
from pathlib import Path

import pytest
import yaml

from pipeline.common.io import StepError
from tests.steps.conftest import ROOT

MODEL_STEPS = {
    "pipeline/train/train.py", "pipeline/train/spm_vocab.py", "pipeline/translate/translate.py",
    "pipeline/cefilter/score.py", "pipeline/eval/eval.py", "pipeline/eval/eval_quantized.py",
    "pipeline/alignments/generate_shortlist.py", "pipeline/quantize/quantize.py", "pipeline/quantize/export.py",
}
PARAMS = sorted((ROOT / "taskcluster/test/params").glob("*.yml"))


def rendered_commands(params_file):
    from translations_taskgraph.continuation import with_training_flags
    from translations_taskgraph.pipeline import build_plan
    from translations_taskgraph.transforms.pipeline_task import render_command

    raw = yaml.safe_load(Path(params_file).read_text())["training_config"]
    plan = build_plan(raw, str(ROOT / "taskcluster/kinds"))
    for task in plan.tasks.values():
        if task.template.get("script") in MODEL_STEPS:
            # With the flags the continuation transform adds (--resume-from, --pretrained-model).
            argv = render_command(with_training_flags(plan, task), plan.config)
            yield task.label, argv[1], argv[2:]


@pytest.mark.parametrize("params_file", PARAMS, ids=[p.stem for p in PARAMS])
def test_every_rendered_model_step_command_is_accepted(params_file):
    seen = set()
    for label, script, args in rendered_commands(params_file):
        module = importlib.import_module(script[: -len(".py")].replace("/", "."))
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                if script == "pipeline/train/train.py":
                    parsed, marian_args = module.parse_args(args)
                    module.assemble_options(parsed, marian_args, joint_vocab=True)
                    continue
                module.main(args)
        except SystemExit as exc:
            pytest.fail(f"{label}: {script} rejects its command (exit {exc.code}): {stderr.getvalue().strip()}")
        except StepError as exc:
            # Parsing passed; the step stopped at its first input, which does not exist here.
            assert "no such file" in str(exc) or "no such directory" in str(exc), f"{label}: {exc}"
        else:
            pytest.fail(f"{label}: {script} succeeded without its inputs")
        seen.add(script)
    assert seen  # the graph has model steps besides training
