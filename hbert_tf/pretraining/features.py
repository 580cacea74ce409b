"""The one TFRecord feature schema of pre-training data: each feature's name, type and length.

The writer (`tfrecords.tfrecord_io`), the data manifest (`tfrecords.create_pretraining_data`),
the reader (`hbert_tf.pretraining.data`) and the demo all derive their features from `pretraining_schema`,
so a feature is added in one place. Types are tf.train.Example's list kinds ("int64", "float");
every feature is a fixed-length list; each task declares its own (`hbert_tf.tasks`). Free of
TensorFlow at import time (data workers use it).
"""

from hbert_tf import names
from hbert_tf.tasks import PRETRAINING_TASKS
from hbert_tf.tasks.base import FLOAT, INT64  # noqa: F401  (the kinds, for readers of the schema)

# The feature each task's head learns from (the TFRecord key of its labels), by task name.
LABEL_FEATURES = {task.name: task.label_feature for task in PRETRAINING_TASKS}


def pretraining_schema(
    max_seq_length, max_predictions_per_seq, with_bigram_shift=False, labelled=()
):
    """{feature name: (kind, length)} in writing order: the encoder inputs, then each task's
    features in registry order (`hbert_tf.tasks`); an optional task's only when it is labelled.

    Args:
        max_seq_length: int. Length of the per-token features (ids, mask, segments, swap labels).
        max_predictions_per_seq: int. Length of the masked-LM features.
        with_bigram_shift: bool. Add `bigram_shift_labels` (same as "bigram_shift" in `labelled`).
        labelled: iterable of task names whose optional features the data carries.
    """
    labelled = set(labelled) | ({"bigram_shift"} if with_bigram_shift else set())
    seq = int(max_seq_length)
    schema = {name: (INT64, seq) for name in names.ENCODER_INPUTS}
    for task in PRETRAINING_TASKS:
        if not task.optional or task.name in labelled:
            schema.update(task.schema(max_seq_length, max_predictions_per_seq))
    return schema


def labelled_tasks(options):
    """Names of the optional tasks whose labels data made with these generator options
    ({option name: value}) carries."""
    return tuple(t.name for t in PRETRAINING_TASKS if t.optional and t.enabled(options))


def manifest_features(schema):
    """The schema as the data manifest records it: {name: [kind, length]}."""
    return {name: [kind, length] for name, (kind, length) in schema.items()}


def parsing_spec(schema, only=None):
    """`tf.io.parse_example` spec of `schema` (int64 and float32 `FixedLenFeature`s).

    Args:
        schema: dict from `pretraining_schema`.
        only: iterable of names, or None for all. Parse just these features.
    """
    import tensorflow as tf

    dtypes = {INT64: tf.int64, FLOAT: tf.float32}
    return {
        name: tf.io.FixedLenFeature([length], dtypes[kind])
        for name, (kind, length) in schema.items()
        if only is None or name in only
    }
