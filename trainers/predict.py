r"""Runs an exported SavedModel (trainers.export) on a file of raw text.

  python -m trainers.predict --saved_model=exported/squad2 --input=dev-v2.0.json \
      --output=predictions.json
  python -m trainers.predict --saved_model=exported/mnli --input=dev_matched.tsv \
      --output=predictions.jsonl
  python -m trainers.predict --saved_model=exported/lower_nsp --input=sentences.txt \
      --output=vectors.jsonl

The input follows from the SavedModel's signature:
- SQuAD (`question`, `context`): a SQuAD JSON file (answers not needed). Writes the official
  predictions JSON `{id: answer text}` ("" = no answer); `--details` adds a JSONL file beside it
  with the character offsets, score (and `is_impossible` for 2.0) of every answer.
- MultiNLI (`premise`, `hypothesis`): a MultiNLI TSV or JSONL file (gold labels not needed).
  Writes JSONL lines `{"pairID", "prediction", "probabilities"}`.
- encoder (with its `preprocessor/`): a text file, one text per line (a tab splits a sentence pair).
  Writes JSONL lines `{"line", "<output>": ...}` for each of `--outputs`, per-token outputs
  trimmed to the line's tokens.
Outputs are written to a temporary file and renamed; progress goes to stderr.
"""

import sys

from absl import app, flags

from hbert_tf.errors import main_entry

flags.DEFINE_string("saved_model", None, "A SavedModel folder written by trainers.export.")
flags.DEFINE_string("input", None, "SQuAD JSON, MultiNLI TSV/JSONL, or text lines (encoder).")
flags.DEFINE_string("output", None, "The predictions file to write.")
flags.DEFINE_integer("batch_size", 32, "Questions, pairs or lines per SavedModel call.")
flags.DEFINE_bool("details", False, "SQuAD: also write <output>.details.jsonl (offsets, scores).")
flags.DEFINE_list(
    "outputs",
    ["nsp_cls_vector"],
    "Encoder: which outputs to write per line (e.g. nsp_pooled_output, layer_0).",
)
flags.DEFINE_bool("progress", True, "Show progress on stderr.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for name in ("saved_model", "input", "output"):
        if not getattr(FLAGS, name):
            sys.exit(f"error: --{name} is required")
    from hbert_tf.serving.predict import predict

    kind = predict(
        FLAGS.saved_model,
        FLAGS.input,
        FLAGS.output,
        FLAGS.batch_size,
        FLAGS.details,
        FLAGS.outputs,
        FLAGS.progress,
    )
    print(f"predict: {kind} predictions written to {FLAGS.output}", file=sys.stderr)


def run():
    app.run(main_entry(main, outputs=("output",)))


if __name__ == "__main__":
    run()
