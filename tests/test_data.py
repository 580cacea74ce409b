"""hbert_tf.pretraining.data: the pre-training reader (files written here with tf.train.Example directly)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from hbert_tf import names
from hbert_tf.pretraining import data

SEQ, PRED = 16, 3


def _example(rng, with_bigram_shift, seq=SEQ, pred=PRED, max_id=50):
    n0, n = 6, 12  # [CLS] 4 tokens [SEP] | 5 tokens [SEP]
    ids = [2] + list(rng.integers(5, max_id, 4)) + [3] + list(rng.integers(5, max_id, 5)) + [3]
    feature = {
        names.INPUT_IDS: ids + [0] * (seq - n),
        names.INPUT_MASK: [1] * n + [0] * (seq - n),
        names.SEGMENT_IDS: [0] * n0 + [1] * (n - n0) + [0] * (seq - n),
        names.MASKED_LM_POSITIONS: [1, 7] + [0] * (pred - 2),
        names.MASKED_LM_IDS: [9, 10] + [0] * (pred - 2),
        names.NEXT_SENTENCE_LABELS: [int(rng.integers(0, 2))],
    }
    if with_bigram_shift:
        feature[names.BIGRAM_SHIFT_LABELS] = [0, 1, 1] + [0] * (seq - 3)
    example = tf.train.Example()
    for key, values in feature.items():
        example.features.feature[key].int64_list.value[:] = [int(v) for v in values]
    example.features.feature[names.MASKED_LM_WEIGHTS].float_list.value[:] = [1.0, 1.0] + [0.0] * (
        pred - 2
    )
    return example.SerializeToString()


def _write(folder, shards=2, records=10, with_bigram_shift=True, manifest=None, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for s in range(shards):
        with tf.io.TFRecordWriter(str(folder / f"train-{s:05d}-of-{shards:05d}.tfrecord")) as w:
            for _ in range(records):
                w.write(_example(rng, with_bigram_shift, **kw))
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(folder / "train-*.tfrecord")


def test_batches_have_fixed_shapes_and_model_keys(tmp_path):
    pattern = _write(tmp_path / "d")
    ds = data.pretraining_dataset(
        pattern,
        batch_size=4,
        max_seq_length=SEQ,
        max_predictions_per_seq=PRED,
        heads=("mlm", "nsp", "bigram_shift"),
        seed=1,
    )
    inputs, labels, weights = next(iter(ds))
    assert set(inputs) == set(names.PRETRAINING_INPUTS)
    assert inputs[names.INPUT_IDS].shape == (4, SEQ) and inputs[names.INPUT_IDS].dtype == tf.int32
    assert inputs[names.MASKED_LM_POSITIONS].shape == (4, PRED)
    assert set(labels) == {names.MLM_LOGITS, names.NSP_LOGITS, names.BIGRAM_SHIFT_LOGITS}
    assert labels[names.NSP_LOGITS].shape == (4,) and labels[names.MLM_LOGITS].dtype == tf.int32
    assert set(weights) == {names.MLM_LOGITS, names.BIGRAM_SHIFT_LOGITS}
    bigram_weights = weights[names.BIGRAM_SHIFT_LOGITS].numpy()[0]
    expected = np.zeros(SEQ, np.float32)
    expected[[1, 2, 3, 4, 6, 7, 8, 9, 10]] = 1.0  # real tokens but [CLS] (0) and [SEP]s (5, 11)
    np.testing.assert_array_equal(bigram_weights, expected)
    assert weights[names.MLM_LOGITS].dtype == tf.float32
    for batch in ds.take(12):  # repeats past the 20 records
        assert batch[0][names.INPUT_IDS].shape == (4, SEQ)


def test_without_nsp_and_without_bigram_labels_in_files(tmp_path):
    pattern = _write(tmp_path / "d", with_bigram_shift=False)
    ds = data.pretraining_dataset(
        pattern,
        batch_size=3,
        max_seq_length=SEQ,
        max_predictions_per_seq=PRED,
        heads=("mlm",),
        is_training=False,
    )
    batches = list(ds)
    assert len(batches) == 6  # 20 records, drop_remainder keeps shapes fixed
    _, labels, weights = batches[0]
    assert set(labels) == {names.MLM_LOGITS} and set(weights) == {names.MLM_LOGITS}
    with pytest.raises(ValueError, match="no bigram_shift_labels feature"):
        data.pretraining_dataset(
            pattern,
            batch_size=3,
            max_seq_length=SEQ,
            max_predictions_per_seq=PRED,
            heads=("mlm", "nsp", "bigram_shift"),
        )


def test_length_mismatch_names_the_file_and_both_values(tmp_path):
    pattern = _write(tmp_path / "d")
    with pytest.raises(
        ValueError,
        match=r"train-00000-of-00002.tfrecord: data has max_seq_length=16 but the flags say max_seq_length=128",
    ):
        data.pretraining_dataset(
            pattern, batch_size=2, max_seq_length=128, max_predictions_per_seq=PRED
        )
    with pytest.raises(
        ValueError, match="max_predictions_per_seq=3 but the flags say max_predictions_per_seq=20"
    ):
        data.pretraining_dataset(
            pattern, batch_size=2, max_seq_length=SEQ, max_predictions_per_seq=20
        )
    with pytest.raises(ValueError, match="no TFRecord file matches"):
        data.pretraining_dataset(
            str(tmp_path / "nothing*"),
            batch_size=2,
            max_seq_length=SEQ,
            max_predictions_per_seq=PRED,
        )


def test_ids_outside_the_vocabulary(tmp_path):
    pattern = _write(tmp_path / "d", max_id=90)
    with pytest.raises(ValueError, match="model's vocab_size is 60"):
        data.pretraining_dataset(
            pattern, batch_size=2, max_seq_length=SEQ, max_predictions_per_seq=PRED, vocab_size=60
        )
    data.check_pretraining_data(
        pattern, max_seq_length=SEQ, max_predictions_per_seq=PRED, vocab_size=100
    )


def test_manifest_is_checked_and_inspected(tmp_path):
    manifest = {
        "complete": True,
        "max_seq_length": SEQ,
        "max_predictions_per_seq": PRED,
        "vocab_size": 100,
        "splits": {"train": {"instances": 20}},
    }
    pattern = _write(tmp_path / "d", manifest=manifest)
    info = data.inspect_pretraining_data(pattern)
    assert info["max_seq_length"] == SEQ and info["max_predictions_per_seq"] == PRED
    assert (
        info["has_bigram_shift_labels"] and info["num_records"] == 20 and info["vocab_size"] == 100
    )
    assert 5 <= info["max_input_id"] < 50
    (tmp_path / "d" / "manifest.json").write_text(json.dumps(dict(manifest, complete=False)))
    with pytest.raises(ValueError, match="incomplete"):
        data.inspect_pretraining_data(pattern)


def test_input_context_shards_files(tmp_path):
    pattern = _write(tmp_path / "d", shards=2, records=4)
    ctx = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2
    )
    ds = data.pretraining_dataset(
        pattern,
        batch_size=4,
        max_seq_length=SEQ,
        max_predictions_per_seq=PRED,
        is_training=False,
        input_pipeline_context=ctx,
    )
    batches = list(ds)
    assert len(batches) == 2 and batches[0][0][names.INPUT_IDS].shape == (
        2,
        SEQ,
    )  # per-replica batch


def _eval_example(masked_ids, weights, nsp_label):
    """A pre-training example that only sets what the held-out baselines read."""
    feature = {
        names.INPUT_IDS: [2, 5, 6, 3, 7, 3] + [0] * (SEQ - 6),
        names.INPUT_MASK: [1] * 6 + [0] * (SEQ - 6),
        names.SEGMENT_IDS: [0] * 4 + [1] * 2 + [0] * (SEQ - 6),
        names.MASKED_LM_POSITIONS: [1, 2, 4],
        names.MASKED_LM_IDS: masked_ids,
        names.NEXT_SENTENCE_LABELS: [nsp_label],
    }
    example = tf.train.Example()
    for key, values in feature.items():
        example.features.feature[key].int64_list.value[:] = values
    example.features.feature[names.MASKED_LM_WEIGHTS].float_list.value[:] = weights
    return example.SerializeToString()


def test_heldout_baselines_count_weighted_positions_of_the_evaluated_batches(tmp_path):
    examples = [  # (masked ids, weights, NSP label); batches of 2: the fifth is dropped
        ([9, 9, 4], [1, 1, 0], 1),
        ([9, 7, 7], [1, 1, 1], 1),
        ([7, 9, 9], [1, 0, 0], 0),
        ([4, 4, 9], [1, 1, 1], 1),
        ([4, 4, 4], [1, 1, 1], 0),
    ]
    path = str(tmp_path / "eval-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for example in examples:
            w.write(_eval_example(*example))
    shapes = dict(batch_size=2, max_seq_length=SEQ, max_predictions_per_seq=PRED)
    # weighted counts 9: 4, 7: 3, 4: 2 of 9 (zero-weight slots and the dropped batch left out);
    # NSP: 3 of the 4 evaluated pairs are IsNext
    assert data.heldout_baselines(path, **shapes) == {
        "mlm_unigram_baseline": pytest.approx(4 / 9),
        "nsp_majority_baseline": 0.75,
    }
    # only the first batch, as an evaluation with eval_batches=1 reads: 9: 3 of 5; NSP 2 of 2
    assert data.heldout_baselines(path, max_batches=1, **shapes) == {
        "mlm_unigram_baseline": pytest.approx(3 / 5),
        "nsp_majority_baseline": 1.0,
    }
