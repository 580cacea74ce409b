"""Word vectors for the BiLSTM baseline: a fastText `.vec` file, or fastText trained on the task.

The baseline shares the BERT pipeline's WordPiece tokenisation (so SQuAD features, offsets and
post-processing are the same), and each vocabulary entry gets a vector:

- from a `.vec` file (fastText text format: a "count dim" header, then "word v1 ... vdim"): the
  token itself, else the token without its `##` prefix; entries with neither keep a small random
  vector (coverage is logged);
- with no file: gensim's FastText (subword n-grams) trained on the task's own training text,
  tokenised into the same pieces; n-grams give a vector to every entry, seen or not.
"""

import numpy as np
from absl import logging

from hbert_tf import files
from hbert_tf.errors import DataError


def read_vec_file(path, wanted):
    """`{word: vector}` for the words of `wanted` found in a fastText `.vec` file, and the dim."""
    vectors, dim = {}, None
    try:
        with files.open(path, errors="replace") as f:
            first = f.readline().split()
            if len(first) == 2 and all(x.isdigit() for x in first):
                dim = int(first[1])
            else:  # no header line
                f.seek(0)
            for n, line in enumerate(f, 2):
                parts = line.rstrip("\n ").split(" ")
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) != dim + 1:
                    raise DataError(f"{path}: line {n} has {len(parts) - 1} values, expected {dim}")
                if parts[0] in wanted:
                    vectors[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
    except FileNotFoundError:
        raise DataError(f"--embeddings: file not found: {path}") from None
    except ValueError as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a fastText .vec text file ({e})") from None
    if dim is None:
        raise DataError(f"{path}: empty embeddings file")
    return vectors, dim


def matrix_from_vec_file(path, vocab, seed=0):
    """float32 `[len(vocab), dim]` from a `.vec` file (see module docstring)."""
    wanted = set(vocab.tokens) | {t[2:] for t in vocab.tokens if t.startswith("##")}
    vectors, dim = read_vec_file(path, wanted)
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.1, (len(vocab), dim)).astype(np.float32)
    found = 0
    for i, token in enumerate(vocab.tokens):
        vector = vectors.get(token)
        if vector is None and token.startswith("##"):
            vector = vectors.get(token[2:])
        if vector is not None:
            matrix[i] = vector
            found += 1
    logging.info("%s: vectors for %d of %d vocabulary entries", path, found, len(vocab))
    return matrix


def train_fasttext_matrix(sentences, vocab, dim=100, epochs=5, seed=0):
    """Trains gensim FastText on `sentences` (lists of WordPiece tokens); `[len(vocab), dim]`.

    Args:
        sentences: list of list of str, the task's training text in WordPiece tokens.
        vocab: `hbert_tf.text.vocab.Vocab`.
        dim: int. Vector size.
        epochs: int. Passes over `sentences`.
        seed: int. gensim's seed (one worker, so runs are reproducible).
    """
    from gensim.models import FastText

    logging.info(
        "no --embeddings file: training fastText subword vectors (dim %d) on %d task texts",
        dim,
        len(sentences),
    )
    model = FastText(vector_size=dim, window=5, min_count=1, min_n=2, max_n=5, workers=1, seed=seed)
    model.build_vocab(corpus_iterable=sentences)
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=epochs)
    return np.stack([model.wv[token] for token in vocab.tokens]).astype(np.float32)
