"""Fine-tuning models with the paper's hierarchical read-outs (Fig. 3).

| task            | reads                                   | extra input (`concat`)                    |
|-----------------|-----------------------------------------|-------------------------------------------|
| sentence (MNLI) | [CLS] of `sentence_layer` (NSP level)   | -                                         |
| token (SQuAD)   | tokens of `token_layer` (MLM level)     | "cls": [CLS] of `sentence_layer`          |
|                 |                                         | "nsp": the NSP classifier's logits        |

`resolve_read_out` picks the layers from a pre-training layout (Fig. 3) or, for a model without one
(keras-hub / Hugging Face weights, random init, the BiLSTM of `baselines`) or without an NSP head, the last layer.
`SentenceConcat` is the one place where the extra vector joins every token.
"""

import dataclasses

import keras
from keras import ops

from hbert_tf import names
from hbert_tf.modeling.heads import concat_to_every_token
from hbert_tf.variants import CONCAT_MODES, resolve_layer

# Output names of the fine-tuning models (also the keys of their labels).
START_LOGITS = "start_logits"
END_LOGITS = "end_logits"
LOGITS = "logits"


def _initializer(stddev):
    return keras.initializers.TruncatedNormal(stddev=stddev)


@dataclasses.dataclass(frozen=True)
class ReadOut:
    """Where the fine-tuning heads read, as 0-based block indices.

    Args:
        token_layer: int. Block whose token vectors feed the span classifier (MLM level).
        sentence_layer: int. Block whose [CLS] vector feeds the sentence classifier (NSP level)
            and is concatenated by `concat="cls"`.
        concat: str. "none", "cls" or "nsp": extra input of every token (Fig. 3c, 3d).
    """

    token_layer: int
    sentence_layer: int
    concat: str = "none"


def resolve_read_out(num_layers, layout=None, concat="auto", token_layer=None, sentence_layer=None):
    """The read-out of Fig. 3 for a model with `num_layers` blocks.

    Args:
        num_layers: int. Blocks of the encoder.
        layout: `HeadLayout` of the pre-training run, or None (then every level is the last block).
        concat: str. "auto" (what pre-training used; "none" without a layout), "none", "cls", "nsp".
        token_layer, sentence_layer: int or None. Overrides of the MLM / NSP levels.

    Returns: ReadOut.
    """
    if concat == "auto":
        concat = layout.concat if layout is not None else "none"
    if concat not in CONCAT_MODES:
        raise ValueError(f"concat={concat!r}: expected auto or one of {CONCAT_MODES}")
    last = num_layers - 1
    if token_layer is None:
        token_layer = layout.mlm_layer if layout is not None else last
    if sentence_layer is None:
        sentence_layer = layout.sentence_layer if layout is not None else last
    return ReadOut(
        token_layer=resolve_layer(token_layer, num_layers, "token_layer"),
        sentence_layer=resolve_layer(sentence_layer, num_layers, "sentence_layer"),
        concat=concat,
    )


@keras.saving.register_keras_serializable(package="hbert_tf")
class SentenceConcat(keras.layers.Layer):
    """Concatenates one vector per sequence to every token vector (Fig. 3c, 3d).

    Call args: tokens `[batch, seq, hidden]`, extra `[batch, width]`.
    Returns: `[batch, seq, hidden + width]`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, tokens, extra):
        return concat_to_every_token(tokens, extra)

    def compute_output_shape(self, tokens_shape, extra_shape):
        return tuple(tokens_shape[:-1]) + (tokens_shape[-1] + extra_shape[-1],)


def encoder_inputs():
    """The encoder's `keras.Input`s: int32 `[batch, seq]` by name (`names.ENCODER_INPUTS`)."""
    return {
        key: keras.Input(shape=(None,), dtype="int32", name=key) for key in names.ENCODER_INPUTS
    }


def _extra_input(hidden, read_out, nsp_head):
    """The per-sequence vector `concat` asks for, or None."""
    if read_out.concat == "none":
        return None
    cls_vector = hidden[names.layer_key(read_out.sentence_layer)][:, 0, :]
    if read_out.concat == "cls":
        return cls_vector
    if nsp_head is None:
        raise ValueError(
            "concat='nsp' needs the NSP classifier of a pre-trained model; this model has none "
            "(pre-trained without NSP, or keras-hub / Hugging Face / random weights)"
        )
    return nsp_head(cls_vector)["logits"]


def _downstream_config(model, **values):
    """get_config of a fine-tuning model: its encoder and NSP head serialised, ReadOut as a dict."""
    return {
        "name": model.name,
        "trainable": model.trainable,
        "encoder": keras.saving.serialize_keras_object(model.encoder),
        "read_out": dataclasses.asdict(model.read_out),
        "nsp_head": (
            keras.saving.serialize_keras_object(model.nsp_head) if model.nsp_head else None
        ),
        "dropout": model.dropout,
        "initializer_range": model.initializer_range,
        **values,
    }


def _downstream_args(config):
    """The constructor arguments of a `_downstream_config` dict (layers deserialised)."""
    config = dict(config)
    for key in ("encoder", "nsp_head"):
        if isinstance(config.get(key), dict):
            config[key] = keras.saving.deserialize_keras_object(config[key])
    config["read_out"] = ReadOut(**config["read_out"])
    return config


@keras.saving.register_keras_serializable(package="hbert_tf")
class SpanModel(keras.Model):
    """Extractive QA (SQuAD): start and end logits from the token vectors of the MLM level.

    Args:
        encoder: `HBertEncoder` or `BiLSTMEncoder` (inputs and `hidden_states` as HBertEncoder).
        read_out: ReadOut.
        nsp_head: `NextSentenceHead` or None; needed for `concat="nsp"` (its weights are shared).
            Held only for `concat="nsp"`: a head the model does not call would get no gradients.
        dropout: float. Dropout on the classifier input.
        initializer_range: float. Stddev of the classifier's initialiser.

    Inputs: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]`.
    Outputs: dict with `start_logits` and `end_logits` `[batch, seq]`; padding gets -10000.

    Example:
    ```python
    model = SpanModel(encoder, resolve_read_out(encoder.num_hidden_layers, layout, "cls"))
    model(batch)["start_logits"]  # [batch, seq]
    ```
    """

    def __init__(self, encoder, read_out, nsp_head=None, dropout=0.1, initializer_range=0.02, **kw):
        # === Layers ===
        self.encoder = encoder
        self.nsp_head = nsp_head if read_out.concat == "nsp" else None
        self.concat_layer = None
        self.dropout_layer = keras.layers.Dropout(dropout, name="span_dropout")
        self.classifier = keras.layers.Dense(
            2, kernel_initializer=_initializer(initializer_range), name="span_classifier"
        )

        # === Functional model ===
        inputs = encoder_inputs()
        hidden = encoder(inputs)[names.HIDDEN_STATES]
        tokens = hidden[names.layer_key(read_out.token_layer)]
        extra = _extra_input(hidden, read_out, nsp_head)
        if extra is not None:
            self.concat_layer = SentenceConcat(name="sentence_concat")
            tokens = self.concat_layer(tokens, extra)
        logits = self.classifier(self.dropout_layer(tokens))  # [batch, seq, 2]
        padding = (1.0 - ops.cast(inputs[names.INPUT_MASK], logits.dtype)) * -10000.0
        outputs = {
            START_LOGITS: logits[:, :, 0] + padding,
            END_LOGITS: logits[:, :, 1] + padding,
        }
        super().__init__(inputs=inputs, outputs=outputs, **kw)

        # === Config ===
        self.read_out = read_out
        self.dropout = dropout
        self.initializer_range = initializer_range

    def get_config(self):
        return _downstream_config(self)

    @classmethod
    def from_config(cls, config):
        return cls(**_downstream_args(config))


@keras.saving.register_keras_serializable(package="hbert_tf")
class SentenceClassifier(keras.Model):
    """Sentence(-pair) classification (MNLI): the NSP-level [CLS] vector, pooled, then logits.

    The pooler (Dense tanh) is the pre-trained NSP head's own when `nsp_head` is given (shared
    weights, as BERT fine-tunes its pooler), a fresh one otherwise. The NSP classifier itself is
    not held (it gets no gradients); checkpoints that hold it still load (`pooler` is the path).

    Args:
        encoder: `HBertEncoder` or `BiLSTMEncoder`.
        read_out: ReadOut (uses `sentence_layer`).
        num_classes: int.
        nsp_head: `NextSentenceHead` or None.
        dropout: float. Dropout on the pooled vector.
        initializer_range: float.

    Inputs: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]`.
    Outputs: dict with `logits` `[batch, num_classes]`.
    """

    def __init__(
        self,
        encoder,
        read_out,
        num_classes,
        nsp_head=None,
        dropout=0.1,
        initializer_range=0.02,
        **kw,
    ):
        # === Layers ===
        self.encoder = encoder
        self.nsp_head = None  # only its pooler is used
        width = getattr(encoder, "hidden_size", None)
        self.pooler = (
            nsp_head.pooler
            if nsp_head is not None
            else keras.layers.Dense(
                width,
                activation="tanh",
                kernel_initializer=_initializer(initializer_range),
                name="pooler",
            )
        )
        self.dropout_layer = keras.layers.Dropout(dropout, name="classifier_dropout")
        self.classifier = keras.layers.Dense(
            num_classes, kernel_initializer=_initializer(initializer_range), name="classifier"
        )

        # === Functional model ===
        inputs = encoder_inputs()
        hidden = encoder(inputs)[names.HIDDEN_STATES]
        cls_vector = hidden[names.layer_key(read_out.sentence_layer)][:, 0, :]
        logits = self.classifier(self.dropout_layer(self.pooler(cls_vector)))
        super().__init__(inputs=inputs, outputs={LOGITS: logits}, **kw)

        # === Config ===
        self.read_out = read_out
        self.num_classes = num_classes
        self.dropout = dropout
        self.initializer_range = initializer_range

    def get_config(self):
        return _downstream_config(self, num_classes=self.num_classes)

    @classmethod
    def from_config(cls, config):
        return cls(**_downstream_args(config))
