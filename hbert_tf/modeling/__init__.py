"""The Keras models: encoder, heads, pre-trainer, losses, downstream read-outs, baselines."""
