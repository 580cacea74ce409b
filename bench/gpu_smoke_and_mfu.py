r"""One command for whenever a GPU is at hand: a GPU smoke test of training, then the MFU benchmark.

  python bench/gpu_smoke_and_mfu.py                       # BERT-base, lengths 128 and 384
  python bench/gpu_smoke_and_mfu.py --peak_tflops=989     # a card hbert_tf.flops does not know
  python bench/gpu_smoke_and_mfu.py --config=tiny --steps=3 --rounds=1   # any CPU (the test's)

1. Smoke test: `run_pretraining` (trainers.pretrain's code) for `--smoke_steps` steps of the
   `bert` variant on a small built-in corpus made here (vocabulary, TFRecords), with
   `--strategy=one_device` (the GPU when there is one), `--mixed_precision` and XLA; checks that
   every loss is finite and that the run reached its last step. `--require_gpu` fails when no GPU
   is visible (so a broken CUDA set-up cannot pass as a CPU run).
2. MFU: the pre-training step of trainers.pretrain (`PretrainingLoop`, `--variant`, default
   `bert`: MLM + NSP) on synthetic batches at each `--seq_lengths` (20 predictions at 128, 58 at 384),
   `--batch_size` sequences, mixed precision and XLA, `--steps` steps per call, the median of
   `--rounds` timed calls after one compiling call. Prints steps/s, tokens/s, model FLOPs per step
   (3x the forward matmuls: hbert_tf.flops.flops_per_sequence) and MFU against
   `--peak_tflops` (default: the detected card's dense bf16 peak, hbert_tf.flops.PEAK_BF16_TFLOPS).

`--output=results.json` also writes every figure as JSON (atomically).
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hbert_tf import names  # noqa: E402
from hbert_tf.config import get_config  # noqa: E402
from hbert_tf.files import write_json_atomic  # noqa: E402
from hbert_tf.flops import PEAK_BF16_TFLOPS, flops_per_sequence  # noqa: E402
from hbert_tf.modeling.pretrainer import build_pretrainer  # noqa: E402
from hbert_tf.optimization import make_optimizer  # noqa: E402
from hbert_tf.pretraining.loop import PretrainingLoop  # noqa: E402
from hbert_tf.runtime import dtype_policy, make_strategy  # noqa: E402
from hbert_tf.variants import resolve_variant  # noqa: E402


def device_name():
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")


def default_peak(name):
    """The table's peak for a device name ("NVIDIA H100 80GB HBM3" -> 989), 0 when unknown."""
    return next((peak for card, peak in PEAK_BF16_TFLOPS.items() if name and card in name), 0.0)


def smoke_test(args, workdir):
    """A few real pre-training steps (data made here); returns the final metrics."""
    from hbert_tf.pretraining.run import run_pretraining
    from hbert_tf.run_config import PretrainConfig
    from hbert_tf.text.vocab import Vocab
    from tfrecords import readers
    from tfrecords.build_vocab import build_vocab
    from tfrecords.create_pretraining_data import create_pretraining_data

    documents = readers.read_documents("builtin", builtin_seed=0, builtin_documents=300)
    vocab_file = os.path.join(workdir, "vocab.txt")
    Vocab(build_vocab(documents, vocab_size=1000)).write(vocab_file)
    data = os.path.join(workdir, "data")
    create_pretraining_data(
        data, vocab_file=vocab_file, input_format="builtin", builtin_seed=0,
        builtin_documents=300, max_seq_length=128, max_predictions_per_seq=20, dupe_factor=1,
        eval_documents=20,
    )  # fmt: skip
    metrics = run_pretraining(PretrainConfig.resolve(
        preset="paper", config=args.config, variant="bert", train_data_128=data, eval_data=data,
        max_seq_length=[128, 384], max_predictions_per_seq=[20, 58], long_seq_fraction=0.0,
        train_steps=args.smoke_steps, batch_size_128=8, eval_batch_size=8, eval_batches=2,
        log_every=args.smoke_steps, checkpoint_every=args.smoke_steps, strategy="one_device",
        mixed_precision=args.mixed_precision.replace("float32", "none"), jit_compile=True,
        model_dir=os.path.join(workdir, "model"),
    ))  # fmt: skip
    bad = {k: v for k, v in metrics.items() if "loss" in k and not math.isfinite(v)}
    if bad or metrics["step"] != args.smoke_steps:
        raise SystemExit(f"smoke test FAILED: step {metrics['step']}, non-finite losses {bad}")
    return metrics


def synthetic_dataset(config, batch, seq, predictions, seed=0):
    """One random `bert`-variant batch, repeated (keyed as hbert_tf.pretraining.data's)."""
    rng = np.random.default_rng(seed)
    inputs = {
        names.INPUT_IDS: rng.integers(5, config.vocab_size, (batch, seq)).astype("int32"),
        names.INPUT_MASK: np.ones((batch, seq), "int32"),
        names.SEGMENT_IDS: (np.arange(seq)[None, :] >= seq // 2).repeat(batch, 0).astype("int32"),
        names.MASKED_LM_POSITIONS: np.sort(
            rng.integers(1, seq - 1, (batch, predictions)), axis=1
        ).astype("int32"),
    }
    labels = {
        names.MLM_LOGITS: rng.integers(5, config.vocab_size, (batch, predictions)).astype("int32"),
        names.NSP_LOGITS: rng.integers(0, 2, (batch,)).astype("int32"),
    }
    weights = {names.MLM_LOGITS: np.ones((batch, predictions), "float32")}
    return tf.data.Dataset.from_tensors((inputs, labels, weights)).repeat()


def measure(args, strategy, seq, peak):
    """Steps/s of trainers.pretrain's step at one length, and what follows from it."""
    config = get_config(args.config, vocab_size=args.vocab_size)
    predictions = max(20, round(0.15 * seq))  # 20 at 128, 58 at 384 (create_pretraining_data)
    layout = resolve_variant(args.variant, config.num_hidden_layers)
    with dtype_policy(args.mixed_precision), strategy.scope():
        model = build_pretrainer(config, layout)
    with strategy.scope():
        optimizer = make_optimizer(
            total_steps=10**6, loss_scale=args.mixed_precision == "mixed_float16"
        )
        optimizer.build(model.trainable_variables)
    loop = PretrainingLoop(
        model, optimizer, strategy, tempfile.mkdtemp(prefix="mfu_"), jit_compile=True
    )
    dataset = synthetic_dataset(config, args.batch_size, seq, predictions)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    start = time.perf_counter()
    first = loop.train(iterator, args.steps)  # traces and compiles
    compile_seconds = time.perf_counter() - start
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        sums = loop.train(iterator, args.steps)
        rates.append(args.steps / (time.perf_counter() - start))
    rate = statistics.median(rates)
    flops = args.batch_size * flops_per_sequence(config, seq, predictions)
    achieved = flops * rate / 1e12
    return {
        "seq_length": seq,
        "batch_size": args.batch_size,
        "predictions": predictions,
        "steps_per_second": rate,
        "tokens_per_second": rate * args.batch_size * seq,
        "model_tflop_per_step": flops / 1e12,
        "achieved_tflops": achieved,
        "mfu": achieved / peak if peak else None,
        "first_call_seconds": compile_seconds,
        "loss_first_call": float(first["total_loss"]) / args.steps,
        "loss_last_call": float(sums["total_loss"]) / args.steps,
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="base", help="encoder preset (base, small, tiny)")
    parser.add_argument("--variant", default="bert", help="pre-training variant of the MFU rows")
    parser.add_argument("--vocab_size", type=int, default=30522)
    parser.add_argument("--seq_lengths", default="128,384")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed call")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls (median)")
    parser.add_argument("--smoke_steps", type=int, default=4)
    parser.add_argument(
        "--mixed_precision",
        default="mixed_bfloat16",
        choices=["mixed_bfloat16", "mixed_float16", "float32"],
    )
    parser.add_argument("--peak_tflops", type=float, default=None, help="default: by card")
    parser.add_argument("--require_gpu", action="store_true", help="fail without a GPU")
    parser.add_argument("--output", default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    try:
        args.seq_lengths = [int(n) for n in args.seq_lengths.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--seq_lengths={args.seq_lengths!r}: expected a comma list of integers")
    for name in ("batch_size", "steps", "rounds", "smoke_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}={getattr(args, name)}: expected at least 1")
    if not args.seq_lengths or min(args.seq_lengths) < 8:
        parser.error(f"--seq_lengths={args.seq_lengths}: expected lengths of at least 8")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = device_name()
    if device is None and args.require_gpu:
        raise SystemExit("error: --require_gpu: TensorFlow sees no GPU")
    peak = args.peak_tflops if args.peak_tflops is not None else default_peak(device)
    print(f"device: {device or 'CPU (no GPU visible)'}; peak for MFU: {peak or 'unknown'} TFLOP/s")
    strategy = make_strategy("one_device")
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_") as workdir:
        metrics = smoke_test(args, workdir)
    print(
        f"smoke test passed: {args.smoke_steps} steps of --config={args.config} on "
        f"{device or 'CPU'} ({args.mixed_precision}, XLA); held-out mlm_loss="
        f"{metrics['mlm_loss']:.4f} nsp_loss={metrics['nsp_loss']:.4f}"
    )
    rows = [measure(args, strategy, seq, peak) for seq in args.seq_lengths]
    print(
        f"\nMFU: --config={args.config} --variant={args.variant} batch {args.batch_size}, "
        f"{args.mixed_precision}, XLA, {args.steps} steps per call, median of {args.rounds}"
    )
    print(
        f"{'length':>6}{'steps/s':>10}{'tokens/s':>12}{'TFLOP/step':>12}{'TFLOP/s':>10}{'MFU':>8}"
    )
    for row in rows:
        mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] is not None else "-"
        print(
            f"{row['seq_length']:>6}{row['steps_per_second']:>10.2f}"
            f"{row['tokens_per_second']:>12.0f}{row['model_tflop_per_step']:>12.4f}"
            f"{row['achieved_tflops']:>10.3f}{mfu:>8}"
        )
    if args.output:
        write_json_atomic(
            args.output,
            {
                "device": device or "CPU",
                "peak_tflops": peak or None,
                "config": args.config,
                "mixed_precision": args.mixed_precision,
                "smoke": {"steps": args.smoke_steps, **metrics},
                "mfu_rows": rows,
            },
        )


if __name__ == "__main__":
    main()
