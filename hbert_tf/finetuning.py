"""Fine-tuning runs (SQuAD, MultiNLI): the model to start from, training with resume, outputs.

A fine-tuning model directory:
```
model_dir/
  finetune_config.json   settings, encoder config and read-out of this run
  vocab.txt              the vocabulary used
  backup/                Keras BackupAndRestore state while training (resume after a kill)
  checkpoints/ckpt-N     the fine-tuned model once training ends (a rerun only evaluates)
  logs/                  TensorBoard
  metrics.json, predictions.json, nbest_predictions.json, null_odds.json (SQuAD 2.0)
```
`--init_from` is one of our pre-training model dirs (read-outs from its layout, Fig. 3), a
keras-hub preset or a local Hugging Face BERT directory (every level = the last block), or
"none": the same architecture with random weights (the "without pre-training" baseline).
`--model=bilstm` replaces the encoder by the BiLSTM baseline over fastText vectors.
"""

import dataclasses
import json
import math
import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from hbert_tf import builtin_tasks, downstream, nli, squad
from hbert_tf.errors import Interrupted, PreemptionGuard, UserError, check_output_dir
from hbert_tf.files import write_text_atomic
from hbert_tf.model_dir import (
    RUN_CONFIG,
    changed_settings,
    read_run_config,
    restore_newest_readable,
    write_json_atomic,
)
from hbert_tf.optimization import make_optimizer
from hbert_tf.starting_point import load_starting_point
from hbert_tf.tokenization import OffsetTokenizer, check_vocab_matches
from hbert_tf.vocab import Vocab, load_vocab

FINETUNE_CONFIG = "finetune_config.json"
METRICS = "metrics.json"
MODELS = ("bert", "bilstm")

# Optimisation presets; explicit flags override either.
PRESETS = {
    # The paper's fine-tuning (Section 4.2): Adam with default betas and AMSGrad, lr 1e-5, no
    # weight decay, batch 1, and nothing it does not name (no warmup, decay or clipping).
    "paper": dict(
        learning_rate=1e-5,
        batch_size=1,
        weight_decay=0.0,
        weight_decay_type="l2",
        amsgrad=True,
        warmup_proportion=0.0,
        decay="constant",
        clip_norm=0.0,
    ),
    # BERT's usual, much faster recipe: AdamW-style, 10% warmup, linear decay, clipping at 1.
    "bert": dict(
        learning_rate=5e-5,
        batch_size=32,
        weight_decay=0.0,
        weight_decay_type="decoupled",
        amsgrad=False,
        warmup_proportion=0.1,
        decay="linear",
        clip_norm=1.0,
    ),
}
# Every setting of a run and its default (the flags of trainers.finetune_squad / _mnli).
COMMON_DEFAULTS = dict(
    model_dir=None,
    init_from=None,
    model="bert",
    config="base",
    vocab_file=None,
    do_lower_case="auto",
    concat="auto",
    token_layer=None,
    sentence_layer=None,
    dropout=None,
    preset="paper",
    learning_rate=None,
    batch_size=None,
    weight_decay=None,
    weight_decay_type=None,
    amsgrad=None,
    warmup_proportion=None,
    decay=None,
    clip_norm=None,
    train_steps=None,
    num_train_epochs=2.0,
    checkpoint_every=1000,
    seed=12345,
    data="files",
    tfds_data_dir=None,
    train_file=None,
    builtin_seed=0,
    builtin_documents=400,
    embeddings=None,
    embedding_dim=100,
    lstm_units=128,
    lstm_layers=2,
    train_embeddings=False,
    do_train=True,
    do_eval=True,
    eval_batch_size=64,
    max_seq_length=None,
    verbose="auto",
)
SQUAD_DEFAULTS = dict(
    COMMON_DEFAULTS,
    task="squad",
    version="1.1",
    predict_file=None,
    doc_stride=128,
    max_query_length=64,
    n_best_size=20,
    max_answer_length=30,
    null_score_diff_threshold=0.0,
)
MNLI_DEFAULTS = dict(
    COMMON_DEFAULTS,
    task="mnli",
    num_train_epochs=3.0,
    dev_matched_file=None,
    dev_mismatched_file=None,
)
DATA_SOURCES = ("files", "tfds", "builtin")
# Settings that must not change when a model_dir is resumed.
_RUN_IDENTITY = ("task", "init_from", "model", "config", "concat", "token_layer", "sentence_layer")


class FinetuneError(UserError):
    """Bad flag, input or model directory; binaries print it as one line and exit non-zero."""


@dataclasses.dataclass
class Backbone:
    """What fine-tuning starts from.

    Attributes:
        encoder: `HBertEncoder` or `BiLSTMEncoder`.
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


def resolve_settings(settings):
    """Fills optimisation settings left as None from the chosen preset; validates the rest."""
    settings = dict(settings)
    preset = settings.get("preset") or COMMON_DEFAULTS["preset"]
    if preset not in PRESETS:
        raise FinetuneError(f"--preset={preset}: expected one of {sorted(PRESETS)}")
    for key, value in PRESETS[preset].items():
        if settings.get(key) is None:
            settings[key] = value
    if not settings.get("model_dir"):
        raise FinetuneError("--model_dir is required")
    if settings.get("model") not in MODELS:
        raise FinetuneError(f"--model={settings.get('model')}: expected one of {MODELS}")
    if settings["model"] == "bert" and not settings.get("init_from"):
        raise FinetuneError("--init_from is required: a model_dir, a preset, a directory or none")
    if settings["batch_size"] < 1:
        raise FinetuneError(f"--batch_size={settings['batch_size']}: expected at least 1")
    for key in ("learning_rate", "weight_decay", "warmup_proportion"):
        value = settings[key]
        if not math.isfinite(value) or value < 0 or (key == "learning_rate" and value == 0):
            raise FinetuneError(
                f"--{key}={value}: expected a finite number "
                + ("> 0" if key == "learning_rate" else ">= 0")
            )
    if settings["warmup_proportion"] > 1.0:
        raise FinetuneError(f"--warmup_proportion={settings['warmup_proportion']}: expected [0, 1]")
    logging.info(
        "optimisation (preset %s, then explicit settings): %s",
        preset,
        json.dumps({key: settings[key] for key in PRESETS[preset]}, sort_keys=True),
    )
    if settings.get("train_steps") is not None and settings["train_steps"] < 1:
        raise FinetuneError(f"--train_steps={settings['train_steps']} must be >= 1")
    return settings


def prepare_model_dir(settings):
    """Creates model_dir; refuses one holding a different run (see _RUN_IDENTITY)."""
    model_dir = settings["model_dir"]
    check_output_dir(model_dir, "model_dir")
    os.makedirs(model_dir, exist_ok=True)
    changed = changed_settings(os.path.join(model_dir, FINETUNE_CONFIG), settings, _RUN_IDENTITY)
    if changed:
        raise FinetuneError(
            f"--model_dir={model_dir} holds another fine-tuning run (differs in "
            f"{', '.join('--' + k for k in changed)}); use a new model_dir"
        )


# --- Vocabulary and starting point -------------------------------------------------------------
def _is_pretraining_dir(path):
    return os.path.isfile(os.path.join(str(path), RUN_CONFIG))


def resolve_vocab(settings, default_tokens=None):
    """The vocabulary: --vocab_file, else the one stored with --init_from, else `default_tokens`."""
    init_from = settings.get("init_from") or "none"
    if settings.get("vocab_file"):
        return load_vocab(settings["vocab_file"])
    if init_from != "none" and settings["model"] == "bert":
        if _is_pretraining_dir(init_from) or os.path.isfile(os.path.join(init_from, "vocab.txt")):
            return load_vocab(os.path.join(init_from, "vocab.txt"))
        from hbert_tf.pretrained import encoder_from_pretrained

        _, _, tokens = encoder_from_pretrained(init_from)  # a named keras-hub preset
        return Vocab(tokens, path=f"preset:{init_from}")
    if default_tokens is not None:
        return Vocab(default_tokens, path="builtin task vocabulary")
    raise FinetuneError(f"--init_from={init_from} has no vocabulary: pass --vocab_file")


def _encoder_overrides(settings):
    dropout = settings.get("dropout")
    if dropout is None:
        return {}
    return {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}


def load_backbone(settings, vocab):
    """The encoder (and NSP head, layout) named by --init_from, checked against `vocab`."""
    init_from = settings["init_from"]
    overrides = _encoder_overrides(settings)
    if init_from == "none":
        config = settings.get("config") or "base"
        if _is_pretraining_dir(config):
            check_vocab_matches(vocab, read_run_config(config)[0].vocab_size, config)
        start = _load_start(init_from, vocab, config, overrides)
        logging.info("random initialisation (no pre-training): %s", start.encoder_config)
        return Backbone(start.encoder, None, None, None, start.encoder_config.to_dict())
    start = _load_start(init_from, vocab, None, overrides)
    check_vocab_matches(vocab, start.encoder.vocab_size, init_from)
    if start.kind == "model_dir":
        head = start.nsp_head
        return Backbone(start.encoder, head, head, start.layout, start.run_config["encoder"])
    # A released BERT: its pooler starts the sentence head; read-outs default to the top block.
    return Backbone(start.encoder, None, start.pooler_head, None, start.encoder.get_config())


def _load_start(init_from, vocab, config, overrides):
    """`starting_point.load_starting_point` with the run's vocabulary (the caller seeds)."""
    return load_starting_point(init_from, vocab=vocab, config=config or "base", **overrides)


def bilstm_backbone(settings, vocab, tokenizer, train_texts):
    """The BiLSTM baseline's encoder: fastText vectors from --embeddings or trained on the task."""
    from hbert_tf import word_vectors

    if settings.get("embeddings"):
        matrix = word_vectors.matrix_from_vec_file(settings["embeddings"], vocab, settings["seed"])
    else:
        pieces = [[vocab.tokens[i] for i in ids] for ids in tokenizer.tokenize_ids(train_texts)]
        matrix = word_vectors.train_fasttext_matrix(
            pieces, vocab, dim=settings["embedding_dim"], seed=settings["seed"]
        )
    encoder = downstream.BiLSTMEncoder(
        matrix,
        lstm_units=settings["lstm_units"],
        num_layers=settings["lstm_layers"],
        dropout=0.1 if settings.get("dropout") is None else settings["dropout"],
        trainable_embeddings=settings["train_embeddings"],
        name="bilstm_encoder",
    )
    config = {"embedding_dim": int(matrix.shape[1]), "lstm_units": settings["lstm_units"]}
    config["lstm_layers"] = settings["lstm_layers"]
    return Backbone(encoder, None, None, None, config)


def make_tokenizer(settings, vocab):
    lower = {"auto": None, "true": True, "false": False}[settings.get("do_lower_case") or "auto"]
    return OffsetTokenizer(vocab, do_lower_case=lower)


def read_out_for(settings, backbone):
    """The Fig. 3 read-out for this backbone and the --concat / layer flags."""
    read_out = downstream.resolve_read_out(
        backbone.encoder.num_hidden_layers,
        backbone.layout,
        settings.get("concat") or "auto",
        settings.get("token_layer"),
        settings.get("sentence_layer"),
    )
    if backbone.layout is not None and not backbone.layout.has_nsp:
        logging.info("the pre-trained model has no NSP head: sentence level = last block")
    logging.info("read-out: %s", read_out)
    return read_out


# --- Training -----------------------------------------------------------------------------------
def plan_steps(num_examples, settings):
    """`(steps_per_epoch, epochs, total_steps)`; Keras epochs are checkpoint intervals."""
    per_pass = math.ceil(num_examples / settings["batch_size"])
    if settings.get("train_steps"):
        total = settings["train_steps"]
    else:
        total = max(1, math.ceil(settings["num_train_epochs"] * per_pass))
    epochs = math.ceil(total / min(total, settings["checkpoint_every"]))
    steps_per_epoch = math.ceil(total / epochs)
    return steps_per_epoch, epochs, steps_per_epoch * epochs


def train_dataset(inputs, labels, batch_size, seed):
    """Shuffled, repeated batches of `(inputs, labels)` (numpy dicts, first axis = examples)."""
    n = len(next(iter(labels.values())))
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_or_restore(model, dataset, num_examples, settings, losses, metrics=None, loss_weights=None):
    """Trains `model` (resuming an interrupted run) unless a finished checkpoint exists.

    Returns: dict with the number of steps trained and whether training was skipped.
    """
    model_dir = settings["model_dir"]
    checkpoint = tf.train.Checkpoint(model=model)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, "checkpoints"), 2)
    steps_per_epoch, epochs, total = plan_steps(num_examples, settings)
    restored = restore_newest_readable(checkpoint, manager.directory)
    if restored:
        logging.info("found the fine-tuned model %s; evaluating only", restored)
        return {"train_steps": total, "resumed_finished_run": True}
    if not settings.get("do_train", True):
        raise FinetuneError(f"--do_train=false but {model_dir} holds no fine-tuned checkpoint")
    optimizer = make_optimizer(
        learning_rate=settings["learning_rate"],
        weight_decay=settings["weight_decay"],
        total_steps=total,
        warmup_steps=int(settings["warmup_proportion"] * total),
        decay=settings["decay"],
        clip_norm=settings["clip_norm"] or None,
        amsgrad=settings["amsgrad"],
        weight_decay_type=settings["weight_decay_type"],
    )
    model.compile(optimizer=optimizer, loss=losses, loss_weights=loss_weights, metrics=metrics)
    logging.info(
        "training %d steps (%d checkpoint intervals of %d), batch %d, lr %g, %s weight decay %g, "
        "amsgrad %s, warmup %g, decay %s, clip_norm %s",
        total,
        epochs,
        steps_per_epoch,
        settings["batch_size"],
        settings["learning_rate"],
        settings["weight_decay_type"],
        settings["weight_decay"],
        settings["amsgrad"],
        settings["warmup_proportion"],
        settings["decay"],
        settings["clip_norm"] or None,
    )
    backup_dir = os.path.join(model_dir, "backup")
    epoch, batch = _backup_position(backup_dir)
    if epoch or batch:
        logging.info(
            "resumed from the backup in %s at step %d of %d",
            backup_dir,
            epoch * steps_per_epoch + batch,
            total,
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
                verbose=settings.get("verbose", "auto"),
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
        raise FinetuneError("the training loss became NaN or infinite; try a lower --learning_rate")
    manager.save()
    shutil.rmtree(backup_dir, ignore_errors=True)  # kept after a finished interrupted interval
    return {"train_steps": total, "final_loss": float(losses_seen[-1]) if losses_seen else None}


def _backup_position(backup_dir):
    """(epoch, batch) where the backup in `backup_dir` stopped; (0, 0) when there is none."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.isfile(path):
        return 0, 0
    with open(path, encoding="utf-8") as f:
        values = json.load(f)
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


def write_run_files(settings, vocab, backbone, read_out, tokenizer):
    """finetune_config.json and vocab.txt of the fine-tuning model_dir."""
    model_dir = settings["model_dir"]
    vocab.write(os.path.join(model_dir, "vocab.txt"))
    write_json_atomic(
        os.path.join(model_dir, FINETUNE_CONFIG),
        {
            "settings": settings,
            "encoder": backbone.encoder_config,
            "layout": backbone.layout.to_dict() if backbone.layout is not None else None,
            "read_out": dataclasses.asdict(read_out),
            "do_lower_case": tokenizer.do_lower_case,
        },
    )


def prepare(settings, default_vocab_tokens, train_texts_fn):
    """Settings, vocabulary, tokenizer, backbone and read-out of a run (shared by both tasks).

    Args:
        settings: dict of resolved settings (`resolve_settings`, done by run_squad / run_mnli).
        default_vocab_tokens: list or None. Vocabulary when neither flags nor model give one.
        train_texts_fn: callable(tokenizer) -> list of str, the training text (BiLSTM vectors).
    """
    prepare_model_dir(settings)
    keras.utils.set_random_seed(settings["seed"])
    vocab = resolve_vocab(settings, default_vocab_tokens)
    tokenizer = make_tokenizer(settings, vocab)
    if settings["model"] == "bilstm":
        backbone = bilstm_backbone(settings, vocab, tokenizer, train_texts_fn(tokenizer))
    else:
        backbone = load_backbone(settings, vocab)
    limit = getattr(backbone.encoder, "max_position_embeddings", None)
    if limit is not None and settings["max_seq_length"] > limit:
        raise FinetuneError(
            f"--max_seq_length={settings['max_seq_length']} exceeds the model's "
            f"max_position_embeddings={limit}"
        )
    read_out = read_out_for(settings, backbone)
    write_run_files(settings, vocab, backbone, read_out, tokenizer)
    return settings, vocab, tokenizer, backbone, read_out


def write_metrics(settings, metrics):
    path = os.path.join(settings["model_dir"], METRICS)
    write_json_atomic(path, metrics)
    logging.info("metrics written to %s: %s", path, json.dumps(metrics, sort_keys=True))


def _builtin_dir(settings):
    return os.path.join(settings["model_dir"], "data")


def _require(settings, key, why):
    if not settings.get(key):
        raise FinetuneError(f"--{key} is required {why} (or pass --data=tfds or --data=builtin)")
    return settings[key]


# --- SQuAD --------------------------------------------------------------------------------------
def _squad_examples(settings):
    """`(train_examples or None, eval_examples or None)` from files, TFDS or the built-in set."""
    version, data = settings["version"], settings["data"]
    if version not in squad.VERSIONS:
        raise FinetuneError(f"--version={version}: expected one of {squad.VERSIONS}")
    if data not in DATA_SOURCES:
        raise FinetuneError(f"--data={data}: expected one of {DATA_SOURCES}")
    train = evaluation = None
    if data == "tfds":
        if settings["do_train"]:
            train = squad.read_squad_tfds(version, "train", settings["tfds_data_dir"])[0]
        if settings["do_eval"]:
            evaluation = squad.read_squad_tfds(
                version, "validation", settings["tfds_data_dir"], evaluation=True
            )[0]
        return train, evaluation
    if data == "builtin":
        docs = settings["builtin_documents"]
        train_file, predict_file = builtin_tasks.write_builtin_squad(
            _builtin_dir(settings), settings["builtin_seed"], docs, max(20, docs // 8), version
        )
    else:
        train_file = settings["do_train"] and _require(settings, "train_file", "with --do_train")
        predict_file = settings["do_eval"] and _require(settings, "predict_file", "with --do_eval")
    if settings["do_train"]:
        train = squad.read_squad_json(train_file, version)[0]
    if settings["do_eval"]:
        evaluation = squad.read_squad_json(predict_file, version, evaluation=True)[0]
    return train, evaluation


def run_squad(settings):
    """Fine-tunes (or resumes) and evaluates a span model on SQuAD; returns the metrics.

    Args:
        settings: dict with the keys of SQUAD_DEFAULTS (missing keys take those defaults).
    """
    settings = resolve_settings(dict(SQUAD_DEFAULTS, **settings))
    if settings["max_seq_length"] is None:
        settings["max_seq_length"] = 384
    train_examples, eval_examples = _squad_examples(settings)
    default_vocab = builtin_tasks.task_vocabulary() if settings["data"] == "builtin" else None

    def train_texts(tokenizer):
        examples = train_examples or eval_examples or []
        return sorted({e.context for e in examples}) + [e.question for e in examples]

    settings, vocab, tokenizer, backbone, read_out = prepare(settings, default_vocab, train_texts)
    model = downstream.SpanModel(backbone.encoder, read_out, backbone.nsp_head, name="span_model")
    window = dict(
        tokenizer=tokenizer,
        max_seq_length=settings["max_seq_length"],
        doc_stride=settings["doc_stride"],
        max_query_length=settings["max_query_length"],
    )
    metrics = {"task": f"squad_v{settings['version']}", "read_out": dataclasses.asdict(read_out)}
    if train_examples is not None:
        features = squad.convert_examples_to_features(train_examples, is_training=True, **window)
        labels = {
            downstream.START_LOGITS: features.start_positions,
            downstream.END_LOGITS: features.end_positions,
        }
        dataset = train_dataset(features.inputs(), labels, settings["batch_size"], settings["seed"])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics["training"] = fit_or_restore(
            model,
            dataset,
            len(features),
            settings,
            losses={downstream.START_LOGITS: loss, downstream.END_LOGITS: loss},
            loss_weights={downstream.START_LOGITS: 0.5, downstream.END_LOGITS: 0.5},
        )
        metrics["train_features"] = features.stats
    elif settings["do_eval"]:
        fit_or_restore(model, None, 1, dict(settings, do_train=False), losses=None)
    if eval_examples is not None:
        features = squad.convert_examples_to_features(eval_examples, is_training=False, **window)
        outputs = model.predict(
            features.inputs(), batch_size=settings["eval_batch_size"], verbose=settings["verbose"]
        )
        version_2 = settings["version"] == "2.0"
        answers = squad.postprocess(
            eval_examples,
            features,
            outputs[downstream.START_LOGITS],
            outputs[downstream.END_LOGITS],
            n_best_size=settings["n_best_size"],
            max_answer_length=settings["max_answer_length"],
            version_2=version_2,
            null_score_diff_threshold=settings["null_score_diff_threshold"],
        )
        model_dir = settings["model_dir"]
        write_json_atomic(os.path.join(model_dir, "predictions.json"), answers.predictions)
        write_json_atomic(os.path.join(model_dir, "nbest_predictions.json"), answers.nbest)
        if version_2:
            write_json_atomic(os.path.join(model_dir, "null_odds.json"), answers.null_odds)
        metrics.update(
            squad.evaluate(
                eval_examples,
                answers.predictions,
                settings["version"],
                answers.null_odds if version_2 else None,
                answers.best_non_null,
            )
        )
        if version_2:
            metrics["null_score_diff_threshold"] = settings["null_score_diff_threshold"]
        metrics["eval_features"] = features.stats
    write_metrics(settings, metrics)
    return metrics


# --- MultiNLI -----------------------------------------------------------------------------------
def _nli_examples(settings):
    """dict split -> examples for "train", "dev_matched", "dev_mismatched" (those available)."""
    data = settings["data"]
    if data not in DATA_SOURCES:
        raise FinetuneError(f"--data={data}: expected one of {DATA_SOURCES}")
    wanted = (["train"] if settings["do_train"] else []) + (
        ["dev_matched", "dev_mismatched"] if settings["do_eval"] else []
    )
    if data == "tfds":
        return {s: nli.read_nli_tfds(s, settings["tfds_data_dir"])[0] for s in wanted}
    if data == "builtin":
        docs = settings["builtin_documents"]
        paths = builtin_tasks.write_builtin_nli(
            _builtin_dir(settings), settings["builtin_seed"], docs, max(30, docs // 4)
        )
        files = dict(zip(("train", "dev_matched", "dev_mismatched"), paths))
    else:
        files = {
            "train": settings["train_file"],
            "dev_matched": settings["dev_matched_file"],
            "dev_mismatched": settings["dev_mismatched_file"],
        }
        if settings["do_train"]:
            _require(settings, "train_file", "with --do_train")
        if settings["do_eval"] and not (files["dev_matched"] or files["dev_mismatched"]):
            raise FinetuneError(
                "--do_eval needs --dev_matched_file and/or --dev_mismatched_file "
                "(or pass --data=tfds or --data=builtin)"
            )
    return {s: nli.read_nli_file(files[s])[0] for s in wanted if files.get(s)}


def run_mnli(settings):
    """Fine-tunes (or resumes) a sentence-pair classifier on MultiNLI; returns the metrics.

    Args:
        settings: dict with the keys of MNLI_DEFAULTS (missing keys take those defaults).
    """
    settings = resolve_settings(dict(MNLI_DEFAULTS, **settings))
    if settings["max_seq_length"] is None:
        settings["max_seq_length"] = 128
    splits = _nli_examples(settings)
    default_vocab = builtin_tasks.task_vocabulary() if settings["data"] == "builtin" else None

    def train_texts(tokenizer):
        examples = splits.get("train") or next(iter(splits.values()))
        return [e.premise for e in examples] + [e.hypothesis for e in examples]

    settings, vocab, tokenizer, backbone, read_out = prepare(settings, default_vocab, train_texts)
    model = downstream.SentenceClassifier(
        backbone.encoder, read_out, len(nli.LABELS), backbone.pooler_head, name="nli_classifier"
    )
    metrics = {"task": "mnli", "read_out": dataclasses.asdict(read_out)}
    length = settings["max_seq_length"]
    if "train" in splits:
        inputs, labels, stats = nli.encode_pairs(splits["train"], tokenizer, length)
        dataset = train_dataset(
            inputs, {downstream.LOGITS: labels}, settings["batch_size"], settings["seed"]
        )
        metrics["training"] = fit_or_restore(
            model,
            dataset,
            len(labels),
            settings,
            losses={
                downstream.LOGITS: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            },
            metrics={downstream.LOGITS: ["sparse_categorical_accuracy"]},
        )
        metrics["train_pairs"] = stats
    elif settings["do_eval"]:
        fit_or_restore(model, None, 1, dict(settings, do_train=False), losses=None)
    for split in ("dev_matched", "dev_mismatched"):
        if split not in splits:
            continue
        inputs, labels, stats = nli.encode_pairs(splits[split], tokenizer, length)
        logits = model.predict(
            inputs, batch_size=settings["eval_batch_size"], verbose=settings["verbose"]
        )[downstream.LOGITS]
        predicted = np.argmax(logits, axis=-1)
        metrics[f"{split}_accuracy"] = float(np.mean(predicted == labels))
        metrics[f"{split}_pairs"] = stats["pairs"]
        lines = "".join(
            json.dumps({"pairID": e.pair_id, "prediction": nli.LABELS[p]}) + "\n"
            for e, p in zip(splits[split], predicted)
        )
        path = os.path.join(settings["model_dir"], f"predictions_{split}.jsonl")
        write_text_atomic(path, lines)
    write_metrics(settings, metrics)
    return metrics
