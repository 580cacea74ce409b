"""The hierarchical pre-training model: heads placed on any encoder layer."""

import keras
from keras import ops

from hbert_tf import names
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.heads import build_head
from hbert_tf.modeling.losses import pretraining_losses
from hbert_tf.tasks import PRETRAINING_TASKS, get_task, task_of_output
from hbert_tf.variants import HeadLayout, output_key, place_heads


@keras.saving.register_keras_serializable(package="hbert_tf")
class HBertPretrainer(keras.Model):
    """BERT pre-training model whose heads (MLM, NSP, bigram shift, any registered task's)
    read chosen layers.

    The heads and the blocks they read come from one `HeadLayout` (see `hbert_tf.variants`):
    Lower NSP reads NSP at block k, Lower Mask MLM at block k, Without NSP has no NSP head.
    Concatenation (Fig. 2): `concat="cls"` feeds the NSP layer's [CLS] vector `[batch, hidden]`,
    `concat="nsp"` the NSP classifier's logits `[batch, 2]`, into every MLM-classifier input. The
    heads are built from the encoder's attributes, so the MLM output weights stay tied to the token
    table after a `.keras` save and load. `model.layout` is the layout given, Freeze policy
    included.

    Args:
        encoder: `HBertEncoder`.
        layout: `HeadLayout` with `num_layers == encoder.num_hidden_layers`.
        loss_weights: dict or None. Weight of each head's loss by output key (default 1.0).

    Inputs: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]` and
    `masked_lm_positions` `[batch, predictions]`.

    Outputs: dict with exactly the layout's heads (keys `variants.output_key(head)`):
    `mlm_logits` `[batch, predictions, vocab]`, `nsp_logits` `[batch, 2]`, `bigram_shift_logits`
    `[batch, seq, 2]`: a task's head kind gives the shape (`hbert_tf.tasks`). The heads are the
    attributes `<task>_head` (None when absent), as checkpoints name them.

    Training: `fit` takes `(inputs, labels, sample_weights)` keyed by output key (see
    `hbert_tf.pretraining.data`); the loss of each head is `hbert_tf.modeling.losses.pretraining_losses`.

    Example:
    ```python
    encoder = HBertEncoder.from_config_object(get_config("tiny", vocab_size=100))
    layout = place_heads(encoder.num_hidden_layers, nsp_layer=0, concat="cls")  # Lower NSP + CLS
    model = HBertPretrainer(encoder, layout)
    model.compile(optimizer="adam")
    model.fit(dataset, steps_per_epoch=10)
    ```
    """

    def __init__(self, encoder, layout, loss_weights=None, **kwargs):
        if not isinstance(layout, HeadLayout):
            raise ValueError(f"layout={layout!r}: expected a HeadLayout (see variants.place_heads)")
        if layout.num_layers != encoder.num_hidden_layers:
            raise ValueError(
                f"layout.num_layers={layout.num_layers} but the encoder has "
                f"{encoder.num_hidden_layers} layers"
            )
        heads = layout.heads

        # === Layers ===
        self.encoder = encoder
        for task in PRETRAINING_TASKS:  # self.mlm_head, self.nsp_head, ...: None when absent
            head = build_head(task, encoder) if task.name in heads else None
            setattr(self, f"{task.name}_head", head)

        # === Functional model ===
        inputs = {
            key: keras.Input(shape=(None,), dtype="int32", name=key)
            for key in names.PRETRAINING_INPUTS
        }
        hidden = encoder({key: inputs[key] for key in names.ENCODER_INPUTS})[names.HIDDEN_STATES]

        # NSP first: the MLM head may read its output (the paper's concat); then registry order.
        order = sorted(heads, key=lambda name: name != "nsp")
        outputs = {}
        extra = None
        for name in order:
            task, layer = get_task(name), getattr(self, f"{name}_head")
            block = hidden[names.layer_key(heads[name])]
            if task.head == "masked_lm":
                logits = layer(block, inputs[names.MASKED_LM_POSITIONS], extra)
            elif task.head == "sentence":
                cls_vector = block[:, 0, :]
                logits = layer(cls_vector)["logits"]
                if name == "nsp":
                    extra = {"none": None, "cls": cls_vector, "nsp": logits}[layout.concat]
            else:
                logits = layer(block)
            outputs[task.output_key] = logits
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.layout = layout
        self.loss_weights = dict(loss_weights or {})

        # === Metrics (per head, in reporting order) ===
        self.head_losses = {
            output_key(head): keras.metrics.Mean(name=f"{head}_loss") for head in heads
        }
        self.head_accuracies = {
            output_key(head): keras.metrics.SparseCategoricalAccuracy(name=f"{head}_accuracy")
            for head in heads
        }

    @property
    def heads(self):
        """Output names of the configured heads, e.g. ("nsp_logits", "mlm_logits")."""
        return self.layout.output_keys

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
        # Under a tf.distribute strategy the optimizer sums the replicas' gradients: scale so
        # that their sum is the mean. Keras' TensorFlow trainer keeps the model's strategy in
        # `distribute_strategy`; the other backends have no such attribute (one replica here:
        # JAX and PyTorch compute the loss over the whole batch).
        strategy = getattr(self, "distribute_strategy", None)
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        return total / replicas if replicas > 1 else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        sample_weight = sample_weight or {}
        for key, metric in self.head_accuracies.items():
            labels = y[key]
            if task_of_output(key).head == "sentence":  # one label per sequence
                labels = ops.reshape(labels, (-1,))
            metric.update_state(labels, y_pred[key], sample_weight=sample_weight.get(key))
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "layout": self.layout.to_dict(),
            "loss_weights": self.loss_weights,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = config.pop("encoder")
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        if "layout" in config:
            layout = HeadLayout.from_dict(config.pop("layout"))
        else:  # saved before the layout was one value: mlm_layer, nsp_layer, ... keys
            placement = ("mlm_layer", "nsp_layer", "concat", "bigram_shift_layer")
            placement = {key: config.pop(key) for key in placement if key in config}
            layout = place_heads(encoder.num_hidden_layers, **placement)
        return cls(encoder=encoder, layout=layout, **config)


def build_pretrainer(encoder_config, layout, **kwargs):
    """A fresh encoder and a pre-training model for a `HeadLayout`."""
    encoder = HBertEncoder.from_config_object(encoder_config)
    return HBertPretrainer(encoder, layout, **kwargs)
