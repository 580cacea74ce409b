"""Per-head pre-training losses, as BERT defines them: sum(w * nll) / sum(w) for every head."""

from keras import ops

from hbert_tf import names

MIN_WEIGHT = 1e-5  # a batch whose slots all weigh 0 has loss 0, not NaN


def _labels_and_weights(key, labels, sample_weights):
    """A head's labels and float weights, NSP flattened to `[batch]`; missing weights are 1."""
    head_labels = labels[key]
    if key == names.NSP_LOGITS:
        head_labels = ops.reshape(head_labels, (-1,))
    weights = sample_weights.get(key)
    if weights is None:
        return head_labels, ops.ones_like(head_labels, dtype="float32")
    return head_labels, ops.reshape(ops.cast(weights, "float32"), ops.shape(head_labels))


def head_sums(labels, outputs, sample_weights):
    """Per-head sums that add up across batches and replicas: weighted NLL, weight, correct.

    Args:
        labels: dict keyed by output name: `mlm_logits` -> masked_lm_ids `[batch, predictions]`,
            `nsp_logits` -> next_sentence_labels `[batch]` or `[batch, 1]`,
            `bigram_shift_logits` -> bigram_shift_labels `[batch, seq]`.
        outputs: dict of logits from `HBertPretrainer`.
        sample_weights: dict keyed by output name: `mlm_logits` -> masked_lm_weights,
            `bigram_shift_logits` -> 1 on real non-special tokens, `nsp_logits` -> ones (a
            missing entry weighs every slot 1).

    Returns: dict like {"mlm_loss_sum", "mlm_weight", "mlm_correct", "nsp_...", ...} of float32
    scalars, prefixed by `names.HEAD_PREFIX`.
    """
    sums = {}
    for key, logits in outputs.items():
        prefix = names.HEAD_PREFIX[key]
        head_labels, weights = _labels_and_weights(key, labels, sample_weights or {})
        logits = ops.cast(logits, "float32")
        nll = ops.sparse_categorical_crossentropy(head_labels, logits, from_logits=True)
        correct = ops.cast(
            ops.equal(ops.argmax(logits, -1), ops.cast(head_labels, "int64")), "float32"
        )
        sums[f"{prefix}_loss_sum"] = ops.sum(nll * weights)
        sums[f"{prefix}_weight"] = ops.sum(weights)
        sums[f"{prefix}_correct"] = ops.sum(correct * weights)
    return sums


def losses_from_sums(sums, loss_weights=None):
    """`{output_name: sum(w * nll) / sum(w)}` plus the weighted `"total"`, from `head_sums`.

    Args:
        sums: dict from `head_sums` (one batch, or accumulated).
        loss_weights: optional dict of floats by output name (default 1.0 each).
    """
    loss_weights = loss_weights or {}
    losses = {}
    for key, prefix in names.HEAD_PREFIX.items():
        if f"{prefix}_loss_sum" in sums:
            weight = ops.maximum(sums[f"{prefix}_weight"], MIN_WEIGHT)
            losses[key] = sums[f"{prefix}_loss_sum"] / weight
    losses["total"] = sum(loss_weights.get(key, 1.0) * loss for key, loss in losses.items())
    return losses


def pretraining_losses(labels, outputs, sample_weights, loss_weights=None):
    """Loss of every head present in `outputs`, and their weighted total (see `head_sums`).

    Returns: dict `{output_name: loss}` plus `"total"`, scalar float32 tensors.
    """
    return losses_from_sums(head_sums(labels, outputs, sample_weights), loss_weights)


def weighted_sparse_cross_entropy(labels, logits, weights):
    """sum(w * nll) / sum(w) of one head: BERT's MLM loss, not Keras' mean over every slot.

    Args:
        labels: int `[...]` class ids.
        logits: float `[..., classes]`.
        weights: float `[...]`, 0 on padding slots.
    """
    key = names.MLM_LOGITS
    return pretraining_losses({key: labels}, {key: logits}, {key: weights})[key]
