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


def test_a_local_path_takes_plain_python_without_tensorflow():
    """Data-generation workers use the layer on local paths without importing TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys, tempfile, os\n"
        "from hbert_tf import files\n"
        "d = tempfile.mkdtemp()\n"
        "files.makedirs(os.path.join(d, 'a', 'b'))\n"
        "files.write_text_atomic(os.path.join(d, 'a', 'x.txt'), 'x')\n"
        "assert files.read_text(os.path.join(d, 'a', 'x.txt')) == 'x'\n"
        "assert sorted(files.listdir(os.path.join(d, 'a'))) == ['b', 'x.txt']\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _ram(name):
    return f"ram://test_files/{name}-{os.getpid()}"


def test_every_operation_works_on_a_tensorflow_file_system():
    root = _ram("ops")
    files.makedirs(f"{root}/sub/deeper")
    assert files.isdir(f"{root}/sub") and not files.isfile(f"{root}/sub")
    files.write_json_atomic(f"{root}/a.json", {"b": 1})
    assert files.read_json(f"{root}/a.json") == {"b": 1}
    assert files.isfile(f"{root}/a.json") and files.exists(f"{root}/a.json")
    with files.open(f"{root}/log.txt", "a") as f:
        f.write("one\n")
    with files.open(f"{root}/log.txt", "a") as f:
        f.write("twó\n")
    with files.open(f"{root}/log.txt") as f:
        assert list(f) == ["one\n", "twó\n"]  # UTF-8 text, line by line
    assert files.size(f"{root}/log.txt") == len("one\ntwó\n".encode())
    with files.AtomicFile(f"{root}/data.bin") as out:
        out.file.write(b"0123456789")
        assert not files.exists(f"{root}/data.bin")
        out.commit()
    with files.open(f"{root}/data.bin", "rb") as f:
        f.seek(4)
        assert f.read(3) == b"456" and f.tell() == 7
    files.copy(f"{root}/data.bin", f"{root}/sub/copy.bin")
    files.replace(f"{root}/sub/copy.bin", f"{root}/sub/moved.bin")
    assert sorted(files.listdir(f"{root}/sub")) == ["deeper", "moved.bin"]
    assert sorted(files.glob(f"{root}/*.json")) == [f"{root}/a.json"]
    walked = {folder: (sorted(dirs), sorted(names)) for folder, dirs, names in files.walk(root)}
    assert walked[f"{root}/sub"] == (["deeper"], ["moved.bin"])
    assert files.identity(f"{root}/data.bin")[:2] == (f"{root}/data.bin", 10)
    files.remove(f"{root}/a.json")
    files.rmtree(f"{root}/sub")
    assert sorted(files.listdir(root)) == ["data.bin", "log.txt"]
    files.rmtree(root)
    files.rmtree(root, ignore_errors=True)  # gone already


def test_tensorflow_errors_come_back_as_the_matching_os_errors():
    root = _ram("errors")
    files.makedirs(root)
    with pytest.raises(FileNotFoundError) as e:
        files.open(f"{root}/missing.txt")
    assert e.value.filename == f"{root}/missing.txt"
    with pytest.raises(FileNotFoundError):
        files.remove(f"{root}/missing.txt")
    with pytest.raises(FileNotFoundError):
        files.rmtree(f"{root}/missing")
    with pytest.raises(RuntimeError), files.atomic_path(f"{root}/v.txt") as tmp:
        with files.open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("writer failed")
    assert not files.exists(f"{root}/v.txt") and files.glob(f"{root}/*") == []


def test_a_prefix_of_a_stored_name_is_not_a_path_on_ram():
    """TensorFlow's ram:// answers exists/isdir for any prefix of a stored name; the layer does
    not (a write in progress, `x.tmp-<pid>`, would otherwise make `x` look present)."""
    root = _ram("prefix")
    files.makedirs(root)
    with files.open(f"{root}/data.bin.tmp-1", "wb") as f:
        f.write(b"x")
    for phantom in (f"{root}/data.bin", f"{root}/data", f"{root}/dat"):
        assert not files.exists(phantom) and not files.isdir(phantom)
    assert files.isdir(root) and files.exists(f"{root}/data.bin.tmp-1")
    files.rmtree(root)


def test_a_remote_folder_moves_with_all_it_holds():
    root = _ram("move")
    files.makedirs(f"{root}/a/b")
    files.write_text_atomic(f"{root}/a/x.txt", "x")
    files.write_text_atomic(f"{root}/a/b/y.txt", "y")
    files.replace(f"{root}/a", f"{root}/c")
    assert not files.exists(f"{root}/a")
    assert files.read_text(f"{root}/c/x.txt") == "x" and files.read_text(f"{root}/c/b/y.txt") == "y"
    files.rmtree(root)


def test_a_remote_listing_holds_only_the_folders_own_names():
    """TensorFlow's ram:// lists `assets.extra` as `.extra` in folder `assets`; the layer not."""
    root = _ram("listing")
    files.makedirs(f"{root}/assets")
    files.makedirs(f"{root}/assets.extra")
    files.write_text_atomic(f"{root}/assets/a.txt", "a")
    files.write_text_atomic(f"{root}/assets.extra/b.txt", "b")
    assert files.listdir(f"{root}/assets") == ["a.txt"]
    walked = [(folder, sorted(dirs), names) for folder, dirs, names in files.walk(root)]
    assert walked[0] == (root, ["assets", "assets.extra"], [])
    assert sorted(walked[1:]) == [(f"{root}/assets", [], ["a.txt"]),
                                  (f"{root}/assets.extra", [], ["b.txt"])]  # fmt: skip
    files.rmtree(root)
