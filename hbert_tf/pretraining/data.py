"""The pre-training input pipeline: TFRecord shards -> batches of (inputs, labels, sample_weights).

Files are those of `tfrecords.create_pretraining_data` (or any BERT pre-training TFRecords with
the seven original features). Keys are those of `hbert_tf.names`, so a batch feeds
`HBertPretrainer` without renaming:

    inputs         {input_ids, input_mask, segment_ids: int32 [B, S], masked_lm_positions: int32 [B, P]}
    labels         {mlm_logits: masked_lm_ids int32 [B, P],
                    nsp_logits: next_sentence_labels int32 [B]            (NSP head),
                    bigram_shift_logits: bigram_shift_labels int32 [B, S] (bigram-shift head)}
    sample_weights {mlm_logits: masked_lm_weights float32 [B, P],
                    bigram_shift_logits: float32 [B, S], 1 on real tokens but [CLS]/[SEP]
                                                                          (bigram-shift head)}

Which labels a batch carries is `HeadLayout.heads` (pass `heads=layout.heads`); each task
(`hbert_tf.tasks`) names its label feature and its weights, and a sentence head's label is [B].

Example:
    >>> ds = pretraining_dataset("data/seq128/train-*.tfrecord", batch_size=32,
    ...                          max_seq_length=128, max_predictions_per_seq=20)  # doctest: +SKIP
    >>> inputs, labels, weights = next(iter(ds))                               # doctest: +SKIP
"""

import os
import re
import struct

import tensorflow as tf
from google.protobuf import message

from hbert_tf import files as file_layer  # `files` names lists of shards here
from hbert_tf import names
from hbert_tf.errors import UserError
from hbert_tf.pretraining.features import parsing_spec, pretraining_schema
from hbert_tf.tasks import get_task
from hbert_tf.tasks.base import WORD_TOKENS

MANIFEST = "manifest.json"


def _files(file_pattern):
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    files = []
    for pattern in patterns:
        for part in pattern.split(","):
            files.extend(sorted(tf.io.gfile.glob(part.strip())))  # the rules TF's readers use
    if not files:
        raise ValueError(f"no TFRecord file matches {file_pattern!r}")
    for path in files:
        check_tfrecord_framing(path)
    return files


def check_tfrecord_framing(path):
    """Raises UserError naming `path` unless it is a file whose first record header fits in it.

    A TFRecord starts with the record length (uint64 little-endian), a CRC, the record and
    another CRC; text, JSON or an empty file fail this at once (cheap: 12 bytes read).
    """
    if file_layer.isdir(path):
        raise UserError(f"{path}: is a folder; expected TFRecord files")
    size = file_layer.size(path)
    with file_layer.open(path, "rb") as f:
        header = f.read(12)
    if size == 0:
        raise UserError(f"{path}: is empty; expected a TFRecord file")
    if len(header) < 12 or struct.unpack("<Q", header[:8])[0] + 16 > size:
        raise UserError(
            f"{path}: not a TFRecord file (or cut short); pass only the .tfrecord shards "
            "(a data folder, or a pattern such as dir/train-*.tfrecord)"
        )


def find_damaged_file(files):
    """(path, message) of the first file in `files` that cannot be read to its end, or None.

    Reads every record (slow on big data): used only after a read already failed.
    """
    for path in files:
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except tf.errors.OpError as e:
            return path, _short_message(e)
    return None


def _short_message(error):
    """TensorFlow's error message on one line, without its function-node and op decorations."""
    message = re.sub(r"\{\{function_node [^}]*\}\}", "", error.message)
    message = re.sub(r"\s*\[Op:.*$", "", message, flags=re.S)
    if message.count("'") % 2:  # TensorFlow's "truncated record at N' failed with ..."
        message = message.replace("'", "")
    return " ".join(message.split())


def damaged_data_error(file_pattern, error):
    """A UserError naming the damaged file among `file_pattern`'s (after `error` while reading)."""
    found = find_damaged_file(_files(file_pattern))
    if found is None:
        return UserError(f"{file_pattern}: data could not be read ({_short_message(error)})")
    path, message = found
    return UserError(f"{path}: damaged TFRecord file ({message}); replace or remove it")


def _manifest(files):
    """The manifest.json beside the first file, or None."""
    path = os.path.join(os.path.dirname(files[0]), MANIFEST)
    if not file_layer.exists(path):
        return None
    manifest = file_layer.read_json(path)
    if not manifest.get("complete", True):
        raise ValueError(
            f"{path}: the data in this folder is incomplete (create_pretraining_data was "
            "interrupted); rerun it with the same flags to finish"
        )
    return manifest


def _feature_lengths(record, path):
    """{feature name: length} of one serialized tf.train.Example."""
    try:
        example = tf.train.Example.FromString(record)
    except message.DecodeError:
        raise UserError(f"{path}: records are not tf.train.Example protos") from None
    lengths = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        lengths[name] = len(getattr(feature, kind).value) if kind else 0
    missing = [n for n in names.ORIGINAL_BERT_FEATURES if n not in lengths]
    if missing:
        raise ValueError(f"{path}: records lack the BERT feature(s) {', '.join(missing)}")
    return lengths


def _first_record(path):
    try:
        for record in tf.data.TFRecordDataset(path).take(1):
            return record.numpy()
    except tf.errors.OpError as e:
        message = " ".join(e.message.split())
        raise UserError(f"{path}: not a readable TFRecord file ({message})") from None
    raise ValueError(f"{path}: the file holds no records")


def inspect_pretraining_data(file_pattern, max_records=1000):
    """Facts about pre-training files, read from their records (and manifest.json if present).

    Args:
        file_pattern: str or list of str. Glob(s), comma lists allowed.
        max_records: int. Records scanned for `max_input_id` (0 skips the scan).

    Returns:
        dict with max_seq_length, max_predictions_per_seq, has_bigram_shift_labels,
        max_input_id (over the scanned records), files, num_records (from the manifest, or None),
        vocab_size (from the manifest, or None) and manifest (dict or None).
    """
    files = _files(file_pattern)
    lengths = _feature_lengths(_first_record(files[0]), files[0])
    manifest = _manifest(files)
    max_id = -1
    if max_records:
        dataset = tf.data.TFRecordDataset(files).take(max_records)
        schema = pretraining_schema(lengths[names.INPUT_IDS], 1, False)
        spec = parsing_spec(schema, only=[names.INPUT_IDS])
        try:
            for batch in dataset.batch(256).map(lambda r: tf.io.parse_example(r, spec)):
                max_id = max(max_id, int(tf.reduce_max(batch[names.INPUT_IDS])))
        except tf.errors.DataLossError as e:
            raise damaged_data_error(files, e) from None
    num_records = None
    if manifest:
        split = os.path.basename(files[0]).split("-")[0]
        num_records = manifest.get("splits", {}).get(split, {}).get("instances")
    return {
        "files": files,
        "max_seq_length": lengths[names.INPUT_IDS],
        "max_predictions_per_seq": lengths[names.MASKED_LM_POSITIONS],
        "has_bigram_shift_labels": names.BIGRAM_SHIFT_LABELS in lengths,
        "max_input_id": max_id,
        "num_records": num_records,
        "vocab_size": manifest.get("vocab_size") if manifest else None,
        "manifest": manifest,
    }


def check_pretraining_data(
    file_pattern,
    *,
    max_seq_length,
    max_predictions_per_seq,
    with_bigram_shift=False,
    vocab_size=None,
    heads=(),
):
    """Raises ValueError, naming the file and both values, when the data does not fit the flags.

    Checks the first record of every file (up to 64 files), the manifest beside them, that the
    data carries the labels of every head in `heads` (task names; `with_bigram_shift` adds
    "bigram_shift"), and with `vocab_size` that no input id (in the first records) is outside
    the vocabulary.
    """
    files = _files(file_pattern)
    tasks = [get_task(head) for head in heads]
    if with_bigram_shift:
        tasks.append(get_task("bigram_shift"))
    for path in files[:64]:
        lengths = _feature_lengths(_first_record(path), path)
        for feature, flag, expected in (
            (names.INPUT_IDS, "max_seq_length", max_seq_length),
            (names.MASKED_LM_POSITIONS, "max_predictions_per_seq", max_predictions_per_seq),
        ):
            if lengths[feature] != expected:
                raise ValueError(
                    f"{path}: data has {flag}={lengths[feature]} but the flags say "
                    f"{flag}={expected}; use the values the data was created with"
                )
        for task in tasks:
            if task.label_feature not in lengths:
                raise ValueError(
                    f"{path}: no {task.label_feature} feature; create the data with "
                    f"--{task.switch} > 0 to train the {task.title} head"
                )
    manifest = _manifest(files)
    if manifest:
        for flag, expected in (
            ("max_seq_length", max_seq_length),
            ("max_predictions_per_seq", max_predictions_per_seq),
        ):
            if manifest.get(flag, expected) != expected:
                raise ValueError(
                    f"{os.path.dirname(files[0])}/{MANIFEST}: data has {flag}={manifest[flag]} "
                    f"but the flags say {flag}={expected}"
                )
    if vocab_size is not None:
        info = inspect_pretraining_data(files, max_records=1000)
        data_vocab = info["vocab_size"]
        if info["max_input_id"] >= vocab_size or (data_vocab and data_vocab > vocab_size):
            raise ValueError(
                f"{files[0]}: data uses ids up to {max(info['max_input_id'], (data_vocab or 0) - 1)} "
                f"but the model's vocab_size is {vocab_size}; use the vocabulary the data was made with"
            )


def bigram_shift_weights(input_mask, segment_ids):
    """float32 [B, S]: 1 on real tokens except [CLS] and both [SEP]s (found from the layout:
    [CLS] at 0, the first [SEP] ends segment 0, the last real token is the second [SEP])."""
    mask = tf.cast(input_mask, tf.float32)
    length = tf.reduce_sum(tf.cast(input_mask, tf.int32), axis=-1)
    first_sep = (
        tf.reduce_sum(tf.cast(input_mask, tf.int32) * tf.cast(segment_ids == 0, tf.int32), -1) - 1
    )
    seq_len = tf.shape(input_mask)[-1]
    specials = (
        tf.one_hot(tf.zeros_like(length), seq_len)
        + tf.one_hot(first_sep, seq_len)
        + tf.one_hot(length - 1, seq_len)
    )
    return mask * tf.cast(specials == 0, tf.float32)


def _sample_weights(task, f):
    """float32 weights of a task's label slots (`task.weights`), or None (every slot weighs 1)."""
    if task.weights == WORD_TOKENS:
        return bigram_shift_weights(f[names.INPUT_MASK], f[names.SEGMENT_IDS])
    if task.weights is not None:  # a feature of its own
        return tf.cast(f[task.weights], tf.float32)
    return None


def _to_model_batch(features, heads):
    """Parsed features -> (inputs, labels, sample_weights) keyed by the tasks' output keys for
    the given head types (e.g. `layout.heads`); labels are each task's `label_feature`."""
    f = {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v for k, v in features.items()}
    inputs = {name: f[name] for name in names.PRETRAINING_INPUTS}
    labels, weights = {}, {}
    for head in heads:
        task = get_task(head)
        key = task.output_key
        labels[key] = f[task.label_feature]
        head_weights = _sample_weights(task, f)
        if task.head == "sentence":  # stored as [1] per example
            labels[key] = tf.squeeze(labels[key], axis=-1)
            if head_weights is not None:
                head_weights = tf.squeeze(head_weights, axis=-1)
        if head_weights is not None:
            weights[key] = head_weights
    return inputs, labels, weights


def pretraining_dataset(
    file_pattern,
    *,
    batch_size,
    max_seq_length,
    max_predictions_per_seq,
    heads=("mlm", "nsp"),
    is_training=True,
    seed=None,
    shuffle_buffer_size=10_000,
    cycle_length=8,
    vocab_size=None,
    input_pipeline_context=None,
    validate=True,
):
    """tf.data pipeline of pre-training batches with fixed shapes.

    Args:
        file_pattern: str or list of str. Shard glob(s); comma lists allowed.
        batch_size: int. Global batch size; with `input_pipeline_context` each pipeline makes
            per-replica batches.
        max_seq_length, max_predictions_per_seq: int. Must match the data (checked).
        heads: iterable of head types (`HeadLayout.heads`): the labels and weights to give;
            the data must carry each one's labels (e.g. "bigram_shift": bigram-shift labels).
        is_training: bool. Shuffle files and records, repeat forever, drop the last partial
            batch. When False: files in order, one pass, last partial batch dropped too (shapes
            stay fixed).
        seed: int or None. Shuffle seed.
        shuffle_buffer_size, cycle_length: int. Record shuffle buffer; shards read at once.
        vocab_size: int or None. Check that the data's ids fit the model's vocabulary.
        input_pipeline_context: tf.distribute.InputContext or None. Shards files (or records,
            when there are fewer files than pipelines) per input pipeline.
        validate: bool. Run `check_pretraining_data` first.

    Returns:
        tf.data.Dataset of (inputs, labels, sample_weights); see the module docstring.
    """
    heads = tuple(heads)
    files = _files(file_pattern)
    if validate:
        check_pretraining_data(
            files,
            max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq,
            vocab_size=vocab_size,
            heads=heads,
        )
    ctx = input_pipeline_context
    if ctx is not None:
        batch_size = ctx.get_per_replica_batch_size(batch_size)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    shard_records = False
    if ctx is not None and ctx.num_input_pipelines > 1:
        if len(files) >= ctx.num_input_pipelines:
            dataset = dataset.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        else:
            shard_records = True
    if is_training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(cycle_length, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not is_training,
    )
    if shard_records:
        dataset = dataset.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    if is_training:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
    spec = parsing_spec(pretraining_schema(max_seq_length, max_predictions_per_seq, labelled=heads))
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(
        lambda records: _to_model_batch(tf.io.parse_example(records, spec), heads),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not is_training,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def heldout_baselines(
    file_pattern, *, batch_size, max_seq_length, max_predictions_per_seq, max_batches=None
):
    """What trivial predictors score on the batches an evaluation reads (same files, order, batch
    size and batch limit as `PretrainingLoop.evaluate` on `pretraining_dataset(...,
    is_training=False)`), to print beside the heads' held-out accuracies.

    Args:
        file_pattern: str. The eval shards.
        batch_size, max_seq_length, max_predictions_per_seq: int. As the evaluation's.
        max_batches: int or None. At most this many batches (the evaluation's `eval_batches`).

    Returns:
        dict with
          mlm_unigram_baseline: float. Accuracy of always predicting the most frequent
            `masked_lm_ids` token among the weighted held-out positions (weight-averaged, as
            `mlm_accuracy` is).
          nsp_majority_baseline: float. Share of the majority class of the held-out pairs.
    """
    import numpy as np

    dataset = pretraining_dataset(
        file_pattern,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
        heads=("mlm", "nsp"),
        is_training=False,
        validate=False,
    )
    token_weight, nsp_count = np.zeros(0), np.zeros(2)  # weight per token id; pairs per class
    for i, (_, labels, weights) in enumerate(dataset):
        if max_batches and i >= max_batches:
            break
        ids = labels[names.MLM_LOGITS].numpy().ravel()
        batch = np.bincount(ids, weights=weights[names.MLM_LOGITS].numpy().ravel())
        size = max(len(batch), len(token_weight))
        token_weight = np.pad(token_weight, (0, size - len(token_weight)))
        token_weight[: len(batch)] += batch
        nsp_count += np.bincount(labels[names.NSP_LOGITS].numpy(), minlength=2)[:2]
    if not nsp_count.sum() or not token_weight.sum():
        raise ValueError(f"{file_pattern}: the evaluation data yielded no batch")
    return {
        "mlm_unigram_baseline": float(token_weight.max() / token_weight.sum()),
        "nsp_majority_baseline": float(nsp_count.max() / nsp_count.sum()),
    }
