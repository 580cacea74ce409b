"""Atomic writes (hbert_tf/files.py): a file under its final name is always complete."""

import json
import os

import pytest

from hbert_tf import files


def test_text_and_json_are_written_whole_and_leave_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    files.write_json_atomic(str(path), {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert path.read_text().startswith('{\n  "a"')  # indented, keys sorted
    files.write_text_atomic(str(path), "x\ny\n")
    assert path.read_bytes() == b"x\ny\n"
    assert os.listdir(tmp_path) == ["a.json"]


def test_atomic_path_renames_on_success_and_cleans_up_on_error(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("old\n")
    with files.atomic_path(str(path)) as tmp:
        assert tmp != str(path)
        with open(tmp, "w") as f:
            f.write("new\n")
        assert path.read_text() == "old\n"  # not replaced before the block ends
    assert path.read_text() == "new\n"
    with pytest.raises(RuntimeError), files.atomic_path(str(path)) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("writer failed")
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["vocab.txt"]


def test_atomic_file_commits_or_removes(tmp_path):
    path = tmp_path / "data.bin"
    with files.AtomicFile(str(path)) as out:
        out.file.write(b"abc")
        assert not path.exists()
        out.commit()
    assert path.read_bytes() == b"abc"
    with pytest.raises(KeyError), files.AtomicFile(str(tmp_path / "other.bin")) as out:
        out.file.write(b"half")
        raise KeyError("stop")
    assert sorted(os.listdir(tmp_path)) == ["data.bin"]
