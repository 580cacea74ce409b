"""Fine-tunes and evaluates on SQuAD 1.1 / 2.0 with the paper's token read-out (Fig. 3b-d).

Example (tiny, no downloads):
    python -m trainers.finetune_squad --model_dir=/tmp/squad --init_from=none --config=tiny \
        --data=builtin --max_seq_length=64 --max_query_length=12 --doc_stride=32 --train_steps=500

Flags are the fields of `hbert_tf.run_config.SquadConfig`; --preset=paper (default) or bert, and
flags given explicitly override it. Rerunning the command resumes; a finished run only evaluates.
"""

import json

from absl import app, flags

from hbert_tf import console, run_flags
from hbert_tf.errors import main_entry
from hbert_tf.run_config import SquadConfig
from hbert_tf.run_flags import config_from_flags, define_flags

FLAGS = flags.FLAGS
define_flags(SquadConfig)  # one flag per field, help from the field
flags.adopt_module_key_flags(run_flags)  # so that --help lists them


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hbert_tf.finetuning.run import run_squad

    config = config_from_flags(SquadConfig)  # parse and validate
    metrics = run_squad(config)  # build and run
    console.say(f"done: {json.dumps(metrics, sort_keys=True)}")  # report


def run():
    app.run(main_entry(main, outputs=("model_dir",), lock="model_dir"))


if __name__ == "__main__":
    run()
