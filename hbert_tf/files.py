"""Writing files so that readers never see half of one: temporary name, then rename.

Free of TensorFlow, so data-generation workers can use it.
"""

import json
import os


def write_text_atomic(path, text):
    """Writes `text` (UTF-8, "\\n" line ends) to `path` through `path.tmp-<pid>` and an atomic rename."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path, values):
    """Writes `values` as indented, key-sorted JSON, atomically."""
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
