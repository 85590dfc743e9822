"""The options Marian really has, per command, kept as data (`data/marian_options.json`).

`marian-args` option names are checked against this list, so a typo (`aftr: 10e`) is an error
with a suggestion instead of a `--aftr` that Marian rejects hours later on a GPU worker. The list
is taken from `pymarian --help` (training) and `pymarian decode --help` (decoding) of the pinned
pymarian; graph generation never runs Marian, it reads the data file.

Regenerate it after changing the pymarian pin (tests/test_config_marian_options.py regenerates it
and compares):

    python -m translations_taskgraph.marian_options
"""

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

DATA_PATH = Path(__file__).parent / "data" / "marian_options.json"
# The `pymarian` subcommand whose options each marian-args section passes.
COMMANDS = {"train": [], "decode": ["decode"]}

# `  -m,--model TEXT=model.npz   Path prefix ...`, `  --quiet   ...`, `  --flag=true   ...`
_OPTION = re.compile(
    r"^\s+(?:-\w,)?--(?P<name>[a-z0-9][a-z0-9-]*)(?:=(?P<switch_default>\S*))?"
    r"(?: (?P<type>[A-Z]+)(?:=(?P<default>\S*))?)?(?P<many> \.\.\.)?(?:\s|$)"
)


def parse_help(text):
    """{option: {"type": TEXT|INT|...|null for a switch, "default": ...}} from Marian's --help."""
    options = {}
    for line in text.splitlines():
        match = _OPTION.match(line)
        if not match:
            continue
        name = match["name"]
        if match["type"]:
            options[name] = {"type": match["type"], "default": match["default"], "many": bool(match["many"])}
        else:
            options[name] = {"type": None, "default": match["switch_default"], "many": False}
    return options


def pymarian_help(command, executable="pymarian"):
    """The --help text of a pymarian command (`pymarian` is the training command)."""
    result = subprocess.run(
        [executable, *COMMANDS[command], "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    text = result.stdout + result.stderr
    if result.returncode != 0 or "--help" not in text:
        raise RuntimeError(f"`{executable} {' '.join(COMMANDS[command] + ['--help'])}` failed: {text[-500:]}")
    return text


def pymarian_version():
    from importlib.metadata import version  # noqa: PLC0415

    return version("pymarian")


def generate(executable="pymarian"):
    data = {
        "source": "pymarian --help (train) and pymarian decode --help, parsed by translations_taskgraph.marian_options",
        "pymarian": pymarian_version(),
        "commands": {command: parse_help(pymarian_help(command, executable)) for command in COMMANDS},
    }
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


@functools.lru_cache(maxsize=1)
def _load():
    return json.loads(DATA_PATH.read_text(encoding="utf-8"))


def options(command):
    """{option: spec} of a command ("train" or "decode")."""
    return _load()["commands"][command]


def main(argv=None):
    executable = (argv if argv is not None else sys.argv[1:]) or ["pymarian"]
    DATA_PATH.parent.mkdir(exist_ok=True)
    DATA_PATH.write_text(generate(executable[0]), encoding="utf-8")
    print(f"wrote {DATA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
