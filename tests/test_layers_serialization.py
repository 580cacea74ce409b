"""Every public Keras layer and model of hbert_tf through the shared keras-hub-style checks
(`tests/layer_test_helper.py`): config round trip, serialisation, `.keras` file, one step."""

import inspect

import keras
import numpy as np
import pytest
from keras_hub.layers import ReversibleEmbedding

from hbert_tf import names, optimization
from hbert_tf.modeling import baselines, downstream, encoder, heads, pretrainer
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.variants import resolve_variant
from tests.helpers import encoder_inputs, labels_for, random_batch, tiny_config, tiny_encoder
from tests.layer_test_helper import run_layer_test

HIDDEN = tiny_config().hidden_size


def _batch():
    inputs, labels, weights = random_batch()
    return inputs, labels, weights


def test_encoder(tmp_path):
    inputs, _, _ = _batch()
    run_layer_test(tiny_encoder(), (encoder_inputs(inputs),), tmp_path)


@pytest.mark.parametrize("with_extra", [False, True])
def test_masked_lm_head(with_extra):
    rng = np.random.default_rng(0)
    table = ReversibleEmbedding(40, HIDDEN)  # any table; from_config gets one of its own
    head = heads.MaskedLMHead(table, HIDDEN)
    args = [rng.normal(size=(2, 6, HIDDEN)).astype("float32"), np.array([[1, 2], [3, 0]])]
    if with_extra:
        args.append(rng.normal(size=(2, 2)).astype("float32"))
    run_layer_test(head, tuple(args))
    config = head.get_config()
    assert (config["vocab_size"], config["embedding_dim"]) == (40, HIDDEN)


def test_next_sentence_head():
    cls_vector = np.random.default_rng(1).normal(size=(3, HIDDEN)).astype("float32")
    run_layer_test(heads.NextSentenceHead(HIDDEN), (cls_vector,))


def test_bigram_shift_head():
    sequence = np.random.default_rng(2).normal(size=(2, 5, HIDDEN)).astype("float32")
    run_layer_test(heads.BigramShiftHead(HIDDEN, window=2), (sequence,))


def test_sentence_concat():
    rng = np.random.default_rng(3)
    tokens = rng.normal(size=(2, 4, 3)).astype("float32")
    extra = rng.normal(size=(2, 2)).astype("float32")
    layer = downstream.SentenceConcat()
    # No weights: the config and serialisation trips are the checks (no training step).
    assert layer(tokens, extra).shape == (2, 4, 5)
    rebuilt = downstream.SentenceConcat.from_config(layer.get_config())
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    for copy in (rebuilt, revived):
        np.testing.assert_array_equal(copy(tokens, extra), layer(tokens, extra))


@pytest.mark.parametrize(
    "variant, concat", [("lower_nsp", "cls"), ("lower_mask", "nsp"), ("without_nsp", "none")]
)
def test_pretrainer(tmp_path, variant, concat):
    layout = resolve_variant(variant, 2, concat=concat)
    model = HBertPretrainer(tiny_encoder(), layout)
    inputs, labels, weights = _batch()
    labels, weights = labels_for(model, labels, weights)
    model.compile(optimizer="adam")
    run_layer_test(model, (inputs,), tmp_path, fit_data=(inputs, labels, weights))


def _pretrained(variant="lower_nsp", concat="cls"):
    layout = resolve_variant(variant, 2, concat=concat)
    return HBertPretrainer(tiny_encoder(), layout)


@pytest.mark.parametrize("concat", ["none", "cls", "nsp"])
def test_span_model(tmp_path, concat):
    source = _pretrained()
    read_out = downstream.resolve_read_out(2, source.layout, concat)
    model = downstream.SpanModel(source.encoder, read_out, source.nsp_head)
    inputs, _, _ = _batch()
    run_layer_test(model, (encoder_inputs(inputs),), tmp_path)
    assert model.get_config()["read_out"] == {
        "token_layer": read_out.token_layer,
        "sentence_layer": read_out.sentence_layer,
        "concat": concat,
    }


@pytest.mark.parametrize("with_nsp_head", [True, False])
def test_sentence_classifier(tmp_path, with_nsp_head):
    source = _pretrained()
    read_out = downstream.resolve_read_out(2, source.layout)
    nsp_head = source.nsp_head if with_nsp_head else None
    model = downstream.SentenceClassifier(source.encoder, read_out, 3, nsp_head)
    inputs, _, _ = _batch()
    run_layer_test(model, (encoder_inputs(inputs),), tmp_path)
    assert model.get_config()["num_classes"] == 3


def test_bilstm_encoder_and_a_span_model_over_it(tmp_path):
    matrix = np.random.default_rng(4).normal(size=(64, 6)).astype("float32")
    bilstm = baselines.BiLSTMEncoder(matrix, lstm_units=4, num_layers=2)
    inputs, _, _ = _batch()
    run_layer_test(bilstm, (encoder_inputs(inputs),), tmp_path)
    span = downstream.SpanModel(bilstm, downstream.resolve_read_out(2, None, "cls"))
    run_layer_test(span, (encoder_inputs(inputs),), tmp_path)


def test_learning_rate_schedule_and_optimizer_configs_round_trip():
    schedule = optimization.WarmupDecay(1e-3, total_steps=100, warmup_steps=10, decay="linear")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    for step in (0, 5, 10, 60, 100):
        assert float(again(step)) == pytest.approx(float(schedule(step)))
    optimizer = optimization.AdamL2(l2_weight_decay=0.01, learning_rate=schedule)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(revived) is optimization.AdamL2
    assert revived.get_config() == optimizer.get_config()


def test_every_registered_class_is_covered_and_has_its_own_get_config():
    """A class registered as serialisable either defines get_config (and from_config when its
    constructor takes more than the base class), or has nothing beyond the base config."""
    registered = []
    for module in (baselines, downstream, encoder, heads, optimization, pretrainer):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            name = keras.saving.get_registered_name(cls)
            if cls.__module__ == module.__name__ and name.startswith("hbert_tf>"):
                registered.append(cls)
    assert {c.__name__ for c in registered} == {
        "AdamL2", "BiLSTMEncoder", "BigramShiftHead", "HBertEncoder", "HBertPretrainer",
        "MaskedLMHead", "NextSentenceHead", "SentenceClassifier", "SentenceConcat", "SpanModel",
        "WarmupDecay",
    }  # fmt: skip
    for cls in registered:
        own_args = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs", "kw"}
        if own_args:
            assert "get_config" in vars(cls), f"{cls.__name__} has no get_config of its own"


def test_names_are_exported_outputs():
    """The pre-training model's outputs are the head keys (a guard for the checks above)."""
    model = _pretrained("bigram_shift", "none")
    inputs, _, _ = _batch()
    assert set(model(inputs)) == {names.MLM_LOGITS, names.NSP_LOGITS, names.BIGRAM_SHIFT_LOGITS}
