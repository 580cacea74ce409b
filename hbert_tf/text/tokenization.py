"""WordPiece tokenisation with character offsets, batched (tensorflow-text's FastBertTokenizer).

The vocabulary is read with `hbert_tf.text.vocab.load_vocab` (the one vocab loader of the project).
FastBertTokenizer does BERT's basic split (control characters dropped, optional lower case with
accent stripping, punctuation and CJK split off) and greedy WordPiece in one C++ op, and maps every
piece back to byte offsets of the *original* string. We turn those into character offsets, so a
span of pieces maps back to the exact characters of the text (what SQuAD post-processing needs).
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as text

from hbert_tf import names
from hbert_tf.text.vocab import load_vocab


def infer_do_lower_case(vocab):
    """True when no ordinary token of `vocab` has an upper-case letter (an uncased vocabulary)."""
    return not any(t != t.lower() for t in vocab.tokens if not t.startswith("["))


def _char_offsets(string, byte_starts, byte_ends):
    """Byte offsets into `string`'s UTF-8 encoding -> character offsets (identity for ASCII)."""
    if string.isascii():
        return byte_starts, byte_ends
    data = np.frombuffer(string.encode("utf-8"), dtype=np.uint8)
    # Character index of every byte position, plus one past the end.
    char_of_byte = np.append(np.cumsum((data & 0xC0) != 0x80) - 1, len(string))
    return char_of_byte[byte_starts], char_of_byte[byte_ends]


def fast_bert_tokenizer(tokens, do_lower_case):
    """The one tensorflow-text tokenizer of the project (Python pipelines and exported graphs).

    Args:
        tokens: list of str, the vocabulary in id order.
        do_lower_case: bool. Lower case and strip accents before WordPiece.

    Returns: `tensorflow_text.FastBertTokenizer` giving int32 ids `[batch, (pieces)]` and, from
    `tokenize_with_offsets`, int64 byte offsets into the original strings.
    """
    return text.FastBertTokenizer(
        vocab=list(tokens),
        token_out_type=tf.int32,
        unknown_token=names.UNK,
        lower_case_nfd_strip_accents=bool(do_lower_case),
    )


class OffsetTokenizer:
    """Text -> WordPiece ids with `[start, end)` character offsets into the original text.

    Args:
        vocab: `hbert_tf.text.vocab.Vocab`.
        do_lower_case: bool or None. Must match the vocabulary; None infers it from the vocabulary
            (uncased when no ordinary token has an upper-case letter).

    Example:
    ```python
    tokenizer = OffsetTokenizer(load_vocab("vocab.txt"))
    [(ids, starts, ends)] = tokenizer.tokenize_with_offsets(["Héllo, world"])
    ```
    """

    def __init__(self, vocab, do_lower_case=None):
        self.vocab = vocab
        self.do_lower_case = infer_do_lower_case(vocab) if do_lower_case is None else do_lower_case
        self._tokenizer = fast_bert_tokenizer(vocab.tokens, self.do_lower_case)

    @classmethod
    def from_file(cls, path, do_lower_case=None):
        """Reads a vocab.txt (errors name the file)."""
        return cls(load_vocab(path), do_lower_case)

    @property
    def cls_id(self):
        return self.vocab.cls_id

    @property
    def sep_id(self):
        return self.vocab.sep_id

    def tokenize_with_offsets(self, texts):
        """Tokenises a list of strings in one batched call.

        Returns: list (one per text) of `(ids, starts, ends)` int32 numpy arrays `[pieces]`;
        `text[starts[i]:ends[i]]` is the original text of piece i.
        """
        if not texts:
            return []
        ids, starts, ends = self._tokenizer.tokenize_with_offsets(tf.constant(list(texts)))
        splits = ids.row_splits.numpy()
        flat_ids = ids.flat_values.numpy()
        flat_starts = starts.flat_values.numpy().astype(np.int32)
        flat_ends = ends.flat_values.numpy().astype(np.int32)
        out = []
        for i, string in enumerate(texts):
            lo, hi = splits[i], splits[i + 1]
            s, e = _char_offsets(string, flat_starts[lo:hi], flat_ends[lo:hi])
            out.append((flat_ids[lo:hi], s, e))
        return out

    def tokenize_ids(self, texts):
        """list of int32 numpy arrays: the ids of each text (batched)."""
        if not texts:
            return []
        ids = self._tokenizer.tokenize(tf.constant(list(texts)))
        splits = ids.row_splits.numpy()
        flat = ids.flat_values.numpy()
        return [flat[splits[i] : splits[i + 1]] for i in range(len(texts))]


def check_vocab_matches(vocab, vocab_size, model_name):
    """Raises naming both when `vocab` does not have the model's `vocab_size` tokens."""
    if len(vocab) != vocab_size:
        raise ValueError(
            f"vocabulary {vocab.path or '(given)'} has {len(vocab)} tokens but model "
            f"{model_name} has vocab_size={vocab_size}; pass the vocabulary the model was "
            "pre-trained with (--vocab_file)"
        )
