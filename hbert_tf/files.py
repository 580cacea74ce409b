"""Writing files so that readers never see half of one: temporary name, then rename.

Free of TensorFlow, so data-generation workers can use it.
"""

import contextlib
import errno
import json
import os

from hbert_tf.errors import UserError


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
    folder, what = (path, what) if what else (os.path.dirname(os.path.abspath(path)), None)
    what = what or os.path.basename(path)
    return UserError(
        f"{folder}: no space left on the device (writing {what}); nothing half-written is left. "
        "Free some space, then rerun the same command to resume"
    )


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside `path` for a writer that takes a path (`Vocab.write`,
    `savefig`); it is renamed to `path` when the block ends normally and removed on an error (a
    full disk: a UserError naming the folder).
    `suffix` keeps an extension the writer needs (e.g. ".png")."""
    tmp = f"{path}.tmp-{os.getpid()}{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full_error(path) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path, text):
    """Writes `text` (UTF-8, "\\n" line ends) to `path` through `path.tmp-<pid>` and a rename."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_json_atomic(path, values):
    """Writes `values` as indented, key-sorted JSON, atomically."""
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


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
        encoding = None if "b" in mode else "utf-8"
        self.file = open(self.tmp_path, mode, encoding=encoding)

    def commit(self):
        self.file.close()
        os.replace(self.tmp_path, self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.file.closed:
            with contextlib.suppress(OSError):  # a full disk fails the last flush too
                self.file.close()
        if os.path.exists(self.tmp_path):  # not committed, or its commit failed
            os.remove(self.tmp_path)
        if exc is not None and is_disk_full(exc):
            raise disk_full_error(self.path) from None
        return False
