"""The generic fine-tuning run every downstream task uses: the model to start from, training with
resume, outputs.

`run_finetune(config)` looks the task up by `config.task` (`hbert_tf.finetuning.tasks`), checks
the model dir, builds the strategy, then under its scope reads the task's data, loads the
starting point, builds the task's read-out model, trains or resumes (`fit_or_restore`) and lets
the task evaluate (`run_squad` / `run_mnli` are it for one config class). A fine-tuning model directory:
```
model_dir/
  finetune_config.json   the run's config ("settings"), encoder config, layout and read-out
  vocab.txt              the vocabulary used
  backup/                Keras BackupAndRestore state while training (resume after a kill)
  checkpoints/ckpt-N     the fine-tuned model once training ends (a rerun only evaluates)
  logs/                  TensorBoard
  metrics.json, predictions.json, nbest_predictions.json, null_odds.json (SQuAD 2.0)
```
`--init_from` is one of our pre-training model dirs (read-outs from its layout, Fig. 3), a
keras-hub preset or a local Hugging Face BERT directory (every level = the last block), or
"none": the same architecture with random weights (the "without pre-training" baseline).
`--model=bilstm` replaces the encoder by the BiLSTM baseline (`baselines`). Where the examples
come from: each task's `read` (`hbert_tf.finetuning.task`). Strategies: `--strategy=default|one_device|mirrored|tpu` train with
Keras' `fit`; `multi_worker_mirrored` with `finetune_loop` (Keras 3 `fit` fails under it).
"""

import contextlib
import dataclasses
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from hbert_tf import console, files
from hbert_tf.errors import Interrupted, PreemptionGuard, UserError, check_output_dir
from hbert_tf.finetuning import data as finetune_data
from hbert_tf.finetuning import loop as finetune_loop
from hbert_tf.finetuning import tasks
from hbert_tf.modeling import downstream
from hbert_tf.optimization import make_optimizer
from hbert_tf.run_config import MnliConfig, SquadConfig
from hbert_tf.runtime import (
    build_for_fit,
    check_batch_sizes,
    dtype_policy,
    make_strategy,
    numpy_batches,
)
from hbert_tf.text.tokenization import OffsetTokenizer, check_vocab_matches
from hbert_tf.text.vocab import Vocab, load_vocab
from hbert_tf.weights.model_dir import (
    FINETUNE_CONFIG,
    RUN_CONFIG,
    changed_settings,
    read_run_config,
    restore_newest_readable,
    save_checkpoint,
    write_json_atomic,
)
from hbert_tf.weights.starting_point import load_starting_point

METRICS = "metrics.json"
# Settings that must not change when a model_dir is resumed.
_RUN_IDENTITY = ("task", "init_from", "model", "config", "concat", "token_layer", "sentence_layer")


@dataclasses.dataclass
class Backbone:
    """What fine-tuning starts from.

    Attributes:
        encoder: `HBertEncoder` or `baselines.BiLSTMEncoder`.
        nsp_head: `NextSentenceHead` with a pre-trained classifier, or None.
        pooler_head: `NextSentenceHead` whose pooler is pre-trained (keras-hub / Hugging Face),
            or the same as `nsp_head`, or None.
        layout: `HeadLayout` of the pre-training run, or None.
        encoder_config: dict (for finetune_config.json).
    """

    encoder: keras.Model
    nsp_head: object
    pooler_head: object
    layout: object
    encoder_config: dict


def _expect_type(config, cls):
    if not isinstance(config, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(config).__name__}")
    return config


def check_config(config, cls):
    """`config` if it is a runnable `cls` (the task's config class); logs its optimisation."""
    _expect_type(config, cls).check_runnable()
    logging.info(
        "optimisation (preset %s, then explicit settings): %s",
        config.preset,
        json.dumps(config.optimisation(), sort_keys=True),
    )
    return config


def prepare_model_dir(config):
    """Creates model_dir; refuses one holding a different run (see _RUN_IDENTITY)."""
    model_dir = config.model_dir
    check_output_dir(model_dir, "model_dir")
    files.makedirs(model_dir)
    path = os.path.join(model_dir, FINETUNE_CONFIG)
    changed = changed_settings(path, config.to_dict(), _RUN_IDENTITY)
    if changed:
        raise UserError(
            f"--model_dir={model_dir} holds another fine-tuning run (differs in "
            f"{', '.join('--' + k for k in changed)}); use a new model_dir"
        )


@contextlib.contextmanager
def execution(config):
    """The run's strategy scope under its dtype policy (restored afterwards); yields the strategy.

    The strategy comes first: logical CPU devices must be set before any TensorFlow op.
    """
    strategy = make_strategy(config.strategy, config.tpu, config.cpu_devices)
    check_batch_sizes(
        strategy, config.strategy, batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size,
    )  # fmt: skip
    with dtype_policy(config.mixed_precision), strategy.scope():
        yield strategy


# --- Vocabulary and starting point -------------------------------------------------------------
def _is_pretraining_dir(path):
    return files.isfile(os.path.join(str(path), RUN_CONFIG))


def resolve_vocab(config, default_tokens=None):
    """The vocabulary: --vocab_file, else the one stored with --init_from, else `default_tokens`."""
    init_from = config.init_from or "none"
    if config.vocab_file:
        return load_vocab(config.vocab_file)
    if init_from != "none" and config.model == "bert":
        if _is_pretraining_dir(init_from) or files.isfile(os.path.join(init_from, "vocab.txt")):
            return load_vocab(os.path.join(init_from, "vocab.txt"))
        from hbert_tf.weights.pretrained import encoder_from_pretrained

        _, _, tokens = encoder_from_pretrained(init_from)  # a named keras-hub preset
        return Vocab(tokens, path=f"preset:{init_from}")
    if default_tokens is not None:
        return Vocab(default_tokens, path="builtin task vocabulary")
    raise UserError(f"--init_from={init_from} has no vocabulary: pass --vocab_file")


def load_backbone(config, vocab):
    """The encoder (and NSP head, layout) named by --init_from, checked against `vocab`."""
    init_from = config.init_from
    overrides = {}
    if config.dropout is not None:
        overrides = {"hidden_dropout_prob": config.dropout}
        overrides["attention_probs_dropout_prob"] = config.dropout
    if init_from == "none":
        if _is_pretraining_dir(config.config):
            check_vocab_matches(vocab, read_run_config(config.config)[0].vocab_size, config.config)
        start = load_starting_point(init_from, vocab=vocab, config=config.config, **overrides)
        logging.info("random initialisation (no pre-training): %s", start.encoder_config)
        return Backbone(start.encoder, None, None, None, start.encoder_config.to_dict())
    start = load_starting_point(init_from, vocab=vocab, **overrides)
    check_vocab_matches(vocab, start.encoder.vocab_size, init_from)
    if start.kind == "model_dir":
        head = start.nsp_head
        return Backbone(start.encoder, head, head, start.layout, start.run_config["encoder"])
    # A released BERT: its pooler starts the sentence head; read-outs default to the top block.
    return Backbone(start.encoder, None, start.pooler_head, None, start.encoder.get_config())


def make_tokenizer(config, vocab):
    lower = {"auto": None, "true": True, "false": False}[config.do_lower_case]
    return OffsetTokenizer(vocab, do_lower_case=lower)


def read_out_for(config, backbone):
    """The Fig. 3 read-out for this backbone and the --concat / layer flags."""
    read_out = downstream.resolve_read_out(
        backbone.encoder.num_hidden_layers,
        backbone.layout,
        config.concat,
        config.token_layer,
        config.sentence_layer,
    )
    if backbone.layout is not None and not backbone.layout.has_nsp:
        logging.info("the pre-trained model has no NSP head: sentence level = last block")
    logging.info("read-out: %s", read_out)
    return read_out


# --- Training -----------------------------------------------------------------------------------
def plan_steps(num_examples, config):
    """`(steps_per_epoch, epochs, total_steps)`; Keras epochs are checkpoint intervals."""
    per_pass = math.ceil(num_examples / config.batch_size)
    if config.train_steps:
        total = config.train_steps
    else:
        total = max(1, math.ceil(config.num_train_epochs * per_pass))
    epochs = math.ceil(total / min(total, config.checkpoint_every))
    steps_per_epoch = math.ceil(total / epochs)
    return steps_per_epoch, epochs, steps_per_epoch * epochs


def train_dataset(inputs, labels, batch_size, seed):
    """Shuffled, repeated batches of `(inputs, labels)` (numpy dicts, first axis = examples)."""
    n = len(next(iter(labels.values())))
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_or_restore(model, dataset, num_examples, config, losses, metrics=None, loss_weights=None):
    """Trains `model` (resuming an interrupted run) unless a finished checkpoint exists.

    Call it under the run's strategy scope (the optimizer and metrics are built there).

    Returns: dict with the number of steps trained and whether training was skipped.
    """
    model_dir = config.model_dir
    checkpoint = tf.train.Checkpoint(model=model)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, "checkpoints"), 2)
    steps_per_epoch, epochs, total = plan_steps(num_examples, config)
    restored = restore_newest_readable(checkpoint, manager.directory)
    if restored:
        console.say(f"found the fine-tuned model {restored}; evaluating only")
        return {"train_steps": total, "resumed_finished_run": True}
    if not config.do_train:
        raise UserError(f"--do_train=false but {model_dir} holds no fine-tuned checkpoint")
    multi_worker = finetune_loop.is_multi_worker(tf.distribute.get_strategy())
    optimizer = make_optimizer(
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        total_steps=total,
        warmup_steps=int(config.warmup_proportion * total),
        decay=config.decay,
        clip_norm=config.clip_norm or None,
        amsgrad=config.amsgrad,
        weight_decay_type=config.weight_decay_type,
        loss_scale=multi_worker and config.mixed_precision == "mixed_float16",
    )
    if multi_worker:  # Keras' fit fails under MultiWorkerMirroredStrategy: our own steps
        final_loss = finetune_loop.train(model, optimizer, dataset, total, config, loss_weights)
        save_checkpoint(manager)
        files.rmtree(os.path.join(model_dir, "backup"), ignore_errors=True)
        return {
            "train_steps": total,
            "final_loss": final_loss,
            "optimizer": type(optimizer).__name__,
        }
    # Keras wraps the optimizer in a LossScaleOptimizer under the mixed_float16 policy.
    model.compile(
        optimizer=optimizer,
        loss=losses,
        loss_weights=loss_weights,
        metrics=metrics,
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    build_for_fit(model, dataset.element_spec)  # the step is traced once, not twice
    logging.info(
        "training %d steps (%d checkpoint intervals of %d), batch %d, lr %g, %s weight decay %g, "
        "amsgrad %s, warmup %g, decay %s, clip_norm %s",
        total,
        epochs,
        steps_per_epoch,
        config.batch_size,
        config.learning_rate,
        config.weight_decay_type,
        config.weight_decay,
        config.amsgrad,
        config.warmup_proportion,
        config.decay,
        config.clip_norm or None,
    )
    backup_dir = os.path.join(model_dir, "backup")
    epoch, batch = _backup_position(backup_dir)
    if epoch or batch:
        console.say(
            f"resumed from the backup in {backup_dir} at step {epoch * steps_per_epoch + batch} "
            f"of {total}"
        )
    other_callbacks = [
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
        keras.callbacks.TerminateOnNaN(),
    ]
    losses_seen = []
    with PreemptionGuard() as guard:
        # An interval stopped by a signal is finished first (Keras resumes whole epochs only).
        runs = [(epoch, epoch + 1, steps_per_epoch - batch, batch)] if batch else []
        runs.append((epoch + bool(batch), epochs, steps_per_epoch, 0))
        for first, last, steps, offset in runs:
            if first >= last:
                continue
            backup = StepBackup(
                backup_dir, guard, offset, delete_at_end=first + 1 != last or not offset
            )
            history = model.fit(
                dataset,
                initial_epoch=first,
                epochs=last,
                steps_per_epoch=steps,
                callbacks=[backup] + other_callbacks,
                shuffle=False,  # `dataset` is shuffled
                verbose=config.keras_verbose,
            )
            losses_seen = history.history.get("loss", []) or losses_seen
            if backup.stopped_at is not None:
                step = backup.stopped_at[0] * steps_per_epoch + backup.stopped_at[1]
                raise Interrupted(
                    f"stopped by {guard.name} at step {step}/{total}; saved the backup in "
                    f"{backup_dir}. Rerun the same command to resume from this step",
                    guard.signum,
                )
    if losses_seen and not np.isfinite(losses_seen[-1]):
        raise UserError("the training loss became NaN or infinite; try a lower --learning_rate")
    save_checkpoint(manager)
    files.rmtree(backup_dir, ignore_errors=True)  # kept after a finished interrupted interval
    return {
        "train_steps": total,
        "final_loss": float(losses_seen[-1]) if losses_seen else None,
        "optimizer": type(model.optimizer).__name__,
    }


def _backup_position(backup_dir):
    """(epoch, batch) where the backup in `backup_dir` stopped; (0, 0) when there is none."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not files.isfile(path):
        return 0, 0
    values = files.read_json(path)
    return int(values.get("epoch", 0)), int(values.get("batch", 0) or 0)


class StepBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (every interval, previous backup kept) that, when `guard` saw
    SIGTERM/SIGINT, also backs up after the current step and stops training: the metadata's
    `batch` is then the steps done in the interrupted interval (`offset` + steps of this fit).
    """

    def __init__(self, backup_dir, guard, offset=0, delete_at_end=True):
        super().__init__(backup_dir, double_checkpoint=True, delete_checkpoint=delete_at_end)
        self.guard, self.offset, self.stopped_at = guard, offset, None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.guard.signum is not None and self.stopped_at is None:
            self.stopped_at = (self._current_epoch, self.offset + batch + 1)
            self._last_batch_seen = self.stopped_at[1]
            self._save_model()
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped_at is None:
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.stopped_at is None:
            super().on_train_end(logs)


def write_run_files(config, vocab, backbone, read_out, tokenizer):
    """finetune_config.json and vocab.txt of the fine-tuning model_dir."""
    vocab.write(os.path.join(config.model_dir, "vocab.txt"))
    write_json_atomic(
        os.path.join(config.model_dir, FINETUNE_CONFIG),
        {
            "settings": config.to_dict(),
            "encoder": backbone.encoder_config,
            "layout": backbone.layout.to_dict() if backbone.layout is not None else None,
            "read_out": dataclasses.asdict(read_out),
            "do_lower_case": tokenizer.do_lower_case,
        },
    )


def prepare(config, default_vocab_tokens, train_texts_fn):
    """Vocabulary, tokenizer, backbone and read-out of a run (shared by both tasks); call it
    under the run's strategy scope (`execution`).

    Args:
        config: `SquadConfig` or `MnliConfig` (checked by `check_config`).
        default_vocab_tokens: list or None. Vocabulary when neither flags nor model give one.
        train_texts_fn: callable(tokenizer) -> list of str, the training text (BiLSTM vectors).
    """
    prepare_model_dir(config)
    keras.utils.set_random_seed(config.seed)
    vocab = resolve_vocab(config, default_vocab_tokens)
    tokenizer = make_tokenizer(config, vocab)
    if config.model == "bilstm":
        from hbert_tf.modeling.baselines import bilstm_encoder

        encoder, sizes = bilstm_encoder(config, vocab, tokenizer, train_texts_fn(tokenizer))
        backbone = Backbone(encoder, None, None, None, sizes)
    else:
        backbone = load_backbone(config, vocab)
    limit = getattr(backbone.encoder, "max_position_embeddings", None)
    if limit is not None and config.max_seq_length > limit:
        raise UserError(
            f"--max_seq_length={config.max_seq_length} exceeds the model's "
            f"max_position_embeddings={limit}"
        )
    read_out = read_out_for(config, backbone)
    write_run_files(config, vocab, backbone, read_out, tokenizer)
    return vocab, tokenizer, backbone, read_out


def worker_model_dir(config, strategy):
    """Where this worker writes: --model_dir, or a scratch folder in it for a non-chief worker
    of MultiWorkerMirroredStrategy (`finetune_loop.worker_model_dir`)."""
    return finetune_loop.worker_model_dir(config.model_dir, strategy)


def predict(model, inputs, config):
    """Outputs of `model` over `inputs` (dicts of numpy): Keras' `predict`, or under
    MultiWorkerMirroredStrategy `finetune_loop.predict` (every worker predicts on its own)."""
    if finetune_loop.is_multi_worker(tf.distribute.get_strategy()):
        return finetune_loop.predict(model, inputs, config.eval_batch_size)
    return model.predict(
        numpy_batches(inputs, config.eval_batch_size), verbose=config.keras_verbose
    )


def _head_dropout(config):
    """Dropout before the task classifier: --dropout, else BERT's 0.1."""
    return 0.1 if config.dropout is None else config.dropout


def write_metrics(config, metrics):
    path = os.path.join(config.model_dir, METRICS)
    write_json_atomic(path, metrics)
    logging.info("metrics written to %s: %s", path, json.dumps(metrics, sort_keys=True))


# --- The generic run ----------------------------------------------------------------------------
def run_finetune(config):
    """Fine-tunes (or resumes) and evaluates the task of `config`; returns the metrics.

    Args:
        config: the task's config (`tasks.task_named(name).config_class.resolve(**settings)`).
    """
    task = tasks.task_named(config.task)
    config = check_config(config, task.config_class)
    with execution(config) as strategy:
        return _run(task, config.replace(model_dir=worker_model_dir(config, strategy)))


def _run(task, config):
    data = task.read(config)
    default_vocab = finetune_data.default_vocabulary(config)
    _, tokenizer, backbone, read_out = prepare(
        config, default_vocab, lambda tokenizer: task.train_texts(data)
    )
    model = task.build_model(backbone, read_out, _head_dropout(config))
    metrics = {"task": task.metrics_task(config), "read_out": dataclasses.asdict(read_out)}
    train = task.train_features(data, tokenizer, config)
    if train is not None:
        inputs, labels, num_examples, stats = train
        dataset = train_dataset(inputs, labels, config.batch_size, config.seed)
        metrics["training"] = fit_or_restore(model, dataset, num_examples, config, **task.losses())
        metrics.update(stats)
    elif config.do_eval:
        fit_or_restore(model, None, 1, config.replace(do_train=False), losses=None)
    if config.do_eval:
        metrics.update(
            task.evaluate(model, data, tokenizer, config, lambda x: predict(model, x, config))
        )
    write_metrics(config, metrics)
    return metrics


def run_squad(config):
    """`run_finetune` of a `SquadConfig` (`trainers.finetune_squad`)."""
    return run_finetune(_expect_type(config, SquadConfig))


def run_mnli(config):
    """`run_finetune` of a `MnliConfig` (`trainers.finetune_mnli`)."""
    return run_finetune(_expect_type(config, MnliConfig))
