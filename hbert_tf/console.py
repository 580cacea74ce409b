"""What the binaries print: their own progress lines, warnings and errors, and nothing else unless
`--verbosity` asks for more.

- `quiet_tensorflow_startup()`: on a machine without a GPU driver, TensorFlow's C++ start-up lines
  ("failed call to cuInit", oneDNN notes) stay off stderr (`TF_CPP_MIN_LOG_LEVEL=3` unless the
  user set it). `hbert_tf/__init__.py` calls it, so it runs before TensorFlow is imported.
- `quiet_logging()`: absl INFO lines (settings dumps, file names) and the INFO/WARNING lines of
  TensorFlow's Python logger are hidden unless `--verbosity` is given (`errors.main_entry`).
- `say(text)`: one progress line on stderr; inside `lines_to(path)` (a study unit) it goes to
  that file instead, with the unit's log records and warnings, so the study's terminal shows one
  line per unit.
- `Progress`: `done/total` lines with a rate and the time left, for long steps.

Free of TensorFlow at import time.
"""

import contextlib
import datetime
import logging as std_logging
import os
import sys
import time
import warnings

from absl import flags, logging

from hbert_tf import files

_GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd")  # CUDA, ROCm
_sink = None  # an open file while inside `lines_to`


def has_gpu_driver():
    """True when an NVIDIA (CUDA) or AMD (ROCm) driver is present and not hidden by
    CUDA_VISIBLE_DEVICES; TensorFlow's GPU start-up lines only matter then."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return any(os.path.exists(path) for path in _GPU_DRIVER_FILES)


def quiet_tensorflow_startup():
    """Hides TensorFlow's C++ INFO/WARNING/ERROR lines on a machine without a GPU driver (its
    start-up "failed call to cuInit" and oneDNN notes); errors still reach Python as
    exceptions. `TF_CPP_MIN_LOG_LEVEL` set by the user wins."""
    if not has_gpu_driver():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def quiet_logging():
    """Unless `--verbosity` was given: absl logs WARNING and above (absl's default is INFO), and
    TensorFlow's Python logger ERROR and above (its retracing notes are not the user's)."""
    if flags.FLAGS.is_parsed() and flags.FLAGS["verbosity"].present:
        return
    logging.set_verbosity(logging.WARNING)
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)


def say(text):
    """Prints one progress line on stderr, or into the file of the enclosing `lines_to`."""
    if _sink is not None:
        _sink.write(text + "\n")
        _sink.flush()
    else:
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def lines_to(path):
    """Inside the block, `say` lines, log records below ERROR and Python warnings are appended
    to `path` instead of the terminal (a study unit's log); errors still reach stderr too."""
    global _sink
    previous = _sink
    root = std_logging.getLogger()
    with files.open(path, "a") as f:
        handler = std_logging.StreamHandler(f)
        handler.setFormatter(std_logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        levels = {h: h.level for h in root.handlers}
        for h in root.handlers:
            h.setLevel(max(h.level, std_logging.ERROR))
        root.addHandler(handler)
        _sink = f
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _warning_to(f)
                yield
        finally:
            _sink = previous
            root.removeHandler(handler)
            for h, level in levels.items():
                h.setLevel(level)


def _warning_to(f):
    def show(message, category, filename, lineno, file=None, line=None):
        del file
        f.write(warnings.formatwarning(message, category, filename, lineno, line))
        f.flush()

    return show


def duration(seconds):
    """'0:01:05' for 65 seconds."""
    return str(datetime.timedelta(seconds=int(max(0.0, seconds))))


class Progress:
    """`what: done/total unit (pct%), rate unit/s, H:MM:SS left [details]` lines.

    The rate is measured from the first `update` on (the first step usually includes tracing),
    and for the first line from the start. `update` prints when `min_seconds` passed since the
    last line, and always at the end.

    Args:
        total: int, the amount of work (steps, bytes, sentences).
        what: str, the line's prefix.
        unit: str, the unit of `total`.
        done: int, the amount already done at the start (a resumed run).
        min_seconds: float, the least time between two lines.
        scale: (divisor, name) to show amounts in a larger unit, e.g. (2**20, "MiB").
    """

    def __init__(self, total, what, unit="steps", done=0, min_seconds=0.0, scale=None):
        self.total, self.what, self.unit = total, what, unit
        self.min_seconds, self.scale = min_seconds, scale or (1, unit)
        self.origin = (time.time(), done)  # the rate is measured from here
        self.updates, self.last_line = 0, None

    def line(self, done, details=""):
        """The progress line for `done` (printing nothing)."""
        since, base = self.origin
        rate = (done - base) / max(time.time() - since, 1e-9)
        left = duration((self.total - done) / rate) if rate > 0 else "?"
        divisor, unit = self.scale
        amount = f"{done}/{self.total}" if divisor == 1 else (
            f"{done / divisor:.1f}/{self.total / divisor:.1f}"
        )  # fmt: skip
        percent = 100.0 * done / max(self.total, 1)
        text = (f"{self.what}: {amount} {unit} ({percent:.0f}%), {rate / divisor:.2f} {unit}/s, "
                f"{left} left")  # fmt: skip
        return f"{text} {details}".rstrip()

    def update(self, done, details=""):
        """Prints the line for `done` when due (`say`); returns it, or None."""
        now = time.time()
        text = None
        if (
            self.last_line is None
            or now - self.last_line >= self.min_seconds
            or (done >= self.total)
        ):
            text = self.line(done, details)
            say(text)
            self.last_line = now
        if self.updates == 0:
            self.origin = (now, done)
        self.updates += 1
        return text
