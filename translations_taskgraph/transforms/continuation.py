"""Training continuation, applied to the tasks of one kind (the rules: `continuation.py`).

Listed in the `transforms:` of every kind a continuation rule names: the three training kinds
(`train-teacher-model`, `backtranslations-train-backwards-model`,
`distillation-student-model-train`) and the kinds a continuation vocab or corpus stands in for
(`build-vocab`, the corpus merges, filters and alignments). The whole-graph plan has decided what
is replaced and rewired every consumer's upstream edge to the download task; for this kind's tasks
this transform

- drops each task a download stands in for (the loader hands it over marked `replaced-by`), with
  a log line naming the download;
- gives a training task that a model in `continue` or `init` mode starts from the flags of that
  mode: `--resume-from <fetches>/pretrained` (and `--valid-reset-stalled`, `--no-restore-corpus`
  when asked) or Marian's `--pretrained-model <fetches>/pretrained/<best model>`.

A kind that gets replaced or continued tasks without listing this transform fails generation
(`pipeline_task` refuses such tasks), so the listing in kind.yml is never out of date.
"""

import logging
import os

from taskgraph.transforms.base import TransformSequence

from ..continuation import with_training_flags
from ..loader import LOADED_TASK_SCHEMA, plan_for

logger = logging.getLogger(__name__)

transforms = TransformSequence()
transforms.add_validate(LOADED_TASK_SCHEMA)


@transforms.add
def drop_replaced_tasks(config, tasks):
    for task in tasks:
        if task.get("replaced-by"):
            logger.debug(f"{task['label']} is replaced by {task['replaced-by']} (training continuation)")
            continue
        yield task


@transforms.add
def add_training_flags(config, tasks):
    plan = plan_for(config.params, os.path.dirname(config.path))
    for task in tasks:
        yield {**task, "planned": with_training_flags(plan, task["planned"]), "continuation-applied": True}
