"""hbert_tf: hierarchical multitask pre-training for BERT (Keras 3 / TensorFlow 2)."""

from hbert_tf import console

# Before anything imports TensorFlow: its CPU start-up lines stay off the terminal (console.py).
console.quiet_tensorflow_startup()
