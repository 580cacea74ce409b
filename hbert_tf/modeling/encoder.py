"""The BERT encoder with every block's output exposed by name."""

import keras
from keras_hub.layers import PositionEmbedding, ReversibleEmbedding, TransformerEncoder

from hbert_tf import names
from hbert_tf.config import EncoderConfig


@keras.saving.register_keras_serializable(package="hbert_tf")
def gelu_approximate(x):
    """GELU, tanh form: the original BERT code's and keras-hub's BertBackbone's activation."""
    return keras.activations.gelu(x, approximate=True)


def activation_fn(hidden_act):
    """Keras activation for a config's `hidden_act` (serialisable)."""
    return {
        "gelu": gelu_approximate,
        "gelu_exact": "gelu",  # keras' "gelu" is the erf form
        "relu": "relu",
    }[hidden_act]


@keras.saving.register_keras_serializable(package="hbert_tf")
class HBertEncoder(keras.Model):
    """BERT encoder (a Keras functional model) returning each block's output.

    Layers are keras-hub's and carry the names of `keras_hub.models.BertBackbone`
    (`token_embedding`, `position_embedding`, `segment_embedding`, `embeddings_layer_norm`,
    `transformer_layer_i`), so a BertBackbone's weights load into it one layer at a time.

    Args:
        vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
        hidden_act, hidden_dropout_prob, attention_probs_dropout_prob, max_position_embeddings,
        type_vocab_size, initializer_range, layer_norm_eps: the fields of `EncoderConfig`.

    Inputs: dict of int32 `[batch, seq]` tensors `input_ids`, `input_mask` (1 = real token),
    `segment_ids`.

    Outputs: dict with `embedding_output` `[batch, seq, hidden]`, `hidden_states` (a dict
    `layer_0` ... `layer_{L-1}`, each `[batch, seq, hidden]`, the 0-based block outputs) and
    `sequence_output` (= the last block's output).

    Example:
    ```python
    encoder = HBertEncoder.from_config_object(get_config("tiny", vocab_size=100))
    outputs = encoder({"input_ids": ids, "input_mask": mask, "segment_ids": segments})
    outputs["hidden_states"]["layer_0"]  # [batch, seq, 32]
    ```
    """

    def __init__(
        self,
        vocab_size,
        hidden_size,
        num_hidden_layers,
        num_attention_heads,
        intermediate_size,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=2,
        initializer_range=0.02,
        layer_norm_eps=1e-12,
        **kwargs,
    ):
        config = EncoderConfig(  # validates every field
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            hidden_act=hidden_act,
            hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size,
            initializer_range=initializer_range,
            layer_norm_eps=layer_norm_eps,
        )

        # === Layers ===
        def initializer():
            return keras.initializers.TruncatedNormal(stddev=initializer_range)

        self.token_embedding = ReversibleEmbedding(
            vocab_size, hidden_size, embeddings_initializer=initializer(), name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            max_position_embeddings, initializer=initializer(), name="position_embedding"
        )
        self.segment_embedding = keras.layers.Embedding(
            type_vocab_size, hidden_size, embeddings_initializer=initializer(),
            name="segment_embedding",
        )  # fmt: skip
        self.embeddings_add = keras.layers.Add(name="embeddings_add")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            hidden_dropout_prob, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerEncoder(
                intermediate_dim=intermediate_size,
                num_heads=num_attention_heads,
                dropout=hidden_dropout_prob,
                activation=activation_fn(hidden_act),
                layer_norm_epsilon=layer_norm_eps,
                kernel_initializer=initializer(),
                name=f"transformer_layer_{i}",
            )
            for i in range(num_hidden_layers)
        ]

        # === Functional model ===
        inputs = {
            key: keras.Input(shape=(None,), dtype="int32", name=key) for key in names.ENCODER_INPUTS
        }
        tokens = self.token_embedding(inputs[names.INPUT_IDS])
        x = self.embeddings_add(
            (
                tokens,
                self.position_embedding(tokens),
                self.segment_embedding(inputs[names.SEGMENT_IDS]),
            )
        )
        x = self.embeddings_layer_norm(x)
        embedding_output = x
        x = self.embeddings_dropout(x)
        hidden_states = {}
        for i, block in enumerate(self.transformer_layers):
            x = block(x, padding_mask=inputs[names.INPUT_MASK])
            hidden_states[names.layer_key(i)] = x
        super().__init__(
            inputs=inputs,
            outputs={
                names.EMBEDDING_OUTPUT: embedding_output,
                names.HIDDEN_STATES: hidden_states,
                names.SEQUENCE_OUTPUT: x,
            },
            **kwargs,
        )

        # === Config ===
        self.config = config
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps

    @classmethod
    def from_config_object(cls, config, **kwargs):
        """Builds an encoder from an `EncoderConfig`."""
        return cls(**config.to_dict(), **kwargs)

    def embedding_layers(self):
        """The layers that turn ids into the first block's input (all frozen by Freeze)."""
        return [
            self.token_embedding,
            self.position_embedding,
            self.segment_embedding,
            self.embeddings_layer_norm,
        ]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **self.config.to_dict(),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
