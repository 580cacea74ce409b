import keras_hub
import numpy as np

from hbert_tf import names
from hbert_tf.weights.pretrained import copy_backbone_weights
from tests.helpers import encoder_inputs, random_batch, tiny_encoder


def test_outputs_are_named_per_layer():
    encoder = tiny_encoder()
    inputs, _, _ = random_batch()
    outputs = encoder(encoder_inputs(inputs))
    assert sorted(outputs[names.HIDDEN_STATES]) == ["layer_0", "layer_1"]
    assert outputs[names.EMBEDDING_OUTPUT].shape == (4, 16, 32)
    np.testing.assert_array_equal(
        outputs[names.SEQUENCE_OUTPUT], outputs[names.HIDDEN_STATES]["layer_1"]
    )


def test_layer_k_equals_blocks_run_by_hand():
    encoder = tiny_encoder(num_hidden_layers=3)
    inputs, _, _ = random_batch(seed=1)
    outputs = encoder(encoder_inputs(inputs))
    x = outputs[names.EMBEDDING_OUTPUT]
    for k, block in enumerate(encoder.transformer_layers):
        x = block(x, padding_mask=inputs[names.INPUT_MASK])
        np.testing.assert_allclose(
            outputs[names.HIDDEN_STATES][names.layer_key(k)], x, atol=1e-6, rtol=0
        )


def test_same_output_as_keras_hub_bert_backbone():
    encoder = tiny_encoder()
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=encoder.vocab_size,
        num_layers=encoder.num_hidden_layers,
        num_heads=encoder.num_attention_heads,
        hidden_dim=encoder.hidden_size,
        intermediate_dim=encoder.intermediate_size,
        dropout=0.0,
        max_sequence_length=encoder.max_position_embeddings,
    )
    rng = np.random.default_rng(3)
    backbone.set_weights([rng.normal(0, 0.2, w.shape).astype("float32") for w in backbone.weights])
    copy_backbone_weights(backbone, encoder)
    inputs, _, _ = random_batch(seed=2)
    ours = encoder(encoder_inputs(inputs))[names.SEQUENCE_OUTPUT]
    theirs = backbone(
        {
            "token_ids": inputs[names.INPUT_IDS],
            "segment_ids": inputs[names.SEGMENT_IDS],
            "padding_mask": inputs[names.INPUT_MASK],
        }
    )["sequence_output"]
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
