"""The docs stay true: the interface table, the config reference, the README commands and CI."""

import re

import pytest

from conftest import ROOT

from translations_taskgraph import config_reference, interface
from translations_taskgraph.training_config import TRAINING_CONFIG_SCHEMA


def test_interface_table_is_up_to_date():
    assert (ROOT / "docs" / "pipeline-interface.md").read_text() == interface.render(), (
        "regenerate with: python -m translations_taskgraph.interface > docs/pipeline-interface.md"
    )


def test_config_reference_is_up_to_date():
    assert (ROOT / "docs" / "training-config.md").read_text() == config_reference.render(), (
        "regenerate with: python -m translations_taskgraph.config_reference > docs/training-config.md"
    )


def test_every_schema_key_is_described_and_documented():
    reference = config_reference.render()
    for segments, marker, _value in config_reference._rows(TRAINING_CONFIG_SCHEMA.schema, []):
        if not segments[-1].startswith("<"):
            assert getattr(marker, "description", None), ".".join(segments)
        assert f"| `{'.'.join(segments)}` |" in reference
    # The rows say which stage gets a value, as which flag, straight from the kinds.
    assert "| `experiment.spm-vocab-split` | no | true or false | `false` |" in reference
    assert "build-vocab: `--split-vocab`" in reference
    assert "| `continuation.models.{teacher,backwards,student}.mode` | yes | one of: use, continue, init |" in reference


def test_readme_opens_with_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    generate_graph, run_tests = block
    assert generate_graph.endswith("taskgraph full")
    # Previewing a graph stays a light install: the steps' tools come with the test (or steps) extra.
    assert "[test]" not in generate_graph and "[steps]" not in generate_graph
    assert run_tests.endswith("pytest")
    assert run_tests in (ROOT / ".ci" / "run").read_text()


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_tests_run_offline():
    """pytest-socket is active (pyproject addopts): only loopback connections are allowed."""
    import socket

    import pytest_socket

    try:
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)
    except (pytest_socket.SocketBlockedError, pytest_socket.SocketConnectBlockedError):
        pass
    else:  # pragma: no cover - would mean the suite can reach the network
        raise AssertionError("sockets to non-loopback hosts are not blocked")


def test_preview_docs_show_real_explain_output(capsys):
    """docs/preview.md calls its explain example "real output": keep it so."""
    from translations_taskgraph import cli

    command = "translations-taskgraph explain taskcluster/test/params/recipe-train-new-teacher.yml"
    text = (ROOT / "docs" / "preview.md").read_text()
    start = text.index(f"$ {command}\n") + len(f"$ {command}\n")
    documented = text[start : text.index("```", start)]
    assert cli.main(["--root", str(ROOT / "taskcluster"), *command.split()[1:2],
                     str(ROOT / command.split()[2])]) == 0
    assert capsys.readouterr().out == documented


def _yaml_blocks(*names):
    for name in names:
        text = (ROOT / name).read_text()
        for number, match in enumerate(re.finditer(r"```yaml\n(.*?)```", text, re.S)):
            if "..." not in match.group(1):  # an outline with placeholders, not a config
                yield pytest.param(match.group(1), id=f"{name}#{number}")


@pytest.mark.parametrize("block", list(_yaml_blocks("README.md", "docs/continuation.md")))
def test_every_config_shown_in_the_docs_works(block):
    import yaml

    from conftest import plan
    from translations_taskgraph.parameters import training_config_parameter

    data = yaml.safe_load(block)
    assert plan(training_config_parameter(data)).tasks


# The YAML blocks of the feature's user documentation (docs/using-pretrained-models*.md, published
# outside this repository), copied here as data so that this test runs in every clone.
USER_DOC_BLOCKS = ROOT / "tests" / "data" / "user-docs"


def test_every_user_doc_block_has_its_parameters_file():
    """Each YAML block of the feature's user documentation is, as written, the training config of
    one parameters file under taskcluster/test/params (which the graph tests and CI generate)."""
    import yaml

    from conftest import PARAMS_DIR

    saved = [yaml.safe_load(path.read_text())["training_config"] for path in sorted(PARAMS_DIR.glob("*.yml"))]
    blocks = [yaml.safe_load(path.read_text()) for path in sorted(USER_DOC_BLOCKS.glob("using-pretrained-models*.yml"))]
    assert len(blocks) == 6
    for block in blocks:
        assert any(all(config.get(key) == value for key, value in block.items()) for config in saved), block
