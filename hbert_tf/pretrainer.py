"""The hierarchical pre-training model: heads placed on any encoder layer."""

import keras
import tensorflow as tf
from keras import ops

from hbert_tf import names
from hbert_tf.encoder import HBertEncoder
from hbert_tf.heads import BigramShiftHead, MaskedLMHead, NextSentenceHead
from hbert_tf.losses import pretraining_losses
from hbert_tf.variants import CONCAT_MODES, HeadLayout, resolve_layer


@keras.saving.register_keras_serializable(package="hbert_tf")
class HBertPretrainer(keras.Model):
    """BERT pre-training model whose MLM, NSP and bigram-shift heads read chosen layers.

    Lower NSP: `nsp_layer=k`. Lower Mask: `mlm_layer=k`. Without NSP: `nsp_layer=None`.
    Concatenation (Fig. 2): `concat="cls"` feeds the NSP layer's [CLS] vector `[batch, hidden]`,
    `concat="nsp"` the NSP classifier's logits `[batch, 2]`, into every MLM-classifier input.
    Bigram shift: `bigram_shift_layer=k` adds a per-token head. The heads are built from the
    encoder's attributes, so the MLM output weights stay tied to the token table after a `.keras`
    save and load.

    Args:
        encoder: `HBertEncoder`.
        mlm_layer: int. Block the MLM head reads (negative: from the top).
        nsp_layer: int or None. Block whose [CLS] vector the NSP head reads; None: no NSP head.
        concat: str. "none", "cls" or "nsp".
        bigram_shift_layer: int or None. Block the bigram-shift head reads; None: no such head.
        loss_weights: dict or None. Weight of each head's loss by output name (default 1.0).

    Inputs: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]` and
    `masked_lm_positions` `[batch, predictions]`.

    Outputs: dict with exactly the configured heads: `mlm_logits` `[batch, predictions, vocab]`,
    `nsp_logits` `[batch, 2]`, `bigram_shift_logits` `[batch, seq, 2]`.

    Training: `fit` takes `(inputs, labels, sample_weights)` keyed by output name (see
    `hbert_tf.data`); the loss of each head is `hbert_tf.losses.pretraining_losses`.

    Example:
    ```python
    encoder = HBertEncoder.from_config_object(get_config("tiny", vocab_size=100))
    model = HBertPretrainer(encoder, mlm_layer=-1, nsp_layer=0, concat="cls")  # Lower NSP + CLS
    model.compile(optimizer="adam")
    model.fit(dataset, steps_per_epoch=10)
    ```
    """

    def __init__(
        self,
        encoder,
        mlm_layer=-1,
        nsp_layer=-1,
        concat="none",
        bigram_shift_layer=None,
        loss_weights=None,
        **kwargs,
    ):
        num_layers = encoder.num_hidden_layers
        mlm_index = resolve_layer(mlm_layer, num_layers, "mlm_layer")
        nsp_index = None if nsp_layer is None else resolve_layer(nsp_layer, num_layers, "nsp_layer")
        bigram_index = (
            None
            if bigram_shift_layer is None
            else resolve_layer(bigram_shift_layer, num_layers, "bigram_shift_layer")
        )
        if concat not in CONCAT_MODES:
            raise ValueError(f"concat={concat!r}: expected one of {CONCAT_MODES}")
        if concat != "none" and nsp_index is None:
            raise ValueError(f"concat={concat!r} needs an NSP head (nsp_layer is None)")

        # === Layers ===
        self.encoder = encoder
        self.mlm_head = MaskedLMHead(
            encoder.token_embedding,
            encoder.hidden_size,
            initializer_range=encoder.initializer_range,
            layer_norm_eps=encoder.layer_norm_eps,
            name="mlm_head",
        )
        self.nsp_head = None
        if nsp_index is not None:
            self.nsp_head = NextSentenceHead(
                encoder.hidden_size, initializer_range=encoder.initializer_range, name="nsp_head"
            )
        self.bigram_shift_head = None
        if bigram_index is not None:
            self.bigram_shift_head = BigramShiftHead(
                encoder.hidden_size,
                initializer_range=encoder.initializer_range,
                name="bigram_shift_head",
            )

        # === Functional model ===
        inputs = {
            key: keras.Input(shape=(None,), dtype="int32", name=key)
            for key in names.PRETRAINING_INPUTS
        }
        hidden = encoder({key: inputs[key] for key in names.ENCODER_INPUTS})[names.HIDDEN_STATES]
        outputs = {}
        extra = None
        if self.nsp_head is not None:
            cls_vector = hidden[names.layer_key(nsp_index)][:, 0, :]
            nsp = self.nsp_head(cls_vector)
            outputs[names.NSP_LOGITS] = nsp["logits"]
            extra = {"none": None, "cls": cls_vector, "nsp": nsp["logits"]}[concat]
        outputs[names.MLM_LOGITS] = self.mlm_head(
            hidden[names.layer_key(mlm_index)], inputs[names.MASKED_LM_POSITIONS], extra
        )
        if self.bigram_shift_head is not None:
            outputs[names.BIGRAM_SHIFT_LOGITS] = self.bigram_shift_head(
                hidden[names.layer_key(bigram_index)]
            )
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.mlm_layer = mlm_layer
        self.nsp_layer = nsp_layer
        self.concat = concat
        self.bigram_shift_layer = bigram_shift_layer
        self.loss_weights = dict(loss_weights or {})
        self.layout = HeadLayout(
            num_layers=num_layers,
            mlm_layer=mlm_index,
            nsp_layer=nsp_index,
            concat=concat,
            bigram_shift_layer=bigram_index,
        )

        # === Metrics (per head) ===
        self.head_losses = {
            key: keras.metrics.Mean(name=f"{names.HEAD_PREFIX[key]}_loss") for key in outputs
        }
        self.head_accuracies = {
            key: keras.metrics.SparseCategoricalAccuracy(name=f"{names.HEAD_PREFIX[key]}_accuracy")
            for key in outputs
        }

    @property
    def heads(self):
        """Output names of the configured heads, e.g. ("nsp_logits", "mlm_logits")."""
        return tuple(self.head_losses)

    @classmethod
    def from_layout(cls, encoder, layout, **kwargs):
        """Builds the model a resolved `HeadLayout` (see `hbert_tf.variants`) describes."""
        return cls(
            encoder,
            mlm_layer=layout.mlm_layer,
            nsp_layer=layout.nsp_layer,
            concat=layout.concat,
            bigram_shift_layer=layout.bigram_shift_layer,
            **kwargs,
        )

    # === Lower NSP-Freeze ===
    def nsp_path_layers(self):
        """Every layer whose weights affect the NSP classifier: embeddings, blocks 0..k, NSP head."""
        if self.nsp_head is None:
            raise ValueError("this model has no NSP head, so there is nothing to freeze")
        blocks = self.encoder.transformer_layers[: self.layout.nsp_layer + 1]
        return self.encoder.embedding_layers() + blocks + [self.nsp_head]

    def freeze_nsp(self):
        """Freezes every weight that affects the NSP classifier; the rest stays trainable.

        The token table is tied to the MLM output layer, so it stays frozen there too. Call
        `compile` again (or rebuild a custom step) afterwards so training sees the change.

        Returns: the list of frozen variables.
        """
        frozen = []
        for layer in self.nsp_path_layers():
            layer.trainable = False
            frozen.extend(layer.weights)
        return frozen

    # === Training ===
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        losses = pretraining_losses(y, y_pred, sample_weight, self.loss_weights)
        for key, tracker in self.head_losses.items():
            tracker.update_state(losses[key])
        total = losses["total"]
        for loss in self.losses:  # regularisers, if any
            total = total + ops.cast(ops.sum(loss), total.dtype)
        # Gradients are summed over replicas: scale so that their sum is the mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return total / replicas if replicas > 1 else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        sample_weight = sample_weight or {}
        for key, metric in self.head_accuracies.items():
            labels = y[key]
            if key == names.NSP_LOGITS:
                labels = ops.reshape(labels, (-1,))
            metric.update_state(labels, y_pred[key], sample_weight=sample_weight.get(key))
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "mlm_layer": self.mlm_layer,
            "nsp_layer": self.nsp_layer,
            "concat": self.concat,
            "bigram_shift_layer": self.bigram_shift_layer,
            "loss_weights": self.loss_weights,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = config.pop("encoder")
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        return cls(encoder=encoder, **config)


def build_pretrainer(encoder_config, layout, **kwargs):
    """A fresh encoder and a pre-training model for a `HeadLayout`."""
    encoder = HBertEncoder.from_config_object(encoder_config)
    return HBertPretrainer.from_layout(encoder, layout, **kwargs)
