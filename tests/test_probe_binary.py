"""The probing binary end to end: probe two models at two layers, read the outputs; bad input."""

import json
import os
import subprocess
import sys

import pytest

from tests.test_probing import make_model_dir
from tfrecords import probing_tasks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    config = probing_tasks.GenerationConfig(
        train_size=120, dev_size=30, test_size=30, num_documents=120, seed=3
    )
    generated, metadata = probing_tasks.generate_tasks(
        "builtin", ["sentence_length", "past_present"], config
    )
    probing_tasks.write_tasks(str(root / "tasks"), generated, metadata, {})
    models = [
        make_model_dir(root / "lower_nsp", "lower_nsp", nsp_layer=0),
        make_model_dir(root / "without_nsp", "without_nsp", seed=1),
    ]
    return root, models


@pytest.mark.slow
def test_probe_two_models_two_layers_writes_table_json_chart_cache(setup):
    root, models = setup
    args = [
        f"--model_dir={','.join(models)}", f"--task_dir={root}/tasks", f"--output_dir={root}/out",
        "--layer=nsp,embeddings", "--max_epochs=3", "--max_seq_length=48", "--tasks=SL",
        "--verbosity=0",  # absl INFO lines too: "probe settings" below
    ]  # fmt: skip
    result = run_module("trainers.probe", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = lines[[line.startswith("Models") for line in lines].index(True) :]
    assert table[0].split() == ["Models", "SL"]
    assert len(table) == 1 + 4 + 1  # header, 2 models x 2 layers, chance
    assert any("without_nsp" in line and "nsp=layer_1" in line for line in table)
    with open(root / "out" / "probing.json") as f:
        results = json.load(f)["results"]
    assert len(results) == 4
    assert {r["layer_note"] for r in results if r["model"] == "without_nsp"} >= {
        "no NSP head: using the last layer"
    }
    for name in ("probing.txt", "probing.png"):
        assert os.path.getsize(root / "out" / name) > 0
    cached = [f for _, _, files in os.walk(root / "out" / "cache") for f in files]
    assert len(cached) == 4 and all(f.endswith(".npz") for f in cached)
    # The paper's preset, with the explicitly given --layer overriding its "nsp".
    with open(root / "out" / "probe_settings.json") as f:
        settings = json.load(f)
    assert settings["preset"] == "paper" and settings["layer"] == ["nsp", "embeddings"]
    probe = settings["probe"]
    assert (probe["classifier"], probe["hidden_units"], probe["hidden_layers"]) == ("mlp", 128, 2)
    assert (probe["learning_rate"], probe["amsgrad"], probe["batch_size"]) == (1e-3, True, 32)
    assert "probe settings:" in result.stderr


@pytest.mark.slow
def test_bad_input_gives_one_clear_message(setup, tmp_path):
    root, models = setup
    bad_tasks = tmp_path / "tasks"
    bad_tasks.mkdir()
    (bad_tasks / "bigram_shift.txt").write_text("tr\tO\tgood line .\ntr\tI no tabs here\n")
    broken_model = make_model_dir(tmp_path / "broken")
    for name in os.listdir(os.path.join(broken_model, "checkpoints")):
        os.remove(os.path.join(broken_model, "checkpoints", name))
    cases = [
        ([f"--model_dir={models[0]}", f"--task_dir={bad_tasks}"], "bigram_shift.txt:2: expected"),
        ([f"--model_dir={broken_model}", f"--task_dir={root}/tasks"], "no checkpoint found"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        result = run_module("trainers.probe", *args, f"--output_dir={out}")
        assert result.returncode != 0
        assert "error:" in result.stderr and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert not os.path.exists(out / "probing.json")
