"""Fine-tuning under tf.distribute and every execution flag (issue 12), on CPU.

MultiNLI on a small built-in set (tiny random encoder, dropout 0, a dozen steps): each variant
must train to a loss close to the float32 default-strategy run on the same global batch.
"""

import json
import os
import subprocess
import sys

import pytest

from hbert_tf.finetuning import builtin_tasks
from hbert_tf.finetuning.run import run_mnli
from hbert_tf.run_config import MnliConfig
from hbert_tf.text.vocab import Vocab
from tests.helpers import count_train_step_traces, run_two_local_workers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 12


@pytest.fixture(scope="module")
def nli_files(tmp_path_factory):
    """(train, dev_matched, vocab) files: a small built-in NLI set and its vocabulary."""
    out = tmp_path_factory.mktemp("nli")
    train, matched, _ = builtin_tasks.write_builtin_nli(str(out), 0, 16, 8)
    Vocab(builtin_tasks.task_vocabulary()).write(str(out / "vocab.txt"))
    return train, matched, str(out / "vocab.txt")


def mnli_config(nli_files, model_dir, **extra):
    train, matched, vocab = nli_files
    return MnliConfig.resolve(
        model_dir=str(model_dir), init_from="none", config="tiny", vocab_file=vocab, data="files",
        train_file=train, dev_matched_file=matched, max_seq_length=32, train_steps=STEPS,
        checkpoint_every=STEPS, batch_size=8, learning_rate=1e-3, dropout=0.0, seed=5,
        verbose=0, **extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def float32_run(nli_files, tmp_path_factory):
    return run_mnli(mnli_config(nli_files, tmp_path_factory.mktemp("float32")))


def test_the_train_step_is_traced_once(nli_files, tmp_path, monkeypatch):
    """training.build_for_fit: without it Keras creates the optimizer slots inside the first
    trace and TensorFlow traces the step again (2-5 s per fine-tuning on CPU)."""
    traces = count_train_step_traces(monkeypatch)
    run_mnli(mnli_config(nli_files, tmp_path))
    assert len(traces) == 1, traces


# Adam divides by the gradient's root mean square, so rounding differences in near-zero gradients
# move weights by up to the learning rate: a different reduction order (a strategy, XLA) is close,
# not bit-equal, after a dozen steps.
@pytest.mark.parametrize(
    "flags, loss_tolerance",
    [
        pytest.param(dict(strategy="one_device"), 2e-3, id="one_device"),
        pytest.param(dict(steps_per_execution=4), 1e-5, id="steps_per_execution"),
        pytest.param(dict(mixed_precision="mixed_bfloat16"), 0.05, id="bf16"),
        pytest.param(dict(jit_compile=True), 2e-3, id="jit_compile", marks=pytest.mark.slow),
        pytest.param(
            dict(mixed_precision="mixed_float16"), 0.02, id="fp16", marks=pytest.mark.slow
        ),
    ],
)
def test_execution_flags_train_close_to_float32(
    nli_files, float32_run, tmp_path, flags, loss_tolerance
):
    metrics = run_mnli(mnli_config(nli_files, tmp_path, **flags))
    training, reference = metrics["training"], float32_run["training"]
    assert training["train_steps"] == reference["train_steps"] == STEPS
    assert abs(training["final_loss"] - reference["final_loss"]) <= loss_tolerance, (
        training, reference,
    )  # fmt: skip
    if flags.get("mixed_precision") == "mixed_float16":
        assert training["optimizer"] == "LossScaleOptimizer"  # loss scaling, no NaN stop
    else:
        assert training["optimizer"] == reference["optimizer"] == "AdamL2"
    saved = json.loads((tmp_path / "finetune_config.json").read_text())["settings"]
    assert {k: saved[k] for k in flags} == flags
    import keras

    assert keras.config.dtype_policy().name == "float32"  # the run restored the policy


MIRRORED_CHECK = """
import json, sys
from hbert_tf.finetuning.run import run_mnli
from tests.test_finetune_distributed import mnli_config
files, out = json.loads(sys.argv[1]), sys.argv[2]
results = {}
for strategy in ("default", "mirrored"):
    config = mnli_config(files, f"{out}/{strategy}", strategy=strategy, cpu_devices=2)
    results[strategy] = run_mnli(config)
print(json.dumps(results))
"""


@pytest.mark.slow
def test_mirrored_on_two_cpu_devices_matches_one_device(nli_files, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_CHECK, json.dumps(list(nli_files)), str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    one, mirrored = results["default"], results["mirrored"]
    assert mirrored["training"]["train_steps"] == one["training"]["train_steps"] == STEPS
    assert mirrored["training"]["final_loss"] == pytest.approx(
        one["training"]["final_loss"], abs=2e-3
    )  # same global batch 8 (4 per replica); see the note on Adam above
    assert mirrored["dev_matched_accuracy"] == pytest.approx(one["dev_matched_accuracy"], abs=0.05)


@pytest.mark.slow
def test_multi_worker_two_local_workers_match_one_device(nli_files, float32_run, tmp_path):
    """Two worker processes (MultiWorkerMirroredStrategy, our own step loop) on the same global
    batch: the workers end equal, and close to the single-process `fit` run."""
    train, matched, vocab = nli_files
    model_dir = tmp_path / "multi_worker"
    command = [
        sys.executable, "-m", "trainers.finetune_mnli", f"--model_dir={model_dir}",
        "--init_from=none", "--config=tiny", f"--vocab_file={vocab}", "--data=files",
        f"--train_file={train}", f"--dev_matched_file={matched}", "--max_seq_length=32",
        f"--train_steps={STEPS}", f"--checkpoint_every={STEPS}", "--batch_size=8",
        "--learning_rate=1e-3", "--dropout=0", "--seed=5", "--verbose=0",
        "--strategy=multi_worker_mirrored", "--steps_per_execution=4",
    ]  # fmt: skip
    run_two_local_workers(command, timeout=600)
    chief = json.loads((model_dir / "metrics.json").read_text())
    other = json.loads((model_dir / "worker_scratch_1" / "metrics.json").read_text())
    assert chief["training"]["train_steps"] == STEPS
    assert chief["training"]["final_loss"] == other["training"]["final_loss"]
    predictions = [
        (folder / "predictions_dev_matched.jsonl").read_text()
        for folder in (model_dir, model_dir / "worker_scratch_1")
    ]
    assert predictions[0] == predictions[1]
    reference = float32_run["training"]["final_loss"]  # the mean over the same 12 steps
    assert not os.path.exists(model_dir / "backup")
    assert chief["dev_matched_accuracy"] == pytest.approx(
        float32_run["dev_matched_accuracy"], abs=0.05
    )
    assert chief["training"]["final_loss"] == pytest.approx(reference, abs=2e-3)


ONE_WORKER_CHECK = """
import json, sys
from hbert_tf.finetuning.run import run_mnli
from tests.test_finetune_distributed import mnli_config
files, out, flags = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
config = mnli_config(files, out, strategy="multi_worker_mirrored", **flags)
print(json.dumps(run_mnli(config)))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, loss_tolerance",
    [(dict(mixed_precision="mixed_float16"), 0.02), (dict(jit_compile=True), 2e-3)],
    ids=["fp16", "jit_compile"],
)
def test_multi_worker_step_loop_execution_flags(nli_files, float32_run, tmp_path, flags,
                                                loss_tolerance):  # fmt: skip
    """The step loop's loss scaling and XLA path, on one worker (no TF_CONFIG)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", ONE_WORKER_CHECK, json.dumps(list(nli_files)), str(tmp_path),
         json.dumps(flags)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    training = json.loads(result.stdout.strip().splitlines()[-1])["training"]
    assert training["train_steps"] == STEPS
    reference = float32_run["training"]["final_loss"]
    assert training["final_loss"] == pytest.approx(reference, abs=loss_tolerance)
    expected = "LossScaleOptimizer" if "mixed_precision" in flags else "AdamL2"
    assert training["optimizer"] == expected
