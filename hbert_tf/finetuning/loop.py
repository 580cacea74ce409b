"""Fine-tuning's own step loop, for MultiWorkerMirroredStrategy, where Keras 3 `fit` fails
(SPEC section 7; keras-team/keras #20585). Every other strategy uses `fit` (`finetuning`).

Every fine-tuning head is a softmax over logits with integer labels, so a replica's loss is
`sum_heads(weight * sum_examples(nll)) / global_batch`; the optimizer sums the replicas'
gradients, which gives the mean over the global batch, as `fit` does. Checkpoint intervals are
`--checkpoint_every` steps; after each, `tf.train.Checkpoint(model, optimizer, step)` is saved
under `<model_dir>/backup/` and a rerun resumes there. Each worker runs with its own model_dir
(the chief: `--model_dir`; worker i: `<model_dir>/worker_scratch_<i>`, as TensorFlow requires
every worker to save).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from hbert_tf import console, names
from hbert_tf.errors import Interrupted, PreemptionGuard, UserError
from hbert_tf.runtime import is_chief
from hbert_tf.weights.model_dir import restore_newest_readable, save_checkpoint


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_model_dir(model_dir, strategy):
    """`model_dir` on the chief; `<model_dir>/worker_scratch_<task id>` on the other workers."""
    if is_chief(strategy):
        return model_dir
    return os.path.join(model_dir, f"worker_scratch_{strategy.cluster_resolver.task_id}")


def train(model, optimizer, dataset, total_steps, config, loss_weights=None):
    """Trains `model` for `total_steps` under the current (multi-worker) strategy.

    Args:
        model: a `downstream` model built under the strategy's scope.
        optimizer: Keras optimizer built under the scope (a LossScaleOptimizer for
            mixed_float16).
        dataset: `tf.data.Dataset` of `(inputs, labels)` global batches, repeated.
        total_steps: int.
        config: `FinetuneConfig` (batch_size, checkpoint_every, steps_per_execution,
            jit_compile, model_dir).
        loss_weights: dict output key -> float, or None (1 for every labelled output).

    Returns: mean loss (float) of the last checkpoint interval run (None: none was left).
    """
    strategy = tf.distribute.get_strategy()
    variables = model.trainable_variables
    global_batch = config.batch_size
    with tf.device("/cpu:0"):
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    backup_dir = os.path.join(config.model_dir, "backup")
    manager = tf.train.CheckpointManager(checkpoint, backup_dir, max_to_keep=2)
    restored = restore_newest_readable(checkpoint, backup_dir)
    done = int(step.numpy())  # steps done, kept in Python; `step` is what checkpoints hold
    if restored:
        console.say(f"resumed from the backup in {backup_dir} at step {done}")

    def forward_backward(inputs, labels):
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            loss = 0.0
            for key, label in labels.items():
                logits = tf.cast(outputs[key], tf.float32)
                nll = keras.losses.sparse_categorical_crossentropy(label, logits, from_logits=True)
                weight = 1.0 if loss_weights is None else loss_weights[key]
                loss += weight * tf.reduce_sum(nll) / global_batch
            scaled = optimizer.scale_loss(loss)
        return tape.gradient(scaled, variables), loss

    if config.jit_compile:  # gradients are applied outside XLA (cross-replica reductions)
        forward_backward = tf.function(forward_backward, jit_compile=True)

    def replica_step(inputs, labels):
        gradients, loss = forward_backward(inputs, labels)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    @tf.function
    def run_steps(iterator, num_steps):
        total = tf.constant(0.0)
        for _ in tf.range(num_steps):
            loss = strategy.run(replica_step, args=next(iterator))
            total += strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        return total

    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    interval_loss, interval_steps = 0.0, 0
    progress = console.Progress(total_steps, "fine-tuning", done=done)
    with PreemptionGuard() as guard:
        while done < total_steps:
            every = config.checkpoint_every
            interval_end = min(total_steps, (done // every + 1) * every)
            interval_loss, interval_steps = 0.0, 0
            while done < interval_end:
                n = min(config.steps_per_execution, interval_end - done)
                interval_loss += float(run_steps(iterator, tf.constant(n)))
                interval_steps += n
                done += n
                step.assign(done)
                if not np.isfinite(interval_loss):
                    raise UserError(
                        f"the training loss became NaN or infinite at step {done}; "
                        "try a lower --learning_rate"
                    )
                if guard.signum is not None:
                    save_checkpoint(manager, done)
                    raise Interrupted(
                        f"stopped by {guard.name} at step {done}/{total_steps}; saved the "
                        f"backup in {backup_dir}. Rerun the same command to resume from this step",
                        guard.signum,
                    )
            save_checkpoint(manager, done)
            progress.update(done, f"loss {interval_loss / interval_steps:.4f}")
    return interval_loss / interval_steps if interval_steps else None


def predict(model, inputs, batch_size):
    """`model`'s outputs (dict of numpy) over `inputs` (dict of numpy), in batches, outside the
    replicas (every worker computes the same, without collectives)."""
    call = tf.function(lambda batch: model(batch, training=False))
    n = len(inputs[names.INPUT_IDS])
    outputs = []
    for start in range(0, n, batch_size):
        batch = {key: value[start : start + batch_size] for key, value in inputs.items()}
        outputs.append({k: np.asarray(v, np.float32) for k, v in call(batch).items()})
    return {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}
