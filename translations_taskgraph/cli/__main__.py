"""`python -m translations_taskgraph.cli`: the same as the `translations-taskgraph` command."""

import sys

from . import main

sys.exit(main())
