"""The README's main command: the demo study learns (every number above chance) and resumes."""

import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_demo(output_dir, *flags):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "trainers.study", "--study=demo", f"--output_dir={output_dir}"]
    return subprocess.run(
        command + list(flags), cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500
    )


def above_chance(records):
    """(model, task, metric, value, chance) of every selected downstream number, with the chance
    record's value for the same task and metric."""
    chance = {(r["task"], k): v for r in records if r["model"] == "chance"
              for k, v in r["metrics"].items()}  # fmt: skip
    rows = []
    for r in records:
        if r["selected"] and r["model"] != "chance" and r["kind"] != "pretrain":
            for metric, value in r["metrics"].items():
                rows.append((r["model"], r["task"], metric, value, chance[r["task"], metric]))
    return rows


@pytest.mark.slow
@pytest.mark.demo  # about 6 CPU-minutes: CI runs it after the suite (`bash scripts/test.sh -m demo`)
def test_demo_study_beats_chance_everywhere_and_resumes(tmp_path):
    start = time.time()
    result = run_demo(tmp_path)
    print(f"demo study: {time.time() - start:.0f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    # Quiet by default: under 60 lines in all, no TensorFlow error lines, no absl prefixes.
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) < 60, lines
    noise = [
        line
        for line in lines
        if line.startswith("E ")
        or "cuInit" in line
        or "use_unbounded_threadpool" in line
        or line[:1] in "IWE"
        and line[1:5].isdigit()
    ]
    assert not noise, (noise, lines)  # all lines: what came just before the noise
    records = json.loads((tmp_path / "records.json").read_text())
    models = {r["model"] for r in records}
    assert {"bert", "lower_nsp", "lower_mask", "bigram_shift", "chance"} <= models
    assert {r["pt_concat"] for r in records if r["model"] == "lower_mask"} == {"cls"}
    tasks = {(r["model"], r["task"]) for r in records if r["selected"]}
    for model in ("bert", "lower_nsp", "lower_mask", "bigram_shift"):
        assert {(model, "squad1.1"), (model, "mnli"), (model, "sentence_length")} <= tasks
    rows = above_chance(records)
    assert len(rows) == 4 * (2 + 2 + 3)  # 4 models: EM, F1, matched, mismatched, 3 probes
    below = [row for row in rows if not row[3] > row[4]]
    assert not below, below
    # The bigram-shift head learned on the swapped data (balanced accuracy 0.5 = constant).
    bigram = [r for r in records if r["model"] == "bigram_shift" and r["task"] == "pretrain"]
    assert bigram[0]["metrics"]["bigram_shift_balanced_accuracy"] > 0.6

    again = run_demo(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "done in" not in again.stdout  # every unit was done
    assert json.loads((tmp_path / "records.json").read_text()) == records


def test_demo_rejects_bad_seeds(tmp_path):
    result = run_demo(tmp_path / "out", "--seeds=0,x")
    assert result.returncode == 1
    assert "error: --seeds=0,x: expected a comma list of ints" in result.stderr
    assert not (tmp_path / "out").exists()
