"""Fine-tunes and evaluates on MultiNLI with the paper's sentence read-out (Fig. 3a).

The classifier reads the [CLS] vector of the NSP level (the last block for models without one),
through the NSP head's pooler when the starting point has one. Accuracy on dev matched and
mismatched goes to metrics.json.

Example (tiny, no downloads):
    python -m trainers.finetune_mnli --model_dir=/tmp/mnli --init_from=none --config=tiny \
        --data=builtin --max_seq_length=64 --train_steps=300

Flags are the fields of `hbert_tf.run_config.MnliConfig`; --preset=paper (default) or bert, and
flags given explicitly override it. Rerunning the command resumes; a finished run only evaluates.
"""

import json

from absl import app, flags

from hbert_tf import console, run_flags
from hbert_tf.errors import main_entry
from hbert_tf.run_config import MnliConfig
from hbert_tf.run_flags import config_from_flags, define_flags

FLAGS = flags.FLAGS
define_flags(MnliConfig)  # one flag per field, help from the field
flags.adopt_module_key_flags(run_flags)  # so that --help lists them


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hbert_tf.finetuning.run import run_mnli

    config = config_from_flags(MnliConfig)  # parse and validate
    metrics = run_mnli(config)  # build and run
    console.say(f"done: {json.dumps(metrics, sort_keys=True)}")  # report


def run():
    app.run(main_entry(main, outputs=("model_dir",), lock="model_dir"))


if __name__ == "__main__":
    run()
