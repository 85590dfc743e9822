"""Building the whole-graph plan of a training config, phase by phase.

The modules below this one form layers, each importing only the ones before it:
`training_config` (the config schema) → `templates` (the kind templates and their schema) →
`pipeline` (the plan's tasks and edges, fan-out, pruning, plan checks) → `continuation` (the rules
table and the whole-graph rewrite). This module runs them in order; the kind loader
(`loader.py`), the decision parameters, the `train` action and the CLI all take the plan from here.
"""

import functools
import json
import logging
import os

from .continuation import apply_continuation, check_pins
from .pipeline import (
    Plan,
    add_aggregates,
    check_start_task_prefix,
    check_target_stage,
    check_worker_classes,
    drop_empty_fan_ins,
    instantiate,
    prune,
    warn_duplicate_datasets,
    warn_unused_dataset_keys,
)
from .templates import load_templates
from .training_config import config_json, escape_controls, load_training_config, redact

logger = logging.getLogger(__name__)


def build_plan(raw_config, kinds_dir):
    """The whole rewritten pipeline for a training config (cached per config)."""
    return _build_plan(config_json(raw_config), os.path.abspath(kinds_dir))


@functools.lru_cache(maxsize=8)
def _build_plan(raw_json, kinds_dir):
    raw = json.loads(raw_json)
    config = load_training_config(raw)
    check_pins(config, raw)
    templates = load_templates(kinds_dir)
    skipped = {}
    plan = Plan(config=config, tasks=instantiate(config, templates, skipped), raw=raw)
    for label, task in skipped.items():
        plan.removed[label] = f"skipped: {task.template['skip-if-zero']} is 0 for {task.context.get('dataset')}"
        plan.pruned_tasks[label] = task
    original_stages = {task.stage for task in plan.tasks.values()}
    check_worker_classes(plan, templates)
    warn_duplicate_datasets(plan)
    warn_unused_dataset_keys(plan)
    apply_continuation(plan, templates)
    prune(plan)
    check_target_stage(plan, original_stages)
    drop_empty_fan_ins(plan)
    check_start_task_prefix(plan)
    add_aggregates(plan, templates)
    for warning in plan.warnings:
        logger.warning(escape_controls(redact(warning)))  # one line each, no URL query strings
    return plan
