"""Next-sentence prediction (BERT): is segment B the text that follows A (0) or a run of
another document (1)? Its head reads the [CLS] vector of its block; the paper moves that block
down (Lower NSP) and may feed its output to the MLM classifier (`--concat`)."""

from hbert_tf import names
from hbert_tf.tasks.base import INT64, PretrainingTask


def make_labels(pair, options, rng, context, stats):
    """Label 1 when B was drawn from another document (`tfrecords.instances.segment_pairs`)."""
    pair.labels[names.NEXT_SENTENCE_LABELS] = [int(pair.is_random_next)]
    stats["random_next"] += int(pair.is_random_next)


TASK = PretrainingTask(
    name="nsp",
    title="next-sentence prediction",
    features=((names.NEXT_SENTENCE_LABELS, INT64, 1),),
    label_feature=names.NEXT_SENTENCE_LABELS,
    head="sentence",
    make_labels=make_labels,
    stat_keys=("random_next",),
    statistics=(("random_next_fraction", "random_next", "instances"),),
    layout_field="nsp_layer",
    loss_weight_field="nsp_loss_weight",
)
