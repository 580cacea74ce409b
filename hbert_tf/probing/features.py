"""Probing features: one layer of a frozen encoder, pooled per sentence, cached on disk.

A sentence becomes `[CLS] sentence [SEP]` (segment ids 0); a Keras model over the encoder's inputs
returns one layer's output only (the blocks above it are not computed), pooled to `[batch, hidden]`
by its [CLS] vector or the mean over real tokens (`ProbingModel`, `resolve_probe_layer`,
`feature_model`). Features are cached per model, task, layer and pooling (`FeatureCache`).
"""

import dataclasses
import hashlib
import json
import os

import keras
import numpy as np
from absl import logging
from keras import ops

from hbert_tf import files, names
from hbert_tf.files import AtomicFile
from hbert_tf.probing.senteval_format import SPLITS
from hbert_tf.run_config import POOLINGS
from hbert_tf.runtime import dtype_policy
from hbert_tf.text.vocab import WordPieceTokenizer
from hbert_tf.weights.model_dir import vocab_file
from hbert_tf.weights.starting_point import is_model_dir, load_starting_point

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


def compiled_call(model, jit_compile=False):
    """`model` as one traced function accepting any batch size and length (no retracing);
    `jit_compile`: compiled by XLA."""
    import tensorflow as tf

    spec = {key: tf.TensorSpec([None, None], tf.int32, key) for key in names.ENCODER_INPUTS}
    return tf.function(
        lambda batch: model(batch, training=False), input_signature=[spec], jit_compile=jit_compile
    )


class ProbingModel:
    """A frozen encoder, its layout and tokenizer, ready to featurise sentences.

    Args:
        model_dir: str. Any starting point (`hbert_tf.weights.starting_point`): a pre-training model
            directory (run_config.json, vocab.txt, checkpoints/), a keras-hub preset, a Hugging
            Face BERT directory (a released BERT: heads on the top block), or "none" (random
            weights of architecture `config`, seeded by `seed`; needs `vocab_path`).
        max_seq_length: int. Longer sentences are truncated (counted and logged).
        vocab_path: str or None. Overrides the model's vocab.txt.
        do_lower_case: bool or None. None: uncased when the vocabulary has no upper-case token.
        name: str or None. Name in tables (default: the folder name).
        config: str. Architecture for "none" (preset name, bert_config.json or model dir).
        seed: int. Initialisation seed for "none".
        mixed_precision: str. "none", or a Keras dtype policy the encoder computes in
            ("mixed_bfloat16", "mixed_float16"); features are returned as float32.
        jit_compile: bool. XLA-compile the feature function.

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
        mixed_precision="none",
        jit_compile=False,
    ):
        self.model_dir = str(model_dir)
        if is_model_dir(self.model_dir):
            vocab_path = vocab_path or vocab_file(self.model_dir)  # names the folder if missing
        with dtype_policy(mixed_precision):  # the encoder's layers compute under it
            start = load_starting_point(
                self.model_dir, vocab_path=vocab_path, config=config, seed=seed
            )
        self.mixed_precision, self.jit_compile = mixed_precision, jit_compile
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
            **({"mixed_precision": self.mixed_precision} if self.mixed_precision != "none" else {}),
        }
        if cache is not None:
            cached = cache.load(self, task.name, choice, pooling, key)
            if cached is not None:
                return cached
        call = compiled_call(feature_model(self.encoder, choice, pooling), self.jit_compile)
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
        if not files.isfile(path):
            return None
        try:
            with files.open(path, "rb") as f, np.load(f) as data:
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
        files.makedirs(os.path.dirname(path))
        with AtomicFile(path) as out:
            np.savez(out.file, key=np.array(json.dumps(key, sort_keys=True)), **features)
            out.commit()
