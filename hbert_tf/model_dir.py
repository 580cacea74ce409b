"""What a pre-training model directory holds, and how later jobs load it.

```
model_dir/
  run_config.json     resolved configuration: {"encoder": EncoderConfig, "layout": HeadLayout, ...}
  vocab.txt           the vocabulary the data was made with
  checkpoints/ckpt-N  tf.train.Checkpoint(model=pretrainer, optimizer=..., step=...)
```
The architecture always comes from run_config.json, never from flags of the loading job.
"""

import json
import os

import tensorflow as tf

from hbert_tf.config import EncoderConfig
from hbert_tf.files import write_json_atomic  # noqa: F401 (re-exported for callers)
from hbert_tf.pretrainer import build_pretrainer
from hbert_tf.variants import HeadLayout

RUN_CONFIG = "run_config.json"
VOCAB = "vocab.txt"
CHECKPOINTS = "checkpoints"


def write_run_config(model_dir, encoder_config, layout, **extra):
    """Writes `run_config.json`: the encoder config, the head layout and any extra settings."""
    values = {"encoder": encoder_config.to_dict(), "layout": layout.to_dict(), **extra}
    write_json_atomic(os.path.join(model_dir, RUN_CONFIG), values)
    return values


def read_run_config(model_dir):
    """Returns `(encoder_config, layout, run_config_dict)` of a model directory."""
    path = os.path.join(str(model_dir), RUN_CONFIG)
    if not os.path.isfile(path):
        raise ValueError(f"{model_dir}: no {RUN_CONFIG}; is this a pre-training model_dir?")
    with open(path, encoding="utf-8") as f:
        try:
            values = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    try:
        encoder_config = EncoderConfig.from_dict(values["encoder"], source=path)
        layout = HeadLayout.from_dict(values["layout"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: missing or bad entry {e}") from None
    return encoder_config, layout, values


def make_checkpoint(pretrainer, optimizer=None, step=None):
    """The one checkpoint layout every job writes and reads."""
    objects = {"model": pretrainer}
    if optimizer is not None:
        objects["optimizer"] = optimizer
    if step is not None:
        objects["step"] = step
    return tf.train.Checkpoint(**objects)


def checkpoint_dir(model_dir):
    return os.path.join(str(model_dir), CHECKPOINTS)


def latest_checkpoint(model_dir):
    """Path of the newest checkpoint in `model_dir`, or None."""
    return tf.train.latest_checkpoint(checkpoint_dir(model_dir))


def load_pretrainer(model_dir, checkpoint=None, **encoder_overrides):
    """Rebuilds the pre-training model of `model_dir` and restores its weights.

    Args:
        model_dir: str. A directory written by `trainers.pretrain`.
        checkpoint: str or None. A checkpoint path (default: the latest).
        **encoder_overrides: EncoderConfig fields to change (dropout rates, say).

    Returns: `(pretrainer, run_config_dict)`.
    """
    encoder_config, layout, values = read_run_config(model_dir)
    if encoder_overrides:
        encoder_config = encoder_config.replace(**encoder_overrides)
    checkpoint = checkpoint or latest_checkpoint(model_dir)
    if checkpoint is None:
        raise ValueError(f"{model_dir}: no checkpoint found under {checkpoint_dir(model_dir)}")
    pretrainer = build_pretrainer(encoder_config, layout)
    status = make_checkpoint(pretrainer).restore(checkpoint)
    status.expect_partial()  # optimizer slots and the step are not needed here
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ValueError(f"{checkpoint}: does not match {RUN_CONFIG} ({e})") from None
    return pretrainer, values


def vocab_file(model_dir):
    """Path of the vocabulary stored with a model, or raises naming the directory."""
    path = os.path.join(str(model_dir), VOCAB)
    if not os.path.isfile(path):
        raise ValueError(f"{model_dir}: no {VOCAB}; pass --vocab_file")
    return path
