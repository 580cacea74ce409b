"""Writing files so that readers never see half of one: temporary name, then rename.

Free of TensorFlow, so data-generation workers can use it.
"""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path to write; renames it to `path` when the block succeeds, removes
    it when it fails. `suffix` keeps an extension writers need (e.g. ".png")."""
    tmp = f"{path}.tmp-{os.getpid()}{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path, text):
    """Writes `text` to `path` through `path.tmp-<pid>` and an atomic rename."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def write_json_atomic(path, values):
    """Writes `values` as indented, key-sorted JSON, atomically."""
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
