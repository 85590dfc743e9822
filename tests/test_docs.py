"""The docs stay true: the interface table, the README commands and CI."""

import re

import pytest

from conftest import ROOT

from translations_taskgraph import interface


def test_interface_table_is_up_to_date():
    assert (ROOT / "docs" / "pipeline-interface.md").read_text() == interface.render(), (
        "regenerate with: python -m translations_taskgraph.interface > docs/pipeline-interface.md"
    )


def test_readme_opens_with_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    generate_graph, run_tests = block
    assert generate_graph.endswith("taskgraph full")
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
