"""The pre-training binary and loop: schedule, Freeze, resume after kill -9, NaN stop, bad flags,
export, and distribution (mirrored over two CPU devices, two local workers)."""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from hbert_tf import names
from hbert_tf.pretraining import data as pretraining_data
from hbert_tf.pretraining.loop import plan_phases
from hbert_tf.serving.export import NSP_CLS_VECTOR, serving_outputs
from hbert_tf.study import jobs
from hbert_tf.text.vocab import Vocab
from hbert_tf.weights.model_dir import latest_checkpoint, load_pretrainer
from tests.helpers import config_from_argv, run_two_local_workers
from tfrecords import readers
from tfrecords.build_vocab import build_vocab
from tfrecords.create_pretraining_data import create_pretraining_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORT, LONG = 32, 64


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Built-in corpus -> vocabulary -> TFRecords at lengths 32 and 64 with bigram swaps."""
    out = tmp_path_factory.mktemp("pretraining_data")
    documents = readers.read_documents("builtin", builtin_seed=1, builtin_documents=200)
    Vocab(build_vocab(documents, vocab_size=300)).write(out / "vocab.txt")
    create_pretraining_data(
        str(out / "data"),
        vocab_file=str(out / "vocab.txt"),
        input_format="builtin",
        builtin_seed=1,
        builtin_documents=200,
        max_seq_length=f"{SHORT},{LONG}",
        max_predictions_per_seq="5,10",
        dupe_factor=1,
        bigram_shift_prob=0.15,
        num_shards=2,
        eval_documents=20,
    )
    return out / "data"


def pretrain_command(data_dir, model_dir, *extra):
    return [
        sys.executable,
        "-m",
        "trainers.pretrain",
        "--config=tiny",
        f"--train_data_128={data_dir}/seq{SHORT}",
        f"--train_data_384={data_dir}/seq{LONG}",
        f"--eval_data={data_dir}/seq{SHORT}",
        f"--max_seq_length={SHORT},{LONG}",
        "--max_predictions_per_seq=5,10",
        "--batch_size_128=8",
        "--batch_size_384=4",
        "--eval_batch_size=8",
        "--eval_batches=4",
        "--log_every=5",
        f"--model_dir={model_dir}",
        *extra,
    ]


def run_binary(command, timeout=240, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def test_plan_phases_is_ninety_ten():
    short = dict(name="s", file_pattern="a", seq_length=128, predictions=20, batch_size=32)
    long = dict(name="l", file_pattern="b", seq_length=384, predictions=58, batch_size=1)
    phases = plan_phases(1000, 0.1, short, long)
    assert [(p.name, p.start, p.end) for p in phases] == [("s", 0, 900), ("l", 900, 1000)]
    assert [(p.start, p.end) for p in plan_phases(1000, 0.1, short)] == [(0, 1000)]


def test_pretrain_freeze_at_step_then_export(data_dir, tmp_path):
    model_dir = tmp_path / "lower_nsp"
    result = run_binary(
        pretrain_command(
            data_dir,
            model_dir,
            "--variant=lower_nsp",
            "--nsp_layer=0",
            "--concat=cls",
            "--bigram_shift",
            "--train_steps=20",
            "--checkpoint_every=10",
            "--freeze_nsp=at_step:10",
            "--learning_rate=1e-3",
        )  # fmt: skip
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Lower NSP-Freeze: froze" in result.stderr and "at step 10" in result.stderr
    assert f"phase seq{SHORT}: steps 0..18" in result.stderr  # 90% short, then 10% long
    assert f"phase seq{LONG}: steps 18..20" in result.stderr
    # Quiet by default: our lines, progress with a rate and the time left, no absl INFO lines.
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line[:1] in "IE" and line[1:5].isdigit()], lines
    assert any(
        line.startswith("pre-training: 20/20 steps (100%), ") and " left mlm_loss=" in line
        for line in lines
    ), lines
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["step"] == 20 and metrics["nsp_frozen_at_step"] == 10
    for key in ("mlm_accuracy", "mlm_loss", "nsp_accuracy", "bigram_shift_accuracy"):
        assert np.isfinite(metrics[key])
    run_config = json.loads((model_dir / "run_config.json").read_text())
    assert run_config["layout"]["nsp_layer"] == 0 and run_config["layout"]["concat"] == "cls"
    assert (model_dir / "vocab.txt").read_text() == (data_dir / f"seq{SHORT}/vocab.txt").read_text()
    assert glob.glob(str(model_dir / "tensorboard" / "events.out.tfevents.*"))
    log = [json.loads(line) for line in (model_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "split" not in r] == [5, 10, 15, 20]

    # The frozen NSP path did not move between the step-10 and step-20 checkpoints.
    at_10, _ = load_pretrainer(model_dir, str(model_dir / "checkpoints" / "ckpt-10"))
    at_20, _ = load_pretrainer(model_dir)
    for layer_10, layer_20 in zip(at_10.nsp_path_layers(), at_20.nsp_path_layers()):
        for a, b in zip(layer_10.get_weights(), layer_20.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(
        at_10.mlm_head.transform.get_weights()[0], at_20.mlm_head.transform.get_weights()[0]
    )

    # Export: the SavedModel reproduces the Keras model's named outputs.
    export_dir = tmp_path / "exported"
    result = run_binary(
        [
            sys.executable,
            "-m",
            "trainers.export",
            f"--model_dir={model_dir}",
            f"--export_dir={export_dir}",
        ]  # fmt: skip
    )
    assert result.returncode == 0, result.stderr[-3000:]
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    rng = np.random.default_rng(0)
    inputs = {
        names.INPUT_IDS: rng.integers(5, 200, (2, 12)).astype("int32"),
        names.INPUT_MASK: np.ones((2, 12), "int32"),
        names.SEGMENT_IDS: np.zeros((2, 12), "int32"),
    }
    exported = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    expected = serving_outputs(at_20, inputs)
    assert set(exported) == set(expected) >= {"layer_0", "layer_1", NSP_CLS_VECTOR}
    for key, value in expected.items():
        np.testing.assert_allclose(exported[key], value, atol=1e-5)
    np.testing.assert_array_equal(expected[NSP_CLS_VECTOR], expected["layer_0"][:, 0])
    assert (export_dir / "assets.extra" / "vocab.txt").exists()


def test_freeze_on_plateau_evaluates_freezes_and_keeps_the_nsp_path(data_dir, tmp_path):
    """NSP eval accuracy on one batch of 8 takes at most 9 values, so with plateau:1 and an
    evaluation every step it must stop improving, and freeze, by step 10."""
    model_dir = tmp_path / "plateau"
    result = run_binary(
        pretrain_command(
            data_dir,
            model_dir,
            "--variant=lower_nsp",
            "--nsp_layer=0",
            "--freeze_nsp=plateau:1",
            "--eval_every=1",
            "--eval_batches=1",
            "--train_steps=14",
            "--checkpoint_every=1",
            "--long_seq_fraction=0",
            "--learning_rate=1e-3",
            "--verbosity=0",  # absl INFO lines too: the settings line below
        )  # fmt: skip
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NSP eval accuracy has not improved for 1 evaluations" in result.stderr
    metrics = json.loads((model_dir / "metrics.json").read_text())
    frozen_at = metrics["nsp_frozen_at_step"]
    assert 2 <= frozen_at <= 10
    # Beside the held-out accuracies: the trivial predictors on the same eval batch.
    baselines = pretraining_data.heldout_baselines(
        f"{data_dir}/seq{SHORT}/eval-*.tfrecord", batch_size=8, max_seq_length=SHORT,
        max_predictions_per_seq=5, max_batches=1,
    )  # fmt: skip
    assert 0.5 <= baselines["nsp_majority_baseline"] <= 1 and baselines["mlm_unigram_baseline"] > 0
    for name, value in baselines.items():
        assert metrics[name] == pytest.approx(value)
    # The learning curve: an eval line per step, the last one the final evaluation's.
    curve = jobs.read_curve(str(model_dir))
    assert [p["step"] for p in curve] == list(range(1, 15))
    assert curve[-1]["mlm_loss"] == pytest.approx(metrics["mlm_loss"])
    assert set(curve[0]) == {"step", "mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy"}
    steps = {}  # TensorBoard: the same curve as eval/* scalars
    for path in glob.glob(str(model_dir / "tensorboard" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps.setdefault(value.tag, set()).add(event.step)
    assert steps["eval/mlm_loss"] == steps["eval/nsp_accuracy"] == set(range(1, 15))
    # The paper preset under the flags given: explicit values win, the rest is the paper's.
    assert "settings (preset paper, explicitly set: " in result.stderr
    settings = json.loads((model_dir / "run_config.json").read_text())["settings"]
    assert (settings["config"], settings["batch_size_384"], settings["learning_rate"]) == (
        "tiny", 4, 1e-3,
    )  # fmt: skip
    assert (settings["weight_decay"], settings["weight_decay_type"], settings["amsgrad"]) == (
        1e-4, "l2", True,
    )  # fmt: skip
    assert settings["dropout"] == 0.1 and settings["clip_norm"] is None
    log = [json.loads(line) for line in (model_dir / "train_log.jsonl").read_text().splitlines()]
    evals = [r["nsp_accuracy"] for r in log if r.get("split") == "eval" and r["step"] <= frozen_at]
    assert len(evals) == frozen_at and evals[-1] <= max(evals[:-1])
    # Checkpoints 12..14 are all after the freeze: the NSP path is bit-identical, MLM moved on.
    at_12, _ = load_pretrainer(model_dir, str(model_dir / "checkpoints" / "ckpt-12"))
    at_14, _ = load_pretrainer(model_dir)
    for layer_12, layer_14 in zip(at_12.nsp_path_layers(), at_14.nsp_path_layers()):
        for a, b in zip(layer_12.get_weights(), layer_14.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(
        at_12.mlm_head.transform.get_weights()[0], at_14.mlm_head.transform.get_weights()[0]
    )


def test_bigram_shift_head_learns_above_chance(data_dir, tmp_path):
    """On generated text the head finds swapped tokens: held-out balanced accuracy (mean of the
    in-place and swapped recalls; 0.5 for any constant answer) well above 0.5."""
    from hbert_tf.pretraining.run import run_pretraining
    from hbert_tf.run_config import PretrainConfig

    metrics = run_pretraining(PretrainConfig.resolve(
        preset="tiny", variant="bigram_shift", dropout=0.0, train_data_128=str(data_dir / f"seq{SHORT}"),
        eval_data=str(data_dir / f"seq{SHORT}"), max_seq_length=[SHORT, LONG],
        max_predictions_per_seq=[5, 10], train_steps=400, long_seq_fraction=0.0,
        batch_size_128=32, eval_batches=0, learning_rate=5e-3, warmup_steps=40, decay="linear",
        clip_norm=1.0, steps_per_execution=20, log_every=100, model_dir=str(tmp_path / "bs"),
    ))  # fmt: skip
    assert metrics["bigram_shift_balanced_accuracy"] > 0.6, metrics  # measured 0.68; 0.54 with
    # the head reading its token alone
    assert (
        metrics["bigram_shift_swapped_recall"] > 0.5
        and metrics["bigram_shift_swapped_precision"] > 0.2
    )
    log = [
        json.loads(line) for line in (tmp_path / "bs" / "train_log.jsonl").read_text().splitlines()
    ]
    assert "bigram_shift_balanced_accuracy" in log[-1] and "bigram_shift_swapped_recall" in log[-1]


def test_init_from_our_model_dir_starts_from_its_encoder(data_dir, tmp_path):
    source_dir = tmp_path / "source"
    base = ["--train_steps=3", "--checkpoint_every=3", "--long_seq_fraction=0", "--log_every=3"]
    assert run_binary(pretrain_command(data_dir, source_dir, *base, "--eval_data=")).returncode == 0
    source_metrics = json.loads((source_dir / "metrics.json").read_text())
    assert 0 <= source_metrics["train_mlm_accuracy"] <= 1  # no eval data: last training window
    target_dir = tmp_path / "target"
    result = run_binary(
        pretrain_command(
            data_dir,
            target_dir,
            *base,
            "--variant=lower_mask",
            "--mlm_layer=0",
            f"--init_from={source_dir}",
            "--learning_rate=1e-12",
            "--train_steps=1",
        )  # fmt: skip
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"initialised the encoder and NSP pooler from {source_dir}" in result.stderr
    source, _ = load_pretrainer(source_dir)
    target, _ = load_pretrainer(target_dir)
    assert target.layout.mlm_layer == 0
    for a, b in zip(source.encoder.get_weights(), target.encoder.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_resume_after_kill_continues_the_step_count(data_dir, tmp_path):
    model_dir = tmp_path / "resume"
    command = pretrain_command(
        data_dir, model_dir, "--train_steps=200", "--checkpoint_every=10", "--long_seq_fraction=0"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 180

    def saved_step():  # the step the checkpoint state file names (written after ckpt-N.index)
        path = latest_checkpoint(model_dir)
        return int(path.rsplit("-", 1)[1]) if path else 0

    while time.time() < deadline and saved_step() < 20:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    saved = saved_step()
    assert 20 <= saved < 200
    result = run_binary(command)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from the checkpoint at step {saved}" in result.stderr
    assert f"phase seq{SHORT}: steps {saved}..200" in result.stderr
    assert json.loads((model_dir / "metrics.json").read_text())["step"] == 200


def corrupt_copy(source, target):
    """Copies a data folder, setting every masked_lm_weights value to infinity."""
    shutil.copytree(source, target)
    for path in glob.glob(str(target / "*.tfrecord")):
        records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
        with tf.io.TFRecordWriter(path) as writer:
            for record in records:
                example = tf.train.Example.FromString(record)
                weights = example.features.feature[names.MASKED_LM_WEIGHTS].float_list.value
                weights[:] = [float("inf")] * len(weights)
                writer.write(example.SerializeToString())


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path):
    model_dir = tmp_path / "nan"
    good = pretrain_command(
        data_dir, model_dir, "--train_steps=10", "--checkpoint_every=5", "--long_seq_fraction=0"
    )
    assert run_binary(good).returncode == 0
    corrupt_copy(data_dir / f"seq{SHORT}", tmp_path / "corrupt")
    result = run_binary(
        good + ["--train_steps=20", f"--train_data_128={tmp_path / 'corrupt'}"]  # last flag wins
    )
    assert result.returncode != 0
    assert "non-finite loss" in result.stderr and "at step 11" in result.stderr
    assert "Traceback" not in result.stderr
    assert latest_checkpoint(model_dir).endswith("ckpt-10")
    model, _ = load_pretrainer(model_dir)
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max_seq_length=64,64"], "data has max_seq_length=32 but the flags say"),
        (["--max_predictions_per_seq=7,10"], "max_predictions_per_seq=5 but the flags say"),
        (["--variant=lower_nsp", "--nsp_layer=2"], "nsp_layer=2 is out of range"),
        (["--variant=without_nsp", "--concat=nsp"], "needs an NSP head"),
        (["--freeze_nsp=sometimes"], "freeze_nsp='sometimes'"),
        (["--freeze_nsp=plateau:2"], "it needs --eval_data and --eval_every > 0"),
        (["--train_data_128=/nonexistent/dir"], "no TFRecord files match"),
        (["--config=giant"], "config 'giant'"),
        # A bad general placement (the test encoder has 2 blocks: -2..1).
        (["--heads=mlm:1,nsp:5"], "--heads nsp=5 is out of range for an encoder with 2 layers"),
        (["--heads=mlm:1,xyz:0"], "--heads=mlm:1,xyz:0: unknown head 'xyz'"),
        (["--heads=mlm:1,nsp:0,nsp:1"], "nsp is placed twice"),
        (["--heads=nsp:0"], "needs mlm:<block>"),
        (["--heads=mlm:1,nsp:0", "--variant=lower_nsp"], "places every head; drop --variant"),
    ],
)
def test_bad_flags_stop_before_training(data_dir, tmp_path, flags, message):
    """The binary's parse, validate and run steps in this process (a TensorFlow start per case
    costs more than the check); the binary's exit status and stderr are checked below."""
    from hbert_tf.errors import describe, user_error_types
    from hbert_tf.pretraining.run import run_pretraining
    from hbert_tf.run_config import PretrainConfig

    model_dir = tmp_path / "bad"
    argv = pretrain_command(data_dir, model_dir, "--train_steps=5", *flags)[3:]  # the flags
    with pytest.raises(user_error_types()) as error:  # what the binary prints as one line
        run_pretraining(config_from_argv(PretrainConfig, argv))
    assert message in describe(error.value)
    assert not os.path.exists(model_dir / "checkpoints")


def test_bad_flag_stops_the_binary_with_a_message(data_dir, tmp_path):
    model_dir = tmp_path / "bad"
    flags = ["--train_steps=5", "--max_seq_length=64,64"]
    result = run_binary(pretrain_command(data_dir, model_dir, *flags))
    assert result.returncode != 0
    assert "data has max_seq_length=32 but the flags say" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not os.path.exists(model_dir / "checkpoints")


def test_vocabulary_smaller_than_data_ids(data_dir, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data_dir / f"seq{SHORT}", copy)
    tokens = (copy / "vocab.txt").read_text().splitlines()
    (copy / "vocab.txt").write_text("\n".join(tokens[:20]) + "\n")
    result = run_binary(
        pretrain_command(
            data_dir,
            tmp_path / "m",
            "--train_steps=5",
            f"--train_data_128={copy}",
            "--long_seq_fraction=0",
        )  # fmt: skip
    )
    assert result.returncode != 0
    assert "vocab_size is 20" in result.stderr, result.stderr[-2000:]


def test_mirrored_strategy_on_two_cpu_devices(data_dir, tmp_path):
    model_dir = tmp_path / "mirrored"
    result = run_binary(
        pretrain_command(
            data_dir,
            model_dir,
            "--strategy=mirrored",
            "--cpu_devices=2",
            "--train_steps=6",
            "--checkpoint_every=6",
            "--variant=bigram_shift",
        )  # fmt: skip
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((model_dir / "metrics.json").read_text())["step"] == 6


def test_multi_worker_mirrored_two_local_workers_end_identical(data_dir, tmp_path):
    model_dir = tmp_path / "multi_worker"
    command = pretrain_command(
        data_dir, model_dir, "--strategy=multi_worker_mirrored", "--train_steps=6",
        "--checkpoint_every=3", "--long_seq_fraction=0", "--variant=lower_nsp", "--nsp_layer=0",
    )  # fmt: skip
    run_two_local_workers(command, timeout=240)
    chief, _ = load_pretrainer(model_dir)
    other, _ = load_pretrainer(
        model_dir, tf.train.latest_checkpoint(str(model_dir / "worker_scratch_1"))
    )
    for a, b in zip(chief.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.loads((model_dir / "metrics.json").read_text())["step"] == 6


def _flag_run(data_dir, model_dir, **flags):
    """40 steps of the bigram_shift variant (every head) on the tiny preset, in this process,
    with deterministic ops (the training data's order too), so runs can be compared closely."""
    # Not exported by tf.config; without it the other tests of this process stay deterministic.
    from tensorflow.python.framework.config import disable_op_determinism

    from hbert_tf.pretraining.run import run_pretraining
    from hbert_tf.run_config import PretrainConfig

    tf.config.experimental.enable_op_determinism()
    try:
        return run_pretraining(PretrainConfig.resolve(
            preset="tiny", variant="bigram_shift", dropout=0.0,
            train_data_128=str(data_dir / f"seq{SHORT}"), eval_data=str(data_dir / f"seq{SHORT}"),
            max_seq_length=[SHORT, LONG], max_predictions_per_seq=[5, 10], train_steps=40,
            long_seq_fraction=0.0, batch_size_128=8, eval_batch_size=8, eval_batches=4,
            learning_rate=5e-3, log_every=40, checkpoint_every=40, model_dir=str(model_dir),
            **flags,
        ))  # fmt: skip
    finally:
        disable_op_determinism()


@pytest.fixture(scope="module")
def float32_run(data_dir, tmp_path_factory):
    """The reference the execution flags are compared with."""
    return _flag_run(data_dir, tmp_path_factory.mktemp("float32"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, tolerance",
    [
        (dict(mixed_precision="mixed_bfloat16"), 0.03),
        (dict(mixed_precision="mixed_float16"), 0.03),  # dynamic loss scaling in the custom loop
        (dict(jit_compile=True), 0.01),
        # The same computation, 8 steps per call, on an explicit device (one run for both).
        (dict(steps_per_execution=8, strategy="one_device"), 1e-4),
    ],
    ids=lambda value: (
        "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None
    ),
)
def test_execution_flag_trains_close_to_float32(data_dir, tmp_path, float32_run, flags, tolerance):
    """Each execution flag on CPU: no NaN stop, every head's held-out loss close to the float32
    run's, and both runs learned (the MLM loss starts at ln(300) = 5.7). Measured: bf16 and
    float16 within 0.001-0.01 of float32, XLA within 0.01, the last one identical."""
    import keras

    metrics = _flag_run(data_dir, tmp_path, **flags)
    assert float32_run["mlm_loss"] < 5.4 and metrics["mlm_loss"] < 5.4
    for key in ("mlm_loss", "nsp_loss", "bigram_shift_balanced_loss"):
        assert metrics[key] == pytest.approx(float32_run[key], abs=tolerance), key
    assert keras.mixed_precision.global_policy().name == "float32"  # no leak into later runs
    if flags.get("mixed_precision") == "mixed_float16":
        checkpoint = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
        scales = [
            checkpoint.get_tensor(name)
            for name in checkpoint.get_variable_to_shape_map()
            if name.startswith("optimizer/dynamic_scale/")
        ]
        assert scales and 1 <= scales[0] <= 2**15, scales  # the loss scale was saved


def test_a_general_placement_trains_as_its_named_variant(data_dir, tmp_path):
    """`--heads=mlm:-1,nsp:0` is Lower NSP at block 0: the same layout and model."""
    from hbert_tf.pretraining.run import run_pretraining
    from hbert_tf.run_config import PretrainConfig

    runs = {}
    for name, flags in (("heads", ["--heads=mlm:-1,nsp:0"]),
                        ("variant", ["--variant=lower_nsp", "--nsp_layer=0"])):  # fmt: skip
        argv = pretrain_command(data_dir, tmp_path / name, "--train_steps=4", "--eval_every=0",
                                "--long_seq_fraction=0", *flags)[3:]  # fmt: skip
        runs[name] = run_pretraining(config_from_argv(PretrainConfig, argv))
    # The same model (CPU kernels are not bit-deterministic here, so the losses agree closely).
    assert (
        load_pretrainer(tmp_path / "heads")[0].layout
        == load_pretrainer(tmp_path / "variant")[0].layout
    )
    assert set(runs["heads"]) == set(runs["variant"])
    for key in ("mlm_loss", "nsp_loss"):
        assert runs["heads"][key] == pytest.approx(runs["variant"][key], rel=1e-2)
    saved = json.loads((tmp_path / "heads" / "run_config.json").read_text())
    assert saved["settings"]["heads"] == "mlm:-1,nsp:0"
