"""Per-head pre-training losses, as BERT defines them."""

from keras import ops

from hbert_tf import names


def weighted_sparse_cross_entropy(labels, logits, weights):
    """sum(w * nll) / sum(w): BERT's MLM loss, not Keras' mean over every slot.

    Args:
        labels: int `[...]` class ids.
        logits: float `[..., classes]`.
        weights: float `[...]`, 0 on padding slots.

    Returns: scalar float32. Zero when every weight is zero.
    """
    logits = ops.cast(logits, "float32")
    weights = ops.cast(weights, "float32")
    nll = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return ops.sum(nll * weights) / ops.maximum(ops.sum(weights), 1e-5)


def pretraining_losses(labels, outputs, sample_weights, loss_weights=None):
    """Loss of every head present in `outputs`, and their weighted total.

    Args:
        labels: dict keyed by output name: `mlm_logits` -> masked_lm_ids `[batch, predictions]`,
            `nsp_logits` -> next_sentence_labels `[batch]` or `[batch, 1]`,
            `bigram_shift_logits` -> bigram_shift_labels `[batch, seq]`.
        outputs: dict of logits from `HBertPretrainer`.
        sample_weights: dict keyed by output name: `mlm_logits` -> masked_lm_weights,
            `bigram_shift_logits` -> 1 on real non-special tokens, `nsp_logits` -> ones (a
            missing entry weighs every slot 1).
        loss_weights: optional dict of floats by output name (default 1.0 each).

    Returns: dict `{output_name: loss}` plus `"total"`, scalar float32 tensors.
    """
    loss_weights = loss_weights or {}
    sample_weights = sample_weights or {}
    losses = {}
    for key, logits in outputs.items():
        head_labels = labels[key]
        if key == names.NSP_LOGITS:
            head_labels = ops.reshape(head_labels, (-1,))
        weights = sample_weights.get(key)
        if weights is None:
            weights = ops.ones_like(head_labels, dtype="float32")
        elif key == names.NSP_LOGITS:
            weights = ops.reshape(weights, (-1,))
        losses[key] = weighted_sparse_cross_entropy(head_labels, logits, weights)
    losses["total"] = sum(loss_weights.get(key, 1.0) * loss for key, loss in losses.items())
    return losses
