r"""Exports a run (pre-training, SQuAD or MultiNLI fine-tuning) as a SavedModel or for Hugging Face.

  python -m trainers.export --model_dir=runs/lower_nsp --export_dir=exported/lower_nsp
  python -m trainers.export --model_dir=runs/squad2 --export_dir=exported/squad2
  python -m trainers.export --model_dir=runs/lower_nsp --export_dir=hf/lower_nsp \
      --format=huggingface

What is exported follows from the run (hbert_tf/export.py):
- pre-training: `serving_default` takes int32 `input_ids`, `input_mask`, `segment_ids`
  [batch, seq] and returns `embedding_output`, `layer_0` ... `layer_{L-1}`, `sequence_output`,
  `nsp_cls_vector` and `nsp_pooled_output` (with an NSP head); `serve_text` takes strings
  `text_a`, `text_b` and returns the same plus the ids it built.
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

from absl import app, flags, logging

FORMATS = ("saved_model", "huggingface")

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


def export(
    model_dir,
    export_dir,
    checkpoint=None,
    format="saved_model",
    overwrite=False,
    null_score_diff_threshold=None,
):
    """Exports `model_dir` (see the module doc); returns `(kind, export_dir)`."""
    import os

    from hbert_tf import export as exporting
    from hbert_tf.model_dir import RUN_CONFIG, load_pretrainer, vocab_file

    kind = exporting.run_kind(model_dir)
    exporting.check_export_dir(export_dir, overwrite)  # before the (slow) model loading
    if kind != "pretraining":
        if format == "huggingface":
            raise ValueError(
                f"--format=huggingface exports pre-trained encoders; {model_dir} is a {kind} "
                "fine-tuning run"
            )
        return kind, exporting.export_finetuned(
            model_dir, export_dir, checkpoint, overwrite, null_score_diff_threshold
        )
    if null_score_diff_threshold is not None:
        raise ValueError("--null_score_diff_threshold applies to SQuAD 2.0 runs only")
    pretrainer, _ = load_pretrainer(model_dir, checkpoint)
    vocab = vocab_file(model_dir)
    if format == "huggingface":
        return kind, exporting.export_huggingface(pretrainer, export_dir, vocab, overwrite)
    run_config = os.path.join(model_dir, RUN_CONFIG)
    return kind, exporting.export_encoder(pretrainer, export_dir, vocab, [run_config], overwrite)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        sys.exit("error: --model_dir and --export_dir are required")
    try:
        kind, path = export(
            FLAGS.model_dir,
            FLAGS.export_dir,
            FLAGS.checkpoint,
            FLAGS.format,
            FLAGS.overwrite,
            FLAGS.null_score_diff_threshold,
        )
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    logging.info("exported the %s run %s to %s (%s)", kind, FLAGS.model_dir, path, FLAGS.format)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
