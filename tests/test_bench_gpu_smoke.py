"""bench/gpu_smoke_and_mfu.py runs on a CPU with the tiny preset, so it cannot rot before the next
GPU is at hand: the smoke test passes and every MFU row has positive, consistent figures."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_gpu_smoke_and_mfu_runs_on_cpu_with_the_tiny_preset(tmp_path):
    output = tmp_path / "results.json"
    command = [
        sys.executable, "bench/gpu_smoke_and_mfu.py", "--config=tiny", "--steps=3",
        "--rounds=1", "--smoke_steps=2", "--batch_size=2", "--peak_tflops=1",
        f"--output={output}",
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "smoke test passed: 2 steps of --config=tiny on CPU" in result.stdout
    results = json.loads(output.read_text())
    assert results["device"] == "CPU" and results["smoke"]["step"] == 2
    rows = results["mfu_rows"]
    assert [(r["seq_length"], r["predictions"]) for r in rows] == [(128, 20), (384, 58)]
    for row in rows:
        assert row["steps_per_second"] > 0
        assert row["tokens_per_second"] == pytest.approx(
            row["steps_per_second"] * 2 * row["seq_length"]
        )
        assert row["mfu"] == pytest.approx(row["achieved_tflops"] / 1.0)
        assert row["model_tflop_per_step"] > 0
    assert rows[1]["model_tflop_per_step"] > 2.5 * rows[0]["model_tflop_per_step"]  # 3x tokens


def test_bad_flags_are_refused_with_the_flag_named(capsys):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        from gpu_smoke_and_mfu import default_peak, parse_args
    finally:
        sys.path.remove(os.path.join(ROOT, "bench"))
    for argv, message in (
        (["--seq_lengths=128,x"], "--seq_lengths='128,x': expected a comma list of integers"),
        (["--steps=0"], "--steps=0: expected at least 1"),
    ):
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert message in capsys.readouterr().err
    assert parse_args([]).seq_lengths == [128, 384]
    assert default_peak("NVIDIA H100 80GB HBM3") == 989.0 and default_peak(None) == 0.0
