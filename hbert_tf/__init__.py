"""hbert_tf: hierarchical multitask pre-training for BERT (Keras 3 / TensorFlow 2)."""
