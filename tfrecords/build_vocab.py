"""Learns a WordPiece vocabulary (vocab.txt) from a corpus, with tensorflow-text's learner.

Usage:
    python -m tfrecords.build_vocab --input_file=corpus.txt --input_format=bert \\
        --vocab_size=8000 --output=vocab.txt

Words are counted with the same basic split the data generator uses (hbert_tf.text.vocab), then
tensorflow-text's WordPiece learner picks the pieces. [PAD] [UNK] [CLS] [SEP] [MASK] are ids 0-4,
then every single character (alone and as ##c, so nothing in the corpus becomes [UNK]), then
pieces by frequency.
"""

import collections
import sys

from absl import app, flags, logging

from hbert_tf import console, names
from hbert_tf.errors import DataError, check_output_file, main_entry
from hbert_tf.files import atomic_path
from hbert_tf.text.vocab import Vocab, basic_tokenize

from . import readers


def count_words(documents, do_lower_case=True):
    """collections.Counter of basic-split words over documents (lists of sentences)."""
    counts = collections.Counter()
    for document in documents:
        for sentence in document:
            counts.update(basic_tokenize(sentence, do_lower_case))
    return counts


def build_vocab(documents, vocab_size, *, do_lower_case=True, min_count=1) -> list[str]:
    """Learns WordPiece tokens from documents (an iterable of lists of sentences).

    Args:
        documents: iterable of list of str.
        vocab_size: int. Upper bound on the vocabulary size (special tokens included).
        do_lower_case: bool. Lower-case and strip accents first (uncased vocabulary).
        min_count: int. Lowest word count the learner's threshold search may go to.

    Returns:
        list of str: [PAD] [UNK] [CLS] [SEP] [MASK] first (ids 0-4), then the learned pieces.
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    counts = count_words(documents, do_lower_case)
    if not counts:
        raise DataError("build_vocab: the corpus has no words")
    if vocab_size <= len(names.SPECIAL_TOKENS):
        raise DataError(
            f"--vocab_size={vocab_size} must exceed the {len(names.SPECIAL_TOKENS)} special tokens"
        )
    alphabet = {char for word in counts for char in word}
    needed = len(names.SPECIAL_TOKENS) + 2 * len(alphabet)
    if vocab_size < needed:
        raise DataError(
            f"--vocab_size={vocab_size} is too small: the corpus has {len(alphabet)} distinct "
            f"characters and each is kept alone and as ##c so that nothing becomes [UNK], which "
            f"needs at least {needed} tokens ({len(names.SPECIAL_TOKENS)} special + 2 x "
            f"{len(alphabet)})"
        )
    tokens = learner.learn(
        sorted(counts.items()),
        vocab_size,
        list(names.SPECIAL_TOKENS),
        lower_thresh=min_count,
        max_input_tokens=-1,
    )
    tokens = list(tokens)[:vocab_size]
    Vocab(tokens)  # checks duplicates and special tokens
    return tokens


FLAGS = flags.FLAGS


def define_flags():
    """Defines the binary's flags (only when run as a binary, so both data binaries can be
    imported into one process)."""
    readers.define_corpus_flags()
    flags.DEFINE_integer("vocab_size", 8000, "Maximum vocabulary size, special tokens included.")
    flags.DEFINE_string("output", None, "Where to write vocab.txt.")
    flags.DEFINE_bool(
        "do_lower_case", True, "Uncased vocabulary; must match create_pretraining_data."
    )
    flags.DEFINE_integer("min_count", 1, "Lowest word-count threshold the learner may use.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.output:
        sys.exit("error: --output is required")
    check_output_file(FLAGS.output, "output")
    if FLAGS.input_format in readers.BUILT_IN_FORMATS:
        files = ()
        num_documents = readers.num_built_in_documents(
            FLAGS.input_format, FLAGS.builtin_documents, FLAGS.builtin_size_mb
        )
    else:
        if not FLAGS.input_file:
            raise DataError("--input_file is required unless --input_format=builtin or pydoc")
        files = readers.expand_input_files(FLAGS.input_file)
        num_documents = 0
    stats = readers.ReadStats()
    documents = readers.read_documents(
        FLAGS.input_format,
        files,
        builtin_seed=FLAGS.builtin_seed,
        builtin_documents=num_documents,
        stats=stats,
    )
    tokens = build_vocab(
        documents,
        FLAGS.vocab_size,
        do_lower_case=FLAGS.do_lower_case,
        min_count=FLAGS.min_count,
    )
    for path, count in stats.skipped_lines.items():
        logging.warning("%s: skipped %d lines that are not UTF-8", path, count)
    with atomic_path(FLAGS.output) as tmp:
        Vocab(tokens).write(tmp)
    console.say(f"wrote {len(tokens)} tokens to {FLAGS.output}")


def run():
    define_flags()
    app.run(main_entry(main))


if __name__ == "__main__":
    run()
