"""One pre-training run from start (or resume) to metrics.json; `trainers.pretrain` wraps it.

Steps: check the data against the settings (before anything heavy), resolve the variant, build the
model and optimiser under the strategy, restore the newest checkpoint if there is one, then run
the short-length phase and the long-length phase, logging, evaluating, checkpointing and freezing
the NSP path as asked. Writes into `model_dir`: run_config.json, vocab.txt, checkpoints/,
tensorboard/ (train/* and eval/* scalars), train_log.jsonl (one line per log step, and one with
"split": "eval" per evaluation: the held-out learning curve) and metrics.json (the final
evaluation, with the trivial predictors' held-out accuracies beside the heads').
"""

import dataclasses
import json
import os

import keras
import tensorflow as tf
from absl import logging

from hbert_tf import console, files
from hbert_tf.config import get_config
from hbert_tf.errors import Interrupted, PreemptionGuard, UserError, check_output_dir
from hbert_tf.modeling.pretrainer import build_pretrainer
from hbert_tf.optimization import make_optimizer
from hbert_tf.pretraining import data as pretraining_data
from hbert_tf.pretraining.loop import PretrainingLoop, Throughput, plan_phases, summarize
from hbert_tf.run_config import PretrainConfig
from hbert_tf.runtime import check_batch_sizes, dtype_policy, is_chief, make_strategy
from hbert_tf.tasks import PRETRAINING_TASKS
from hbert_tf.text.vocab import load_vocab
from hbert_tf.variants import layout_from_heads, resolve_variant
from hbert_tf.weights.model_dir import (
    VOCAB,
    check_same_pretraining_run,
    latest_checkpoint,
    write_json_atomic,
    write_run_config,
)
from hbert_tf.weights.starting_point import load_starting_point

METRICS = "metrics.json"


def resolve_data(path, split="train"):
    """A data folder (as written by create_pretraining_data) or a file pattern -> (pattern, folder).

    In a folder, `split` picks `train-*.tfrecord` or `eval-*.tfrecord` shards.
    """
    if files.isdir(path):
        pattern = os.path.join(path, f"{split}-*.tfrecord")
        folder = path
    else:
        pattern, folder = path, os.path.dirname(path) or "."
    if not files.glob(pattern):
        raise ValueError(f"no TFRecord files match {pattern}")
    return pattern, folder


def _initial_weights(model, start, init_from):
    """Copies the encoder (and NSP pooler) weights of a `StartingPoint` into `model`."""
    model.encoder.set_weights(start.encoder.get_weights())
    pooler = start.pooler_head is not None and model.nsp_head is not None
    if pooler:
        model.nsp_head.pooler.set_weights(start.pooler_head.pooler.get_weights())
    console.say(f"initialised the encoder{' and NSP pooler' * pooler} from {init_from}")


def _encoder_config(config, vocab_size, start):
    """The encoder config: the starting point's (--init_from) or the --config preset's."""
    if start is not None:
        if start.encoder_config.vocab_size != vocab_size:
            raise ValueError(
                f"--init_from={config.init_from}: its vocabulary has "
                f"{start.encoder_config.vocab_size} tokens, the data's {vocab_size}; make the "
                "data with the model's vocab.txt"
            )
        return start.encoder_config  # dropout already applied when loading
    encoder_config = get_config(config.config, vocab_size=vocab_size)
    if config.dropout is not None:
        encoder_config = encoder_config.replace(
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
        )
    return encoder_config


def _finished_run(model_dir, start, total):
    """The metrics of a run that already reached `total` steps (None to train on).

    Raises UserError when the model_dir holds a run further on than `--train_steps`.
    """
    if start > total:
        raise UserError(
            f"--train_steps={total}: --model_dir={model_dir} holds a run already at step {start}; "
            f"pass --train_steps={start} or more to continue it, or use a new --model_dir"
        )
    path = os.path.join(model_dir, METRICS)
    if start < total or not files.isfile(path):
        return None
    metrics = files.read_json(path)
    console.say(
        f"{model_dir} already finished at step {start}; metrics.json kept as it was (use a new "
        "--model_dir or more --train_steps to train further)"
    )
    return metrics


def run_pretraining(config):
    """Runs (or resumes) the pre-training run a `PretrainConfig` describes. The config is logged
    and kept in run_config.json (with its content hash).

    SIGTERM or SIGINT (preemption, Ctrl-C) saves a checkpoint after the step being run and raises
    `Interrupted`; rerunning the same command resumes from that step.

    Returns: the final evaluation metrics dict (also written to metrics.json).
    """
    with PreemptionGuard() as guard:
        return _run_pretraining(config, guard)


def _run_pretraining(config, guard):
    if not isinstance(config, PretrainConfig):
        raise TypeError(f"expected a PretrainConfig, got {type(config).__name__}")
    logging.info(
        "settings (preset %s, explicitly set: %s): %s (hash %s)",
        config.preset,
        ", ".join(config.changed_from_preset()) or "none",
        config.to_json(),
        config.content_hash()[:12],
    )
    config.require("model_dir", "train_data_128")
    check_output_dir(config.model_dir, "model_dir")

    # The strategy comes first: logical devices and multi-worker collectives must be set up
    # before TensorFlow runs any op.
    strategy = make_strategy(config.strategy, config.tpu, config.cpu_devices)
    batch_sizes = {"batch_size_128": config.batch_size_128}
    if config.train_data_384 and config.long_seq_fraction > 0:
        batch_sizes["batch_size_384"] = config.batch_size_384
    if config.eval_data:
        batch_sizes["eval_batch_size"] = config.eval_batch_size
    check_batch_sizes(strategy, config.strategy, **batch_sizes)

    plan = _plan(config)
    loop = _build(config, plan, strategy)
    start, finished = _start(config, plan, loop)
    if finished is not None:
        return finished
    phases, eval_dataset = _datasets(config, plan, strategy)
    return _train(config, plan, loop, phases, eval_dataset, start, guard)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run reads and builds, resolved and checked before anything heavy."""

    short_pattern: str
    long_pattern: str | None
    eval_pattern: str | None
    vocab_path: str
    vocab_size: int
    encoder_config: object  # EncoderConfig
    layout: object  # HeadLayout
    start: object  # StartingPoint of --init_from, or None


def _plan(config):
    """Resolves the data, vocabulary, encoder config and head layout; checks that they agree."""
    model_dir = config.model_dir
    short_len, long_len = config.max_seq_length
    short_pred, long_pred = config.max_predictions_per_seq
    short_pattern, short_folder = resolve_data(config.train_data_128)
    long_pattern = None
    if config.train_data_384 and config.long_seq_fraction > 0:
        long_pattern, _ = resolve_data(config.train_data_384)
    eval_pattern = None
    if config.eval_data:
        split = "eval" if files.glob(os.path.join(config.eval_data, "eval-*")) else "train"
        eval_pattern, _ = resolve_data(config.eval_data, split)
    vocab_path = os.path.join(short_folder, VOCAB)
    vocab = load_vocab(vocab_path)
    start = None
    if config.init_from:
        dropout = {} if config.dropout is None else dict(
            hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout
        )  # fmt: skip
        start = load_starting_point(config.init_from, vocab_path=vocab_path, **dropout)
    encoder_config = _encoder_config(config, len(vocab), start)
    needed = long_len if long_pattern else short_len
    if encoder_config.max_position_embeddings < needed:
        raise ValueError(
            f"--config: max_position_embeddings={encoder_config.max_position_embeddings} is "
            f"shorter than the data's sequences ({needed})"
        )
    num_layers = encoder_config.num_hidden_layers
    if config.heads:  # a general placement
        layout = layout_from_heads(config.heads, num_layers, config.concat, config.freeze_nsp)
    else:  # one of the paper's variants: a named shorthand for a placement
        layout = resolve_variant(
            config.variant,
            num_layers,
            mlm_layer=config.mlm_layer,
            nsp_layer=config.nsp_layer,
            concat=config.concat,
            bigram_shift=config.bigram_shift,
            bigram_shift_layer=config.bigram_shift_layer,
            freeze_nsp=config.freeze_nsp,
        )
    for pattern, seq_length, predictions, flag in (
        (short_pattern, short_len, short_pred, "train_data_128"),
        (long_pattern, long_len, long_pred, "train_data_384"),
        (eval_pattern, short_len, short_pred, "eval_data"),
    ):
        if pattern:
            try:
                pretraining_data.check_pretraining_data(
                    pattern,
                    max_seq_length=seq_length,
                    max_predictions_per_seq=predictions,
                    vocab_size=encoder_config.vocab_size,
                    heads=layout.heads,
                )
            except ValueError as e:
                raise ValueError(f"--{flag}: {e}") from None
    if layout.freeze.kind == "plateau" and not (eval_pattern and config.eval_every > 0):
        raise ValueError(
            f"--freeze_nsp={layout.freeze} counts evaluations without NSP improvement: it needs "
            "--eval_data and --eval_every > 0 (e.g. --eval_every=1000)"
        )
    check_same_pretraining_run(model_dir, encoder_config, layout)

    return Plan(
        short_pattern, long_pattern, eval_pattern, vocab_path, len(vocab), encoder_config, layout,
        start,
    )  # fmt: skip


def _build(config, plan, strategy):
    """The model, optimiser and training loop, built under the strategy."""
    model_dir, layout = config.model_dir, plan.layout
    encoder_config = plan.encoder_config
    keras.utils.set_random_seed(config.seed)
    files.makedirs(model_dir)
    loss_weights = layout.loss_weights(  # a task without a weight flag weighs 1
        **{
            task.name: getattr(config, task.loss_weight_field)
            for task in PRETRAINING_TASKS
            if task.loss_weight_field
        }
    )
    with dtype_policy(config.mixed_precision), strategy.scope():
        model = build_pretrainer(encoder_config, layout)
    with strategy.scope():
        optimizer = make_optimizer(
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            total_steps=config.train_steps,
            warmup_steps=config.warmup_steps,
            decay=config.decay,
            clip_norm=config.clip_norm,
            amsgrad=config.amsgrad,
            loss_scale=config.mixed_precision == "mixed_float16",
            weight_decay_type=config.weight_decay_type,
        )
        optimizer.build(model.trainable_variables)
    loop = PretrainingLoop(
        model,
        optimizer,
        strategy,
        model_dir,
        loss_weights=loss_weights,
        jit_compile=config.jit_compile,
        balance_bigram_shift=config.bigram_shift_balanced,
    )
    return loop


def _start(config, plan, loop):
    """Restores the newest checkpoint or initialises the weights, and writes run_config.json.

    Returns: (start step, metrics of an already finished run or None).
    """
    model_dir, model = config.model_dir, loop.model
    start = loop.restore()
    finished = _finished_run(model_dir, start, config.train_steps)
    if finished is not None:
        return start, finished
    if start:
        console.say(f"resumed from the checkpoint at step {start} in {model_dir}")
    elif config.init_from:
        _initial_weights(model, plan.start, config.init_from)
    if is_chief(loop.strategy):
        write_run_config(
            model_dir,
            plan.encoder_config,
            plan.layout,
            settings=config.to_dict(),
            config_hash=config.content_hash(),
        )
        if not files.isfile(os.path.join(model_dir, VOCAB)):
            files.copy(plan.vocab_path, os.path.join(model_dir, VOCAB))

    return start, None


def _datasets(config, plan, strategy):
    """The training phases (short then long sequences) and the distributed eval dataset."""
    short_len, long_len = config.max_seq_length
    short_pred, long_pred = config.max_predictions_per_seq
    short_pattern, long_pattern, eval_pattern = (
        plan.short_pattern,
        plan.long_pattern,
        plan.eval_pattern,
    )
    phases = plan_phases(
        config.train_steps,
        config.long_seq_fraction,
        dict(
            name=f"seq{short_len}",
            file_pattern=short_pattern,
            seq_length=short_len,
            predictions=short_pred,
            batch_size=config.batch_size_128,
        ),
        None
        if long_pattern is None
        else dict(
            name=f"seq{long_len}",
            file_pattern=long_pattern,
            seq_length=long_len,
            predictions=long_pred,
            batch_size=config.batch_size_384,
        ),
    )
    eval_dataset = None
    if eval_pattern:
        eval_dataset = distributed_dataset(
            strategy, plan.layout, eval_pattern, short_len, short_pred, config.eval_batch_size,
            False, 0,
        )  # fmt: skip
    return phases, eval_dataset


def distributed_dataset(
    strategy, layout, pattern, seq_length, predictions, batch_size, is_training, seed
):
    """A pre-training dataset for `layout`'s heads, split over the strategy's replicas (the batch
    is a multiple of them: `check_batch_sizes`)."""

    def dataset_fn(context):
        return pretraining_data.pretraining_dataset(
            pattern,
            batch_size=batch_size,  # global; the context gives each replica its share
            max_seq_length=seq_length,
            max_predictions_per_seq=predictions,
            heads=layout.heads,
            is_training=is_training,
            seed=seed,
            input_pipeline_context=context,
            validate=False,  # checked by _plan, before the model was built
        )

    return strategy.distribute_datasets_from_function(dataset_fn)


def _train(config, plan, loop, phases, eval_dataset, start, guard):
    """The training loop over the phases: log, evaluate, checkpoint, freeze; then the final
    evaluation into metrics.json."""
    model_dir, eval_pattern = config.model_dir, plan.eval_pattern
    chief = is_chief(loop.strategy)
    eval_batches = config.eval_batches or None

    writer = tf.summary.create_file_writer(
        os.path.join(model_dir, "tensorboard") if chief else os.path.join(model_dir, ".tb_scratch")
    )
    log_path = os.path.join(model_dir, "train_log.jsonl")
    step = start
    total = config.train_steps
    throughput = Throughput()
    progress = console.Progress(total, "pre-training", done=start)
    window, train_metrics = None, {}

    def damaged(pattern, error):
        """A UserError naming the damaged file, and what was kept (mid-run data damage)."""
        last = latest_checkpoint(model_dir)
        kept = (
            f"the last good checkpoint {last} is kept; rerun to resume once the file is fixed"
            if last
            else "no checkpoint had been written"
        )
        return UserError(
            f"{pretraining_data.damaged_data_error(pattern, error)} (read at step {step}); "
            f"training stopped, {kept}"
        )

    for phase in phases:
        if step >= phase.end:
            continue
        console.say(
            f"phase {phase.name}: steps {max(step, phase.start)}..{phase.end}, batch "
            f"{phase.batch_size}, from {phase.file_pattern}"
        )
        iterator = iter(
            distributed_dataset(
                loop.strategy,
                plan.layout,
                phase.file_pattern,
                phase.seq_length,
                phase.predictions,
                phase.batch_size,
                True,
                config.seed + step,  # a resumed run does not replay the same batches
            )
        )
        while step < phase.end:
            boundaries = [phase.end, _next_multiple(step, config.checkpoint_every)]
            for every in (config.log_every, config.eval_every):
                if every:
                    boundaries.append(_next_multiple(step, every))
            if loop.freeze.next_boundary(step) is not None:
                boundaries.append(loop.freeze.next_boundary(step))
            num_steps = min([step + config.steps_per_execution] + boundaries) - step
            try:
                sums = loop.train(iterator, num_steps)
            except tf.errors.DataLossError as e:
                raise damaged(phase.file_pattern, e) from None
            step += num_steps
            throughput.add(num_steps)
            window = sums if window is None else {k: window[k] + sums[k] for k in window}
            loop.freeze.after_steps(step)
            if config.log_every and step % config.log_every == 0 or step == total:
                train_metrics = summarize(window)
                record = {
                    "step": step,
                    "phase": phase.name,
                    "learning_rate": loop.learning_rate(),
                    "steps_per_second": throughput.rate(),
                    **train_metrics,
                }
                progress.update(step, " ".join(f"{k}={v:.4f}" for k, v in train_metrics.items()))
                if chief:
                    _write_summaries(writer, "train", step, record)
                    with files.open(log_path, "a") as f:
                        f.write(json.dumps(record) + "\n")
                window = None
                throughput.reset()
            if (
                eval_dataset is not None
                and config.eval_every
                and step % config.eval_every == 0
                and step < total
            ):
                try:
                    _evaluate(loop, eval_dataset, eval_batches, step, writer, chief, log_path)
                except tf.errors.DataLossError as e:
                    raise damaged(eval_pattern, e) from None
            if step % config.checkpoint_every == 0 or step == total or guard.signum:
                path = loop.save()
                logging.info("saved checkpoint %s", path)
            if guard.signum and step < total:
                raise Interrupted(
                    f"stopped by {guard.name} at step {step}/{total}; saved checkpoint {path}. "
                    "Rerun the same command to resume from this step",
                    guard.signum,
                )

    # --- Final evaluation (held-out data; without it, the last training window's metrics) ---
    metrics = {"step": step}
    if eval_dataset is not None:
        try:
            metrics.update(loop.evaluate(eval_dataset, eval_batches))
            short_len, short_pred = config.max_seq_length[0], config.max_predictions_per_seq[0]
            metrics.update(
                pretraining_data.heldout_baselines(
                    eval_pattern,
                    batch_size=config.eval_batch_size,
                    max_seq_length=short_len,
                    max_predictions_per_seq=short_pred,
                    max_batches=eval_batches,
                )
            )
        except tf.errors.DataLossError as e:
            raise damaged(eval_pattern, e) from None
        if chief:
            _write_summaries(writer, "eval", step, metrics)
            with files.open(log_path, "a") as f:  # the curve's last point
                f.write(json.dumps({"split": "eval", **metrics}) + "\n")
    elif train_metrics:
        logging.warning("no --eval_data: metrics.json holds the last training window's metrics")
        metrics.update({f"train_{key}": value for key, value in train_metrics.items()})
    metrics["nsp_frozen_at_step"] = loop.freeze.frozen_at_step
    if chief:
        write_json_atomic(os.path.join(model_dir, METRICS), metrics)
    writer.flush()
    return metrics


def _next_multiple(step, every):
    return (step // every + 1) * every


def _write_summaries(writer, split, step, values):
    with writer.as_default(step=step):
        for key, value in values.items():
            if isinstance(value, (int, float)) and key != "step":
                tf.summary.scalar(f"{split}/{key}", value)


def _evaluate(loop, dataset, max_batches, step, writer, chief, log_path):
    """A mid-run evaluation; drives the plateau Freeze trigger."""
    metrics = loop.evaluate(dataset, max_batches)
    console.say(f"eval at step {step}: " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    if chief:
        _write_summaries(writer, "eval", step, metrics)
        with files.open(log_path, "a") as f:
            f.write(json.dumps({"step": step, "split": "eval", **metrics}) + "\n")
    loop.freeze.after_eval(step, metrics)
