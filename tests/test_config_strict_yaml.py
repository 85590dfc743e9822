"""Every YAML file the project reads is loaded strictly (translations_taskgraph/strict_yaml.py).

Duplicate keys name both lines; dates, binary, sets, non-string keys, non-finite numbers, unknown
tags and recursive anchors are one-line errors; alias expansion is bounded. Checked on the loader
and on the ways users hand YAML to the project: `taskgraph full -p`, `translations-taskgraph
explain`, and the embedded configs and kinds.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from translations_taskgraph.strict_yaml import MAX_EXPANDED_NODES, StrictYamlError, load_strict_yaml

from conftest import ROOT, TASKCLUSTER_DIR

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10) if prev else ', '.join(['x'] * 10)}]\n"
    for prev, name in zip([None, "a", "b", "c", "d", "e", "f", "g"], "abcdefgh")
)

BAD_YAML = [
    ("duplicate-key", "a: 1\nb:\n  c: 2\n  c: 3\n", "line 4: duplicate key 'c' (first at line 3); keep one"),
    ("duplicate-top-level", "training_config: {}\nx: 1\ntraining_config: {}\n",
     "line 3: duplicate key 'training_config' (first at line 1)"),
    ("duplicate-in-flow", '{"a": 1, "a": 2}', "line 1: duplicate key 'a' (first at line 1)"),
    ("date", "experiment:\n  name: 2024-01-01\n", "line 2: a date ('2024-01-01') is not plain data: quote it"),
    ("datetime", "a: 2001-12-14t21:59:43.10-05:00\n", "line 1: a date"),
    ("binary", "a: !!binary aGVsbG8=\n", "line 1: !!binary data ('aGVsbG8=') is not plain data"),
    ("set", "a: !!set {x, y}\n", "line 1: a !!set is not plain data"),
    ("omap", "a: !!omap [x: 1]\n", "line 1: an !!omap is not plain data"),
    ("int-key", "1: a\n", "line 1: the key '1' is read as a number, not a string: quote it"),
    ("bool-key", "on: push\n", "line 1: the key 'on' is read as a boolean, not a string: quote it"),
    ("null-key", "~: a\n", "line 1: the key '~' is read as a null"),
    ("list-key", "? [a]\n: b\n", "line 1: the key"),
    ("infinity", "a: .inf\n", "line 1: '.inf' is not a finite number"),
    ("nan", "a: .NaN\n", "line 1: '.NaN' is not a finite number"),
    ("python-tag", "a: !!python/object/apply:os.system [id]\n", "is not plain data"),
    ("custom-tag", "a: !vault secret\n", "line 1: the tag !vault is not plain data"),
    ("recursive-list", "a: &x [1, *x]\n", "line 1: a recursive anchor"),
    ("recursive-mapping", "a: &x\n  b: *x\n", "a recursive anchor"),
    ("alias-bomb", BOMB, f"aliases expand this to more than {MAX_EXPANDED_NODES} values"),
    ("deep-nesting", "a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("syntax", "a: [1\n", "not valid YAML: line 2, column 1: expected ',' or ']'"),
    ("two-documents", "a: 1\n---\nb: 2\n", "not valid YAML"),
    ("not-utf8", b"a: \xff\xfe\n", "not UTF-8 text"),
]


@pytest.mark.parametrize("text, message", [case[1:] for case in BAD_YAML], ids=[case[0] for case in BAD_YAML])
def test_bad_yaml_is_one_line_error(text, message):
    start = time.monotonic()
    with pytest.raises(StrictYamlError) as error:
        load_strict_yaml(text, "params.yml")
    assert str(error.value).startswith("params.yml: "), error.value
    assert message in str(error.value), error.value
    assert "\n" not in str(error.value)
    assert time.monotonic() - start < 30  # the alias bomb is refused, never expanded


def test_plain_data_is_read_as_yaml_reads_it():
    text = (
        "a: [1, 2.5, 'x', null, true, '2024-01-01']\n"
        "base: &b {x: 1, y: 2}\n"
        "merged:\n  <<: *b\n  x: 3\n"  # merge keys keep YAML's meaning: written keys win, no duplicate
        "shared: [*b, *b]\n"  # aliases that are not recursive are fine
        "big: 300_000_000\n"  # YAML 1.1 integers with underscores, as the public configs write them
    )
    data = load_strict_yaml(text)
    assert data["a"] == [1, 2.5, "x", None, True, "2024-01-01"]
    assert data["merged"] == {"x": 3, "y": 2}
    assert data["shared"] == [{"x": 1, "y": 2}] * 2
    assert data["big"] == 300_000_000
    assert load_strict_yaml("") is None and load_strict_yaml("# only a comment\n") is None


def test_the_project_s_own_yaml_is_strict_yaml():
    """The embedded configs, every kind and shared template, the test parameters files."""
    paths = [*(ROOT / "translations_taskgraph" / "configs").glob("*.yml"), *TASKCLUSTER_DIR.rglob("*.yml")]
    assert len(paths) > 40
    for path in paths:
        load_strict_yaml(path.read_bytes(), str(path))


def _taskgraph_full(tmp_path, content):
    params = tmp_path / "params.yml"
    params.write_text(content)
    env = {**os.environ, "TASKCLUSTER_ROOT_URL": "https://tc.example.com"}
    cli = Path(sys.executable).parent / "taskgraph"
    return subprocess.run([str(cli), "full", "-p", str(params)], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize(
    "content, message",
    [
        ("training_config:\n  experiment:\n    teacher-ensemble: 2\n    teacher-ensemble: 1\n",
         "line 4: duplicate key 'teacher-ensemble' (first at line 3); keep one"),
        ("training_config:\n  experiment:\n    name: 2024-05-01\n", "line 3: a date ('2024-05-01')"),
        (BOMB, "aliases expand this to more than"),
    ],
    ids=["duplicate-key", "date", "alias-bomb"],
)
def test_taskgraph_full_rejects_non_strict_parameters_files_in_one_line(tmp_path, content, message):
    result = _taskgraph_full(tmp_path, content)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_explain_rejects_duplicate_keys_in_one_line(tmp_path, capsys):
    from translations_taskgraph import cli

    path = tmp_path / "config.yml"
    path.write_text("continuation:\n  vocab:\n    src: https://x.org/vocab.ru.spm\n    src: https://x.org/v.ru.spm\n")
    assert cli.main(["--root", str(TASKCLUSTER_DIR), "explain", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {path}: line 4: duplicate key 'src' (first at line 3); keep one\n"
