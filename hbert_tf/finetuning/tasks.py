"""The one registry of downstream tasks (`TASKS`, an explicit tuple) and lookups by name.

Each task is a `hbert_tf.finetuning.task.DownstreamTask` defined in its own module; a new task is
that module plus its entry here. Importing this module loads no TensorFlow.
"""

from hbert_tf.errors import UserError
from hbert_tf.finetuning import glue, nli, squad

TASKS = (*squad.TASKS, *nli.TASKS, *glue.TASKS)
BY_NAME = {task.name: task for task in TASKS}
BY_STUDY_NAME = {study_name: task for task in TASKS for study_name in task.study_names}
STUDY_NAMES = tuple(BY_STUDY_NAME)


def task_named(name, flag="task"):
    """The task whose config `task` is `name`; UserError naming `--flag` otherwise."""
    if name not in BY_NAME:
        raise UserError(f"--{flag}={name!r}: expected one of {', '.join(BY_NAME)}")
    return BY_NAME[name]


def study_task(study_name):
    """The task a study's task name (`squad1.1`, `mnli`, `sst2`) belongs to."""
    if study_name not in BY_STUDY_NAME:
        raise UserError(f"downstream task {study_name!r}: expected one of {', '.join(STUDY_NAMES)}")
    return BY_STUDY_NAME[study_name]
