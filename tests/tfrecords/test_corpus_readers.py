"""Readers of the four input formats, rule-based sentence splitting, bad-input handling."""

import json

import pytest

from hbert_tf.errors import DataError
from tfrecords import readers


def test_bert_format_documents_and_non_utf8_lines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"one.\ntwo.\n\n\n\xff\xfe broken\nthree.\n  \nfour.\n")
    stats = readers.ReadStats()
    docs = list(readers.read_documents("bert", [str(path)], stats=stats))
    assert docs == [["one.", "two."], ["three."], ["four."]]
    assert stats.skipped_lines == {str(path): 1}
    assert stats.one_sentence_documents == {str(path): 2}


def test_document_ranges_skip_whole_files(tmp_path):
    files = []
    for i in range(3):
        files.append(str(tmp_path / f"{i}.txt"))
        (tmp_path / f"{i}.txt").write_text(f"a{i}.\nb{i}.\n\nc{i}.\nd{i}.\n")
    docs = list(
        readers.read_documents("bert", files, start=3, stop=5, file_document_counts=[2, 2, 2])
    )
    assert docs == [["c1.", "d1."], ["a2.", "b2."]]


def test_wikitext_articles_sections_and_joins(tmp_path):
    path = tmp_path / "wiki.train.raw"
    path.write_text(
        " \n = Valkyria = \n \n The game @-@ play is 3 @,@ 000 @.@ 5 long . It was made by Mr. Smith"
        " in Japan . \n \n = = Gameplay = = \n Players move . They win . \n = Second = \n Hi there .\n"
    )
    docs = list(readers.read_documents("wikitext", [str(path)]))
    assert docs == [
        [
            "The game-play is 3,000.5 long .",
            "It was made by Mr. Smith in Japan .",
            "Players move .",
            "They win .",
        ],
        ["Hi there ."],
    ]


def test_squad_contexts_are_documents(tmp_path):
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "T",
                "paragraphs": [{"context": "A b c. D e f! G h?", "qas": []}, {"context": "X y."}],
            }
        ],
    }
    path = tmp_path / "train-v2.0.json"
    path.write_text(json.dumps(data))
    assert list(readers.read_documents("squad", [str(path)])) == [
        ["A b c.", "D e f!", "G h?"],
        ["X y."],
    ]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        list(readers.read_documents("squad", [str(tmp_path / "bad.json")]))


def test_sentence_split_rules():
    text = (
        'Dr. Who met J. R. Smith at 5 p.m. today. "Really?" she asked. Then e.g. this one. 3 more.'
    )
    assert readers.split_sentences(text) == [
        "Dr. Who met J. R. Smith at 5 p.m. today.",
        '"Really?" she asked.',
        "Then e.g. this one.",
        "3 more.",
    ]


def test_builtin_reader_is_the_generator():
    docs = list(readers.read_documents("builtin", builtin_seed=2, builtin_documents=3))
    assert len(docs) == 3 and all(len(d) >= 2 for d in docs)


def test_missing_inputs_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="nothing_here"):
        readers.expand_input_files(str(tmp_path / "nothing_here*.txt"))
    with pytest.raises(DataError, match="--input_format"):
        list(readers.read_documents("pdf", []))


@pytest.mark.parametrize("input_format", ["bert", "wikitext"])
def test_seeking_to_checkpoints_reads_the_same_documents(tmp_path, input_format):
    path = tmp_path / "c.txt"
    if input_format == "bert":
        path.write_bytes("".join(f"doc {i} one.\nnaïve {i} two.\n\n" for i in range(700)).encode())
    else:
        path.write_text(
            "".join(f" = T{i} = \n\n A {i} . B {i} .\n = = S = = \n C .\n" for i in range(700))
        )
    stats = readers.ReadStats()
    everything = list(readers.read_documents(input_format, [str(path)], stats=stats))
    assert len(everything) == 700 and len(stats.checkpoints[str(path)]) == 3
    part = readers.read_documents(
        input_format,
        [str(path)],
        start=530,
        stop=540,
        file_document_counts=[700],
        file_checkpoints=[stats.checkpoints[str(path)]],
    )
    assert list(part) == everything[530:540]
