"""The models on a second Keras backend: the cases of tests/test_backends.py and its JAX side.

`CASES` builds one tiny model per pre-training variant and two fine-tuning models. The test saves
each one's weights and outputs under TensorFlow, then runs this file in ONE JAX process without
TensorFlow (JAX start-up and tracing are paid once):

    KERAS_BACKEND=jax python -m tests.no_tensorflow tests/backend_check.py DIR

For every case it builds the model, loads `DIR/<case>.weights.h5`, writes its outputs on the fixed
batch to `DIR/jax_<case>.npz`, trains two steps with `fit` and records the losses (the second is
the loss after one update); for `freeze`, also how much the frozen and the trainable weights moved.
The figures go to `DIR/jax_results.json`; the test judges them.
"""

import dataclasses
import json
import os
import sys
from collections.abc import Callable

import keras
import numpy as np

from hbert_tf import names
from hbert_tf.modeling.downstream import (
    END_LOGITS,
    LOGITS,
    START_LOGITS,
    ReadOut,
    SentenceClassifier,
    SpanModel,
)
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.variants import resolve_variant
from tests.helpers import encoder_inputs, labels_for, random_batch, tiny_encoder

NUM_LAYERS = 2


@dataclasses.dataclass(frozen=True)
class Case:
    """build: makes the model (fresh weights). fine_tuning: it takes the encoder's inputs and trains
    with Keras' cross-entropy on each output (a pre-trainer computes its own loss)."""

    build: Callable
    fine_tuning: bool = False


def _pretrainer(variant, **options):
    return lambda: HBertPretrainer(tiny_encoder(), resolve_variant(variant, NUM_LAYERS, **options))


def _with_nsp_head(model_class, read_out, **kwargs):
    """A fine-tuning model on a Lower NSP pre-trainer's encoder and NSP head (shared weights)."""

    def build():
        pretrainer = _pretrainer("lower_nsp", nsp_layer=0)()
        return model_class(pretrainer.encoder, read_out, nsp_head=pretrainer.nsp_head, **kwargs)

    return build


CASES = {
    "bert": Case(_pretrainer("bert")),
    "lower_nsp": Case(_pretrainer("lower_nsp", nsp_layer=0)),
    "lower_mask": Case(_pretrainer("lower_mask", mlm_layer=0)),
    "concat_cls": Case(_pretrainer("lower_nsp", nsp_layer=0, concat="cls")),
    "concat_nsp": Case(_pretrainer("lower_nsp", nsp_layer=0, concat="nsp")),
    "bigram_shift": Case(_pretrainer("bigram_shift")),
    "without_nsp": Case(_pretrainer("without_nsp")),
    "freeze": Case(
        _pretrainer(
            "lower_nsp", nsp_layer=0, concat="nsp", bigram_shift=True, freeze_nsp="at_step:1"
        )
    ),
    "span_model": Case(
        _with_nsp_head(
            SpanModel, ReadOut(token_layer=0, sentence_layer=0, concat="nsp"), dropout=0.0
        ),
        fine_tuning=True,
    ),
    "sentence_classifier": Case(
        _with_nsp_head(
            SentenceClassifier, ReadOut(token_layer=1, sentence_layer=0), num_classes=3, dropout=0.0
        ),
        fine_tuning=True,
    ),
}


def batch_for(case, model):
    """The fixed batch of a case: `(inputs, labels, sample_weights)` for `model`'s outputs."""
    inputs, labels, weights = random_batch()
    if not case.fine_tuning:
        return (inputs, *labels_for(model, labels, weights))
    batch = len(inputs[names.INPUT_IDS])
    rng = np.random.default_rng(1)
    if isinstance(model, SpanModel):
        labels = {key: rng.integers(1, 10, (batch,)) for key in (START_LOGITS, END_LOGITS)}
    else:
        labels = {LOGITS: rng.integers(0, model.num_classes, (batch,))}
    return encoder_inputs(inputs), labels, None


def compile_for(case, model, labels):
    """Plain SGD, small enough for one step to lower the loss from the test's perturbed weights,
    and eager steps: one JAX process compiles each op once for all cases, where a jitted step per
    case (or Adam's extra ops per weight shape) would cost more on a CPU."""
    loss = None
    if case.fine_tuning:
        loss = {key: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for key in labels}
    model.compile(optimizer=keras.optimizers.SGD(0.002), loss=loss, run_eagerly=True)


def outputs_of(model, inputs):
    """The model's outputs on `inputs` as a flat {name: numpy array} (inference mode)."""
    return {key: keras.ops.convert_to_numpy(value) for key, value in model(inputs).items()}


def check_case(name, case, directory):
    """The figures of one case under the backend of this process (see the module docstring)."""
    model = case.build()
    inputs, labels, weights = batch_for(case, model)
    model.load_weights(os.path.join(directory, f"{name}.weights.h5"))
    np.savez(os.path.join(directory, f"jax_{name}.npz"), **outputs_of(model, inputs))
    result = {}
    frozen = model.freeze_nsp() if name == "freeze" else []  # as the loop does at its trigger
    trainable = list(model.trainable_variables)
    before = [keras.ops.convert_to_numpy(v) for v in frozen + trainable] if frozen else []
    compile_for(case, model, labels)
    history = model.fit(inputs, labels, sample_weight=weights, batch_size=len(inputs[names.INPUT_IDS]),
                        epochs=2, shuffle=False, verbose=0)  # fmt: skip
    result["losses"] = [float(x) for x in history.history["loss"]]
    if frozen:
        moved = [float(np.max(np.abs(keras.ops.convert_to_numpy(v) - b)))
                 for v, b in zip(frozen + trainable, before)]  # fmt: skip
        result["frozen_moved"] = max(moved[: len(frozen)])
        result["trainable_unmoved"] = [
            v.path for v, m in zip(trainable, moved[len(frozen) :]) if m == 0.0
        ]
        result["trainable_count"] = len(trainable)
    return result


def main(directory):
    results = {"backend": keras.backend.backend()}
    for name, case in CASES.items():
        results[name] = check_case(name, case, directory)
    with open(os.path.join(directory, "jax_results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
