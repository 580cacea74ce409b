"""Probing frozen embeddings with SentEval's 10 probing tasks (Conneau et al. 2018; Table 4).

One place for every step of a probing run:

1. Task files: SentEval's `probing/<task>.txt`, one example a line, `split<TAB>label<TAB>sentence`
   with split in tr/va/te; the label set comes from the training split (`read_task`,
   `write_task`, `find_task_files`).
2. Features: a sentence becomes `[CLS] sentence [SEP]` (segment ids 0); a Keras model over the
   encoder's inputs returns one layer's output only (the blocks above it are not computed), pooled
   to `[batch, hidden]` by its [CLS] vector or the mean over real tokens (`ProbingModel`,
   `resolve_probe_layer`, `feature_model`). Features are cached per model, task, layer and pooling
   (`FeatureCache`).
3. The probe (`ProbeConfig`, `train_probe`): the paper's MLP (two hidden layers of 128, Adam
   1e-3, batch 32, no weight decay, early stopping on va, accuracy on te), or SentEval's own
   classifiers (logistic regression or one hidden layer) with its L2 grid searched on va.
4. Results: Table 4's layout (`format_table`), `probing.json`, a bar chart (`plot_results`).
"""

import dataclasses
import hashlib
import json
import os
import time

import keras
import numpy as np
from absl import logging
from keras import ops

from hbert_tf import names
from hbert_tf.files import atomic_path
from hbert_tf.model_dir import vocab_file, write_json_atomic
from hbert_tf.senteval_format import SPLITS, TASK_CODES, TASKS
from hbert_tf.starting_point import is_model_dir, load_starting_point
from hbert_tf.vocab import WordPieceTokenizer

# === Layers and features ==========================================================================

POOLINGS = ("cls", "mean")
EMBEDDINGS = "embeddings"


@dataclasses.dataclass(frozen=True)
class LayerChoice:
    """A resolved `--layer` value.

    Attributes:
        spec: str. What was asked for: "nsp", "mlm", "embeddings" or a block index.
        index: int or None. 0-based block index; None for the embedding output.
        note: str. Why this layer (e.g. "no NSP head: using the last layer").
    """

    spec: str
    index: int | None
    note: str = ""

    @property
    def key(self):
        """`layer_i` or `embedding_output`: the encoder output it reads."""
        return names.EMBEDDING_OUTPUT if self.index is None else names.layer_key(self.index)

    @property
    def label(self):
        """Short name for tables: "nsp=layer_0", "layer_1", "embeddings"."""
        if self.spec in ("nsp", "mlm"):
            return f"{self.spec}={self.key}"
        return EMBEDDINGS if self.index is None else self.key


def resolve_probe_layer(spec, layout):
    """Maps a `--layer` value to a `LayerChoice` for a model with `layout` (a HeadLayout).

    `nsp`: the NSP head's layer (the last one for a model without NSP, noted); `mlm`: the MLM head's
    layer; `embeddings`: the embedding output; an integer: a 0-based block (negative: from the top).
    """
    spec = str(spec).strip().lower()
    num_layers = layout.num_layers
    if spec == "nsp":
        note = None if layout.has_nsp else "no NSP head: using the last layer"
        return LayerChoice("nsp", layout.sentence_layer, note)
    if spec == "mlm":
        return LayerChoice("mlm", layout.mlm_layer)
    if spec == EMBEDDINGS:
        return LayerChoice(EMBEDDINGS, None)
    try:
        index = int(spec)
    except ValueError:
        raise ValueError(
            f"--layer={spec!r}: expected nsp, mlm, embeddings or a block index"
        ) from None
    if not -num_layers <= index < num_layers:
        raise ValueError(
            f"--layer={spec}: out of range for an encoder with {num_layers} layers "
            f"(expected {-num_layers}..{num_layers - 1})"
        )
    return LayerChoice(spec, index % num_layers)


def feature_model(encoder, choice, pooling="cls"):
    """A Keras model: encoder inputs -> pooled `[batch, hidden]` vectors of one layer.

    Built from the encoder's own graph up to `choice`'s output, so blocks above it are not run.
    `cls` takes position 0 ([CLS]); `mean` averages the real tokens (input_mask = 1, [CLS] and
    [SEP] included).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"--pooling={pooling!r}: expected one of {POOLINGS}")
    outputs = encoder.output
    hidden = (
        outputs[names.EMBEDDING_OUTPUT]
        if choice.index is None
        else outputs[names.HIDDEN_STATES][choice.key]
    )
    inputs = encoder.input
    if pooling == "cls":
        pooled = hidden[:, 0, :]
    else:
        mask = ops.cast(ops.expand_dims(inputs[names.INPUT_MASK], -1), hidden.dtype)
        pooled = ops.sum(hidden * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
    return keras.Model(inputs, pooled, name=f"probe_features_{choice.key}_{pooling}")


def encode_sentences(sentences, tokenizer, max_seq_length):
    """Sentences -> lists of ids `[CLS] pieces [SEP]`, truncated to `max_seq_length`.

    Returns: (list of list of int, number of truncated sentences).
    """
    vocab = tokenizer.vocab
    body = max_seq_length - 2
    encoded, truncated = [], 0
    for sentence in sentences:
        ids = tokenizer.tokenize_ids(sentence)
        if len(ids) > body:
            truncated += 1
            ids = ids[:body]
        encoded.append([vocab.cls_id] + ids + [vocab.sep_id])
    return encoded, truncated


def extract_features(model, encoded, batch_size=64, pad_id=0, verbose=1):
    """Runs `model` over id lists, in batches of similar length; returns float32 `[n, hidden]`.

    `model` is a feature model, or `compiled_call(feature_model)` to reuse one traced function.
    """
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    call = model if callable(model) and not isinstance(model, keras.Model) else compiled_call(model)
    out = None
    progress = keras.utils.Progbar(len(encoded), unit_name="sentence", verbose=verbose)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        ids = np.full((len(rows), width), pad_id, np.int32)
        mask = np.zeros((len(rows), width), np.int32)
        for r, i in enumerate(rows):
            ids[r, : len(encoded[i])] = encoded[i]
            mask[r, : len(encoded[i])] = 1
        batch = {
            names.INPUT_IDS: ids,
            names.INPUT_MASK: mask,
            names.SEGMENT_IDS: np.zeros_like(ids),
        }
        vectors = np.asarray(call(batch), np.float32)
        if out is None:
            out = np.zeros((len(encoded), vectors.shape[-1]), np.float32)
        out[rows] = vectors
        progress.add(len(rows))
    return out if out is not None else np.zeros((0, 0), np.float32)


def compiled_call(model):
    """`model` as one traced function accepting any batch size and length (no retracing)."""
    import tensorflow as tf

    spec = {key: tf.TensorSpec([None, None], tf.int32, key) for key in names.ENCODER_INPUTS}
    return tf.function(lambda batch: model(batch, training=False), input_signature=[spec])


class ProbingModel:
    """A frozen encoder, its layout and tokenizer, ready to featurise sentences.

    Args:
        model_dir: str. Any starting point (`hbert_tf.starting_point`): a pre-training model
            directory (run_config.json, vocab.txt, checkpoints/), a keras-hub preset, a Hugging
            Face BERT directory (a released BERT: heads on the top block), or "none" (random
            weights of architecture `config`, seeded by `seed`; needs `vocab_path`).
        max_seq_length: int. Longer sentences are truncated (counted and logged).
        vocab_path: str or None. Overrides the model's vocab.txt.
        do_lower_case: bool or None. None: uncased when the vocabulary has no upper-case token.
        name: str or None. Name in tables (default: the folder name).
        config: str. Architecture for "none" (preset name, bert_config.json or model dir).
        seed: int. Initialisation seed for "none".

    Raises:
        ValueError: the folder has no usable checkpoint, weights or vocabulary.
    """

    def __init__(
        self,
        model_dir,
        max_seq_length=128,
        vocab_path=None,
        do_lower_case=None,
        name=None,
        config="base",
        seed=0,
    ):
        self.model_dir = str(model_dir)
        if is_model_dir(self.model_dir):
            vocab_path = vocab_path or vocab_file(self.model_dir)  # names the folder if missing
        start = load_starting_point(self.model_dir, vocab_path=vocab_path, config=config, seed=seed)
        self.run_config = start.run_config
        self.encoder = start.encoder
        self.encoder.trainable = False
        self.layout = start.layout
        self.vocab = start.vocab
        if len(self.vocab) != self.encoder.vocab_size:
            raise ValueError(
                f"{self.vocab.path}: {len(self.vocab)} tokens but the model's vocab_size is "
                f"{self.encoder.vocab_size}"
            )
        if do_lower_case is None:
            do_lower_case = not any(t != t.lower() for t in self.vocab.tokens if t[:1] != "[")
        self.tokenizer = WordPieceTokenizer(self.vocab, do_lower_case=do_lower_case)
        self.max_seq_length = int(max_seq_length)
        if not 3 <= self.max_seq_length <= self.encoder.max_position_embeddings:
            raise ValueError(
                f"--max_seq_length={max_seq_length}: expected 3..{self.encoder.max_position_embeddings}"
            )
        self.name = name or os.path.basename(os.path.normpath(self.model_dir))
        identity = start.identity + [self.vocab.sha256(), do_lower_case, self.max_seq_length]
        self.fingerprint = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
        self.checkpoint = start.checkpoint or self.model_dir

    @property
    def description(self):
        """Variant and head layout, e.g. "lower_nsp, concat=cls (mlm=layer_1 nsp=layer_0)"."""
        settings = self.run_config.get("settings") or {}
        variant = self.run_config.get("variant") or settings.get("variant") or "?"
        return f"{variant}, concat={self.layout.concat} ({self.layout.describe()})"

    def features(self, task, choice, pooling, cache=None, batch_size=64, verbose=1):
        """dict split -> float32 `[examples, hidden]` features of `task` (from the cache if there)."""
        key = {
            "model": self.fingerprint,
            "task": task.fingerprint,
            "layer": choice.key,
            "pooling": pooling,
        }
        if cache is not None:
            cached = cache.load(self, task.name, choice, pooling, key)
            if cached is not None:
                return cached
        call = compiled_call(feature_model(self.encoder, choice, pooling))
        features = {}
        for split in SPLITS:
            encoded, truncated = encode_sentences(
                task.sentences[split], self.tokenizer, self.max_seq_length
            )
            if truncated:
                logging.warning(
                    "%s/%s: %d sentences longer than max_seq_length=%d were truncated",
                    task.name, split, truncated, self.max_seq_length,
                )  # fmt: skip
            logging.info("%s: features of %s/%s from %s", self.name, task.name, split, choice.label)
            features[split] = extract_features(
                call, encoded, batch_size, self.vocab.pad_id, verbose=verbose
            )
        if cache is not None:
            cache.save(self, task.name, choice, pooling, key, features)
        return features


class FeatureCache:
    """Features on disk: `<cache_dir>/<model fingerprint>/<task>_<layer>_<pooling>.npz`.

    Each file stores the key it was made with (model checkpoint path, mtime and size, vocabulary,
    lower-casing, max_seq_length, task file hash, layer, pooling); a file whose key differs is
    recomputed. Files are written under a temporary name and renamed, so none is ever half there.
    """

    def __init__(self, cache_dir):
        self.cache_dir = str(cache_dir)

    def path(self, model, task_name, choice, pooling):
        folder = os.path.join(self.cache_dir, model.fingerprint[:16])
        return os.path.join(folder, f"{task_name}_{choice.key}_{pooling}.npz")

    def load(self, model, task_name, choice, pooling, key):
        path = self.path(model, task_name, choice, pooling)
        if not os.path.isfile(path):
            return None
        try:
            with np.load(path) as data:
                if str(data["key"]) != json.dumps(key, sort_keys=True):
                    logging.info("%s: stale (model, task or settings changed); recomputing", path)
                    return None
                features = {split: data[split] for split in SPLITS}
        except (OSError, KeyError, ValueError) as e:
            logging.warning("%s: unreadable cache file (%s); recomputing", path, e)
            return None
        logging.info("%s: cached features", path)
        return features

    def save(self, model, task_name, choice, pooling, key, features):
        path = self.path(model, task_name, choice, pooling)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=np.array(json.dumps(key, sort_keys=True)), **features)


# === The probe ====================================================================================

CLASSIFIERS = ("mlp", "senteval_lr", "senteval_mlp")
SENTEVAL_L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """The probing classifier.

    Args:
        classifier: str. "mlp": the paper's probe, `hidden_layers` Dense(`hidden_units`,
            `activation`) layers, no weight decay. "senteval_lr": SentEval's logistic regression;
            "senteval_mlp": SentEval's one hidden layer of `senteval_hidden_units` sigmoid units;
            both search the L2 penalty over `l2_grid` on va.
        hidden_units: int. Width of the paper's hidden layers (128).
        hidden_layers: int. Hidden layers of the paper's probe (2).
        activation: str. Activation of the paper's hidden layers (the paper does not say; relu).
        senteval_hidden_units: int. Hidden width of "senteval_mlp" (SentEval's default 50).
        dropout: float. Dropout after each hidden layer (SentEval's default 0).
        learning_rate: float. Adam's learning rate (1e-3 in the paper and in SentEval).
        amsgrad: bool. Adam's AMSGrad option (the paper: on for every experiment; SentEval: off).
        batch_size: int or None. None: 32 for "mlp" (the paper), 64 for SentEval's classifiers.
        max_epochs: int. Upper bound on epochs; early stopping usually ends sooner.
        patience: int. Epochs without a better va accuracy before stopping (SentEval: 5).
        l2_grid: tuple of float. L2 penalties tried by the SentEval classifiers (PyTorch's
            weight_decay values; the Keras penalty is half of each, which gives the same gradient).
    """

    classifier: str = "mlp"
    hidden_units: int = 128
    hidden_layers: int = 2
    activation: str = "relu"
    senteval_hidden_units: int = 50
    dropout: float = 0.0
    learning_rate: float = 1e-3
    amsgrad: bool = True
    batch_size: int | None = None
    max_epochs: int = 100
    patience: int = 5
    l2_grid: tuple = SENTEVAL_L2_GRID

    def __post_init__(self):
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"--classifier={self.classifier!r}: expected one of {CLASSIFIERS}")
        for name in ("hidden_units", "hidden_layers", "senteval_hidden_units", "max_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProbeConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 0 or not 0.0 <= self.dropout < 1.0 or self.learning_rate <= 0:
            raise ValueError(
                f"ProbeConfig: need patience >= 0, 0 <= dropout < 1, learning_rate > 0; got "
                f"{self.patience}, {self.dropout}, {self.learning_rate}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"--probe_batch_size must be >= 1, got {self.batch_size}")
        if not self.l2_grid or any(v < 0 for v in self.l2_grid):
            raise ValueError(f"--l2_grid must hold non-negative values, got {self.l2_grid}")

    @property
    def effective_batch_size(self):
        return self.batch_size or (32 if self.classifier == "mlp" else 64)


def build_probe(input_dim, num_classes, config, l2=0.0):
    """The probing classifier: `[batch, input_dim]` features -> `[batch, num_classes]` logits."""
    regularizer = keras.regularizers.L2(l2 / 2) if l2 else None  # PyTorch weight_decay = l2
    if config.classifier == "mlp":
        widths, activation = [config.hidden_units] * config.hidden_layers, config.activation
    elif config.classifier == "senteval_mlp":
        widths, activation = [config.senteval_hidden_units], "sigmoid"
    else:
        widths, activation = [], None
    layers = [keras.Input((input_dim,))]
    for i, width in enumerate(widths):
        layers.append(
            keras.layers.Dense(
                width, activation, kernel_regularizer=regularizer, name=f"hidden_{i}"
            )
        )
        if config.dropout:
            layers.append(keras.layers.Dropout(config.dropout))
    layers.append(keras.layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits"))
    return keras.Sequential(layers, name=f"probe_{config.classifier}")


def probe_optimizer(config):
    """Adam with default betas, `config.learning_rate` and `config.amsgrad`; no weight decay."""
    return keras.optimizers.Adam(config.learning_rate, amsgrad=config.amsgrad)


def _fit_once(features, targets, num_classes, config, seed, l2):
    keras.utils.set_random_seed(seed)
    model = build_probe(features["tr"].shape[-1], num_classes, config, l2)
    model.compile(
        optimizer=probe_optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.patience, restore_best_weights=True
    )
    history = model.fit(
        features["tr"],
        targets["tr"],
        batch_size=config.effective_batch_size,
        epochs=config.max_epochs,
        validation_data=(features["va"], targets["va"]),
        callbacks=[stopper],
        shuffle=True,
        verbose=0,
    )

    def accuracy(split):
        logits = np.concatenate(
            [
                np.asarray(model(features[split][i : i + 4096], training=False))
                for i in range(0, len(features[split]), 4096)
            ]
        )
        return float(np.mean(np.argmax(logits, -1) == targets[split]))

    return {
        "val_accuracy": accuracy("va"),
        "accuracy": accuracy("te"),
        "epochs": len(history.history["loss"]),
        "best_epoch": int(np.argmax(history.history["val_accuracy"])) + 1,
        "l2": l2,
    }


def train_probe(features, targets, num_classes, config=ProbeConfig(), seed=0):
    """Trains the probe on tr with early stopping on va; returns accuracies and training facts.

    Args:
        features: dict split -> float32 `[examples, dim]` for "tr", "va", "te".
        targets: dict split -> int `[examples]` class ids in `[0, num_classes)`.
        num_classes: int.
        config: ProbeConfig.
        seed: int. Seeds weight initialisation, shuffling and dropout.

    Returns: dict with `accuracy` (te), `val_accuracy` (va), `epochs`, `best_epoch` and `l2` (the
    chosen penalty; 0.0 for the paper's probe).
    """
    grid = (0.0,) if config.classifier == "mlp" else tuple(config.l2_grid)
    best = None
    for l2 in grid:
        result = _fit_once(features, targets, num_classes, config, seed, l2)
        logging.info("probe l2=%g: va %.4f te %.4f", l2, result["val_accuracy"], result["accuracy"])
        if best is None or result["val_accuracy"] > best["val_accuracy"]:
            best = result
    return best


# === A whole run ================================================================================


def probe_models(
    models, tasks, layers, poolings, config, output_dir, seed=0, batch_size=64, cache=None,
    verbose=1,
):  # fmt: skip
    """Probes every model x layer x pooling x task.

    Args:
        models: list of ProbingModel.
        tasks: list of ProbingTask.
        layers: list of `--layer` values ("nsp", "mlm", "embeddings", block indices).
        poolings: list of "cls" / "mean".
        config: ProbeConfig.
        output_dir: str. probing.json is rewritten there after every probe, so a long run keeps
            what it finished.
        seed: int. Seed of every probe.
        batch_size: int. Sentences per feature-extraction batch.
        cache: FeatureCache or None.
        verbose: int. 1: a progress bar per feature extraction; 0: none.

    Returns: list of dict, one record per probe (probing.json's "results").
    """
    records = []
    settings = {
        "probe": dataclasses.asdict(config),
        "batch_size": config.effective_batch_size,
        "seed": seed,
        "tasks": [t.path for t in tasks],
    }
    json_path = os.path.join(output_dir, "probing.json")
    for model in models:
        for spec in layers:
            choice = resolve_probe_layer(spec, model.layout)
            if choice.note:
                logging.warning("%s: --layer=%s: %s", model.name, spec, choice.note)
            for pooling in poolings:
                for task in tasks:
                    start = time.time()
                    features = model.features(task, choice, pooling, cache, batch_size, verbose)
                    result = train_probe(features, task.targets, task.num_classes, config, seed)
                    record = {
                        "model": model.name,
                        "model_dir": model.model_dir,
                        "checkpoint": model.checkpoint,
                        "variant": model.description,
                        "layer": choice.label,
                        "layer_spec": choice.spec,
                        "layer_key": choice.key,
                        "layer_note": choice.note,
                        "pooling": pooling,
                        "task": task.name,
                        "code": TASK_CODES.get(task.name, task.name),
                        "num_classes": task.num_classes,
                        "chance": task.chance("te"),
                        "num_examples": {s: len(task.targets[s]) for s in SPLITS},
                        "seconds": round(time.time() - start, 2),
                        **result,
                    }
                    records.append(record)
                    logging.info(
                        "%s %s %s %s: te %.1f%% (va %.1f%%, chance %.1f%%, %d epochs)",
                        model.name, choice.label, pooling, task.name, 100 * result["accuracy"],
                        100 * result["val_accuracy"], 100 * record["chance"], result["epochs"],
                    )  # fmt: skip
                    write_json_atomic(json_path, {"settings": settings, "results": records})
    return records


# === Results ======================================================================================


def row_label(record):
    """A table row: the model, its variant and head layout, the probed layer and the pooling."""
    return f"{record['model']} [{record['variant']}] {record['layer']} {record['pooling']}"


def format_table(records):
    """Table 4's layout: a row per model (and layer/pooling), a column per task, accuracy in %.

    The last row is chance (majority class of te), so each column can be read against it.
    """
    codes = [t.code for t in TASKS if any(r["task"] == t.name for r in records)]
    rows, cells, chance = [], {}, {}
    for r in records:
        label = row_label(r)
        if label not in rows:
            rows.append(label)
        cells[label, TASK_CODES[r["task"]]] = f"{100 * r['accuracy']:.1f}"
        chance[TASK_CODES[r["task"]]] = f"{100 * r['chance']:.1f}"
    width = max([len(row) for row in rows] + [len("Models")])
    lines = ["Models".ljust(width) + "".join(f"{code:>7}" for code in codes)]
    for row in rows:
        lines.append(row.ljust(width) + "".join(f"{cells.get((row, c), '-'):>7}" for c in codes))
    lines.append("chance".ljust(width) + "".join(f"{chance[c]:>7}" for c in codes))
    return "\n".join(lines)


def plot_results(path, records, title="Probing accuracy"):
    """Grouped bar chart (a bar per model/layer row, a group per task, chance marked); PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    codes = [t.code for t in TASKS if any(r["task"] == t.name for r in records)]
    rows = list(dict.fromkeys(row_label(r) for r in records))
    values = {(row_label(r), TASK_CODES[r["task"]]): 100 * r["accuracy"] for r in records}
    chance = {TASK_CODES[r["task"]]: 100 * r["chance"] for r in records}
    fig = Figure(figsize=(max(6.0, 1.1 * len(codes) * max(1, len(rows)) ** 0.5 + 3), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    x = np.arange(len(codes))
    for i, row in enumerate(rows):
        heights = [values.get((row, c), np.nan) for c in codes]
        ax.bar(x - 0.4 + width * (i + 0.5), heights, width, label=row)
    ax.hlines(
        [chance[c] for c in codes], x - 0.45, x + 0.45, colors="black", linestyles="dashed",
        label="chance",
    )  # fmt: skip
    ax.set_xticks(x, codes)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy on te (%)")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
