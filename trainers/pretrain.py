r"""Pre-trains a hierarchical BERT variant on TFRecords made by tfrecords.create_pretraining_data.

Example (the paper's Lower NSP at block 5 with CLS concatenation, 90/10 two-length schedule):
  python -m trainers.pretrain --config=base --variant=lower_nsp --nsp_layer=5 --concat=cls \
    --train_data_128=data/seq128 --train_data_384=data/seq384 --eval_data=data/eval128 \
    --train_steps=100000 --model_dir=runs/lower_nsp5_cls

Running the same command again after a crash resumes from the last checkpoint.
"""

import json
import sys

from absl import app, flags, logging

from hbert_tf.training import STRATEGIES
from hbert_tf.variants import CONCAT_MODES, VARIANTS

FLAGS = flags.FLAGS

# --- Model ---
flags.DEFINE_string("config", "tiny", "Preset (tiny, small, base) or a bert_config.json path.")
flags.DEFINE_enum("variant", "bert", VARIANTS, "Which of the paper's variants to pre-train.")
flags.DEFINE_integer("mlm_layer", None, "Block the MLM head reads (0-based, negative from top).")
flags.DEFINE_integer("nsp_layer", None, "Block whose [CLS] the NSP head reads (0-based).")
flags.DEFINE_enum("concat", "none", CONCAT_MODES, "Extra MLM-classifier input: NSP-level "
                  "[CLS] vector (cls) or NSP classifier output (nsp). Needs an NSP head.")  # fmt: skip
flags.DEFINE_boolean("bigram_shift", None, "Add the bigram-shift head (default: only for "
                     "--variant=bigram_shift). The data must carry bigram_shift_labels.")  # fmt: skip
flags.DEFINE_integer(
    "bigram_shift_layer", None, "Block the bigram-shift head reads (default last)."
)
flags.DEFINE_string("freeze_nsp", "never", "Lower NSP-Freeze: never, at_step:N or plateau:P "
                    "(NSP eval accuracy not improved for P evaluations; needs --eval_data).")  # fmt: skip
flags.DEFINE_string("init_from", None, "Start from our model_dir, a keras-hub preset or a local "
                    "Hugging Face BERT directory (its vocabulary must be the data's).")  # fmt: skip
flags.DEFINE_float("dropout", None, "Override hidden and attention dropout of the config.")
flags.DEFINE_float("mlm_loss_weight", 1.0, "Weight of the MLM loss.")
flags.DEFINE_float("nsp_loss_weight", 1.0, "Weight of the NSP loss.")
flags.DEFINE_float("bigram_shift_loss_weight", 1.0, "Weight of the bigram-shift loss.")

# --- Data ---
flags.DEFINE_string("train_data_128", None, "Short-sequence TFRecords: a folder written by "
                    "create_pretraining_data or a file pattern.")  # fmt: skip
flags.DEFINE_string("train_data_384", None, "Long-sequence TFRecords (optional).")
flags.DEFINE_string("eval_data", None, "Held-out TFRecords at the short length (optional).")
flags.DEFINE_list("max_seq_length", ["128", "384"], "Lengths of the short and long data. Must "
                  "match the values used to create the data.")  # fmt: skip
flags.DEFINE_list("max_predictions_per_seq", ["20", "58"], "MLM slots per sequence of the short "
                  "and long data. Must match the values used to create the data.")  # fmt: skip
flags.DEFINE_integer("train_steps", 1000, "Total steps over both lengths.")
flags.DEFINE_float("long_seq_fraction", 0.1, "Fraction of steps on the long data, run after the "
                   "short ones as in BERT (paper: 0.1).")  # fmt: skip
flags.DEFINE_integer("batch_size_128", 32, "Global batch size at the short length (paper: 32).")
flags.DEFINE_integer("batch_size_384", 8, "Global batch size at the long length (paper: 1; our "
                     "default keeps tokens per step close to the short phase's).")  # fmt: skip
flags.DEFINE_integer("eval_batch_size", 32, "Evaluation batch size.")
flags.DEFINE_integer("eval_batches", 50, "Most batches per evaluation (0: the whole eval set).")
flags.DEFINE_integer("seed", 12345, "Seed of initialisation and shuffling.")

# --- Optimiser ---
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (paper: 1e-4).")
flags.DEFINE_float("weight_decay", 1e-4, "Decoupled weight decay, not on biases/LayerNorm.")
flags.DEFINE_integer("warmup_steps", 0, "Linear warmup steps.")
flags.DEFINE_enum("decay", "constant", ["constant", "linear", "cosine"], "Decay after warmup.")
flags.DEFINE_float("clip_norm", None, "Clip gradients to this global norm.")

# --- Execution ---
flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu", "", "TPU address for --strategy=tpu.")
flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into N logical devices (no GPU; testing).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_float16", "mixed_bfloat16"],
                  "Keras dtype policy.")  # fmt: skip
flags.DEFINE_boolean("jit_compile", False, "XLA-compile the forward and backward pass (pays on "
                     "GPU/TPU; slower on a small CPU).")  # fmt: skip
flags.DEFINE_integer("steps_per_execution", 1, "Steps run inside one tf.function call.")

# --- Output ---
flags.DEFINE_string("model_dir", None, "Checkpoints, run_config.json, vocab.txt, TensorBoard "
                    "logs and metrics.json.")  # fmt: skip
flags.DEFINE_integer("checkpoint_every", 500, "Save a checkpoint every N steps.")
flags.DEFINE_integer("eval_every", 0, "Evaluate every N steps (0: only at the end).")
flags.DEFINE_integer("log_every", 50, "Log training metrics every N steps.")


def _int_pair(values, flag):
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        raise ValueError(f"--{flag}={','.join(values)}: expected integers") from None
    if not 1 <= len(numbers) <= 2 or min(numbers) < 1:
        raise ValueError(f"--{flag}={','.join(values)}: expected one or two positive integers")
    return numbers + numbers[-1:] * (2 - len(numbers))


def settings_from_flags():
    """The run's settings as a plain dict (what run_config.json records)."""
    names = [
        "config", "variant", "mlm_layer", "nsp_layer", "concat", "bigram_shift",
        "bigram_shift_layer", "freeze_nsp", "init_from", "dropout", "mlm_loss_weight",
        "nsp_loss_weight", "bigram_shift_loss_weight", "train_data_128", "train_data_384",
        "eval_data", "train_steps", "long_seq_fraction", "batch_size_128", "batch_size_384",
        "eval_batch_size", "eval_batches", "seed", "learning_rate", "weight_decay",
        "warmup_steps", "decay", "clip_norm", "strategy", "tpu", "cpu_devices",
        "mixed_precision", "jit_compile", "steps_per_execution", "model_dir",
        "checkpoint_every", "eval_every", "log_every",
    ]  # fmt: skip
    settings = {name: FLAGS[name].value for name in names}
    settings["max_seq_length"] = _int_pair(FLAGS.max_seq_length, "max_seq_length")
    settings["max_predictions_per_seq"] = _int_pair(
        FLAGS.max_predictions_per_seq, "max_predictions_per_seq"
    )
    return settings


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hbert_tf.pretraining_run import run_pretraining
    from hbert_tf.training import NonFiniteLossError

    try:
        settings = settings_from_flags()
        metrics = run_pretraining(**settings)
    except (ValueError, NonFiniteLossError) as e:
        sys.exit(f"error: {e}")
    logging.info("final evaluation: %s", json.dumps(metrics, sort_keys=True))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
