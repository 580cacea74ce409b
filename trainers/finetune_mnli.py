"""Fine-tunes and evaluates on MultiNLI with the paper's sentence read-out (Fig. 3a).

The classifier reads the [CLS] vector of the NSP level (the last block for models without one),
through the NSP head's pooler when the starting point has one. Accuracy on dev matched and
mismatched goes to metrics.json.

Example (tiny, no downloads):
    python -m trainers.finetune_mnli --model_dir=/tmp/mnli --init_from=none --config=tiny \
        --data=builtin --max_seq_length=64 --train_steps=300
"""

from absl import app, flags

from hbert_tf.errors import main_entry
from hbert_tf.finetuning import MNLI_DEFAULTS as D

from . import finetune_flags

flags.DEFINE_string("dev_matched_file", None, "MultiNLI dev matched (TSV or JSONL).")
flags.DEFINE_string("dev_mismatched_file", None, "MultiNLI dev mismatched (TSV or JSONL).")


def main(argv):
    from hbert_tf.finetuning import run_mnli

    finetune_flags.run_task(run_mnli, D, argv)


def run():
    app.run(main_entry(main, outputs=("model_dir",)))


if __name__ == "__main__":
    run()
