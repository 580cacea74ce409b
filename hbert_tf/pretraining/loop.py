"""The pre-training loop: one step function for every tf.distribute strategy.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so
pre-training runs its own step with `strategy.run`. The same step serves the default strategy, one
device, mirrored GPUs or CPUs, multi-worker and TPU. With `jit_compile` only the forward and
backward pass is compiled by XLA; gradients are applied outside it so cross-replica reductions
work on every strategy.
"""

import dataclasses
import math
import os
import time

import numpy as np
import tensorflow as tf

from hbert_tf.errors import UserError
from hbert_tf.modeling.losses import (
    MIN_WEIGHT,
    balanced_loss,
    head_sums,
    losses_from_sums,
    sum_keys,
)
from hbert_tf.pretraining.freeze import NspFreeze
from hbert_tf.runtime import is_chief
from hbert_tf.tasks import TASK_NAMES
from hbert_tf.weights.model_dir import (
    checkpoint_dir,
    make_checkpoint,
    restore_newest_readable,
    save_checkpoint,
)


class NonFiniteLossError(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class Phase:
    """A stretch of steps at one sequence length (the 90/10 two-length schedule).

    Args:
        name: str. "seq128" style label.
        file_pattern: str. TFRecords of this length.
        seq_length: int. max_seq_length of the data.
        predictions: int. max_predictions_per_seq of the data.
        batch_size: int. Global batch size.
        start, end: int. Steps [start, end) of the run spent here.
    """

    name: str
    file_pattern: str
    seq_length: int
    predictions: int
    batch_size: int
    start: int
    end: int


def plan_phases(train_steps, long_seq_fraction, short, long=None):
    """Splits `train_steps` into the short-length phase then the long one, as BERT does.

    Args:
        short, long: dicts with file_pattern, seq_length, predictions, batch_size (long: None for a
            single-length run).

    Returns: list of `Phase`, in order.
    """
    if long is None or long_seq_fraction <= 0:
        return [Phase(start=0, end=train_steps, **short)]
    long_steps = int(round(train_steps * long_seq_fraction))
    short_steps = train_steps - long_steps
    phases = []
    if short_steps:
        phases.append(Phase(start=0, end=short_steps, **short))
    if long_steps:
        phases.append(Phase(start=short_steps, end=train_steps, **long))
    return phases


def summarize(sums):
    """{"mlm_loss", "mlm_accuracy", ...} from accumulated `head_sums`.

    A `balanced` task's head (bigram shift) adds its class-balanced loss and accuracy (mean of the two classes'
    recalls) and the swapped class's recall and precision (`*_swapped_recall`, `*_precision`).
    """
    metrics = {}
    for prefix in TASK_NAMES:
        if f"{prefix}_loss_sum" not in sums:
            continue
        weight = max(float(sums[f"{prefix}_weight"]), MIN_WEIGHT)
        metrics[f"{prefix}_loss"] = float(sums[f"{prefix}_loss_sum"]) / weight
        metrics[f"{prefix}_accuracy"] = float(sums[f"{prefix}_correct"]) / weight
        if f"{prefix}_pos_weight" in sums:
            positives = float(sums[f"{prefix}_pos_weight"])
            true_pos = float(sums[f"{prefix}_pos_correct"])
            negatives = float(sums[f"{prefix}_weight"]) - positives
            recall = true_pos / max(positives, MIN_WEIGHT)
            specificity = (float(sums[f"{prefix}_correct"]) - true_pos) / max(negatives, MIN_WEIGHT)
            metrics[f"{prefix}_balanced_loss"] = float(balanced_loss(sums, prefix))
            metrics[f"{prefix}_balanced_accuracy"] = 0.5 * (recall + specificity)
            metrics[f"{prefix}_swapped_recall"] = recall
            metrics[f"{prefix}_swapped_precision"] = true_pos / max(
                float(sums[f"{prefix}_pred_pos"]), MIN_WEIGHT
            )
    return metrics


class PretrainingLoop:
    """Holds the model, optimiser, checkpoint state and the compiled step functions.

    Args:
        model: `HBertPretrainer`, built under `strategy.scope()`.
        optimizer: Keras optimiser, built under `strategy.scope()`.
        strategy: tf.distribute strategy.
        model_dir: str. Where checkpoints go.
        loss_weights: dict or None. Per-head loss weights.
        balance_bigram_shift: bool. Class-balanced bigram-shift loss (`losses.balanced_loss`).
        jit_compile: bool. XLA-compile the forward and backward pass.
        checkpoints_to_keep: int.
    """

    def __init__(
        self,
        model,
        optimizer,
        strategy,
        model_dir,
        loss_weights=None,
        jit_compile=False,
        checkpoints_to_keep=3,
        balance_bigram_shift=True,
    ):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.loss_weights = loss_weights or {}
        self.balance_bigram_shift = balance_bigram_shift
        self.jit_compile = jit_compile
        # Loop state lives on the host (not mirrored) and is saved with the model.
        with tf.device("/cpu:0"):
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Lower NSP-Freeze: the layout's policy, its trigger and its state, saved with the model.
        self.freeze = NspFreeze(model, on_freeze=self._build_functions)
        checkpoint = make_checkpoint(model, optimizer, self.step)
        self.freeze.track(checkpoint)
        directory = checkpoint_dir(model_dir)
        if not is_chief(strategy):  # other workers write to a scratch copy, as TF requires
            directory = os.path.join(
                model_dir, f"worker_scratch_{strategy.cluster_resolver.task_id}"
            )
        self.checkpoint_manager = tf.train.CheckpointManager(
            checkpoint, directory, max_to_keep=checkpoints_to_keep
        )
        self._build_functions()

    # === Checkpoints ===
    def restore(self):
        """Restores the newest checkpoint, if any. Returns the step it was taken at (0: none)."""
        manager = self.checkpoint_manager
        if restore_newest_readable(manager.checkpoint, manager.directory) is None:
            return 0
        self.freeze.reapply()
        return int(self.step)

    def save(self):
        return save_checkpoint(self.checkpoint_manager, int(self.step))

    # === Steps ===
    def _build_functions(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        variables = list(model.trainable_variables)
        replicas = strategy.num_replicas_in_sync

        def forward_backward(inputs, labels, sample_weights):
            with tf.GradientTape() as tape:
                outputs = model(inputs, training=True)
                sums = head_sums(labels, outputs, sample_weights)  # the loss and the metrics
                total = losses_from_sums(sums, self.loss_weights, self.balance_bigram_shift)
                total = total["total"]
                scaled = optimizer.scale_loss(total / replicas)
            gradients = tape.gradient(scaled, variables)
            sums["total_loss"] = total / replicas  # the mean over replicas, once summed
            return gradients, sums

        if self.jit_compile:
            forward_backward = tf.function(forward_backward, jit_compile=True)

        def replica_step(inputs, labels, sample_weights):
            gradients, sums = forward_backward(inputs, labels, sample_weights)
            optimizer.apply_gradients(zip(gradients, variables))
            return sums

        def reduce(per_replica):
            return {
                key: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for key, value in per_replica.items()
            }

        keys = sum_keys(model.heads) + ["total_loss"]

        @tf.function
        def train_steps(iterator, num_steps):
            # Zeros first, so the step is traced once (inside the loop), not twice.
            totals = {key: tf.zeros((), tf.float32) for key in keys}
            for _ in tf.range(num_steps):
                sums = reduce(strategy.run(replica_step, args=next(iterator)))
                totals = {key: totals[key] + sums[key] for key in totals}
            return totals

        def replica_eval(inputs, labels, sample_weights):
            return head_sums(labels, model(inputs, training=False), sample_weights)

        @tf.function
        def eval_step(batch):
            return reduce(strategy.run(replica_eval, args=batch))

        self._train_steps = train_steps
        self._eval_step = eval_step

    def train(self, iterator, num_steps):
        """Runs `num_steps` steps from a distributed iterator. Returns summed `head_sums` (numpy).

        Raises NonFiniteLossError when a loss is NaN or infinite.
        """
        sums = {
            k: v.numpy() for k, v in self._train_steps(iterator, tf.constant(num_steps)).items()
        }
        self.step.assign_add(num_steps)
        bad = [k for k, v in sums.items() if "loss" in k and not np.isfinite(v)]
        if bad:
            raise NonFiniteLossError(
                f"non-finite loss ({', '.join(bad)}) at step {int(self.step)}; stopping. The last "
                f"good checkpoint is kept in {self.checkpoint_manager.directory}"
            )
        return sums

    def evaluate(self, dataset, max_batches=None):
        """Per-head loss and accuracy over a distributed dataset (at most `max_batches`)."""
        totals = None
        for i, batch in enumerate(dataset):
            if max_batches is not None and i >= max_batches:
                break
            sums = {k: v.numpy() for k, v in self._eval_step(batch).items()}
            totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
        if totals is None:
            raise ValueError("the evaluation data yielded no batch")
        return summarize(totals)

    def learning_rate(self):
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        rate = optimizer.learning_rate
        return float(rate(optimizer.iterations) if callable(rate) else rate)


class Throughput:
    """Steps per second over the last logging window."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.start, self.steps = time.perf_counter(), 0

    def add(self, steps):
        self.steps += steps

    def rate(self):
        elapsed = time.perf_counter() - self.start
        return self.steps / elapsed if elapsed > 0 else math.nan
