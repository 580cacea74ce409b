r"""Exports a run (pre-training, SQuAD or MultiNLI fine-tuning) as a SavedModel or for Hugging Face.

  python -m trainers.export --model_dir=runs/lower_nsp --export_dir=exported/lower_nsp
  python -m trainers.export --model_dir=runs/squad2 --export_dir=exported/squad2
  python -m trainers.export --model_dir=runs/lower_nsp --export_dir=hf/lower_nsp \
      --format=huggingface

What is exported follows from the run (hbert_tf/serving/export.py):
- pre-training: `serving_default` takes int32 `input_ids`, `input_mask`, `segment_ids`
  [batch, seq] and returns `embedding_output`, `layer_0` ... `layer_{L-1}`, `sequence_output`,
  `nsp_cls_vector` and `nsp_pooled_output` (with an NSP head); `import tensorflow` alone loads
  it. `preprocessor/` inside it is a SavedModel of its own taking strings `text_a`, `text_b` to
  those three ids (it needs `import tensorflow_text`).
- SQuAD: `serving_default` takes strings `question`, `context` and returns `answer_text`,
  `answer_start`, `answer_end` (character offsets), `score` (+ `is_impossible`,
  `null_score_diff` for 2.0).
- MultiNLI: `serving_default` takes strings `premise`, `hypothesis` and returns `label` and
  `probabilities`.
Tokenisation, windows and span decoding run in the graph. The vocabulary and the run config are
copied under assets.extra/. `--format=huggingface` (pre-training runs) writes config.json,
model.safetensors, vocab.txt and tokenizer_config.json.
"""

import sys

from absl import app, flags

from hbert_tf import console
from hbert_tf.errors import main_entry

FORMATS = ("saved_model", "huggingface")  # = hbert_tf.serving.export.FORMATS (imported lazily)

flags.DEFINE_string("model_dir", None, "A pre-training or fine-tuning model_dir.")
flags.DEFINE_string("export_dir", None, "Folder to write (must be absent or empty).")
flags.DEFINE_string("checkpoint", None, "A checkpoint path (default: the latest in model_dir).")
flags.DEFINE_enum("format", "saved_model", FORMATS, "saved_model or huggingface.")
flags.DEFINE_bool("overwrite", False, "Replace a non-empty --export_dir.")
flags.DEFINE_float(
    "null_score_diff_threshold",
    None,
    "SQuAD 2.0: the null threshold of the exported model (default: the run's; metrics.json's "
    "best_f1_thresh is the one tuned on the dev set).",
)
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        sys.exit("error: --model_dir and --export_dir are required")
    from hbert_tf.serving.export import export_run

    kind, path = export_run(
        FLAGS.model_dir,
        FLAGS.export_dir,
        FLAGS.checkpoint,
        FLAGS.format,
        FLAGS.overwrite,
        FLAGS.null_score_diff_threshold,
    )
    console.say(f"exported the {kind} run {FLAGS.model_dir} to {path} ({FLAGS.format})")


def run():
    app.run(main_entry(main, outputs=("export_dir",), lock="export_dir"))


if __name__ == "__main__":
    run()
