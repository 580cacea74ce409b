r"""Pre-trains a hierarchical BERT variant on TFRecords made by tfrecords.create_pretraining_data.

Example (the paper's Lower NSP at block 5 with CLS concatenation, 90/10 two-length schedule):
  python -m trainers.pretrain --config=base --variant=lower_nsp --nsp_layer=5 --concat=cls \
    --train_data_128=data/seq128 --train_data_384=data/seq384 --eval_data=data/eval128 \
    --train_steps=100000 --model_dir=runs/lower_nsp5_cls

Running the same command again after a crash resumes from the last checkpoint.
"""

import json

from absl import app, flags, logging

from hbert_tf.errors import main_entry
from hbert_tf.optimization import WEIGHT_DECAY_TYPES
from hbert_tf.pretraining_run import DEFAULTS as D
from hbert_tf.pretraining_run import PRESETS
from hbert_tf.training import STRATEGIES
from hbert_tf.variants import CONCAT_MODES, VARIANTS

FLAGS = flags.FLAGS

flags.DEFINE_enum("preset", D["preset"], sorted(PRESETS), "paper: the paper's pre-training "
                  "(BERT-base, dropout 0.1, batch 32 at 128 / 1 at 384, Adam + AMSGrad, lr 1e-4, L2 "
                  "weight decay 1e-4, no warmup/decay/clipping); tiny: the same on the 2-layer test "
                  "encoder. Flags given explicitly override the preset.")  # fmt: skip

# --- Model ---
flags.DEFINE_string("config", D["config"], "Preset (tiny, small, base) or a bert_config.json path.")
flags.DEFINE_enum("variant", D["variant"], VARIANTS, "Which of the paper's variants to pre-train.")
flags.DEFINE_integer(
    "mlm_layer", D["mlm_layer"], "Block the MLM head reads (0-based, negative from top)."
)
flags.DEFINE_integer("nsp_layer", D["nsp_layer"], "Block whose [CLS] the NSP head reads (0-based).")
flags.DEFINE_enum("concat", D["concat"], CONCAT_MODES, "Extra MLM-classifier input: NSP-level "
                  "[CLS] vector (cls) or NSP classifier output (nsp). Needs an NSP head.")  # fmt: skip
flags.DEFINE_boolean("bigram_shift", D["bigram_shift"], "Add the bigram-shift head (default: only for "
                     "--variant=bigram_shift). The data must carry bigram_shift_labels.")  # fmt: skip
flags.DEFINE_integer("bigram_shift_layer", D["bigram_shift_layer"], "Block the bigram-shift "
                     "head reads (default last).")  # fmt: skip
flags.DEFINE_string("freeze_nsp", D["freeze_nsp"], "Lower NSP-Freeze: never, at_step:N or plateau:P "
                    "(NSP eval accuracy not improved for P evaluations; needs --eval_data and "
                    "--eval_every).")  # fmt: skip
flags.DEFINE_string("init_from", D["init_from"], "Start from our model_dir, a keras-hub preset or a local "
                    "Hugging Face BERT directory (its vocabulary must be the data's).")  # fmt: skip
flags.DEFINE_float("dropout", D["dropout"], "Hidden and attention dropout (paper: 0.1).")
flags.DEFINE_float("mlm_loss_weight", D["mlm_loss_weight"], "Weight of the MLM loss.")
flags.DEFINE_float("nsp_loss_weight", D["nsp_loss_weight"], "Weight of the NSP loss.")
flags.DEFINE_float(
    "bigram_shift_loss_weight", D["bigram_shift_loss_weight"], "Weight of the bigram-shift loss."
)
flags.DEFINE_boolean("bigram_shift_balanced", D["bigram_shift_balanced"], "Bigram-shift loss = mean "
                     "of the in-place and swapped classes' losses (false: mean over tokens).")  # fmt: skip

# --- Data ---
flags.DEFINE_string("train_data_128", D["train_data_128"], "Short-sequence TFRecords: a folder written by "
                    "create_pretraining_data or a file pattern.")  # fmt: skip
flags.DEFINE_string("train_data_384", D["train_data_384"], "Long-sequence TFRecords (optional).")
flags.DEFINE_string(
    "eval_data", D["eval_data"], "Held-out TFRecords at the short length (optional)."
)
flags.DEFINE_list("max_seq_length", [str(n) for n in D["max_seq_length"]], "Lengths of the short and long data. Must "
                  "match the values used to create the data.")  # fmt: skip
flags.DEFINE_list("max_predictions_per_seq", [str(n) for n in D["max_predictions_per_seq"]], "MLM slots per sequence of the short "
                  "and long data. Must match the values used to create the data.")  # fmt: skip
flags.DEFINE_integer("train_steps", D["train_steps"], "Total steps over both lengths.")
flags.DEFINE_float("long_seq_fraction", D["long_seq_fraction"], "Fraction of steps on the long data, run after the "
                   "short ones as in BERT (paper: 0.1).")  # fmt: skip
flags.DEFINE_integer(
    "batch_size_128", D["batch_size_128"], "Global batch size at the short length (paper: 32)."
)
flags.DEFINE_integer(
    "batch_size_384", D["batch_size_384"], "Global batch size at the long length (paper: 1)."
)
flags.DEFINE_integer("eval_batch_size", D["eval_batch_size"], "Evaluation batch size.")
flags.DEFINE_integer(
    "eval_batches", D["eval_batches"], "Most batches per evaluation (0: the whole eval set)."
)
flags.DEFINE_integer("seed", D["seed"], "Seed of initialisation and shuffling.")

# --- Optimiser ---
flags.DEFINE_float("learning_rate", D["learning_rate"], "Peak learning rate (paper: 1e-4).")
flags.DEFINE_float(
    "weight_decay", D["weight_decay"], "Weight decay (paper: 1e-4), not on biases/LayerNorm."
)
flags.DEFINE_enum("weight_decay_type", D["weight_decay_type"], WEIGHT_DECAY_TYPES, "l2: added to "
                  "the gradient before the Adam moments (PyTorch's Adam, the paper); decoupled: "
                  "AdamW's w -= lr * wd * w.")  # fmt: skip
flags.DEFINE_boolean("amsgrad", D["amsgrad"], "Adam's AMSGrad option (paper: on).")
flags.DEFINE_integer("warmup_steps", D["warmup_steps"], "Linear warmup steps.")
flags.DEFINE_enum("decay", D["decay"], ["constant", "linear", "cosine"], "Decay after warmup.")
flags.DEFINE_float("clip_norm", D["clip_norm"], "Clip gradients to this global norm.")

# --- Execution ---
flags.DEFINE_enum("strategy", D["strategy"], STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu", D["tpu"], "TPU address for --strategy=tpu.")
flags.DEFINE_integer(
    "cpu_devices", D["cpu_devices"], "Split the CPU into N logical devices (no GPU; testing)."
)
flags.DEFINE_enum("mixed_precision", D["mixed_precision"], ["none", "mixed_float16", "mixed_bfloat16"],
                  "Keras dtype policy.")  # fmt: skip
flags.DEFINE_boolean("jit_compile", D["jit_compile"], "XLA-compile the forward and backward pass (pays on "
                     "GPU/TPU; slower on a small CPU).")  # fmt: skip
flags.DEFINE_integer(
    "steps_per_execution", D["steps_per_execution"], "Steps run inside one tf.function call."
)

# --- Output ---
flags.DEFINE_string("model_dir", D["model_dir"], "Checkpoints, run_config.json, vocab.txt, TensorBoard "
                    "logs and metrics.json.")  # fmt: skip
flags.DEFINE_integer("checkpoint_every", D["checkpoint_every"], "Save a checkpoint every N steps.")
flags.DEFINE_integer("eval_every", D["eval_every"], "Evaluate every N steps (0: only at the end; "
                     "--freeze_nsp=plateau:P needs N > 0).")  # fmt: skip
flags.DEFINE_integer("log_every", D["log_every"], "Log training metrics every N steps.")


def _int_pair(values, flag):
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        raise ValueError(f"--{flag}={','.join(values)}: expected integers") from None
    if not 1 <= len(numbers) <= 2 or min(numbers) < 1:
        raise ValueError(f"--{flag}={','.join(values)}: expected one or two positive integers")
    return numbers + numbers[-1:] * (2 - len(numbers))


def settings_from_flags():
    """The flags given on the command line, as settings; the rest come from the preset and
    DEFAULTS (`pretraining_run.resolve_settings`)."""
    settings = {name: FLAGS[name].value for name in D if FLAGS[name].present}
    for name in ("max_seq_length", "max_predictions_per_seq"):
        if name in settings:
            settings[name] = _int_pair(settings[name], name)
    return settings


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hbert_tf.pretraining_run import run_pretraining

    metrics = run_pretraining(**settings_from_flags())
    logging.info("final evaluation: %s", json.dumps(metrics, sort_keys=True))


def run():
    app.run(main_entry(main, outputs=("model_dir",)))


if __name__ == "__main__":
    run()
