"""bench/jax_pretraining_mfu.py runs on a CPU with the tiny preset and without TensorFlow, so it
cannot rot before the next GPU machine with JAX is at hand; its FLOP count is the TensorFlow
bench's (bench/mfu.py)."""

import json
import os
import subprocess
import sys

import pytest

from hbert_tf.config import get_config
from tests.helpers import ROOT

pytest.importorskip("jax", reason="JAX (CPU) is in the test extra: pip install 'jax[cpu]'")


@pytest.mark.slow
def test_jax_mfu_bench_runs_on_cpu_without_tensorflow(tmp_path):
    output = tmp_path / "results.json"
    command = [
        sys.executable, "-m", "tests.no_tensorflow", "bench/jax_pretraining_mfu.py",
        "--config=tiny", "--seq_lengths=32", "--batch_size=2", "--steps=3", "--rounds=1",
        "--peak_tflops=1", f"--output={output}",
    ]  # fmt: skip
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MFU (JAX): --config=tiny --variant=bert batch 2, mixed_bfloat16, XLA" in result.stdout
    results = json.loads(output.read_text())
    assert results["backend"] == "jax" and results["device"] == "cpu"
    (row,) = results["mfu_rows"]
    assert (row["seq_length"], row["predictions"]) == (32, 20)
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        from mfu import flops_per_sequence
    finally:
        sys.path.remove(os.path.join(ROOT, "bench"))
    flops = 2 * flops_per_sequence(get_config("tiny", vocab_size=30522), 32, 20)
    assert row["model_tflop_per_step"] == pytest.approx(flops / 1e12)
    assert row["steps_per_second"] > 0
    assert row["tokens_per_second"] == pytest.approx(row["steps_per_second"] * 2 * 32)
    assert row["mfu"] == pytest.approx(row["achieved_tflops"] / 1.0)
    assert row["loss_first_call"] > 0 and row["loss_last_call"] > 0
