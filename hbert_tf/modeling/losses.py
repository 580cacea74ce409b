"""Per-head pre-training losses, as BERT defines them: sum(w * nll) / sum(w) for every head.

A task marked `balanced` (`hbert_tf.tasks`; bigram shift) is class-balanced by default: its loss is the mean of the two classes'
losses, 0.5 * (nll over in-place tokens / their weight + nll over swapped tokens / their weight),
so always answering "in place" (about 85% of tokens at a 15% swap rate) is no longer a minimum.
"""

from keras import ops

from hbert_tf.tasks import PRETRAINING_TASKS, task_of_output
from hbert_tf.variants import output_key

MIN_WEIGHT = 1e-5  # a batch whose slots all weigh 0 has loss 0, not NaN


def _labels_and_weights(key, labels, sample_weights):
    """A head's labels and float weights, a sentence head's flattened to `[batch]`; missing
    weights are 1."""
    head_labels = labels[key]
    if task_of_output(key).head == "sentence":  # one label per sequence
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
    scalars, prefixed by the head type (the task's name); a `balanced` task adds per-class sums.
    """
    sums = {}
    for key, logits in outputs.items():
        task = task_of_output(key)
        prefix = task.name
        head_labels, weights = _labels_and_weights(key, labels, sample_weights or {})
        logits = ops.cast(logits, "float32")
        nll = ops.sparse_categorical_crossentropy(head_labels, logits, from_logits=True)
        predicted_ids = ops.cast(ops.argmax(logits, -1), "int32")  # int64 under TF, int32 JAX
        correct = ops.cast(ops.equal(predicted_ids, ops.cast(head_labels, "int32")), "float32")
        sums[f"{prefix}_loss_sum"] = ops.sum(nll * weights)
        sums[f"{prefix}_weight"] = ops.sum(weights)
        sums[f"{prefix}_correct"] = ops.sum(correct * weights)
        if task.balanced:  # per-class sums: balanced loss, recall, precision
            positive = ops.cast(ops.equal(head_labels, 1), "float32") * weights
            predicted = ops.cast(ops.equal(predicted_ids, 1), "float32") * weights
            sums[f"{prefix}_pos_loss_sum"] = ops.sum(nll * positive)
            sums[f"{prefix}_pos_weight"] = ops.sum(positive)
            sums[f"{prefix}_pos_correct"] = ops.sum(correct * positive)
            sums[f"{prefix}_pred_pos"] = ops.sum(predicted)
    return sums


def sum_keys(output_keys):
    """The keys `head_sums` returns for a model with these outputs (`mlm_logits`, ...)."""
    keys = []
    for key in output_keys:
        task = task_of_output(key)
        prefix = task.name
        keys += [f"{prefix}_loss_sum", f"{prefix}_weight", f"{prefix}_correct"]
        if task.balanced:
            keys += [f"{prefix}_pos_loss_sum", f"{prefix}_pos_weight", f"{prefix}_pos_correct"]
            keys += [f"{prefix}_pred_pos"]
    return keys


def balanced_loss(sums, prefix):
    """Mean of the two classes' losses of a 0/1 head from `head_sums` (a class absent from the
    batch contributes 0)."""
    pos_loss, pos_weight = sums[f"{prefix}_pos_loss_sum"], sums[f"{prefix}_pos_weight"]
    neg_loss = sums[f"{prefix}_loss_sum"] - pos_loss
    neg_weight = sums[f"{prefix}_weight"] - pos_weight
    return 0.5 * (
        pos_loss / ops.maximum(pos_weight, MIN_WEIGHT)
        + neg_loss / ops.maximum(neg_weight, MIN_WEIGHT)
    )


def losses_from_sums(sums, loss_weights=None, balance_bigram_shift=True):
    """`{output_name: sum(w * nll) / sum(w)}` plus the weighted `"total"`, from `head_sums`.

    Args:
        sums: dict from `head_sums` (one batch, or accumulated).
        loss_weights: optional dict of floats by output name (default 1.0 each).
        balance_bigram_shift: bool. The loss of a `balanced` task (bigram shift) is the mean of
            its two classes' losses (`balanced_loss`) rather than the mean over its labels.
    """
    loss_weights = loss_weights or {}
    losses = {}
    for task in PRETRAINING_TASKS:
        prefix, key = task.name, task.output_key
        if task.balanced and balance_bigram_shift and prefix + "_loss_sum" in sums:
            losses[key] = balanced_loss(sums, prefix)
        elif f"{prefix}_loss_sum" in sums:
            weight = ops.maximum(sums[f"{prefix}_weight"], MIN_WEIGHT)
            losses[key] = sums[f"{prefix}_loss_sum"] / weight
    losses["total"] = sum(loss_weights.get(key, 1.0) * loss for key, loss in losses.items())
    return losses


def pretraining_losses(
    labels, outputs, sample_weights, loss_weights=None, balance_bigram_shift=True
):
    """Loss of every head present in `outputs`, and their weighted total (see `head_sums`).

    Returns: dict `{output_name: loss}` plus `"total"`, scalar float32 tensors.
    """
    sums = head_sums(labels, outputs, sample_weights)
    return losses_from_sums(sums, loss_weights, balance_bigram_shift)


def weighted_sparse_cross_entropy(labels, logits, weights):
    """sum(w * nll) / sum(w) of one head: BERT's MLM loss, not Keras' mean over every slot.

    Args:
        labels: int `[...]` class ids.
        logits: float `[..., classes]`.
        weights: float `[...]`, 0 on padding slots.
    """
    key = output_key("mlm")
    return pretraining_losses({key: labels}, {key: logits}, {key: weights})[key]
