"""What the MFU benchmarks share (pure Python and numpy, no TensorFlow): the flags, the synthetic
batch and the table of figures; the model-FLOP count and the cards' peaks come from hbert_tf.flops,
which the study's --dry_run plan reads too.

Used by bench/gpu_smoke_and_mfu.py (TensorFlow, trainers.pretrain's step loop),
bench/jax_pretraining_mfu.py (Keras' JAX backend, `fit`) and bench/bench_pretraining_step.py, so
that every MFU figure of the project counts the same FLOPs.
"""

import argparse

import numpy as np

from hbert_tf import names
from hbert_tf.flops import PEAK_BF16_TFLOPS, flops_per_sequence  # the one count (study too)


def mfu_flags(description):
    """An argparse parser with the flags both MFU benchmarks take (add a script's own to it)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default="base", help="encoder preset (base, small, tiny)")
    parser.add_argument("--variant", default="bert", help="pre-training variant of the MFU rows")
    parser.add_argument("--vocab_size", type=int, default=30522)
    parser.add_argument("--seq_lengths", default="128,384")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed call")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls (median)")
    parser.add_argument(
        "--mixed_precision",
        default="mixed_bfloat16",
        choices=["mixed_bfloat16", "mixed_float16", "float32"],
    )
    parser.add_argument("--peak_tflops", type=float, default=None, help="default: by card")
    parser.add_argument("--require_gpu", action="store_true", help="fail without a GPU")
    parser.add_argument("--output", default=None, help="also write the figures as JSON here")
    return parser


def parse_mfu_flags(parser, argv=None, counts=("batch_size", "steps", "rounds")):
    """Parses `argv`; --seq_lengths becomes a list of ints. A bad value ends in `parser.error`
    naming the flag (also for each flag of `counts` below 1)."""
    args = parser.parse_args(argv)
    try:
        args.seq_lengths = [int(n) for n in args.seq_lengths.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--seq_lengths={args.seq_lengths!r}: expected a comma list of integers")
    for name in counts:
        if getattr(args, name) < 1:
            parser.error(f"--{name}={getattr(args, name)}: expected at least 1")
    if not args.seq_lengths or min(args.seq_lengths) < 8:
        parser.error(f"--seq_lengths={args.seq_lengths}: expected lengths of at least 8")
    return args


def default_peak(name):
    """The table's peak for a device name ("NVIDIA H100 80GB HBM3" -> 989), 0 when unknown."""
    return next((peak for card, peak in PEAK_BF16_TFLOPS.items() if name and card in name), 0.0)


def predictions_for(seq_length):
    """Masked positions per sequence at a length: 20 at 128, 58 at 384 (create_pretraining_data)."""
    return max(20, round(0.15 * seq_length))


def synthetic_batch(config, batch, seq, predictions, seed=0):
    """One random `bert`-variant batch `(inputs, labels, sample_weights)` of numpy arrays, keyed
    as hbert_tf.pretraining.data's: no padding, segment B is the second half."""
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
    weights = {
        names.MLM_LOGITS: np.ones((batch, predictions), "float32"),
        names.NSP_LOGITS: np.ones((batch,), "float32"),
    }
    return inputs, labels, weights


def mfu_row(config, batch, seq, predictions, steps_per_second, peak_tflops):
    """The figures that follow from a measured step rate at one length (a dict; "mfu" is None
    when the peak is unknown)."""
    flops = batch * flops_per_sequence(config, seq, predictions)
    achieved = flops * steps_per_second / 1e12
    return {
        "seq_length": seq,
        "batch_size": batch,
        "predictions": predictions,
        "steps_per_second": steps_per_second,
        "tokens_per_second": steps_per_second * batch * seq,
        "model_tflop_per_step": flops / 1e12,
        "achieved_tflops": achieved,
        "mfu": achieved / peak_tflops if peak_tflops else None,
    }


def print_table(rows):
    """One line per length: steps/s, tokens/s, TFLOP per step, TFLOP/s, MFU."""
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
