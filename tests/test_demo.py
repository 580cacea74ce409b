"""The README's main command on a small setting: report files, table, resume."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_demo(output_dir, *flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "trainers.demo", f"--output_dir={output_dir}", *flags]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_demo_writes_report_and_resumes(tmp_path):
    flags = ["--train_steps=200", "--corpus_mb=0.3", "--variants=bert,lower_mask_cls,bigram_shift"]
    result = run_demo(tmp_path, *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    names = [row["name"] for row in report["rows"]]
    assert names[:3] == ["bert", "lower_mask_cls", "bigram_shift"]
    assert any(name.startswith("chance") for name in names)
    rows = {row["name"]: row for row in report["rows"]}
    assert rows["lower_mask_cls"]["heads"] == "0 / 1 / -, concat cls"
    assert rows["bigram_shift"]["metrics"]["bigram_shift_accuracy"] > 0
    # The bigram-shift head is above chance (a constant answer has balanced accuracy 0.5);
    # measured 0.88 at 200 steps.
    assert rows["bigram_shift"]["metrics"]["bigram_shift_balanced_accuracy"] > 0.7
    assert rows["chance (bigram_shift data)"]["metrics"]["bigram_shift_balanced_accuracy"] == 0.5
    assert "nsp_accuracy" in rows["bert"]["metrics"] and rows["bert"]["metrics"]["step"] == 200
    chance = rows["chance (clean data)"]["metrics"]
    assert 0.5 <= chance["nsp_accuracy"] < 0.7 and 0 < chance["mlm_accuracy"] < 0.2
    assert "| bert |" in result.stdout and "| variant |" in result.stdout
    assert (tmp_path / "report.md").read_text().count("|") > 20
    assert (tmp_path / "training_curves.png").read_bytes()[:4] == b"\x89PNG"

    again = run_demo(tmp_path, *flags)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("(done)") == 3


def test_demo_rejects_unknown_variant(tmp_path):
    result = run_demo(tmp_path, "--variants=bert,roberta")
    assert result.returncode != 0
    assert "--variants: unknown ['roberta']" in result.stderr
    assert not os.listdir(tmp_path)
