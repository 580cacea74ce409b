"""The `pydoc` corpus (Python's documentation topics): prose kept, code dropped, and the data
tools build a vocabulary and pre-training TFRecords from it with `--input_format=pydoc`."""

import json
import os
import subprocess
import sys

from hbert_tf import names
from hbert_tf.text import pydoc_corpus
from tfrecords import readers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_prose_is_kept_and_code_headings_tables_are_dropped():
    documents = pydoc_corpus.documents()
    assert len(documents) >= 70 and [t for t, _ in documents] == sorted(t for t, _ in documents)
    first = dict(documents)["for"][0]
    assert first.startswith('The "for" statement is used to iterate over the elements')
    text = "\n".join(p for _, paragraphs in documents for p in paragraphs)
    for code in ("print(i)", ">>>", "::=", "+----", "*******"):
        assert code not in text, code
    prose = pydoc_corpus.prose_paragraph
    assert prose(["   for i in range(10):", "       print(i)"]) is None  # a code block
    assert prose(["str.center(width[, fillchar])"]) is None  # a signature
    assert prose(["The *iterable* object [1] is", 'used by "len(s)" here.']) == (
        'The iterable object is used by "len(s)" here.'
    )
    assert prose(["1. While the first item is", "   long."]) == "While the first item is long."


def test_documents_are_topics_split_into_consecutive_sentences():
    documents = list(readers.read_documents("pydoc"))
    assert len(documents) == readers.num_built_in_documents("pydoc", 5, 1.0)
    assert list(readers.read_documents("pydoc", start=2, stop=4)) == documents[2:4]
    assert sum(len(d) for d in documents) > 2000  # sentences
    assert documents[0][0].startswith("Assert statements are a convenient way")  # "assert"


def run_tool(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", module, "--input_format=pydoc", *args],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_data_tools_build_vocabulary_and_tfrecords_from_pydoc(tmp_path, read_examples):
    vocab = tmp_path / "vocab.txt"
    run_tool("tfrecords.build_vocab", "--vocab_size=800", f"--output={vocab}")
    tokens = vocab.read_text().split("\n")
    assert 600 <= len(tokens) - 1 <= 800 and "statement" in tokens
    out = tmp_path / "data"
    run_tool(
        "tfrecords.create_pretraining_data", f"--vocab_file={vocab}", f"--output_dir={out}",
        "--max_seq_length=64", "--max_predictions_per_seq=10", "--dupe_factor=1",
        "--eval_documents=8", "--num_shards=1",
    )  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    settings = manifest["settings"]
    assert manifest["complete"] and settings["input_format"] == "pydoc"
    assert settings["builtin_documents"] == len(pydoc_corpus.documents())
    examples = read_examples(str(out / "train-*.tfrecord"))
    next_sentence = [e[names.NEXT_SENTENCE_LABELS][0] for e in examples]
    assert len(examples) > 500 and 0.3 < sum(next_sentence) / len(next_sentence) < 0.7
