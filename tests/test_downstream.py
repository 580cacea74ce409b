"""Fig. 3 read-outs of the fine-tuning models, and the BiLSTM baseline's pieces."""

import numpy as np
import pytest
from keras import ops

from hbert_tf import names
from hbert_tf.modeling import baselines, downstream
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.text import word_vectors
from hbert_tf.text.vocab import Vocab
from hbert_tf.variants import resolve_variant
from tests.helpers import random_batch, tiny_encoder


def lower_nsp_pretrainer(concat="none"):
    encoder = tiny_encoder(num_hidden_layers=3)
    layout = resolve_variant("lower_nsp", 3, nsp_layer=0, concat=concat)
    return HBertPretrainer(encoder, layout)


def encoder_inputs():
    inputs, _, _ = random_batch(batch=2, seq=12)
    return {k: inputs[k] for k in names.ENCODER_INPUTS}


def hidden_states(encoder, inputs):
    return {k: np.asarray(v) for k, v in encoder(inputs)[names.HIDDEN_STATES].items()}


def test_read_out_follows_the_pretraining_layout_and_defaults_to_last():
    layout = lower_nsp_pretrainer("cls").layout
    assert downstream.resolve_read_out(3, layout) == downstream.ReadOut(2, 0, "cls")
    assert downstream.resolve_read_out(3, layout, "none").concat == "none"
    assert downstream.resolve_read_out(3, None) == downstream.ReadOut(2, 2, "none")
    without = resolve_variant("without_nsp", 3)
    assert downstream.resolve_read_out(3, without).sentence_layer == 2
    with pytest.raises(ValueError, match="token_layer=5 is out of range"):
        downstream.resolve_read_out(3, None, token_layer=5)


@pytest.mark.parametrize("concat", ["none", "cls", "nsp"])
def test_span_head_input_is_mlm_level_tokens_plus_the_concat_vector(concat):
    pretrainer = lower_nsp_pretrainer()
    read_out = downstream.resolve_read_out(3, pretrainer.layout, concat)
    model = downstream.SpanModel(pretrainer.encoder, read_out, pretrainer.nsp_head)
    inputs = encoder_inputs()
    hidden = hidden_states(pretrainer.encoder, inputs)
    tokens = hidden["layer_2"]  # MLM level (Fig. 3b)
    cls_vector = hidden["layer_0"][:, 0]  # NSP level
    extra = {
        "none": None,
        "cls": cls_vector,  # Fig. 3c
        "nsp": None if concat != "nsp" else np.asarray(pretrainer.nsp_head(cls_vector)["logits"]),
    }[concat]
    if extra is not None:
        tokens = np.concatenate([tokens, np.repeat(extra[:, None], tokens.shape[1], 1)], -1)
    kernel, bias = model.classifier.get_weights()
    assert kernel.shape[0] == {"none": 32, "cls": 64, "nsp": 34}[concat]
    expected = tokens @ kernel + bias
    outputs = model(inputs)
    mask = inputs[names.INPUT_MASK] == 1
    np.testing.assert_allclose(
        np.asarray(outputs[downstream.START_LOGITS])[mask], expected[..., 0][mask], atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(outputs[downstream.END_LOGITS])[mask], expected[..., 1][mask], atol=1e-5
    )
    assert np.all(np.asarray(outputs[downstream.START_LOGITS])[~mask] < -1000)


def test_nsp_concat_without_an_nsp_head_is_a_clear_error():
    read_out = downstream.ReadOut(1, 1, "nsp")
    with pytest.raises(ValueError, match="concat='nsp' needs the NSP classifier"):
        downstream.SpanModel(tiny_encoder(), read_out, nsp_head=None)


def test_sentence_classifier_reads_nsp_level_cls_through_the_nsp_pooler():
    pretrainer = lower_nsp_pretrainer()
    read_out = downstream.resolve_read_out(3, pretrainer.layout)
    model = downstream.SentenceClassifier(pretrainer.encoder, read_out, 3, pretrainer.nsp_head)
    inputs = encoder_inputs()
    cls_vector = hidden_states(pretrainer.encoder, inputs)["layer_0"][:, 0]
    pooled = np.asarray(pretrainer.nsp_head(cls_vector)["pooled"])
    kernel, bias = model.classifier.get_weights()
    np.testing.assert_allclose(
        np.asarray(model(inputs)[downstream.LOGITS]), pooled @ kernel + bias, atol=1e-5
    )
    # The pooler is the NSP head's own (shared weights), so it starts pre-trained.
    assert model.pooler is pretrainer.nsp_head.pooler


def test_fine_tuning_models_hold_the_nsp_head_only_when_they_call_it():
    # a held head that gets no gradients makes Keras warn "Gradients do not exist for nsp_head"
    pretrainer = lower_nsp_pretrainer()
    nsp_classifier = {id(w) for w in pretrainer.nsp_head.classifier.weights}

    def holds_nsp_classifier(model):
        return bool(nsp_classifier & {id(w) for w in model.trainable_weights})

    for concat, held in (("none", False), ("cls", False), ("nsp", True)):
        read_out = downstream.resolve_read_out(3, pretrainer.layout, concat)
        model = downstream.SpanModel(pretrainer.encoder, read_out, pretrainer.nsp_head)
        assert holds_nsp_classifier(model) is held, concat
    read_out = downstream.resolve_read_out(3, pretrainer.layout)
    classifier = downstream.SentenceClassifier(pretrainer.encoder, read_out, 3, pretrainer.nsp_head)
    assert not holds_nsp_classifier(classifier)
    pooler = {id(w) for w in pretrainer.nsp_head.pooler.weights}
    assert pooler <= {id(w) for w in classifier.trainable_weights}


def test_bilstm_encoder_has_the_encoder_interface():
    matrix = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    encoder = baselines.BiLSTMEncoder(matrix, lstm_units=5, num_layers=2)
    inputs = encoder_inputs()
    outputs = encoder(inputs)
    assert set(outputs[names.HIDDEN_STATES]) == {"layer_0", "layer_1"}
    assert tuple(outputs[names.SEQUENCE_OUTPUT].shape) == (2, 12, 10)
    np.testing.assert_array_equal(encoder.token_embedding.get_weights()[0], matrix)
    model = downstream.SpanModel(encoder, downstream.resolve_read_out(2, None, "cls"))
    assert tuple(model(inputs)[downstream.START_LOGITS].shape) == (2, 12)
    assert not encoder.token_embedding.trainable


def test_vec_file_lookup_with_piece_fallback(tmp_path):
    vocab = Vocab(list(names.SPECIAL_TOKENS) + ["kite", "##s", "zebra"])
    path = tmp_path / "v.vec"
    path.write_text("2 3\nkite 1 2 3\ns 4 5 6\n", encoding="utf-8")
    matrix = word_vectors.matrix_from_vec_file(str(path), vocab)
    np.testing.assert_array_equal(matrix[5], [1, 2, 3])
    np.testing.assert_array_equal(matrix[6], [4, 5, 6])  # "##s" falls back to "s"
    assert matrix.shape == (8, 3) and np.all(np.abs(matrix[7]) < 1)
    path.write_text("2 3\nkite 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="v.vec: line 2 has 2 values, expected 3"):
        word_vectors.matrix_from_vec_file(str(path), vocab)


def test_fasttext_vectors_trained_on_task_text_cover_the_vocabulary():
    vocab = Vocab(list(names.SPECIAL_TOKENS) + ["kite", "kites", "flies", "unseen"])
    sentences = [["kite", "flies"], ["kites", "flies"]] * 20
    matrix = word_vectors.train_fasttext_matrix(sentences, vocab, dim=8, epochs=2)
    assert matrix.shape == (9, 8) and np.all(np.isfinite(matrix))
    assert np.abs(matrix[8]).sum() > 0  # subword n-grams give unseen entries a vector
    assert ops.convert_to_numpy(ops.sum(matrix)) != 0


@pytest.mark.parametrize("concat", ["none", "cls"])
def test_lower_mask_read_out_takes_tokens_below_the_last_block(concat):
    """Lower Mask (MLM on block 0 of 3, NSP on top): the span head reads block 0's tokens and the
    [CLS] of the top block, so a read-out that always used the last block would differ."""
    encoder = tiny_encoder(num_hidden_layers=3)
    layout = resolve_variant("lower_mask", 3, mlm_layer=0, concat=concat)
    pretrainer = HBertPretrainer(encoder, layout)
    read_out = downstream.resolve_read_out(3, pretrainer.layout)
    assert read_out == downstream.ReadOut(token_layer=0, sentence_layer=2, concat=concat)
    inputs = encoder_inputs()
    hidden = hidden_states(encoder, inputs)
    assert np.abs(hidden["layer_0"] - hidden["layer_2"]).max() > 1e-2
    span = downstream.SpanModel(encoder, read_out, pretrainer.nsp_head)
    tokens = hidden["layer_0"]  # the MLM level
    if concat == "cls":  # the NSP level's [CLS]: the last block here
        extra = hidden["layer_2"][:, 0]
        tokens = np.concatenate([tokens, np.repeat(extra[:, None], tokens.shape[1], 1)], -1)
    kernel, bias = span.classifier.get_weights()
    mask = inputs[names.INPUT_MASK] == 1
    np.testing.assert_allclose(
        np.asarray(span(inputs)[downstream.START_LOGITS])[mask],
        (tokens @ kernel + bias)[..., 0][mask],
        atol=1e-5,
    )
    sentence = downstream.SentenceClassifier(encoder, read_out, 3, pretrainer.nsp_head)
    pooled = np.asarray(pretrainer.nsp_head(hidden["layer_2"][:, 0])["pooled"])
    kernel, bias = sentence.classifier.get_weights()
    np.testing.assert_allclose(
        np.asarray(sentence(inputs)[downstream.LOGITS]), pooled @ kernel + bias, atol=1e-5
    )
