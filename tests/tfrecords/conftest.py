"""Shared fixtures for the data tools: a small built-in corpus, a learned vocabulary, and a way
to make pre-training files. Nothing here reads /work/shared or the network."""

import os
import sys

import pytest

# tests/ is on sys.path (the suite imports `helpers` from it), and tests/tfrecords/ would then
# shadow the real `tfrecords` package as a namespace package: put the project root first.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if getattr(sys.modules.get("tfrecords"), "__file__", "") is None:
    del sys.modules["tfrecords"]
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from hbert_tf.text import builtin_corpus  # noqa: E402
from hbert_tf.text.vocab import Vocab  # noqa: E402
from tfrecords import readers  # noqa: E402
from tfrecords.build_vocab import build_vocab  # noqa: E402
from tfrecords.create_pretraining_data import create_pretraining_data  # noqa: E402

CORPUS_SEED = 7
CORPUS_DOCUMENTS = 120


@pytest.fixture(scope="session")
def vocab_file(tmp_path_factory):
    """A WordPiece vocabulary learned from the built-in corpus; small, so some words split."""
    documents = readers.read_documents("builtin", builtin_seed=CORPUS_SEED, builtin_documents=300)
    tokens = build_vocab(documents, vocab_size=400)
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    Vocab(tokens).write(path)
    return str(path)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    """The built-in corpus written in BERT's format."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    builtin_corpus.write_bert_format(path, CORPUS_SEED, CORPUS_DOCUMENTS)
    return str(path)


def _make_data(output_dir, vocab_file, corpus_file, **overrides):
    kwargs = dict(
        vocab_file=vocab_file,
        input_file=corpus_file,
        input_format="bert",
        max_seq_length=64,
        max_predictions_per_seq=10,
        dupe_factor=2,
        num_shards=2,
        random_seed=3,
    )
    kwargs.update(overrides)
    return create_pretraining_data(str(output_dir), **kwargs)


@pytest.fixture(scope="session")
def swapped_data(tmp_path_factory, vocab_file, corpus_file):
    """Files with bigram swaps and whole-word masking, and their manifest."""
    out = tmp_path_factory.mktemp("swapped")
    manifest = _make_data(
        out,
        vocab_file,
        corpus_file,
        bigram_shift_prob=0.15,
        do_whole_word_mask=True,
        dupe_factor=3,
    )
    return str(out), manifest


@pytest.fixture
def make_data(vocab_file, corpus_file):
    """make_data(output_dir, **flags): create_pretraining_data on the test corpus with small,
    fast settings (length 64, 10 predictions, dupe 2, 2 shards)."""

    def make(output_dir, **overrides):
        return _make_data(
            output_dir,
            overrides.pop("vocab_file", vocab_file),
            overrides.pop("input_file", corpus_file),
            **overrides,
        )

    return make


def _read_examples(pattern):
    """list of {feature: list} from every record of the files matching `pattern` (sorted)."""
    import glob

    import tensorflow as tf

    from tfrecords.tfrecord_io import read_records

    out = []
    for path in sorted(glob.glob(pattern)):
        for record in read_records(path):
            features = tf.train.Example.FromString(record).features.feature
            out.append(
                {k: list(getattr(v, v.WhichOneof("kind")).value) for k, v in features.items()}
            )
    return out


@pytest.fixture(scope="session")
def read_examples():
    return _read_examples
