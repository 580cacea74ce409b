"""Vocabulary loading and validation, WordPiece tokenization, the vocabulary learner."""

import pytest

from hbert_tf import names
from hbert_tf.errors import DataError
from hbert_tf.text.vocab import Vocab, WordPieceTokenizer, basic_tokenize, load_vocab
from tfrecords import readers

TOKENS = list(names.SPECIAL_TOKENS) + [
    "un",
    "##aff",
    "##able",
    "aff",
    "run",
    "##ning",
    ",",
    ".",
    "cafe",
]


def test_load_vocab_checks_special_tokens(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    with pytest.raises(DataError, match=r"vocab.txt.*\[MASK\]"):
        load_vocab(path)
    path.write_text("\n".join(TOKENS + ["run"]) + "\n")
    with pytest.raises(DataError, match="line 15 repeats"):
        load_vocab(path)
    with pytest.raises(DataError, match="not found"):
        load_vocab(tmp_path / "missing.txt")


def test_bert_style_vocab_layout_is_accepted(tmp_path):
    tokens = (
        ["[PAD]"] + [f"[unused{i}]" for i in range(3)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]
    )
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n")
    vocab = load_vocab(path)
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (
        0,
        4,
        5,
        6,
        7,
    )
    assert vocab.random_replacement_ids() == [8]


def test_greedy_longest_match_and_basic_split():
    tokenizer = WordPieceTokenizer(Vocab(TOKENS))
    assert tokenizer.tokenize("Unaffable, RUNNING. Café xyz") == [
        "un",
        "##aff",
        "##able",
        ",",
        "run",
        "##ning",
        ".",
        "cafe",
        "[UNK]",
    ]
    assert basic_tokenize("Hello_world!  x", do_lower_case=False) == [
        "Hello",
        "_",
        "world",
        "!",
        "x",
    ]
    assert basic_tokenize("中文ab") == ["中", "文", "ab"]


def test_word_cache_is_bounded():
    tokenizer = WordPieceTokenizer(Vocab(TOKENS), cache_size=3)
    tokenizer.tokenize_ids("un aff run cafe , .")
    assert len(tokenizer._cache) <= 3


def test_learned_vocab_covers_the_corpus(vocab_file):
    vocab = load_vocab(vocab_file)
    assert vocab.tokens[:5] == list(names.SPECIAL_TOKENS)
    assert 300 <= len(vocab) <= 400
    assert any(t.startswith("##") for t in vocab.tokens)
    tokenizer = WordPieceTokenizer(vocab)
    for doc in readers.read_documents("builtin", builtin_seed=99, builtin_documents=20):
        for sentence in doc:
            assert vocab.unk_id not in tokenizer.tokenize_ids(sentence)
