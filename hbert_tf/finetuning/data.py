"""What every task's reading shares: where built-in sets go, their vocabulary, required files.

`--data=files` reads `--train_file` and the dev file(s); `--data=tfds` downloads through
TensorFlow Datasets; `--data=builtin` writes the task's built-in set under `<model_dir>/data/` and
reads it. Each task's own reading is its `read` (`hbert_tf.finetuning.task`).
"""

import os

from hbert_tf.errors import UserError


def builtin_dir(config):
    """Folder of the built-in task files of a run."""
    return os.path.join(config.model_dir, "data")


def default_vocabulary(config):
    """The built-in sets' vocabulary (list of str) for `--data=builtin`, else None."""
    from hbert_tf.finetuning import builtin_tasks

    return builtin_tasks.task_vocabulary() if config.data == "builtin" else None


def require(config, name, why):
    """The value of setting `name`; UserError naming --name when it is not given."""
    value = getattr(config, name)
    if not value:
        raise UserError(f"--{name} is required {why} (or pass --data=tfds or --data=builtin)")
    return value
