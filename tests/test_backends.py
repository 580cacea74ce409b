"""The models on every Keras backend: weights saved under TensorFlow give the same outputs under
JAX, every pre-training variant (and two fine-tuning models) trains under JAX, and all of it runs
in a process where TensorFlow cannot be imported (tests/backend_check.py, tests/no_tensorflow.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.backend_check import CASES, batch_for, outputs_of
from tests.helpers import ROOT, perturb

pytest.importorskip("jax", reason="JAX (CPU) is in the test extra: pip install 'jax[cpu]'")

# One JAX run for the whole file: pytest-xdist keeps its tests on one worker.
pytestmark = pytest.mark.xdist_group("backends")


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """Saves every case's weights and outputs under TensorFlow, then runs them under JAX; returns
    the folder with both processes' outputs (`<case>.npz`, `jax_<case>.npz`, `jax_results.json`)."""
    directory = tmp_path_factory.mktemp("backends")
    for name, case in CASES.items():
        model = case.build()
        perturb(model, seed=0)  # so that a backend's different op would show in the outputs
        inputs, _, _ = batch_for(case, model)
        np.savez(directory / f"{name}.npz", **outputs_of(model, inputs))
        model.save_weights(directory / f"{name}.weights.h5")
    command = [
        sys.executable,
        "-m",
        "tests.no_tensorflow",
        "tests/backend_check.py",
        str(directory),
    ]
    # The eager steps compile about 400 small XLA programs: LLVM's optimisations cost more than
    # they save there (31 s -> 26 s of CPU for the JAX side).
    xla_flags = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {xla_flags}".strip()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return directory


@pytest.fixture(scope="module")
def jax_results(jax_run):
    return json.loads((jax_run / "jax_results.json").read_text())


def test_the_check_ran_under_jax_without_tensorflow(jax_results):
    # tests.no_tensorflow makes any import of TensorFlow fail, so reaching the results means no
    # module of hbert_tf.modeling (nor keras, keras-hub) needed it.
    assert jax_results["backend"] == "jax"
    assert set(jax_results) == {"backend", *CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_same_weights_same_outputs_under_tensorflow_and_jax(jax_run, name):
    tensorflow, jax = np.load(jax_run / f"{name}.npz"), np.load(jax_run / f"jax_{name}.npz")
    assert sorted(jax) == sorted(tensorflow)
    for key in tensorflow:  # float32 tolerance
        np.testing.assert_allclose(jax[key], tensorflow[key], rtol=1e-5, atol=1e-4, err_msg=key)


@pytest.mark.parametrize("name", list(CASES))
def test_one_fit_step_under_jax_lowers_the_loss(jax_results, name):
    before, after = jax_results[name]["losses"]
    assert np.isfinite(before) and after < before, jax_results[name]


def test_freeze_under_jax_keeps_the_nsp_path_and_trains_the_rest(jax_results):
    result = jax_results["freeze"]
    assert result["frozen_moved"] == 0.0
    # The attention key's bias adds the same amount to every score of a query, which softmax
    # ignores: its gradient is zero up to rounding, so plain SGD may leave it where it was.
    unmoved = [path for path in result["trainable_unmoved"] if not path.endswith("key/bias")]
    assert unmoved == [] and result["trainable_count"] > 0
