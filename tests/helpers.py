"""Small builders shared by the tests: tiny configs and random batches (no files, no network)."""

import json
import os
import socket
import subprocess

import numpy as np

from hbert_tf import names
from hbert_tf.config import get_config
from hbert_tf.modeling.encoder import HBertEncoder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VOCAB_SIZE = 64
CLS_ID, SEP_ID = 2, 3


def tiny_config(vocab_size=VOCAB_SIZE, dropout=0.0, **overrides):
    """The tiny preset (2 layers, hidden 32) with dropout off unless asked for."""
    return get_config(
        "tiny",
        vocab_size=vocab_size,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        **overrides,
    )


def tiny_encoder(**overrides):
    return HBertEncoder.from_config_object(tiny_config(**overrides))


def random_batch(batch=4, seq=16, predictions=3, vocab_size=VOCAB_SIZE, seed=0, padded=2):
    """A pre-training batch `(inputs, labels, sample_weights)` keyed like `hbert_tf.pretraining.data`'s.

    The last `padded` positions of each sequence are padding; the last MLM slot has weight 0.
    """
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, (batch, seq)).astype("int32")
    mask = np.ones((batch, seq), "int32")
    mask[:, seq - padded :] = 0
    ids[:, 0] = CLS_ID
    ids[:, seq - padded - 1] = SEP_ID
    ids[mask == 0] = 0
    segments = np.zeros((batch, seq), "int32")
    segments[:, seq // 2 : seq - padded] = 1
    positions = np.sort(rng.choice(np.arange(1, seq - padded - 1), (batch, predictions)), axis=1)
    weights = np.ones((batch, predictions), "float32")
    weights[:, -1] = 0.0
    bigram_weights = (mask * (ids != CLS_ID) * (ids != SEP_ID)).astype("float32")
    inputs = {
        names.INPUT_IDS: ids,
        names.INPUT_MASK: mask,
        names.SEGMENT_IDS: segments,
        names.MASKED_LM_POSITIONS: positions.astype("int32"),
    }
    labels = {
        names.MLM_LOGITS: rng.integers(5, vocab_size, (batch, predictions)).astype("int32"),
        names.NSP_LOGITS: rng.integers(0, 2, (batch,)).astype("int32"),
        names.BIGRAM_SHIFT_LOGITS: rng.integers(0, 2, (batch, seq)).astype("int32"),
    }
    sample_weights = {
        names.MLM_LOGITS: weights,
        names.NSP_LOGITS: np.ones((batch,), "float32"),
        names.BIGRAM_SHIFT_LOGITS: bigram_weights,
    }
    return inputs, labels, sample_weights


def perturb(layer, seed=7):
    """Adds N(0, 0.5) noise to every weight of `layer` (a layer or a model): outputs that depend
    on it change visibly, unlike at the small initial weights."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [w + rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in layer.get_weights()]
    )


def encoder_inputs(inputs):
    return {key: inputs[key] for key in names.ENCODER_INPUTS}


def labels_for(model, labels, sample_weights):
    """Keeps only the labels and weights of the heads `model` has."""
    return (
        {k: v for k, v in labels.items() if k in model.heads},
        {k: v for k, v in sample_weights.items() if k in model.heads},
    )


def run_two_local_workers(command, timeout):
    """Runs `command` as the two workers of a MultiWorkerMirroredStrategy cluster on localhost
    (free ports, TF_CONFIG per process) and asserts both exit 0; returns their outputs."""
    sockets = [socket.socket() for _ in range(2)]
    for s in sockets:
        s.bind(("localhost", 0))
    workers = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(
            os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
            TF_CONFIG=json.dumps(tf_config),
        )  # fmt: skip
        processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        )
    outputs = [p.communicate(timeout=timeout)[0] for p in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    return outputs


def on_train_step_trace(monkeypatch, record):
    """Calls `record(model)` each time Keras traces a model's train step (`fit` calls
    `train_step` only while tracing its tf.function), e.g. to see the optimizer it trains with."""
    import keras

    train_step = keras.Model.train_step

    def recorded(self, data):
        record(self)
        return train_step(self, data)

    monkeypatch.setattr(keras.Model, "train_step", recorded)


def count_train_step_traces(monkeypatch):
    """A list that gets one entry (the model's class name) per train-step trace."""
    traces = []
    on_train_step_trace(monkeypatch, lambda model: traces.append(type(model).__name__))
    return traces


def config_from_argv(cls, argv):
    """The run config a binary built from `cls`'s generated flags makes of command-line flags
    `argv` (no program name), parsed into a fresh set of flags."""
    from absl import flags

    from hbert_tf.run_flags import config_from_flags, define_flags

    flag_values = flags.FlagValues()
    define_flags(cls, flag_values)
    flag_values(["prog", *argv])
    return config_from_flags(cls, flag_values)


def assert_one_line_error(result, *fragments, code=1):
    """Exit status `code`, no traceback, exactly one `error:` line and it holds `fragments`."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
