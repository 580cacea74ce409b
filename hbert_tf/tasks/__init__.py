"""The pre-training tasks, one module each, and their registry (`PRETRAINING_TASKS`).

A new task is one module defining `TASK = PretrainingTask(...)` (see `hbert_tf.tasks.base`) and
one line below. Registry order is the order of TFRecord features, of the data generator's
label making, of reports and metrics.
"""

from hbert_tf.tasks import bigram_shift, mlm, nsp, sop
from hbert_tf.tasks.base import PretrainingTask

PRETRAINING_TASKS = (mlm.TASK, nsp.TASK, bigram_shift.TASK, sop.TASK)

TASKS_BY_NAME = {task.name: task for task in PRETRAINING_TASKS}
TASK_NAMES = tuple(TASKS_BY_NAME)


def get_task(name):
    """The registered task called `name`; ValueError listing the names otherwise."""
    if name not in TASKS_BY_NAME:
        raise ValueError(f"unknown pre-training task {name!r} (expected one of {TASK_NAMES})")
    return TASKS_BY_NAME[name]


def task_of_output(key):
    """The task whose head gives output `key`: "nsp_logits" -> the NSP task."""
    for task in PRETRAINING_TASKS:
        if task.output_key == key:
            return task
    raise ValueError(
        f"{key!r} is not a head output key (expected one of "
        f"{tuple(t.output_key for t in PRETRAINING_TASKS)})"
    )


def generator_options():
    """Every task's data-generator options (`Option`), in registry order."""
    return tuple(option for task in PRETRAINING_TASKS for option in task.options)


__all__ = ["PRETRAINING_TASKS", "PretrainingTask", "TASK_NAMES", "get_task", "task_of_output"]
