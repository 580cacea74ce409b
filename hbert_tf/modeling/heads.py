"""The pre-training heads by kind: masked LM (with the paper's concatenation), sentence (a [CLS]
classifier such as NSP), per-token (bigram shift); `build_head` makes a task's."""

import keras
from keras import ops
from keras_hub.layers import ReversibleEmbedding

from hbert_tf.modeling.encoder import gelu_approximate


def _initializer(stddev):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def concat_to_every_token(tokens, extra):
    """The paper's concatenation (Fig. 2 in pre-training, Fig. 3c/3d in fine-tuning).

    Args:
        tokens: `[batch, n, hidden]` token vectors.
        extra: `[batch, width]`, one vector per sequence (NSP-level [CLS] or NSP logits).

    Returns: `[batch, n, hidden + width]`.
    """
    extra = ops.cast(extra, tokens.dtype)
    repeated = ops.expand_dims(extra, 1) * ops.ones_like(tokens[:, :, :1])
    return ops.concatenate([tokens, repeated], axis=-1)


@keras.saving.register_keras_serializable(package="hbert_tf")
class MaskedLMHead(keras.layers.Layer):
    """Masked-LM classifier over the tied token embedding, with optional extra input (Fig. 2).

    Gathers the masked positions from the token vectors of the layer it reads, optionally
    concatenates a per-sequence vector to every gathered vector (the NSP-level [CLS] vector, or the
    NSP classifier's output), then Dense(hidden, gelu) + LayerNorm and logits against the token
    embedding table plus a bias. The Dense layer takes the wider input when concatenating.

    Args:
        token_embedding: `ReversibleEmbedding`. The encoder's token table (tied output weights).
        hidden_size: int. Width of the transform layer (= the encoder's hidden size).
        initializer_range: float. Stddev of the kernel initialiser.
        layer_norm_eps: float. LayerNorm epsilon.
        vocab_size, embedding_dim: int or None. Only without `token_embedding` (a head rebuilt
            from its config alone): the shape of a token table of its own.

    Call args:
        sequence: `[batch, seq, hidden]` token vectors of the MLM layer.
        masked_positions: int `[batch, predictions]` positions to predict.
        extra: optional `[batch, extra_width]`, concatenated to every gathered vector.

    Returns: logits `[batch, predictions, vocab_size]`.
    """

    def __init__(
        self,
        token_embedding,
        hidden_size,
        initializer_range=0.02,
        layer_norm_eps=1e-12,
        vocab_size=None,
        embedding_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if token_embedding is None:  # rebuilt from its config alone: a table of its own
            if vocab_size is None or embedding_dim is None:
                raise ValueError(
                    "MaskedLMHead: pass token_embedding, or vocab_size and embedding_dim"
                )
            token_embedding = ReversibleEmbedding(
                vocab_size,
                embedding_dim,
                embeddings_initializer=_initializer(initializer_range),
                name="token_embedding",
            )
        self.token_embedding = token_embedding
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.transform = keras.layers.Dense(
            hidden_size,
            activation=gelu_approximate,
            kernel_initializer=_initializer(initializer_range),
            name="transform",
        )
        self.layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, name="layer_norm")

    def build(self, sequence_shape, masked_positions_shape=None, extra_shape=None):
        width = sequence_shape[-1] + (extra_shape[-1] if extra_shape is not None else 0)
        if not self.token_embedding.built:
            self.token_embedding.build((None, None))
        self.transform.build((None, None, width))
        self.layer_norm.build((None, None, self.hidden_size))
        self.output_bias = self.add_weight(
            name="output_bias",
            shape=(self.token_embedding.input_dim,),
            initializer="zeros",
        )

    def call(self, sequence, masked_positions, extra=None):
        x = ops.take_along_axis(
            sequence, ops.expand_dims(ops.cast(masked_positions, "int32"), -1), axis=1
        )  # [batch, predictions, hidden]
        if extra is not None:
            x = concat_to_every_token(x, extra)
        x = self.layer_norm(self.transform(x))
        logits = self.token_embedding(x, reverse=True)
        return logits + ops.cast(self.output_bias, logits.dtype)

    def compute_output_shape(self, sequence_shape, masked_positions_shape, extra_shape=None):
        return (sequence_shape[0], masked_positions_shape[1], self.token_embedding.input_dim)

    def get_config(self):
        # The token embedding's weights are not serialised, only its shape: the pre-training
        # model rebuilds this head from its encoder, so the output weights stay tied to the
        # encoder's table after loading; `from_config` alone gives the head a table of its own.
        config = super().get_config()
        config.update(
            token_embedding=None,
            hidden_size=self.hidden_size,
            initializer_range=self.initializer_range,
            layer_norm_eps=self.layer_norm_eps,
            vocab_size=self.token_embedding.input_dim,
            embedding_dim=self.token_embedding.output_dim,
        )
        return config


@keras.saving.register_keras_serializable(package="hbert_tf")
class NextSentenceHead(keras.layers.Layer):
    """NSP classifier with its own pooler: Dense(hidden, tanh) on a [CLS] vector, then 2 logits.

    Args:
        hidden_size: int. Pooler width.
        initializer_range: float. Stddev of the kernel initialiser.

    Call args: cls_vector `[batch, hidden]`, the [CLS] vector of the NSP layer.
    Returns: dict with `pooled` `[batch, hidden]` and `logits` `[batch, 2]`.
    """

    def __init__(self, hidden_size, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.pooler = keras.layers.Dense(
            hidden_size,
            activation="tanh",
            kernel_initializer=_initializer(initializer_range),
            name="pooler",
        )
        self.classifier = keras.layers.Dense(
            2, kernel_initializer=_initializer(initializer_range), name="classifier"
        )

    def build(self, cls_shape):
        self.pooler.build(cls_shape)
        self.classifier.build((cls_shape[0], self.hidden_size))

    def call(self, cls_vector):
        pooled = self.pooler(cls_vector)
        return {"pooled": pooled, "logits": self.classifier(pooled)}

    def compute_output_shape(self, cls_shape):
        return {"pooled": (cls_shape[0], self.hidden_size), "logits": (cls_shape[0], 2)}

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="hbert_tf")
class BigramShiftHead(keras.layers.Layer):
    """Per-token classifier: is this token in its original position? (0 = yes, 1 = swapped).

    A swap shows only against a token's neighbours (the token alone predicts nothing), so each
    token's vector is read with the vectors of its `window` left and right neighbours in the same
    layer (zeros past the ends), through one GELU layer to 2 logits.

    Args:
        hidden_size: int. Width of the hidden layer (the encoder's).
        window: int. Neighbours read on each side (0: the token's vector alone).
        initializer_range: float. Stddev of the kernel initialiser.

    Call args: sequence `[batch, seq, hidden]`.
    Returns: logits `[batch, seq, 2]`.
    """

    def __init__(self, hidden_size, window=1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if window < 0:
            raise ValueError(f"BigramShiftHead: window={window} must be >= 0")
        self.hidden_size = hidden_size
        self.window = window
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            hidden_size, kernel_initializer=_initializer(initializer_range), name="dense"
        )
        self.classifier = keras.layers.Dense(
            2, kernel_initializer=_initializer(initializer_range), name="classifier"
        )

    def build(self, sequence_shape):
        width = sequence_shape[-1] * (2 * self.window + 1)
        self.dense.build(tuple(sequence_shape[:-1]) + (width,))
        self.classifier.build(tuple(sequence_shape[:-1]) + (self.hidden_size,))

    def call(self, sequence):
        pieces = [sequence]
        for offset in range(1, self.window + 1):
            pad = ops.zeros_like(sequence[:, :offset])
            pieces.insert(0, ops.concatenate([pad, sequence[:, :-offset]], axis=1))  # left
            pieces.append(ops.concatenate([sequence[:, offset:], pad], axis=1))  # right
        hidden = gelu_approximate(self.dense(ops.concatenate(pieces, axis=-1)))
        return self.classifier(hidden)

    def compute_output_shape(self, sequence_shape):
        return tuple(sequence_shape[:-1]) + (2,)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            window=self.window,
            initializer_range=self.initializer_range,
        )
        return config


def build_head(task, encoder):
    """The Keras layer of a pre-training task's head (`task.head`, a `hbert_tf.tasks.base`
    HEAD_KINDS entry), named `<task>_head`, sized from the encoder (the MLM head shares its
    token table)."""
    name, init = f"{task.name}_head", encoder.initializer_range
    if task.head == "masked_lm":
        return MaskedLMHead(
            encoder.token_embedding,
            encoder.hidden_size,
            initializer_range=init,
            layer_norm_eps=encoder.layer_norm_eps,
            name=name,
        )
    if task.head == "sentence":
        return NextSentenceHead(encoder.hidden_size, initializer_range=init, name=name)
    if task.head == "token":
        return BigramShiftHead(encoder.hidden_size, initializer_range=init, name=name)
    raise ValueError(f"task {task.name}: no head of kind {task.head!r}")
