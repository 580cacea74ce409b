"""The probing classifier: the paper's MLP or SentEval's own, trained on tr, stopped on va.

The paper's probe: two hidden layers of 128, Adam 1e-3 (AMSGrad), batch 32, no weight decay,
early stopping on va, accuracy on te. SentEval's classifiers (logistic regression or one hidden
layer) search their L2 penalty on va.
"""

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from hbert_tf.run_config import CLASSIFIERS, SENTEVAL_L2_GRID, ProbeConfig  # noqa: F401 (used here and re-exported)
from hbert_tf.runtime import build_for_fit, numpy_batches


def build_probe(input_dim, num_classes, config, l2=0.0):
    """The probing classifier: `[batch, input_dim]` features -> `[batch, num_classes]` logits."""
    regularizer = keras.regularizers.L2(l2 / 2) if l2 else None  # PyTorch weight_decay = l2
    if config.classifier == "mlp":
        widths, activation = [config.hidden_units] * config.hidden_layers, config.activation
    elif config.classifier == "senteval_mlp":
        widths, activation = [config.senteval_hidden_units], "sigmoid"
    else:
        widths, activation = [], None
    layers = [keras.Input((input_dim,))]
    for i, width in enumerate(widths):
        layers.append(
            keras.layers.Dense(
                width, activation, kernel_regularizer=regularizer, name=f"hidden_{i}"
            )
        )
        if config.dropout:
            layers.append(keras.layers.Dropout(config.dropout))
    layers.append(keras.layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits"))
    return keras.Sequential(layers, name=f"probe_{config.classifier}")


def probe_optimizer(config):
    """Adam with default betas, `config.learning_rate` and `config.amsgrad`; no weight decay."""
    return keras.optimizers.Adam(config.learning_rate, amsgrad=config.amsgrad)


def _fit_once(features, targets, num_classes, config, seed, l2):
    keras.utils.set_random_seed(seed)
    model = build_probe(features["tr"].shape[-1], num_classes, config, l2)
    model.compile(
        optimizer=probe_optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    specs = [tf.TensorSpec((None,) + a.shape[1:], a.dtype) for a in (features["tr"], targets["tr"])]
    build_for_fit(model, tuple(specs))
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.patience, restore_best_weights=True
    )
    history = model.fit(
        numpy_batches((features["tr"], targets["tr"]), config.effective_batch_size, seed),
        epochs=config.max_epochs,
        validation_data=numpy_batches((features["va"], targets["va"]), 4096),
        callbacks=[stopper],
        shuffle=False,  # the dataset reshuffles every epoch
        verbose=0,
    )

    def accuracy(split):
        logits = np.concatenate(
            [
                np.asarray(model(features[split][i : i + 4096], training=False))
                for i in range(0, len(features[split]), 4096)
            ]
        )
        return float(np.mean(np.argmax(logits, -1) == targets[split]))

    return {
        "val_accuracy": accuracy("va"),
        "accuracy": accuracy("te"),
        "epochs": len(history.history["loss"]),
        "best_epoch": int(np.argmax(history.history["val_accuracy"])) + 1,
        "l2": l2,
    }


def train_probe(features, targets, num_classes, config=ProbeConfig(), seed=0):  # noqa: B008 (frozen)
    """Trains the probe on tr with early stopping on va; returns accuracies and training facts.

    Args:
        features: dict split -> float32 `[examples, dim]` for "tr", "va", "te".
        targets: dict split -> int `[examples]` class ids in `[0, num_classes)`.
        num_classes: int.
        config: ProbeConfig.
        seed: int. Seeds weight initialisation, shuffling and dropout.

    Returns: dict with `accuracy` (te), `val_accuracy` (va), `epochs`, `best_epoch` and `l2` (the
    chosen penalty; 0.0 for the paper's probe).
    """
    grid = (0.0,) if config.classifier == "mlp" else tuple(config.l2_grid)
    best = None
    for l2 in grid:
        result = _fit_once(features, targets, num_classes, config, seed, l2)
        logging.info("probe l2=%g: va %.4f te %.4f", l2, result["val_accuracy"], result["accuracy"])
        if best is None or result["val_accuracy"] > best["val_accuracy"]:
            best = result
    return best
