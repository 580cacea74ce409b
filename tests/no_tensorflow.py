"""Runs a script as on a machine without TensorFlow: `python -m tests.no_tensorflow SCRIPT ARGS...`.

keras-hub imports TensorFlow whenever it is installed (and falls back cleanly when it is not), so
"no TensorFlow module loaded" cannot be checked on this machine; instead every import of
TensorFlow, tensorflow-text or tf_keras fails here as if they were not installed. A module that
needs one of them then stops the script with `ModuleNotFoundError: ... (blocked)`.
"""

import importlib.abc
import os
import runpy
import sys

BLOCKED = ("tensorflow", "tensorflow_text", "tf_keras")


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


def block_tensorflow():
    """From now on, importing TensorFlow (or tensorflow-text, tf_keras) fails in this process."""
    if any(m.split(".")[0] in BLOCKED for m in sys.modules):
        raise RuntimeError("TensorFlow is already imported in this process")
    sys.meta_path.insert(0, _NoTensorFlow())


if __name__ == "__main__":
    block_tensorflow()
    script, sys.argv = sys.argv[1], sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python SCRIPT` does
    runpy.run_path(script, run_name="__main__")
