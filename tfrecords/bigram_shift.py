"""Bigram swaps, now part of the bigram-shift task (`hbert_tf.tasks.bigram_shift`); kept so
`tfrecords.bigram_shift` imports keep working."""

from hbert_tf.tasks.bigram_shift import (  # noqa: F401
    MODES,
    num_pairs_to_swap,
    swap_bigrams,
    unswap,
    word_spans,
)
