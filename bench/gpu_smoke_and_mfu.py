r"""One command for whenever a GPU is at hand: a GPU smoke test of training, then the MFU benchmark.

  python bench/gpu_smoke_and_mfu.py                       # BERT-base, lengths 128 and 384
  python bench/gpu_smoke_and_mfu.py --peak_tflops=989     # a card the table below does not know
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
   (3x the forward matmuls: bench/mfu.py's flops_per_sequence, shared with
   bench/jax_pretraining_mfu.py) and MFU against
   `--peak_tflops` (default: the detected card's dense bf16 peak from the table below).

`--output=results.json` also writes every figure as JSON (atomically).
"""

import math
import os
import statistics
import sys
import tempfile
import time

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mfu import (  # noqa: E402
    default_peak,
    mfu_flags,
    mfu_row,
    parse_mfu_flags,
    predictions_for,
    print_table,
    synthetic_batch,
)

from hbert_tf.config import get_config  # noqa: E402
from hbert_tf.files import write_json_atomic  # noqa: E402
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


def measure(args, strategy, seq, peak):
    """Steps/s of trainers.pretrain's step at one length, and what follows from it."""
    config = get_config(args.config, vocab_size=args.vocab_size)
    predictions = predictions_for(seq)
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
    batch = synthetic_batch(config, args.batch_size, seq, predictions)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
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
    return {
        **mfu_row(config, args.batch_size, seq, predictions, rate, peak),
        "first_call_seconds": compile_seconds,
        "loss_first_call": float(first["total_loss"]) / args.steps,
        "loss_last_call": float(sums["total_loss"]) / args.steps,
    }


def parse_args(argv=None):
    parser = mfu_flags(__doc__.splitlines()[0])
    parser.add_argument("--smoke_steps", type=int, default=4)
    return parse_mfu_flags(parser, argv, counts=("batch_size", "steps", "rounds", "smoke_steps"))


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
    print_table(rows)
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
