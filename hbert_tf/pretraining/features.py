"""The one TFRecord feature schema of pre-training data: each feature's name, type and length.

The writer (`tfrecords.tfrecord_io`), the data manifest (`tfrecords.create_pretraining_data`),
the reader (`hbert_tf.pretraining.data`) and the demo all derive their features from `pretraining_schema`,
so a feature is added in one place. Types are tf.train.Example's list kinds ("int64", "float");
every feature is a fixed-length list. Free of TensorFlow at import time (data workers use it).
"""

from hbert_tf import names

INT64 = "int64"
FLOAT = "float"

# The feature each head type learns from (the TFRecord key of its labels); the head types are
# `hbert_tf.variants.HEADS`.
LABEL_FEATURES = {
    "mlm": names.MASKED_LM_IDS,
    "nsp": names.NEXT_SENTENCE_LABELS,
    "bigram_shift": names.BIGRAM_SHIFT_LABELS,
}


def pretraining_schema(max_seq_length, max_predictions_per_seq, with_bigram_shift):
    """{feature name: (kind, length)} in writing order.

    Args:
        max_seq_length: int. Length of the per-token features (ids, mask, segments, swap labels).
        max_predictions_per_seq: int. Length of the masked-LM features.
        with_bigram_shift: bool. Add `bigram_shift_labels` (our addition to BERT's seven).
    """
    seq, pred = int(max_seq_length), int(max_predictions_per_seq)
    schema = {
        names.INPUT_IDS: (INT64, seq),
        names.INPUT_MASK: (INT64, seq),
        names.SEGMENT_IDS: (INT64, seq),
        names.MASKED_LM_POSITIONS: (INT64, pred),
        names.MASKED_LM_IDS: (INT64, pred),
        names.MASKED_LM_WEIGHTS: (FLOAT, pred),
        names.NEXT_SENTENCE_LABELS: (INT64, 1),
    }
    if with_bigram_shift:
        schema[names.BIGRAM_SHIFT_LABELS] = (INT64, seq)
    return schema


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
