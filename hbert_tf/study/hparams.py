"""TensorBoard HParams summaries: each study unit as one run of the HParams dashboard.

A unit writes its settings (`hparams`) and results (`metrics`) into its own folder under the
study's shared log folder (e.g. `<output_dir>/tensorboard/<unit key>`); `tensorboard --logdir
<output_dir>/tensorboard` then lists every unit in the HParams dashboard (table, parallel
coordinates, scatter plots), its columns inferred from the runs.

Example:
    >>> write_unit_hparams(
    ...     "study/tensorboard/finetune-lower_nsp-squad1.1-3f2a9c01bd77",
    ...     {"model": "lower_nsp", "layer": 5, "corpus": "wikitext", "learning_rate": 1e-5},
    ...     metrics_of([record]),  # {"squad1.1/exact_match": 47.2, "squad1.1/f1": 58.3}
    ... )  # doctest: +SKIP
"""

import math
import os

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from hbert_tf import files

SUFFIX = ".hparams"  # our event files end in it, so a rewrite replaces them


def metrics_of(records):
    """A unit's result records -> flat {"<task>/<metric>": value} (numbers only), the metric
    names of the dashboard."""
    metrics = {}
    for r in records:
        for name, value in r["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"{r['task']}/{name}"] = float(value)
    return metrics


def _check(hparams, metrics):
    clean = {}
    for name, value in hparams.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"hparams: names are non-empty strings, got {name!r}")
        if value is None:
            continue  # an unset setting (an unswept model's layer): an empty dashboard cell
        if not isinstance(value, (str, bool, int, float)):
            raise ValueError(
                f"hparams[{name!r}] = {value!r}: expected str, int, float, bool or None"
            )
        clean[name] = value
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"metrics: names are non-empty strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"metrics[{name!r}] = {value!r}: expected a number")
        if not math.isfinite(value):
            raise ValueError(f"metrics[{name!r}] = {value!r}: expected a finite number")
    return clean


def write_unit_hparams(logdir, hparams, metrics, trial_id=None):
    """Writes one unit's HParams summary and its metrics (scalars at step 0) into `logdir`.

    Args:
        logdir: str. The unit's own folder under the study's log folder (created).
        hparams: dict str -> str | int | float | bool | None. The unit's settings (a None is
            left out: an empty cell, so a column keeps one type).
        metrics: dict str -> number. Its results (e.g. `metrics_of(records)`).
        trial_id: str or None. The dashboard's session name; default: the folder's name.

    Returns:
        str. The event file written; an earlier one written here is replaced.

    Raises:
        ValueError: naming the setting or metric that is not a plain value.
    """
    hparams = _check(hparams, metrics)
    files.makedirs(logdir)
    earlier = set(files.glob(os.path.join(logdir, f"events.out.tfevents.*{SUFFIX}")))
    writer = tf.summary.create_file_writer(logdir, filename_suffix=SUFFIX)
    with writer.as_default():
        hp.hparams(hparams, trial_id=trial_id or os.path.basename(os.path.normpath(logdir)))
        for name, value in metrics.items():
            tf.summary.scalar(name, float(value), step=0)
    writer.close()
    written = set(files.glob(os.path.join(logdir, f"events.out.tfevents.*{SUFFIX}"))) - earlier
    for path in earlier:  # only once the new file is complete
        files.remove(path)
    return written.pop() if len(written) == 1 else None
