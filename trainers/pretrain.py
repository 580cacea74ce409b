r"""Pre-trains a hierarchical BERT variant on TFRecords made by tfrecords.create_pretraining_data.

Example (the paper's Lower NSP at block 5 with CLS concatenation, 90/10 two-length schedule):
  python -m trainers.pretrain --config=base --variant=lower_nsp --nsp_layer=5 --concat=cls \
    --train_data_128=data/seq128 --train_data_384=data/seq384 --eval_data=data/eval128 \
    --train_steps=100000 --model_dir=runs/lower_nsp5_cls

Running the same command again after a crash resumes from the last checkpoint.
"""

import json

from absl import app, flags

from hbert_tf import console, run_flags
from hbert_tf.errors import main_entry
from hbert_tf.run_config import PretrainConfig
from hbert_tf.run_flags import config_from_flags, define_flags

FLAGS = flags.FLAGS
define_flags(PretrainConfig)  # one flag per field, help from the field
flags.adopt_module_key_flags(run_flags)  # so that --help lists them


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hbert_tf.pretraining.run import run_pretraining

    config = config_from_flags(PretrainConfig)  # parse and validate
    metrics = run_pretraining(config)  # build and run
    console.say(f"final evaluation: {json.dumps(metrics, sort_keys=True)}")  # report


def run():
    app.run(main_entry(main, outputs=("model_dir",), lock="model_dir"))


if __name__ == "__main__":
    run()
