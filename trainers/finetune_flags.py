"""Flags shared by trainers.finetune_squad and trainers.finetune_mnli (defined once, here).

Defaults come from `hbert_tf.finetuning.COMMON_DEFAULTS`; the task binaries add their own flags and
turn every flag into the settings dict that `hbert_tf.finetuning.run_squad` / `run_mnli` take.
"""

import sys

from absl import flags, logging

from hbert_tf.finetuning import COMMON_DEFAULTS as D
from hbert_tf.finetuning import DATA_SOURCES, MODELS, PRESETS
from hbert_tf.optimization import SCHEDULES, WEIGHT_DECAY_TYPES

# --- Starting point and read-out (Fig. 3) ---
flags.DEFINE_string("model_dir", None, "Fine-tuning outputs: checkpoints, logs, predictions, "
                    "metrics.json. Rerunning resumes; a finished run only evaluates.")  # fmt: skip
flags.DEFINE_string("init_from", None, "A pre-training model_dir (read-outs from its layout), a "
                    "keras-hub preset name (downloads), a local Hugging Face BERT directory, or "
                    "'none' (same architecture, random weights).")  # fmt: skip
flags.DEFINE_enum("model", D["model"], MODELS, "bert: a BERT encoder; bilstm: the BiLSTM + "
                  "fastText baseline (same read-outs).")  # fmt: skip
flags.DEFINE_string("config", D["config"], "With --init_from=none: preset (tiny, small, base), a "
                    "bert_config.json or a pre-training model_dir whose architecture to copy. "
                    "vocab_size is set from the vocabulary.")  # fmt: skip
flags.DEFINE_string("vocab_file", None, "Override the vocabulary stored with --init_from. Must "
                    "have the model's vocab_size tokens.")  # fmt: skip
flags.DEFINE_enum("do_lower_case", D["do_lower_case"], ["auto", "true", "false"], "Must match the "
                  "vocabulary; auto: lower-case unless the vocabulary has upper-case tokens.")  # fmt: skip
flags.DEFINE_enum("concat", D["concat"], ["auto", "none", "cls", "nsp"], "Extra input of every "
                  "token classifier input: cls = NSP-level [CLS] vector (Fig. 3c), nsp = the NSP "
                  "classifier's output (Fig. 3d, needs a pre-trained NSP head); auto = what "
                  "pre-training used.")  # fmt: skip
flags.DEFINE_integer("token_layer", None, "Block whose tokens the span head reads (default: the "
                     "MLM level of --init_from, else the last).")  # fmt: skip
flags.DEFINE_integer("sentence_layer", None, "Block whose [CLS] is the sentence vector (default: "
                     "the NSP level of --init_from, else the last).")  # fmt: skip
flags.DEFINE_float("dropout", None, "Override the encoder's dropout rates.")

# --- Optimisation ---
flags.DEFINE_enum("preset", D["preset"], sorted(PRESETS), "paper: the paper's fine-tuning (Adam "
                  "+ AMSGrad, lr 1e-5, no weight decay, batch 1, no warmup/decay/clipping); bert: "
                  "BERT's recipe (lr 5e-5, batch 32, 10% warmup, linear decay, clipping at 1). "
                  "Explicit flags below override the preset.")  # fmt: skip
flags.DEFINE_float("learning_rate", None, "Peak learning rate.")
flags.DEFINE_integer("batch_size", None, "Training batch size.")
flags.DEFINE_float("weight_decay", None, "Weight decay (not biases/LayerNorm).")
flags.DEFINE_enum("weight_decay_type", None, list(WEIGHT_DECAY_TYPES), "l2 (added to the "
                  "gradient, PyTorch's Adam) or decoupled (AdamW).")  # fmt: skip
flags.DEFINE_boolean("amsgrad", None, "Adam's AMSGrad option.")
flags.DEFINE_float("warmup_proportion", None, "Fraction of the steps spent warming up.")
flags.DEFINE_enum("decay", None, list(SCHEDULES), "Learning-rate decay after warmup.")
flags.DEFINE_float("clip_norm", None, "Clip gradients to this global norm (0: no clipping).")
flags.DEFINE_integer("train_steps", None, "Training steps; overrides --num_train_epochs.")
flags.DEFINE_float("num_train_epochs", None, "Passes over the training features (default: 2 for "
                   "SQuAD, 3 for MultiNLI).")  # fmt: skip
flags.DEFINE_integer("checkpoint_every", D["checkpoint_every"], "Steps between backups (resume "
                     "points) and TensorBoard/progress summaries.")  # fmt: skip
flags.DEFINE_integer("seed", D["seed"], "Seed of initialisation, dropout and shuffling.")

# --- Data ---
flags.DEFINE_enum("data", D["data"], list(DATA_SOURCES), "files: --train_file etc.; tfds: "
                  "download from TensorFlow Datasets; builtin: the built-in corpus' own set.")  # fmt: skip
flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir for --data=tfds.")
flags.DEFINE_string("train_file", None, "Training file (SQuAD JSON; MultiNLI TSV or JSONL).")
flags.DEFINE_integer("builtin_seed", D["builtin_seed"], "Corpus seed for --data=builtin.")
flags.DEFINE_integer("builtin_documents", D["builtin_documents"], "Training documents for "
                     "--data=builtin (dev sets are made from further documents).")  # fmt: skip
flags.DEFINE_integer("max_seq_length", None, "Tokens per input (default: 384 for SQuAD, 128 for "
                     "MultiNLI); at most the model's max_position_embeddings.")  # fmt: skip
flags.DEFINE_integer("eval_batch_size", D["eval_batch_size"], "Prediction batch size.")
flags.DEFINE_boolean(
    "do_train", D["do_train"], "Train (skipped when model_dir holds a finished run)."
)
flags.DEFINE_boolean("do_eval", D["do_eval"], "Predict and evaluate on the dev set(s).")

# --- BiLSTM baseline ---
flags.DEFINE_string("embeddings", None, "--model=bilstm: fastText .vec (text) file; without it "
                    "fastText subword vectors are trained on the task's training text (gensim).")  # fmt: skip
flags.DEFINE_integer(
    "embedding_dim", D["embedding_dim"], "Size of vectors trained without --embeddings."
)
flags.DEFINE_integer("lstm_units", D["lstm_units"], "BiLSTM units per direction.")
flags.DEFINE_integer("lstm_layers", D["lstm_layers"], "Stacked BiLSTM layers.")
flags.DEFINE_boolean("train_embeddings", D["train_embeddings"], "Fine-tune the word vectors too.")

FLAGS = flags.FLAGS


def settings_from_flags(defaults):
    """The settings dict for `defaults`' keys; flags left unset keep the task's default."""
    settings = dict(defaults)
    for key in defaults:
        if key in FLAGS and (FLAGS[key].present or FLAGS[key].value is not None):
            settings[key] = FLAGS[key].value
    return settings


def run_task(run_fn, defaults, argv):
    """Runs `run_fn(settings)`; `hbert_tf.errors.main_entry` reports user errors as one line."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    metrics = run_fn(settings_from_flags(defaults))
    logging.info("done: %s", {k: v for k, v in metrics.items() if not isinstance(v, dict)})
