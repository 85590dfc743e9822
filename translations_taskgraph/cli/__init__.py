"""`translations-taskgraph`: preview what a training config does to the task graph.

Subcommands, for a training config or a parameters file holding `training_config`:

* `explain CONFIG [--check-urls]` -- what each continuation input downloads, replaces and prunes
  (`explain.py`); `--check-urls` probes every URL the downloads fetch (`check_urls.py`).
* `diff BASE NEW [--markdown]` -- tasks added, removed and changed between the two full task
  graphs (`diff.py`).
* `picture CONFIG [--output FILE] [--svg FILE]` -- the stage graph as Mermaid, optionally SVG
  (`picture.py`).
* `run PARAMS --store DIR [--target-stage STAGE] [--tasks REGEX] [-j N]` -- run the graph's
  tasks on this machine as a Taskcluster worker would (`run.py`, `../local_run.py`).
* `launch CONFIG [--branch B] [--repo URL] [--dry-run]` -- start a training run on Taskcluster:
  trigger the `train` action of the branch's latest decision task (`launch.py`).

Exit status: 0 on success, 1 on a bad config, when `--check-urls` finds a missing URL or when a
locally run task fails (130 when a run is interrupted).
The standard `taskgraph` command is unaffected.
"""

import argparse
import math
import os
import sys
from pathlib import Path

from ..training_config import ConfigError, one_line
from .common import DEFAULT_ROOT, CliError
from .diff import cmd_diff
from .explain import cmd_explain
from .picture import cmd_picture
from .launch import add_parser as add_launch_parser
from .run import add_parser as add_run_parser


def build_parser():
    parser = argparse.ArgumentParser(
        prog="translations-taskgraph",
        description="Preview what a training config does to the task graph.")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help="the taskcluster directory (default: %(default)s)")
    # Also accepted after the subcommand; SUPPRESS keeps a --root given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=argparse.SUPPRESS, help="as above")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    explain = sub.add_parser("explain", parents=[common], help="what each continuation input replaces")
    explain.add_argument("config", help="a training config, or a parameters file holding training_config")
    explain.add_argument("--check-urls", action="store_true",
                         help="check that every URL the download tasks fetch exists (network)")
    explain.add_argument("--timeout", type=float, default=10.0, metavar="S",
                         help="timeout of each URL check, in seconds (default: %(default)s)")
    explain.set_defaults(func=cmd_explain)

    diff = sub.add_parser("diff", parents=[common], help="tasks added, removed and changed between configs")
    diff.add_argument("base", help="the config before")
    diff.add_argument("new", help="the config after")
    diff.add_argument("--markdown", action="store_true", help="Markdown for a pull-request comment")
    diff.set_defaults(func=cmd_diff)

    picture = sub.add_parser("picture", parents=[common], help="the stage graph as a Mermaid flowchart")
    picture.add_argument("config", help="a training config, or a parameters file holding training_config")
    picture.add_argument("--output", metavar="FILE.mmd", help="write the Mermaid text here, not to stdout")
    picture.add_argument("--svg", metavar="FILE.svg", help="also render an SVG with Graphviz dot")
    picture.set_defaults(func=cmd_picture)

    add_run_parser(sub, [common])
    add_launch_parser(sub, [common])
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "explain" and not (math.isfinite(args.timeout) and args.timeout > 0):
        print("explain: --timeout must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        if not (args.root / "kinds").is_dir():
            raise CliError(f"{args.root} is not a taskcluster directory (it has no kinds/)")
        return args.func(args)
    except (ConfigError, CliError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
