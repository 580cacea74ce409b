r"""Pre-training MFU under Keras' JAX backend: no TensorFlow needed (a GPU machine with JAX only).

  python bench/jax_pretraining_mfu.py                      # BERT-base, lengths 128 and 384, bf16
  python bench/jax_pretraining_mfu.py --peak_tflops=989    # a card the table does not know
  python bench/jax_pretraining_mfu.py --config=tiny --seq_lengths=32 --batch_size=2 --steps=3 \
      --rounds=1                                           # any CPU (the test's)

Trains `HBertPretrainer` (`--variant`, default `bert`: MLM + NSP) with `model.fit` on one
synthetic batch per length (bench/mfu.py: 20 predictions at 128, 58 at 384), `--batch_size`
sequences, `--mixed_precision` (default mixed_bfloat16) and XLA (`jit_compile=True`: the whole
train step is one jitted XLA program), with Adam + AMSGrad (the paper's optimizer; the L2 weight
decay of trainers.pretrain's optimizer is left out: it lives in hbert_tf.optimization, which is
TensorFlow). One `fit` of `--steps` steps compiles; the rate is the median of `--rounds` timed
`fit` calls of `--steps` steps each. Prints steps/s, tokens/s, model TFLOP per step (the count of
bench/gpu_smoke_and_mfu.py: bench/mfu.py's flops_per_sequence) and MFU against `--peak_tflops`
(default: the card's dense bf16 peak from bench/mfu.py's table). `--output=FILE.json` also writes
every figure (atomically).
"""

import os
import statistics
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"  # before keras is imported; the backend is fixed per process

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

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
from hbert_tf.variants import resolve_variant  # noqa: E402


def accelerator():
    """(name, is_gpu) of JAX's first device, e.g. ("NVIDIA H100 80GB HBM3", True) or ("cpu", False)."""
    device = jax.devices()[0]
    return device.device_kind, device.platform == "gpu"


def measure(args, seq, peak):
    """Steps/s of `fit` at one length, and what follows from it (see bench/mfu.py's mfu_row)."""
    config = get_config(args.config, vocab_size=args.vocab_size)
    predictions = predictions_for(seq)
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.mixed_precision)
    try:
        model = build_pretrainer(config, resolve_variant(args.variant, config.num_hidden_layers))
    finally:
        keras.config.set_dtype_policy("float32")
    optimizer = keras.optimizers.Adam(1e-4, amsgrad=True)
    if args.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, jit_compile=True)
    inputs, labels, weights = synthetic_batch(config, args.batch_size, seq, predictions)
    labels = {key: value for key, value in labels.items() if key in model.heads}
    weights = {key: value for key, value in weights.items() if key in model.heads}
    # `steps` copies of the batch: one fit call is `steps` train steps (no shuffling).
    data = [{k: np.concatenate([v] * args.steps) for k, v in part.items()}
            for part in (inputs, labels, weights)]  # fmt: skip

    def fit():
        history = model.fit(*data[:2], sample_weight=data[2], batch_size=args.batch_size,
                            epochs=1, shuffle=False, verbose=0)  # fmt: skip
        return history.history["loss"][0]  # a Python float: every step has finished

    start = time.perf_counter()
    first_loss = fit()  # traces and compiles
    first_call_seconds = time.perf_counter() - start
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        last_loss = fit()
        rates.append(args.steps / (time.perf_counter() - start))
    row = mfu_row(config, args.batch_size, seq, predictions, statistics.median(rates), peak)
    return {
        **row,
        "first_call_seconds": first_call_seconds,
        "loss_first_call": first_loss,
        "loss_last_call": last_loss,
    }


def parse_args(argv=None):
    return parse_mfu_flags(mfu_flags(__doc__.splitlines()[0]), argv)


def main(argv=None):
    args = parse_args(argv)
    device, is_gpu = accelerator()
    if not is_gpu and args.require_gpu:
        raise SystemExit(f"error: --require_gpu: JAX sees no GPU (its first device: {device})")
    peak = args.peak_tflops if args.peak_tflops is not None else default_peak(device)
    print(f"device: {device} (JAX {jax.__version__}, Keras {keras.__version__}); "
          f"peak for MFU: {peak or 'unknown'} TFLOP/s")  # fmt: skip
    rows = [measure(args, seq, peak) for seq in args.seq_lengths]
    print(
        f"\nMFU (JAX): --config={args.config} --variant={args.variant} batch {args.batch_size}, "
        f"{args.mixed_precision}, XLA, {args.steps} steps per fit, median of {args.rounds}"
    )
    print_table(rows)
    if args.output:
        write_json_atomic(
            args.output,
            {
                "backend": keras.backend.backend(),
                "device": device,
                "peak_tflops": peak or None,
                "config": args.config,
                "variant": args.variant,
                "mixed_precision": args.mixed_precision,
                "mfu_rows": rows,
            },
        )


if __name__ == "__main__":
    main()
