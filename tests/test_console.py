"""Quiet by default: progress lines with a rate and the time left, a study unit's output in its
own log, no TensorFlow "E ... use_unbounded_threadpool" lines from our input pipelines."""

import os
import subprocess
import sys
import warnings

from absl import logging

from hbert_tf import console
from hbert_tf.study import runner, units

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_progress_lines_have_a_rate_and_the_time_left(capsys, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(console.time, "time", lambda: now[0])
    progress = console.Progress(100, "pre-training", done=20, min_seconds=5)
    now[0] = 110.0
    first = progress.update(30, "loss=1.0")  # includes tracing: the rate from the start
    assert first == "pre-training: 30/100 steps (30%), 1.00 steps/s, 0:01:10 left loss=1.0"
    now[0] = 112.0
    assert progress.update(40) is None  # under min_seconds since the last line
    now[0] = 120.0
    assert progress.update(50) == "pre-training: 50/100 steps (50%), 2.00 steps/s, 0:00:25 left"
    now[0] = 121.0
    assert progress.update(100).startswith("pre-training: 100/100 steps (100%)")  # the end
    assert capsys.readouterr().err.count("\n") == 3
    size = console.Progress(2**21, "download x", "bytes", scale=(2**20, "MiB"))
    assert size.line(2**20).startswith("download x: 1.0/2.0 MiB (50%)")


def test_a_units_lines_warnings_and_logs_go_to_its_output_log(tmp_path, capsys):
    unit = units.Unit("chance", "x", units.Chance("x"))

    def job(unit, run_dir, inputs):
        console.say("phase seq64: steps 0..30")
        logging.warning("skipped 3 questions")
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
        return {}, []

    runner.execute_unit(unit, str(tmp_path), job)
    captured = capsys.readouterr()
    assert captured.out == "" and "skipped" not in captured.err and "phase" not in captured.err
    output = (tmp_path / "units" / unit.key / runner.UNIT_OUTPUT).read_text()
    assert "phase seq64: steps 0..30\n" in output
    assert "skipped 3 questions" in output and "a library's warning" in output
    words = [line.split()[1] for line in open(tmp_path / "units" / unit.key / runner.UNIT_LOG)]
    assert words == ["start", "done"]
    console.say("after the unit")
    assert capsys.readouterr().err == "after the unit\n"


# Keras' batching of numpy arrays (a parallel map) under op determinism prints the E line; the
# same call on `numpy_batches` (fine-tuning predictions, probe training) does not.
DETERMINISTIC_RUN = r"""
import sys
import numpy as np, keras, tensorflow as tf
from hbert_tf.probing.classifier import ProbeConfig, train_probe
from hbert_tf.runtime import numpy_batches
tf.config.experimental.enable_op_determinism()
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
x = np.zeros((10, 3), np.float32)
model.predict(numpy_batches(x, 4), verbose=0)
rng = np.random.default_rng(0)
features = {s: rng.normal(size=(12, 4)).astype("float32") for s in ("tr", "va", "te")}
targets = {s: np.arange(12) % 2 for s in features}
train_probe(features, targets, 2, ProbeConfig(max_epochs=2, patience=1, hidden_units=4))
print("OURS DONE", file=sys.stderr, flush=True)
model.predict(x, batch_size=4, verbose=0)  # Keras on arrays: the line this test looks for
"""


def test_our_input_pipelines_print_no_use_unbounded_threadpool_lines():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-c", DETERMINISTIC_RUN], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    ours, keras_arrays = result.stderr.split("OURS DONE\n")
    assert "use_unbounded_threadpool" not in ours, ours[-3000:]
    assert "use_unbounded_threadpool" in keras_arrays  # the check sees the line when it occurs
