r"""Exports the encoder of a pre-training model_dir as a TensorFlow SavedModel.

  python -m trainers.export --model_dir=runs/lower_nsp --export_dir=exported/lower_nsp

The `serving_default` signature takes int32 `input_ids`, `input_mask`, `segment_ids` [batch, seq]
and returns `embedding_output`, `layer_0` ... `layer_{L-1}`, `sequence_output`, `nsp_cls_vector`
(the NSP level's [CLS] vector) and `nsp_pooled_output` (when the model has an NSP head). The
vocabulary and run_config.json are copied beside it, under assets.extra/.
"""

import os
import sys

from absl import app, flags, logging

from hbert_tf.errors import main_entry

flags.DEFINE_string("model_dir", None, "A model_dir written by trainers.pretrain.")
flags.DEFINE_string("export_dir", None, "New folder for the SavedModel (must not exist).")
flags.DEFINE_string("checkpoint", None, "A checkpoint path (default: the latest in model_dir).")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        sys.exit("error: --model_dir and --export_dir are required")
    from hbert_tf.export import export_encoder
    from hbert_tf.model_dir import RUN_CONFIG, load_pretrainer, vocab_file

    pretrainer, _ = load_pretrainer(FLAGS.model_dir, FLAGS.checkpoint)
    extra_files = [vocab_file(FLAGS.model_dir), os.path.join(FLAGS.model_dir, RUN_CONFIG)]
    export_encoder(pretrainer, FLAGS.export_dir, extra_files)
    logging.info("exported %s to %s", FLAGS.model_dir, FLAGS.export_dir)


def run():
    app.run(main_entry(main, outputs=("export_dir",)))


if __name__ == "__main__":
    run()
