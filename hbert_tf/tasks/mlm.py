"""Masked LM (BERT): predict the tokens at `masked_lm_positions` from the block its head reads.

Its labels are made by masking after the pair is laid out (`tfrecords.masking`, with BERT's
80/10/10 rule), so it has no `make_labels` of its own. Every model has this head.
"""

from hbert_tf import names
from hbert_tf.tasks.base import FLOAT, INT64, PREDICTIONS, PretrainingTask

TASK = PretrainingTask(
    name="mlm",
    title="masked LM",
    features=(
        (names.MASKED_LM_POSITIONS, INT64, PREDICTIONS),
        (names.MASKED_LM_IDS, INT64, PREDICTIONS),
        (names.MASKED_LM_WEIGHTS, FLOAT, PREDICTIONS),
    ),
    label_feature=names.MASKED_LM_IDS,
    weights=names.MASKED_LM_WEIGHTS,
    head="masked_lm",
    layout_field="mlm_layer",
    loss_weight_field="mlm_loss_weight",
)
