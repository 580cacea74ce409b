import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from hbert_tf import names
from hbert_tf.modeling.losses import pretraining_losses, weighted_sparse_cross_entropy
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.variants import VARIANTS, place_heads, resolve_variant
from tests.helpers import ROOT, labels_for, perturb, random_batch, tiny_config, tiny_encoder


def placed(encoder, **placement):
    """A pretrainer with heads placed by block index (negative: from the top)."""
    return HBertPretrainer(encoder, place_heads(encoder.num_hidden_layers, **placement))


def test_lower_nsp_ignores_blocks_above_k():
    model = placed(tiny_encoder(num_hidden_layers=3), mlm_layer=-1, nsp_layer=0)
    inputs, _, _ = random_batch()
    before = model(inputs)
    for block in model.encoder.transformer_layers[1:]:
        perturb(block)
    after = model(inputs)
    np.testing.assert_array_equal(before[names.NSP_LOGITS], after[names.NSP_LOGITS])
    assert not np.allclose(before[names.MLM_LOGITS], after[names.MLM_LOGITS])


def test_lower_mask_ignores_blocks_above_k():
    model = placed(tiny_encoder(num_hidden_layers=3), mlm_layer=1, nsp_layer=-1)
    inputs, _, _ = random_batch()
    before = model(inputs)
    perturb(model.encoder.transformer_layers[2])
    after = model(inputs)
    np.testing.assert_array_equal(before[names.MLM_LOGITS], after[names.MLM_LOGITS])
    assert not np.allclose(before[names.NSP_LOGITS], after[names.NSP_LOGITS])


@pytest.mark.parametrize("concat, extra_width", [("none", 0), ("cls", 32), ("nsp", 2)])
def test_concat_widens_mlm_input_and_is_used(concat, extra_width):
    model = placed(tiny_encoder(), mlm_layer=-1, nsp_layer=0, concat=concat)
    assert model.mlm_head.transform.kernel.shape == (32 + extra_width, 32)
    inputs, _, _ = random_batch()
    before = model(inputs)[names.MLM_LOGITS]

    # The rows of the transform kernel that read the extra input matter exactly when it exists.
    kernel = model.mlm_head.transform.kernel
    changed = kernel.numpy().copy()
    changed[32:] += 1.0
    kernel.assign(changed)
    assert np.allclose(before, model(inputs)[names.MLM_LOGITS]) == (concat == "none")
    kernel.assign(changed - np.pad(np.ones((extra_width, 32)), ((32, 0), (0, 0))))

    # "nsp": the MLM output depends on the NSP classifier's output; otherwise it does not.
    perturb(model.nsp_head.classifier)
    after = model(inputs)[names.MLM_LOGITS]
    assert np.allclose(before, after, atol=1e-6) == (concat != "nsp")


def test_cls_concat_reads_the_nsp_level_cls_vector():
    model = placed(tiny_encoder(), mlm_layer=-1, nsp_layer=0, concat="cls")
    inputs, _, _ = random_batch()
    hidden = model.encoder({k: inputs[k] for k in names.ENCODER_INPUTS})[names.HIDDEN_STATES]
    head = model.mlm_head
    expected = head(hidden["layer_1"], inputs[names.MASKED_LM_POSITIONS], hidden["layer_0"][:, 0])
    np.testing.assert_allclose(model(inputs)[names.MLM_LOGITS], expected, atol=1e-5)
    wrong = head(hidden["layer_1"], inputs[names.MASKED_LM_POSITIONS], hidden["layer_1"][:, 0])
    assert not np.allclose(model(inputs)[names.MLM_LOGITS], wrong, atol=1e-4)


def test_heads_present_per_variant():
    encoder_layers = 2
    outputs = {}
    for variant in VARIANTS:
        layout = resolve_variant(variant, encoder_layers)
        model = HBertPretrainer(tiny_encoder(), layout)
        outputs[variant] = set(model(random_batch()[0]))
    assert outputs["without_nsp"] == {names.MLM_LOGITS}
    assert outputs["bert"] == {names.MLM_LOGITS, names.NSP_LOGITS}
    assert outputs["bigram_shift"] - outputs["bert"] == {names.BIGRAM_SHIFT_LOGITS}


def test_without_nsp_has_no_nsp_loss_or_metric():
    model = placed(tiny_encoder(), nsp_layer=None)
    inputs, labels, weights = random_batch()
    losses = pretraining_losses(labels, model(inputs), weights)
    assert set(losses) == {names.MLM_LOGITS, "total"}
    model.compile(optimizer="adam")
    history = model.fit(inputs, labels_for(model, labels, weights)[0], epochs=1, verbose=0)
    assert not any(key.startswith("nsp") for key in history.history)


def test_mlm_loss_is_sum_of_weighted_nll_over_sum_of_weights():
    logits = np.array([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [9.0, -9.0, 3.0]]], "float32")
    labels = np.array([[0, 2, 1]], "int32")
    weights = np.array([[1.0, 1.0, 0.0]], "float32")  # the last slot is padding
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_softmax, labels[..., None], -1)[..., 0]
    expected = (nll * weights).sum() / weights.sum()
    got = weighted_sparse_cross_entropy(labels, logits, weights)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    keras_mean = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        labels, logits, sample_weight=weights
    )
    assert not np.isclose(keras_mean, expected)  # the pitfall this loss avoids


def test_loss_weights_scale_the_total():
    model = placed(tiny_encoder(), bigram_shift_layer=-1)
    inputs, labels, weights = random_batch()
    outputs = model(inputs)
    plain = pretraining_losses(labels, outputs, weights)
    scaled = pretraining_losses(labels, outputs, weights, {names.NSP_LOGITS: 0.0})
    np.testing.assert_allclose(
        scaled["total"], plain[names.MLM_LOGITS] + plain[names.BIGRAM_SHIFT_LOGITS], rtol=1e-6
    )


def test_freeze_keeps_nsp_path_fixed_and_trains_the_rest():
    layout = resolve_variant("lower_nsp", 3, nsp_layer=0, concat="nsp", bigram_shift=True)
    model = HBertPretrainer(tiny_encoder(num_hidden_layers=3), layout)
    frozen = model.freeze_nsp()
    frozen_ids = {id(v) for v in frozen}
    trainable = [v for v in model.trainable_variables]
    assert not frozen_ids & {id(v) for v in trainable}
    before_frozen = [v.numpy().copy() for v in frozen]
    before_trainable = [v.numpy().copy() for v in trainable]
    model.compile(optimizer=keras.optimizers.Adam(1e-2, amsgrad=True, weight_decay=1e-4))
    inputs, labels, weights = random_batch()
    model.fit(inputs, labels, sample_weight=weights, epochs=3, batch_size=4, verbose=0)
    for before, variable in zip(before_frozen, frozen):
        np.testing.assert_array_equal(before, variable.numpy(), err_msg=variable.path)
    for before, variable in zip(before_trainable, trainable):
        assert not np.array_equal(before, variable.numpy()), variable.path
    # Embeddings, block 0 and the NSP head are frozen; blocks 1-2 and the MLM head are not.
    frozen_paths = {v.path.split("/")[0] for v in frozen}
    assert {"token_embedding", "transformer_layer_0", "nsp_head"} <= frozen_paths
    assert "transformer_layer_1" not in frozen_paths


def test_freeze_needs_an_nsp_head():
    with pytest.raises(ValueError, match="no NSP head"):
        placed(tiny_encoder(), nsp_layer=None).freeze_nsp()


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_step_fit_every_variant(variant):
    layout = resolve_variant(variant, 2, concat="cls" if variant == "lower_nsp" else "none")
    model = HBertPretrainer(tiny_encoder(dropout=0.1), layout)
    inputs, labels, weights = random_batch()
    labels, weights = labels_for(model, labels, weights)
    dataset = tf.data.Dataset.from_tensors((inputs, labels, weights)).repeat()
    model.compile(optimizer="adam")
    history = model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert "mlm_loss" in history and "mlm_accuracy" in history
    assert ("nsp_loss" in history) == (variant != "without_nsp")
    assert ("bigram_shift_accuracy" in history) == (variant == "bigram_shift")


def test_keras_round_trip_keeps_outputs_and_tied_weights(tmp_path):
    model = placed(tiny_encoder(), mlm_layer=0, nsp_layer=1, concat="nsp",
                            bigram_shift_layer=0)  # fmt: skip
    inputs, _, _ = random_batch()
    expected = model(inputs)
    path = tmp_path / "pretrainer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    got = loaded(inputs)
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(expected[key], got[key])
    assert loaded.mlm_head.token_embedding is loaded.encoder.token_embedding
    assert loaded.layout == model.layout
    table = loaded.encoder.token_embedding.embeddings
    table.assign(table.numpy() * 2.0)  # tied: the MLM logits follow the table
    assert not np.allclose(loaded(inputs)[names.MLM_LOGITS], got[names.MLM_LOGITS])


def test_bad_layer_index_names_the_field():
    with pytest.raises(ValueError, match="nsp_layer=5 is out of range"):
        placed(tiny_encoder(), nsp_layer=5)
    with pytest.raises(ValueError, match="needs an NSP head"):
        placed(tiny_encoder(), nsp_layer=None, concat="cls")
    assert tiny_config().num_hidden_layers == 2


def test_bigram_shift_balanced_loss_and_metrics_by_hand():
    from hbert_tf.modeling.losses import head_sums
    from hbert_tf.pretraining.loop import summarize

    key = names.BIGRAM_SHIFT_LOGITS
    labels = np.array([[0, 0, 0, 1, 1, 0]], "int32")
    weights = np.array([[1, 1, 1, 1, 1, 0]], "float32")  # the last token is padding
    logits = np.array([[[2, 0], [0, 1], [1, 0], [0, 3], [1, 0], [0, 5]]], "float32")
    nll = -np.log(np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
    nll = np.take_along_axis(nll, labels[..., None], -1)[..., 0]
    balanced = 0.5 * (nll[0, 3:5].mean() + nll[0, :3].mean())
    losses = pretraining_losses({key: labels}, {key: logits}, {key: weights})
    np.testing.assert_allclose(losses[key], balanced, rtol=1e-6)
    plain = pretraining_losses({key: labels}, {key: logits}, {key: weights}, None, False)
    np.testing.assert_allclose(plain[key], nll[0, :5].mean(), rtol=1e-6)
    metrics = summarize({k: np.asarray(v) for k, v in head_sums(
        {key: labels}, {key: logits}, {key: weights}).items()})  # fmt: skip
    # Predicted: 0 1 0 1 0 (padding ignored): in place 2/3 right, swapped 1/2 found, 1 of the 2
    # "swapped" answers right.
    assert metrics["bigram_shift_accuracy"] == pytest.approx(3 / 5)
    assert metrics["bigram_shift_balanced_accuracy"] == pytest.approx(0.5 * (2 / 3 + 1 / 2))
    assert metrics["bigram_shift_swapped_recall"] == pytest.approx(1 / 2)
    assert metrics["bigram_shift_swapped_precision"] == pytest.approx(1 / 2)
    assert metrics["bigram_shift_balanced_loss"] == pytest.approx(float(balanced), rel=1e-6)


def test_sum_keys_lists_what_head_sums_returns():
    """The training loop starts its totals from `sum_keys` (one trace of the step), so a key
    `head_sums` added without it would be dropped silently."""
    from hbert_tf.modeling.losses import head_sums, sum_keys

    rng = np.random.default_rng(0)
    logits = {
        names.MLM_LOGITS: rng.normal(size=(2, 3, 7)).astype("float32"),
        names.NSP_LOGITS: rng.normal(size=(2, 2)).astype("float32"),
        names.BIGRAM_SHIFT_LOGITS: rng.normal(size=(2, 5, 2)).astype("float32"),
    }
    labels = {
        names.MLM_LOGITS: rng.integers(0, 7, (2, 3)),
        names.NSP_LOGITS: rng.integers(0, 2, (2,)),
        names.BIGRAM_SHIFT_LOGITS: rng.integers(0, 2, (2, 5)),
    }
    for heads in ([names.MLM_LOGITS], list(logits)):
        sums = head_sums(labels, {k: logits[k] for k in heads}, None)
        assert sorted(sums) == sorted(sum_keys(heads))


def test_bigram_shift_head_reads_each_token_with_its_neighbours():
    from hbert_tf.modeling.heads import BigramShiftHead

    head = BigramShiftHead(8, window=1)
    sequence = np.random.default_rng(0).normal(size=(1, 6, 4)).astype("float32")
    base = np.asarray(head(sequence))
    changed = sequence.copy()
    changed[0, 3] += 1.0  # token 3 moves: tokens 2, 3, 4 see it, the others do not
    moved = np.abs(np.asarray(head(changed)) - base).max(-1)[0]
    assert (moved > 1e-6).tolist() == [False, False, True, True, True, False]


FIT_UNDER_MIRRORED = """
import json, keras, numpy as np, tensorflow as tf
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.runtime import make_strategy
from hbert_tf.variants import resolve_variant
from tests.helpers import labels_for, random_batch, tiny_encoder
mirrored = make_strategy("mirrored", cpu_devices=2)
inputs, labels, weights = random_batch(batch=8)
start = None
after = {}
for name, strategy in (("default", tf.distribute.get_strategy()), ("mirrored", mirrored)):
    with strategy.scope():
        model = HBertPretrainer(tiny_encoder(), resolve_variant("bert", 2))  # equal halves
        model.compile(optimizer=keras.optimizers.SGD(0.5))
    start = start or model.get_weights()
    model.set_weights(start)
    y, w = labels_for(model, labels, weights)
    model.fit(inputs, y, sample_weight=w, batch_size=8, shuffle=False, verbose=0)
    after[name] = model.get_weights()
print(json.dumps({
    "replicas": mirrored.num_replicas_in_sync,
    "largest_step": max(float(np.abs(a - s).max()) for a, s in zip(after["default"], start)),
    "largest_difference": max(
        float(np.abs(a - b).max()) for a, b in zip(after["default"], after["mirrored"])
    ),
}))
"""


def test_fit_under_a_mirrored_strategy_takes_the_same_step(tmp_path):
    """`compute_loss` divides by the replicas (the optimizer sums their gradients), so `fit` on
    two replicas with half a batch each takes the step of one replica on the whole batch."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-c", FIT_UNDER_MIRRORED], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["replicas"] == 2 and figures["largest_step"] > 1e-2
    assert figures["largest_difference"] < 1e-4, figures
