"""MultiNLI reading (TSV, JSONL), label checks, pair encoding, and the built-in NLI set."""

import collections
import json

import pytest

from hbert_tf import names
from hbert_tf.errors import DataError
from hbert_tf.finetuning import builtin_tasks, nli
from hbert_tf.text.tokenization import OffsetTokenizer
from hbert_tf.text.vocab import Vocab

HEADER = "gold_label\tsentence1_binary_parse\tsentence1\tsentence2\tpairID\tgenre\n"


def write_tsv(path, rows):
    path.write_text(HEADER + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_reads_tsv_skips_no_consensus_and_keeps_quotes(tmp_path):
    rows = [
        ("neutral", "(x)", 'the "red" kite rose .', "a kite flew high .", "p1", "fiction"),
        ("-", "(x)", "a cat slept .", "the cat ran .", "p2", "fiction"),
        ("contradiction", "(x)", "two boys swim .", "nobody swims .", "p3", "travel"),
    ]
    examples, skipped = nli.read_nli_file(write_tsv(tmp_path / "dev.txt", rows))
    assert [(e.pair_id, e.label) for e in examples] == [("p1", 1), ("p3", 2)]
    assert examples[0].premise == 'the "red" kite rose .'
    assert skipped == {"no consensus label": 1}


def test_reads_jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(
        json.dumps(
            {"gold_label": "entailment", "sentence1": "a b", "sentence2": "a", "pairID": "j1"}
        )
        + "\n"
    )
    [example], _ = nli.read_nli_file(str(path))
    assert example.label == nli.LABELS.index("entailment") and example.pair_id == "j1"


def test_unknown_label_names_file_line_and_pair(tmp_path):
    path = write_tsv(tmp_path / "bad.txt", [("maybe", "(x)", "a .", "b .", "p9", "g")])
    with pytest.raises(DataError, match=r"bad\.txt: line 2 \(pairID p9\): unknown label 'maybe'"):
        nli.read_nli_file(path)
    (tmp_path / "nohead.txt").write_text("a\tb\n")
    with pytest.raises(DataError, match="nohead.txt: expected a MultiNLI TSV"):
        nli.read_nli_file(str(tmp_path / "nohead.txt"))


def test_encode_pairs_layout_and_longest_first_truncation():
    vocab = Vocab(list(names.SPECIAL_TOKENS) + ["a", "b", "c"])
    tokenizer = OffsetTokenizer(vocab)
    examples = [nli.NliExample("x", "a a a a a a", "b b", 0)]
    inputs, labels, stats = nli.encode_pairs(examples, tokenizer, max_seq_length=8)
    ids = [vocab.tokens[i] for i in inputs[names.INPUT_IDS][0]]
    assert ids == ["[CLS]", "a", "a", "a", "[SEP]", "b", "b", "[SEP]"]
    assert inputs[names.SEGMENT_IDS][0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert stats["truncated"] == 1 and labels.tolist() == [0]


def test_builtin_nli_has_all_labels_and_held_out_topics(tmp_path):
    train, matched, mismatched = builtin_tasks.write_builtin_nli(tmp_path, 0, 60, 30)
    train_examples, _ = nli.read_nli_file(train)
    assert set(collections.Counter(e.label for e in train_examples)) == {0, 1, 2}
    genres = {json.loads(line)["genre"] for line in open(mismatched)}
    assert genres <= set(builtin_tasks.HELD_OUT_TOPICS)
    assert not {json.loads(line)["genre"] for line in open(train)} & genres
    nli.read_nli_file(matched)


def test_records_without_a_consensus_label_are_skipped_as_glue_does():
    records = [("a", "p .", "h .", 0), ("b", "p .", "h .", -1), ("c", "p .", "h .", 2)]
    examples, skipped = nli.examples_from_records(records, "tfds:multi_nli/dev_matched")
    assert [(e.pair_id, e.label) for e in examples] == [("a", 0), ("c", 2)]
    assert skipped == {"no consensus label": 1}
