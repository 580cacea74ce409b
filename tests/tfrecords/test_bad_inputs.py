"""Every bad input named in the issue: a clear message naming the file or flag, nothing written."""

import os
import subprocess
import sys

import pytest

from hbert_tf.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_missing_input(tmp_path, make_data):
    with pytest.raises(DataError, match="no file matches .*missing"):
        make_data(tmp_path / "out", input_file=str(tmp_path / "missing*.txt"))
    assert not (tmp_path / "out").exists()


def test_empty_input(tmp_path, make_data):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="no documents in .*empty.txt"):
        make_data(tmp_path / "out", input_file=str(tmp_path / "empty.txt"))
    assert not (tmp_path / "out").exists()


def test_non_utf8_lines_are_skipped_and_counted(tmp_path, make_data, corpus_file):
    text = open(corpus_file, "rb").read()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(text[:2000] + b"\n\xc3\x28 not utf-8\n\xff\n" + text[2000:])
    manifest = make_data(tmp_path / "out", input_file=str(bad))
    assert manifest["complete"]
    assert manifest["input"]["skipped_non_utf8_lines"] == {str(bad): 2}


def test_one_sentence_documents_are_reported(tmp_path, make_data, corpus_file):
    path = tmp_path / "short.txt"
    path.write_text(open(corpus_file).read() + "\nlonely sentence .\n\nanother one .\n")
    manifest = make_data(tmp_path / "out", input_file=str(path))
    assert manifest["input"]["one_sentence_documents"] == {str(path): 2}


def test_vocabulary_missing_a_special_token(tmp_path, make_data):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
    with pytest.raises(DataError, match=r"vocab.txt: missing special token\(s\) \[MASK\]"):
        make_data(tmp_path / "out", vocab_file=str(vocab))
    assert not (tmp_path / "out").exists()


def test_max_predictions_too_small(tmp_path, make_data):
    with pytest.raises(
        DataError, match="--max_predictions_per_seq=5 is too small for --max_seq_length=64"
    ):
        make_data(tmp_path / "out", max_predictions_per_seq=5)
    with pytest.raises(DataError, match="2 values for 3"):
        make_data(tmp_path / "out", max_seq_length="64,128,256", max_predictions_per_seq="10,20")
    assert not (tmp_path / "out").exists()


def test_output_folder_with_another_runs_shards(tmp_path, make_data):
    make_data(tmp_path / "out")
    before = sorted(os.listdir(tmp_path / "out"))
    with pytest.raises(DataError, match="holds shards of another run.*random_seed: 3 there, 9 now"):
        make_data(tmp_path / "out", random_seed=9)
    assert sorted(os.listdir(tmp_path / "out")) == before
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "data.tfrecord").write_bytes(b"x")
    with pytest.raises(DataError, match="foreign holds .tfrecord files but no manifest.json"):
        make_data(tmp_path / "foreign")
    manifest = make_data(tmp_path / "out", random_seed=9, overwrite=True)
    assert manifest["random_seed"] == 9


def test_bad_flags_are_named(tmp_path, make_data):
    with pytest.raises(DataError, match="--bigram_shift_mode='sometimes'"):
        make_data(tmp_path / "out", bigram_shift_mode="sometimes")
    with pytest.raises(DataError, match="--num_shards=500 exceeds the 120 training documents"):
        make_data(tmp_path / "out", num_shards=500)


def test_binary_exits_non_zero_with_one_message(tmp_path, vocab_file):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfrecords.create_pretraining_data",
            f"--input_file={tmp_path}/nope.txt",
            f"--vocab_file={vocab_file}",
            f"--output_dir={tmp_path}/out",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: --input_file: no file matches '{tmp_path}/nope.txt'"
    assert not (tmp_path / "out").exists()


def test_build_vocab_binary_writes_specials_first(tmp_path, corpus_file):
    out = tmp_path / "vocab.txt"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tfrecords.build_vocab",
            f"--input_file={corpus_file}",
            "--vocab_size=300",
            f"--output={out}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert out.read_text().split("\n")[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
