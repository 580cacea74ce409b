"""Fine-tunes and evaluates on a GLUE classification task (SST-2, CoLA, MRPC, QQP, QNLI, RTE).

The sentence read-out of MultiNLI (Fig. 3a); each task's official metric goes to metrics.json
(`hbert_tf.finetuning.glue`).

Example (tiny, no downloads):
    python -m trainers.finetune_glue --task=sst2 --model_dir=/tmp/sst2 --init_from=none \
        --config=tiny --data=builtin --max_seq_length=32 --train_steps=300

Flags are the fields of `hbert_tf.finetuning.glue.GlueConfig`; --preset=paper (default) or bert,
and flags given explicitly override it. Rerunning the command resumes; a finished run only
evaluates.
"""

import json

from absl import app, flags

from hbert_tf import console, run_flags
from hbert_tf.errors import main_entry
from hbert_tf.finetuning.glue import GlueConfig
from hbert_tf.run_flags import config_from_flags, define_flags

FLAGS = flags.FLAGS
define_flags(GlueConfig)  # one flag per field, help from the field
flags.adopt_module_key_flags(run_flags)  # so that --help lists them


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hbert_tf.finetuning.run import run_finetune

    config = config_from_flags(GlueConfig)  # parse and validate
    metrics = run_finetune(config)  # build and run
    console.say(f"done: {json.dumps(metrics, sort_keys=True)}")  # report


def run():
    app.run(main_entry(main, outputs=("model_dir",), lock="model_dir"))


if __name__ == "__main__":
    run()
