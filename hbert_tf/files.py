"""The file layer: every read and write of data, vocabularies, model dirs, exports, study
folders and reports goes through here, so any file system TensorFlow has works.

A local path (no `scheme://`) takes plain Python (`open`, `os`, `shutil`, `glob`): no
TensorFlow import, so data-generation workers stay light, and local behaviour and error messages
are Python's own. A path with a scheme (`gs://`, `s3://` with tensorflow-io, `hdfs://`,
`ram://`, ...) takes `tf.io.gfile`, imported on first use; its errors are raised as the
matching `OSError` (`FileNotFoundError`, `FileExistsError`, `PermissionError`), so callers catch
one kind.

Atomic writes (`AtomicFile`, `atomic_path`, `write_text_atomic`) write under a temporary name
beside the target, then rename. The rename is atomic on a local disk, `ram://` and HDFS, so a
reader never sees half a file. On object stores (gs://, s3://) TensorFlow's rename is a copy then
a delete: readers still never see half an object (an object appears when its upload is closed),
but a crash between the copy and the delete can leave the `*.tmp-<pid>` object behind (harmless;
a rerun overwrites the target).
"""

import builtins
import contextlib
import errno
import glob as _glob
import io
import json
import os
import shutil


def is_remote(path):
    """True for a path with a scheme (`gs://...`), which goes through `tf.io.gfile`."""
    return "://" in str(path)


@contextlib.contextmanager
def _gfile(path):
    """Yields `tf.io.gfile`; TensorFlow's errors on `path` leave the block as OSErrors."""
    try:
        import tensorflow as tf
    except ImportError:
        from hbert_tf import errors

        raise errors.UserError(
            f"{path}: a path with a scheme needs TensorFlow's file systems; install tensorflow"
        ) from None
    try:
        yield tf.io.gfile
    except tf.errors.OpError as e:
        raise _os_error(e, path) from None


def _os_error(error, path):
    import tensorflow as tf

    kinds = {
        tf.errors.NotFoundError: (FileNotFoundError, errno.ENOENT),
        tf.errors.AlreadyExistsError: (FileExistsError, errno.EEXIST),
        tf.errors.PermissionDeniedError: (PermissionError, errno.EACCES),
    }
    kind, code = kinds.get(type(error), (OSError, errno.EIO))
    if is_disk_full(error):
        kind, code = OSError, errno.ENOSPC
    return kind(code, " ".join((error.message or type(error).__name__).split()), str(path))


class _RemoteStream(io.RawIOBase):
    """A `tf.io.gfile.GFile` (binary) as a raw stream whose errors are OSErrors, for Python's
    buffered and text wrappers."""

    def __init__(self, gfile, path, writing):
        self._file, self._path, self._writing = gfile, path, writing

    def readable(self):
        return not self._writing

    def writable(self):
        return self._writing

    def readinto(self, buffer):
        with _gfile(self._path):
            data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data):
        with _gfile(self._path):
            self._file.write(bytes(data))
        return len(data)

    def seekable(self):
        return not self._writing

    def seek(self, offset, whence=io.SEEK_SET):
        with _gfile(self._path):
            self._file.seek(offset, whence)
            return self._file.tell()

    def tell(self):
        with _gfile(self._path):
            return self._file.tell()

    def close(self):
        if not self.closed:
            with _gfile(self._path):
                self._file.close()
        super().close()


def open(path, mode="r", encoding="utf-8", errors=None, newline=None):
    """The file `path` opened in `mode` ("r", "w", "a", with "b" for bytes); text is UTF-8
    unless `encoding` says otherwise. Arguments as the built-in `open`."""
    if "b" in mode:
        encoding = None
    if not is_remote(path):
        return builtins.open(path, mode, encoding=encoding, errors=errors, newline=newline)
    writing = "r" not in mode
    with _gfile(path) as gfile:
        if not writing and not gfile.exists(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        stream = _RemoteStream(gfile.GFile(path, mode.replace("b", "") + "b"), path, writing)
    buffered = io.BufferedWriter(stream) if writing else io.BufferedReader(stream)
    if "b" in mode:
        return buffered
    return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline=newline)


def seen_by_this_process_only(path):
    """True for ram://, TensorFlow's in-memory file system: another process (a worker pool)
    sees none of it, so work on it stays in this process."""
    return str(path).startswith("ram://")


def abspath(path):
    """`os.path.abspath` for a local path; a remote path is absolute already."""
    return str(path) if is_remote(path) else os.path.abspath(path)


def read_text(path, errors=None):
    """The whole of UTF-8 text file `path`."""
    with open(path, errors=errors) as f:
        return f.read()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def exists(path):
    if not is_remote(path):
        return os.path.exists(path)
    with _gfile(path) as gfile:
        return _remote_exists(gfile, path)


def _remote_exists(gfile, path):
    """`gfile.exists(path)`, except that TensorFlow 2.20's ram:// says yes (and `isdir` says
    folder) for any string prefix of a stored name ("a/v" when "a/vocab.txt" is stored); there
    the parent folder's listing tells (so on ram://, as on a disk, a folder is one that
    `makedirs` made)."""
    if not gfile.exists(path):
        return False
    if not str(path).startswith("ram://"):
        return True
    parent, _, name = str(path).rstrip("/").rpartition("/")
    parent += "/" if parent.endswith(":/") else ""  # "ram://x": its parent is "ram://"
    return name in {entry.rstrip("/") for entry in gfile.listdir(parent)}


def isdir(path):
    if not is_remote(path):
        return os.path.isdir(path)
    with _gfile(path) as gfile:
        return gfile.isdir(path) and _remote_exists(gfile, path)


def isfile(path):
    if not is_remote(path):
        return os.path.isfile(path)
    with _gfile(path) as gfile:
        return _remote_exists(gfile, path) and not gfile.isdir(path)


def makedirs(path):
    """Creates folder `path` and its parents; nothing if it exists."""
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)
        return
    with _gfile(path) as gfile:
        gfile.makedirs(path)


def listdir(path):
    """The names in folder `path` (not sorted)."""
    if not is_remote(path):
        return os.listdir(path)
    with _gfile(path) as gfile:
        names = [name.rstrip("/") for name in gfile.listdir(path)]
        if str(path).startswith("ram://"):  # it also lists "x.extra" as ".extra" in folder "x"
            names = [name for name in names if gfile.exists(f"{str(path).rstrip('/')}/{name}")]
        return names


def glob(pattern):
    """The paths matching `pattern` (not sorted); Python's `glob` rules for local paths."""
    if not is_remote(pattern):
        return _glob.glob(pattern)
    with _gfile(pattern) as gfile:
        return gfile.glob(pattern)


def walk(path):
    """`(folder, subfolder names, file names)` for `path` and every folder under it, top down."""
    if not is_remote(path):
        yield from os.walk(path)
        return
    names = listdir(path)
    folders = [name for name in names if isdir(f"{path}/{name}")]
    yield path, folders, [name for name in names if name not in folders]
    for name in folders:
        yield from walk(f"{path}/{name}")


def remove(path):
    """Removes file `path`."""
    if not is_remote(path):
        os.remove(path)
        return
    with _gfile(path) as gfile:
        gfile.remove(path)


def rmtree(path, ignore_errors=False):
    """Removes folder `path` with all it holds."""
    if not is_remote(path):
        shutil.rmtree(path, ignore_errors=ignore_errors)
        return
    try:
        if not str(path).startswith("ram://"):
            with _gfile(path) as gfile:
                gfile.rmtree(path)
            return
        # ram://'s own rmtree trips over a sibling "x.extra" of "x"; its folders are names too
        if not isdir(path):
            raise FileNotFoundError(errno.ENOENT, "No such folder", str(path))
        for folder, _, names in reversed(list(walk(path))):
            with _gfile(folder) as gfile:
                for name in names:
                    gfile.remove(f"{folder}/{name}")
                gfile.remove(folder)
    except OSError:
        if not ignore_errors:
            raise


def replace(source, target):
    """Renames file or folder `source` to `target`, replacing a file `target` (atomic where
    the file system's rename is; see the module's docstring). A remote folder moves file by
    file (TensorFlow's ram:// renames one name only; object stores copy each object anyway)."""
    if not is_remote(source) and not is_remote(target):
        os.replace(source, target)
        return
    if not isdir(source):
        with _gfile(source) as gfile:
            gfile.rename(source, target, overwrite=True)
        return
    for folder, _, names in list(walk(source)):
        into = target + folder[len(source) :]
        makedirs(into)
        for name in names:
            replace(f"{folder}/{name}", f"{into}/{name}")
    rmtree(source)


def copy(source, target):
    """Copies file `source` to the file path `target` (replacing it)."""
    if not is_remote(source) and not is_remote(target):
        shutil.copyfile(source, target)
        return
    with _gfile(source) as gfile:
        gfile.copy(source, target, overwrite=True)


def size(path):
    """The size of file `path` in bytes."""
    if not is_remote(path):
        return os.path.getsize(path)
    with _gfile(path) as gfile:
        return gfile.stat(path).length


def identity(path):
    """`(absolute path, size, modification time in ns)` of file `path`: what tells a changed
    file (ram:// reports time 0)."""
    if not is_remote(path):
        return abspath(path), os.path.getsize(path), os.stat(path).st_mtime_ns
    with _gfile(path) as gfile:
        stat = gfile.stat(path)
    return path, stat.length, stat.mtime_nsec


def is_disk_full(error):
    """True for an error of a write that found the disk (or the user's quota) full: an OSError
    ENOSPC / EDQUOT, or TensorFlow's error carrying that text."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(getattr(error, "message", "") or error)
    return "No space left on device" in text or "Disk quota exceeded" in text


def disk_full_error(path, what=None):
    """The one-line UserError for a write of `path` (a file, or `what` in folder `path`) that
    found the disk full; the caller has removed what it half-wrote."""
    from hbert_tf import errors  # errors imports this module

    if what:
        folder = path
    else:
        folder = os.path.dirname(path if is_remote(path) else os.path.abspath(path))
    what = what or os.path.basename(path)
    return errors.UserError(
        f"{folder}: no space left on the device (writing {what}); nothing half-written is left. "
        "Free some space, then rerun the same command to resume"
    )


def _remove_quietly(path):
    with contextlib.suppress(OSError):
        if exists(path):
            remove(path)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside `path` for a writer that takes a path and writes through
    this module or TensorFlow (`Vocab.write`); it is renamed to `path` when the block ends
    normally and removed on an error (a full disk: a UserError naming the folder).
    `suffix` keeps an extension the writer needs (e.g. ".png")."""
    tmp = f"{path}.tmp-{os.getpid()}{suffix}"
    try:
        yield tmp
        replace(tmp, path)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full_error(path) from None
        raise
    finally:
        _remove_quietly(tmp)


def write_text_atomic(path, text):
    """Writes `text` (UTF-8, "\\n" line ends) to `path` through `path.tmp-<pid>` and a rename."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="\n") as f:
        f.write(text)


def write_json_atomic(path, values):
    """Writes `values` as indented, key-sorted JSON, atomically."""
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


def read_json(path):
    """The JSON value in UTF-8 file `path`."""
    with open(path) as f:
        return json.load(f)


class AtomicFile:
    """A file streamed under a temporary name; `commit()` renames it into place, so a file under
    its final name is always complete. Leaving the `with` block without `commit()` (an error)
    removes the temporary file; a full disk ends in one line naming the folder.

    Args:
        path: str. The final name.
        mode: str. "wb" (bytes) or "w" (UTF-8 text).
    """

    def __init__(self, path, mode="wb"):
        self.path = path
        self.tmp_path = f"{path}.tmp-{os.getpid()}"
        self.file = open(self.tmp_path, mode)

    def commit(self):
        self.file.close()
        replace(self.tmp_path, self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.file.closed:
            with contextlib.suppress(OSError):  # a full disk fails the last flush too
                self.file.close()
        if exists(self.tmp_path):  # not committed, or its commit failed
            remove(self.tmp_path)
        if exc is not None and is_disk_full(exc):
            raise disk_full_error(self.path) from None
        return False
