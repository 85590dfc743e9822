"""Offline optimization for local previews.

taskgraph's `index-search` strategy asks the Taskcluster index which cached tasks already exist.
The decision task needs that; a local `taskgraph optimized` or `morphed` must not touch the
network. Parameters loaded locally (non-strict, where project defaults apply) therefore default
`optimize_strategies` to `PREVIEW_STRATEGIES`, which keeps every task, as if nothing were cached
yet. The decision task sets `optimize_strategies` itself (to none: the real strategies), and a
parameters file with `optimize_strategies: null` asks the index the same way.
"""

from taskgraph.optimize.base import OptimizationStrategy

PREVIEW_STRATEGIES = {"index-search": OptimizationStrategy()}
PREVIEW_STRATEGIES_PATH = f"{__name__}:PREVIEW_STRATEGIES"
