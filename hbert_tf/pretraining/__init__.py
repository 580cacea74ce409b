"""Pre-training: the TFRecord schema, the tf.data reader, the step loop and the run."""
