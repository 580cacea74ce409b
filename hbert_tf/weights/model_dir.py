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
from absl import logging

from hbert_tf import files
from hbert_tf.config import EncoderConfig
from hbert_tf.errors import UserError
from hbert_tf.files import (
    is_disk_full,
    write_json_atomic,  # noqa: F401 (re-exported for callers)
)
from hbert_tf.modeling.pretrainer import build_pretrainer
from hbert_tf.variants import HeadLayout

RUN_CONFIG = "run_config.json"
FINETUNE_CONFIG = "finetune_config.json"  # a fine-tuning run (hbert_tf.finetuning.run)
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
    if not files.isfile(path):
        raise ValueError(f"{model_dir}: no {RUN_CONFIG}; is this a pre-training model_dir?")
    with files.open(path) as f:
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


def save_checkpoint(manager, checkpoint_number=None):
    """`manager.save(checkpoint_number)`, the one place every job saves a checkpoint.

    On a full disk, what the failed save wrote (`ckpt-N_temp/`, partial `ckpt-N.*` files) is
    removed and a UserError names the folder; the checkpoints saved before are kept, so a rerun
    after space is freed resumes from the newest of them.

    Returns: the path of the saved checkpoint.
    """
    directory = manager.directory
    before = set(files.listdir(directory)) if files.isdir(directory) else set()
    try:
        return manager.save(checkpoint_number=checkpoint_number)
    except (tf.errors.OpError, OSError) as e:
        if not (is_disk_full(e) or isinstance(e, tf.errors.ResourceExhaustedError)):
            raise
        for name in set(files.listdir(directory)) - before - {"checkpoint"}:
            path = os.path.join(directory, name)
            if files.isdir(path):
                files.rmtree(path)
            else:
                files.remove(path)
        last = manager.latest_checkpoint
        kept = f"the last checkpoint {last} is kept" if last else "no checkpoint had been saved"
        raise UserError(
            f"{directory}: no space left on the device while saving a checkpoint; {kept}, and "
            "nothing half-written is left. Free some space, then rerun the same command to resume"
        ) from None


def restore_newest_readable(checkpoint, directory, partial=False):
    """Restores the newest checkpoint under `directory` that can be read: the one place where
    checkpoints are restored (resume, export, fine-tuning, probing).

    A checkpoint whose files cannot be read (cut short, damaged) is logged by name and the one
    before it is tried; `CheckpointManager` keeps the last few. A checkpoint that reads but does
    not match the model is an error at once (another configuration, not damage).

    Args:
        checkpoint: tf.train.Checkpoint to restore into (its objects already built).
        directory: str. A folder with a `checkpoint` state file (or none yet), or one checkpoint
            path (`.../ckpt-N`: that one only, no fall-back).
        partial: bool. Objects of the checkpoint may be left unused (optimizer slots, step).

    Returns: the path restored, or None when there is no checkpoint.
    Raises: UserError naming the checkpoints when none can be read or one does not match.
    """
    if not files.exists(f"{directory}.index"):  # a folder (or none yet)
        state = tf.train.get_checkpoint_state(directory)
        if state is None:
            return None
        candidates = list(reversed(state.all_model_checkpoint_paths or [])) or [
            state.model_checkpoint_path
        ]
    else:
        candidates = [directory]
    failures = []
    for path in candidates:
        try:
            status = checkpoint.restore(path)
        except (tf.errors.OpError, ValueError, IndexError, KeyError) as e:
            message = " ".join(str(getattr(e, "message", e) or type(e).__name__).split())
            logging.warning(
                "checkpoint %s cannot be read (%s); trying the one before it", path, message
            )
            failures.append(f"{path} ({message})")
            continue
        if partial:
            status.expect_partial()
        try:
            status.assert_existing_objects_matched()
        except AssertionError as e:
            raise UserError(f"{path}: does not match the model ({e})") from None
        if failures:
            logging.warning("restored %s instead of the newest checkpoint", path)
        return path
    raise UserError(f"no readable checkpoint: {'; '.join(failures)}")


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
    if checkpoint is not None and not files.exists(f"{checkpoint}.index"):
        raise ValueError(f"--checkpoint={checkpoint}: no such checkpoint (no {checkpoint}.index)")
    if checkpoint is None and latest_checkpoint(model_dir) is None:
        raise ValueError(f"{model_dir}: no checkpoint found under {checkpoint_dir(model_dir)}")
    pretrainer = build_pretrainer(encoder_config, layout)
    # optimizer slots and the step are not needed here (partial)
    restored = restore_newest_readable(
        make_checkpoint(pretrainer), checkpoint or checkpoint_dir(model_dir), partial=True
    )
    if restored is None:
        raise ValueError(f"{model_dir}: no checkpoint found under {checkpoint_dir(model_dir)}")
    return pretrainer, values


def vocab_file(model_dir):
    """Path of the vocabulary stored with a model, or raises naming the directory."""
    path = os.path.join(str(model_dir), VOCAB)
    if not files.isfile(path):
        raise ValueError(f"{model_dir}: no {VOCAB}; pass --vocab_file")
    return path


# === "Is this the same run?" ===
def check_same_pretraining_run(model_dir, encoder_config, layout):
    """A model_dir holding another configuration's checkpoints must not be resumed into."""
    if not files.isfile(os.path.join(model_dir, RUN_CONFIG)):
        return
    old_config, old_layout, _ = read_run_config(model_dir)
    if (old_config, old_layout) != (encoder_config, layout):
        raise ValueError(
            f"--model_dir={model_dir} holds a run with another configuration "
            f"({old_layout.to_dict()}); use a new model_dir"
        )


def changed_settings(path, settings, keys):
    """The `keys` whose value in `settings` differs from the "settings" saved in the JSON file
    `path` (none when the file does not exist), in `keys` order."""
    if not files.isfile(path):
        return []
    old = files.read_json(path).get("settings", {})
    return [key for key in keys if old.get(key) != settings.get(key)]
