"""SavedModel export of a pre-trained encoder with every named layer output."""

import os
import shutil

import keras
import tensorflow as tf

from hbert_tf import names

NSP_CLS_VECTOR = "nsp_cls_vector"
NSP_POOLED_OUTPUT = "nsp_pooled_output"


def serving_outputs(pretrainer, inputs):
    """Every named layer output plus the NSP-level [CLS] vector, as a flat dict.

    Args:
        pretrainer: `HBertPretrainer`.
        inputs: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]`.

    Returns: dict with `embedding_output`, `layer_0` ... `layer_{L-1}`, `sequence_output`
    (each `[batch, seq, hidden]`), `nsp_cls_vector` `[batch, hidden]` (the [CLS] vector of the
    NSP layer; the last layer for a model without NSP) and, with an NSP head,
    `nsp_pooled_output` `[batch, hidden]`.
    """
    outputs = pretrainer.encoder(inputs, training=False)
    flat = {
        names.EMBEDDING_OUTPUT: outputs[names.EMBEDDING_OUTPUT],
        names.SEQUENCE_OUTPUT: outputs[names.SEQUENCE_OUTPUT],
        **outputs[names.HIDDEN_STATES],
    }
    layout = pretrainer.layout
    nsp_layer = layout.nsp_layer if layout.has_nsp else layout.num_layers - 1
    flat[NSP_CLS_VECTOR] = outputs[names.HIDDEN_STATES][names.layer_key(nsp_layer)][:, 0, :]
    if pretrainer.nsp_head is not None:
        flat[NSP_POOLED_OUTPUT] = pretrainer.nsp_head(flat[NSP_CLS_VECTOR])["pooled"]
    return flat


def export_encoder(pretrainer, export_dir, extra_files=()):
    """Writes a SavedModel whose `serving_default` signature takes `input_ids`, `input_mask`,
    `segment_ids` (int32 `[batch, seq]`) and returns `serving_outputs`.

    `extra_files` (the vocabulary, run_config.json) are copied into `assets.extra/`. Written to a
    temporary folder and renamed, so `export_dir` is complete or absent.
    """
    if os.path.exists(export_dir):
        raise ValueError(f"--export_dir={export_dir} already exists; choose a new folder")
    spec = tf.TensorSpec([None, None], tf.int32)
    archive = keras.export.ExportArchive()
    archive.track(pretrainer)

    def serve(input_ids, input_mask, segment_ids):
        inputs = {
            names.INPUT_IDS: input_ids,
            names.INPUT_MASK: input_mask,
            names.SEGMENT_IDS: segment_ids,
        }
        return serving_outputs(pretrainer, inputs)

    archive.add_endpoint(
        "serving_default",
        tf.function(serve),
        input_signature=[tf.TensorSpec.from_spec(spec, name=key) for key in names.ENCODER_INPUTS],
    )
    tmp = f"{export_dir.rstrip('/')}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(tmp, verbose=False)
    if extra_files:
        os.makedirs(os.path.join(tmp, "assets.extra"))
        for path in extra_files:
            shutil.copy(path, os.path.join(tmp, "assets.extra"))
    os.replace(tmp, export_dir)
    return export_dir
