"""One pre-training run from start (or resume) to metrics.json; `trainers.pretrain` wraps it.

Steps: check the data against the settings (before anything heavy), resolve the variant, build the
model and optimiser under the strategy, restore the newest checkpoint if there is one, then run
the short-length phase and the long-length phase, logging, evaluating, checkpointing and freezing
the NSP path as asked. Writes into `model_dir`: run_config.json, vocab.txt, checkpoints/,
tensorboard/, train_log.jsonl (one line per log step) and metrics.json.
"""

import glob
import json
import math
import os
import shutil

import keras
import tensorflow as tf
from absl import logging

from hbert_tf import data as pretraining_data
from hbert_tf.config import get_config
from hbert_tf.errors import Interrupted, PreemptionGuard, UserError, check_output_dir
from hbert_tf.model_dir import (
    RUN_CONFIG,
    VOCAB,
    latest_checkpoint,
    load_pretrainer,
    read_run_config,
    write_json_atomic,
    write_run_config,
)
from hbert_tf.optimization import make_optimizer
from hbert_tf.pretrained import encoder_from_pretrained
from hbert_tf.pretrainer import build_pretrainer
from hbert_tf.training import (
    PretrainingLoop,
    Throughput,
    is_chief,
    make_strategy,
    plan_phases,
    summarize,
)
from hbert_tf.variants import resolve_variant
from tfrecords.vocab import load_vocab

METRICS = "metrics.json"

# Every setting of a run and its default: the flags of trainers.pretrain are built from this, and
# run_pretraining takes any of them as keyword arguments. The defaults are the paper's BERT-base
# pre-training; a preset (PRESETS) is applied over them and explicit settings over the preset.
DEFAULTS = dict(
    preset="paper",
    # model
    config="base", variant="bert", mlm_layer=None, nsp_layer=None, concat="none",
    bigram_shift=None, bigram_shift_layer=None, freeze_nsp="never", init_from=None,
    dropout=0.1, mlm_loss_weight=1.0, nsp_loss_weight=1.0, bigram_shift_loss_weight=1.0,
    bigram_shift_balanced=True,
    # data
    train_data_128=None, train_data_384=None, eval_data=None, max_seq_length=[128, 384],
    max_predictions_per_seq=[20, 58], train_steps=1000, long_seq_fraction=0.1,
    batch_size_128=32, batch_size_384=1, eval_batch_size=32, eval_batches=50, seed=12345,
    # optimiser
    learning_rate=1e-4, weight_decay=1e-4, weight_decay_type="l2", amsgrad=True, warmup_steps=0,
    decay="constant", clip_norm=None,
    # execution
    strategy="default", tpu="", cpu_devices=0, mixed_precision="none", jit_compile=False,
    steps_per_execution=1,
    # output
    model_dir=None, checkpoint_every=500, eval_every=0, log_every=50,
)  # fmt: skip

# The paper's pre-training (Section 4.2): BERT-base, dropout 0.1, batch 32 at length 128 and 1 at
# 384 (10% of the steps), Adam with default betas and AMSGrad, lr 1e-4, weight decay 1e-4 as an
# L2 term, and nothing the paper does not name (no warmup, no decay, no clipping).
PAPER = dict(
    config="base", dropout=0.1, batch_size_128=32, batch_size_384=1, long_seq_fraction=0.1,
    learning_rate=1e-4, weight_decay=1e-4, weight_decay_type="l2", amsgrad=True, warmup_steps=0,
    decay="constant", clip_norm=None,
)  # fmt: skip
PRESETS = {
    "paper": PAPER,
    # The paper's settings on the 2-layer, 32-wide encoder: for tests and quick looks on a CPU.
    "tiny": dict(PAPER, config="tiny"),
}


def resolve_settings(**settings):
    """DEFAULTS, then the chosen preset, then `settings` (what was set explicitly).

    Returns: the full settings dict.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; expected names from DEFAULTS")
    preset = settings.get("preset", DEFAULTS["preset"])
    if preset not in PRESETS:
        raise ValueError(f"--preset={preset!r}: expected one of {sorted(PRESETS)}")
    return {**DEFAULTS, **PRESETS[preset], **settings}


def resolve_data(path, split="train"):
    """A data folder (as written by create_pretraining_data) or a file pattern -> (pattern, folder).

    In a folder, `split` picks `train-*.tfrecord` or `eval-*.tfrecord` shards.
    """
    if os.path.isdir(path):
        pattern = os.path.join(path, f"{split}-*.tfrecord")
        folder = path
    else:
        pattern, folder = path, os.path.dirname(path) or "."
    if not glob.glob(pattern):
        raise ValueError(f"no TFRecord files match {pattern}")
    return pattern, folder


def _initial_weights(model, init_from, vocab_size):
    """Copies weights from our model_dir, a keras-hub preset or a Hugging Face directory."""
    if os.path.isfile(os.path.join(init_from, RUN_CONFIG)):
        source, _ = load_pretrainer(init_from)
        encoder = source.encoder
        pooler = source.nsp_head.pooler.get_weights() if source.nsp_head is not None else None
    else:
        encoder, pooler_weights, _ = encoder_from_pretrained(init_from)
        pooler = pooler_weights
    if encoder.vocab_size != vocab_size:
        raise ValueError(
            f"--init_from={init_from}: its vocabulary has {encoder.vocab_size} tokens, the data's "
            f"{vocab_size}; make the data with the model's vocab.txt"
        )
    model.encoder.set_weights(encoder.get_weights())
    if pooler is not None and model.nsp_head is not None:
        model.nsp_head.pooler.set_weights(pooler)
    logging.info("initialised the encoder%s from %s", " and NSP pooler" * bool(pooler), init_from)


def _encoder_config(settings, vocab_size):
    init_from = settings["init_from"]
    if init_from and os.path.isfile(os.path.join(init_from, RUN_CONFIG)):
        config = read_run_config(init_from)[0]
    elif init_from:
        config = encoder_from_pretrained(init_from)[0].config
    else:
        config = get_config(settings["config"], vocab_size=vocab_size)
    if settings["dropout"] is not None:
        config = config.replace(
            hidden_dropout_prob=settings["dropout"],
            attention_probs_dropout_prob=settings["dropout"],
        )
    return config


def _check_same_run(model_dir, encoder_config, layout):
    """A model_dir holding another configuration's checkpoints must not be resumed into."""
    if not os.path.isfile(os.path.join(model_dir, RUN_CONFIG)):
        return
    old_config, old_layout, _ = read_run_config(model_dir)
    if (old_config, old_layout) != (encoder_config, layout):
        raise ValueError(
            f"--model_dir={model_dir} holds a run with another configuration "
            f"({old_layout.to_dict()}); use a new model_dir"
        )


def _check_values(settings):
    """Numbers that would only fail (or silently misbehave) after the model is built."""
    positive = ["learning_rate", "batch_size_128", "batch_size_384", "eval_batch_size"]
    at_least_zero = [
        "weight_decay", "warmup_steps", "eval_batches", "eval_every", "log_every",
        "mlm_loss_weight", "nsp_loss_weight", "bigram_shift_loss_weight",
    ]  # fmt: skip
    if settings["clip_norm"] is not None:
        positive.append("clip_norm")
    for name in positive + at_least_zero:
        value = settings[name]
        if not math.isfinite(value) or value < 0 or (name in positive and value == 0):
            expected = "a finite number > 0" if name in positive else "a finite number >= 0"
            raise UserError(f"--{name}={value}: expected {expected}")
    dropout = settings["dropout"]
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise UserError(f"--dropout={dropout}: expected a rate in [0, 1)")


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
    if start < total or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        metrics = json.load(f)
    logging.info(
        "%s already finished at step %d; metrics.json kept as it was (use a new --model_dir or "
        "more --train_steps to train further)",
        model_dir,
        start,
    )
    return metrics


def run_pretraining(**settings):
    """Runs (or resumes) pre-training; `settings` override the preset over `DEFAULTS` (the flags'
    names; see `resolve_settings`). The resolved settings are logged and kept in run_config.json.

    SIGTERM or SIGINT (preemption, Ctrl-C) saves a checkpoint after the step being run and raises
    `Interrupted`; rerunning the same command resumes from that step.

    Returns: the final evaluation metrics dict (also written to metrics.json).
    """
    with PreemptionGuard() as guard:
        return _run_pretraining(settings, guard)


def _run_pretraining(settings, guard):
    explicit = sorted(settings)
    settings = resolve_settings(**settings)
    logging.info(
        "settings (preset %s, explicitly set: %s): %s",
        settings["preset"],
        ", ".join(explicit) or "none",
        json.dumps(settings, sort_keys=True),
    )
    model_dir = settings["model_dir"]
    if not model_dir:
        raise ValueError("--model_dir is required")
    if not settings["train_data_128"]:
        raise ValueError("--train_data_128 is required")
    if settings["train_steps"] < 1:
        raise ValueError(f"--train_steps={settings['train_steps']}: expected at least 1")
    if not 0.0 <= settings["long_seq_fraction"] < 1.0:
        raise ValueError(f"--long_seq_fraction={settings['long_seq_fraction']}: expected [0, 1)")
    if settings["steps_per_execution"] < 1 or settings["checkpoint_every"] < 1:
        raise ValueError("--steps_per_execution and --checkpoint_every must be at least 1")
    _check_values(settings)
    check_output_dir(model_dir, "model_dir")
    short_len, long_len = settings["max_seq_length"]
    short_pred, long_pred = settings["max_predictions_per_seq"]

    # The strategy comes first: logical devices and multi-worker collectives must be set up
    # before TensorFlow runs any op.
    strategy = make_strategy(settings["strategy"], settings["tpu"], settings["cpu_devices"])

    # --- Data and model description (checked before anything heavy) ---
    short_pattern, short_folder = resolve_data(settings["train_data_128"])
    long_pattern = None
    if settings["train_data_384"] and settings["long_seq_fraction"] > 0:
        long_pattern, _ = resolve_data(settings["train_data_384"])
    eval_pattern = None
    if settings["eval_data"]:
        split = "eval" if glob.glob(os.path.join(settings["eval_data"], "eval-*")) else "train"
        eval_pattern, _ = resolve_data(settings["eval_data"], split)
    vocab_path = os.path.join(short_folder, VOCAB)
    vocab = load_vocab(vocab_path)
    encoder_config = _encoder_config(settings, len(vocab))
    needed = long_len if long_pattern else short_len
    if encoder_config.max_position_embeddings < needed:
        raise ValueError(
            f"--config: max_position_embeddings={encoder_config.max_position_embeddings} is "
            f"shorter than the data's sequences ({needed})"
        )
    layout = resolve_variant(
        settings["variant"],
        encoder_config.num_hidden_layers,
        mlm_layer=settings["mlm_layer"],
        nsp_layer=settings["nsp_layer"],
        concat=settings["concat"],
        bigram_shift=settings["bigram_shift"],
        bigram_shift_layer=settings["bigram_shift_layer"],
        freeze_nsp=settings["freeze_nsp"],
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
                    with_bigram_shift=layout.has_bigram_shift,
                    vocab_size=encoder_config.vocab_size,
                )
            except ValueError as e:
                raise ValueError(f"--{flag}: {e}") from None
    if layout.freeze.kind == "plateau" and not (eval_pattern and settings["eval_every"] > 0):
        raise ValueError(
            f"--freeze_nsp={layout.freeze} counts evaluations without NSP improvement: it needs "
            "--eval_data and --eval_every > 0 (e.g. --eval_every=1000)"
        )
    _check_same_run(model_dir, encoder_config, layout)

    # --- Build under the strategy ---
    chief = is_chief(strategy)
    if settings["mixed_precision"] != "none":
        keras.mixed_precision.set_dtype_policy(settings["mixed_precision"])
    keras.utils.set_random_seed(settings["seed"])
    os.makedirs(model_dir, exist_ok=True)
    loss_weights = layout.loss_weights(
        mlm=settings["mlm_loss_weight"],
        nsp=settings["nsp_loss_weight"],
        bigram_shift=settings["bigram_shift_loss_weight"],
    )
    with strategy.scope():
        model = build_pretrainer(encoder_config, layout)
        optimizer = make_optimizer(
            learning_rate=settings["learning_rate"],
            weight_decay=settings["weight_decay"],
            total_steps=settings["train_steps"],
            warmup_steps=settings["warmup_steps"],
            decay=settings["decay"],
            clip_norm=settings["clip_norm"],
            amsgrad=settings["amsgrad"],
            loss_scale=settings["mixed_precision"] == "mixed_float16",
            weight_decay_type=settings["weight_decay_type"],
        )
        optimizer.build(model.trainable_variables)
    loop = PretrainingLoop(
        model,
        optimizer,
        strategy,
        model_dir,
        loss_weights=loss_weights,
        jit_compile=settings["jit_compile"],
        balance_bigram_shift=settings["bigram_shift_balanced"],
    )
    start = loop.restore()
    finished = _finished_run(model_dir, start, settings["train_steps"])
    if finished is not None:
        return finished
    if start:
        logging.info("resumed from the checkpoint at step %d in %s", start, model_dir)
    elif settings["init_from"]:
        _initial_weights(model, settings["init_from"], len(vocab))
    if chief:
        write_run_config(model_dir, encoder_config, layout, settings=settings)
        if not os.path.isfile(os.path.join(model_dir, VOCAB)):
            shutil.copyfile(vocab_path, os.path.join(model_dir, VOCAB))

    # --- Data pipelines ---
    def distributed(pattern, seq_length, predictions, batch_size, is_training, seed):
        if batch_size % strategy.num_replicas_in_sync:
            raise ValueError(
                f"batch size {batch_size} is not divisible by the "
                f"{strategy.num_replicas_in_sync} replicas"
            )

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
                validate=False,  # checked above, before the model was built
            )

        return strategy.distribute_datasets_from_function(dataset_fn)

    phases = plan_phases(
        settings["train_steps"],
        settings["long_seq_fraction"],
        dict(
            name=f"seq{short_len}",
            file_pattern=short_pattern,
            seq_length=short_len,
            predictions=short_pred,
            batch_size=settings["batch_size_128"],
        ),
        None
        if long_pattern is None
        else dict(
            name=f"seq{long_len}",
            file_pattern=long_pattern,
            seq_length=long_len,
            predictions=long_pred,
            batch_size=settings["batch_size_384"],
        ),
    )
    eval_dataset = None
    if eval_pattern:
        eval_dataset = distributed(
            eval_pattern, short_len, short_pred, settings["eval_batch_size"], False, 0
        )
    eval_batches = settings["eval_batches"] or None

    # --- Train ---
    writer = tf.summary.create_file_writer(
        os.path.join(model_dir, "tensorboard") if chief else os.path.join(model_dir, ".tb_scratch")
    )
    log_path = os.path.join(model_dir, "train_log.jsonl")
    step = start
    total = settings["train_steps"]
    throughput = Throughput()
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
        logging.info(
            "phase %s: steps %d..%d, batch %d, from %s",
            phase.name,
            max(step, phase.start),
            phase.end,
            phase.batch_size,
            phase.file_pattern,
        )
        iterator = iter(
            distributed(
                phase.file_pattern,
                phase.seq_length,
                phase.predictions,
                phase.batch_size,
                True,
                settings["seed"] + step,  # a resumed run does not replay the same batches
            )
        )
        while step < phase.end:
            boundaries = [phase.end, _next_multiple(step, settings["checkpoint_every"])]
            for every in (settings["log_every"], settings["eval_every"]):
                if every:
                    boundaries.append(_next_multiple(step, every))
            if loop.freeze.next_boundary(step) is not None:
                boundaries.append(loop.freeze.next_boundary(step))
            num_steps = min([step + settings["steps_per_execution"]] + boundaries) - step
            try:
                sums = loop.train(iterator, num_steps)
            except tf.errors.DataLossError as e:
                raise damaged(phase.file_pattern, e) from None
            step += num_steps
            throughput.add(num_steps)
            window = sums if window is None else {k: window[k] + sums[k] for k in window}
            loop.freeze.after_steps(step)
            if settings["log_every"] and step % settings["log_every"] == 0 or step == total:
                train_metrics = summarize(window)
                record = {
                    "step": step,
                    "phase": phase.name,
                    "learning_rate": loop.learning_rate(),
                    "steps_per_second": throughput.rate(),
                    **train_metrics,
                }
                logging.info(
                    "step %d/%d (%.0f%%) %s %.2f steps/s",
                    step,
                    total,
                    100.0 * step / total,
                    " ".join(f"{k}={v:.4f}" for k, v in train_metrics.items()),
                    record["steps_per_second"],
                )
                if chief:
                    _write_summaries(writer, "train", step, record)
                    with open(log_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                window = None
                throughput.reset()
            if (
                eval_dataset is not None
                and settings["eval_every"]
                and step % settings["eval_every"] == 0
                and step < total
            ):
                try:
                    _evaluate(loop, eval_dataset, eval_batches, step, writer, chief, log_path)
                except tf.errors.DataLossError as e:
                    raise damaged(eval_pattern, e) from None
            if step % settings["checkpoint_every"] == 0 or step == total or guard.signum:
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
        except tf.errors.DataLossError as e:
            raise damaged(eval_pattern, e) from None
        if chief:
            _write_summaries(writer, "eval", step, metrics)
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
    logging.info("eval at step %d: %s", step, " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    if chief:
        _write_summaries(writer, "eval", step, metrics)
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "split": "eval", **metrics}) + "\n")
    loop.freeze.after_eval(step, metrics)
