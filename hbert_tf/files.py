"""Writing files so that readers never see half of one: temporary name, then rename.

Free of TensorFlow, so data-generation workers can use it.
"""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside `path` for a writer that takes a path (`Vocab.write`,
    `savefig`); it is renamed to `path` when the block ends normally and removed on an error.
    `suffix` keeps an extension the writer needs (e.g. ".png")."""
    tmp = f"{path}.tmp-{os.getpid()}{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
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
    removes the temporary file.

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
            self.file.close()
            os.remove(self.tmp_path)
        return False
