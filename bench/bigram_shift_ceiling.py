"""What a bigram-shift classifier can reach from what it sees: counting, not training.

For each way of looking at a token (the token alone, with its left or right neighbour, with both)
the swap rate of every context is counted on the training shards; a held-out token is called
"swapped" when its context's rate is above the overall rate. Balanced accuracy (mean of the
in-place and swapped recalls) is printed per view: 0.5 is what any constant answer gets.

    python bench/bigram_shift_ceiling.py --data=demo_output/data_bigram_shift/seq128
"""

import collections
import glob
import os

import numpy as np
from absl import app, flags

flags.DEFINE_string("data", None, "A data folder with train-* and eval-* shards with bigram swaps.")
FLAGS = flags.FLAGS

VIEWS = ("token", "left+token", "token+right", "left+token+right")


def _load(pattern, seq_length):
    import tensorflow as tf

    from hbert_tf import names
    from hbert_tf.pretraining.data import bigram_shift_weights

    keys = (names.INPUT_IDS, names.INPUT_MASK, names.SEGMENT_IDS, names.BIGRAM_SHIFT_LABELS)
    spec = {key: tf.io.FixedLenFeature([seq_length], tf.int64) for key in keys}
    ids, labels, weights = [], [], []
    for records in tf.data.TFRecordDataset(sorted(glob.glob(pattern))).batch(1024):
        batch = tf.io.parse_example(records, spec)
        ids.append(batch[names.INPUT_IDS].numpy())
        labels.append(batch[names.BIGRAM_SHIFT_LABELS].numpy())
        weights.append(bigram_shift_weights(batch[names.INPUT_MASK], batch[names.SEGMENT_IDS]))
    return np.concatenate(ids), np.concatenate(labels), np.concatenate(weights) > 0


def contexts(ids, view):
    """int64 `[N, S]` key of each token's view (ids < 2**20)."""
    left = np.pad(ids, ((0, 0), (1, 0)))[:, :-1]
    right = np.pad(ids, ((0, 0), (0, 1)))[:, 1:]
    parts = {"token": [ids], "left+token": [left, ids], "token+right": [ids, right]}
    parts["left+token+right"] = [left, ids, right]
    key = np.zeros_like(ids, dtype=np.int64)
    for part in parts[view]:
        key = key * (1 << 20) + part
    return key


def balanced_accuracy(train, held_out, view):
    """Balanced accuracy on `held_out` of the count-based rule learned on `train`."""
    ids, labels, scored = train
    swapped, seen = collections.Counter(), collections.Counter()
    for key, label in zip(contexts(ids, view)[scored].tolist(), labels[scored].tolist()):
        seen[key] += 1
        swapped[key] += label
    rate = labels[scored].mean()
    ids, labels, scored = held_out
    keys, truth = contexts(ids, view)[scored].tolist(), labels[scored] == 1
    said = np.array([seen[k] > 0 and swapped[k] / seen[k] > rate for k in keys])
    return 0.5 * (said[truth].mean() + (~said[~truth]).mean())


def main(argv):
    del argv
    import json

    with open(os.path.join(FLAGS.data, "manifest.json"), encoding="utf-8") as f:
        seq_length = json.load(f)["settings"]["max_seq_length"]
    train = _load(os.path.join(FLAGS.data, "train-*.tfrecord"), seq_length)
    held_out = _load(os.path.join(FLAGS.data, "eval-*.tfrecord"), seq_length)
    for view in VIEWS:
        print(f"{view:18s} balanced accuracy {balanced_accuracy(train, held_out, view):.3f}")


if __name__ == "__main__":
    flags.mark_flag_as_required("data")
    app.run(main)
