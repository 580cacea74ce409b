"""User errors, and the one entry point every binary runs its `main` through.

A user-caused failure (a bad flag value, a path of the wrong kind, an unreadable, non-text,
non-TFRecord or damaged file) ends as ONE line `error: ...` on stderr naming the flag or file,
exit status 1, no traceback; an output folder the run itself created is removed unless it already
holds work worth keeping (a checkpoint, a data manifest). Everything else is a bug and keeps its
traceback. An interruption (Ctrl-C, SIGTERM) ends with one line too and exit status 128 + the
signal number; training jobs save a checkpoint first (`PreemptionGuard`).

Free of TensorFlow at import time, so data-generation workers can use it.
"""

import os
import signal
import sys

from absl import flags

from hbert_tf import console, files

# Files that make an output folder worth keeping after a failure: a TensorFlow checkpoint index
# or a Keras backup (resume points), the manifest of a pre-training data folder (generation
# resumes from it), results written as a run goes (probing.json) or when it ended (metrics.json).
_WORK_FILES = (
    "checkpoint", "training_metadata.json", "manifest.json", "probing.json", "metrics.json",
    "result.json",  # a finished study unit
)  # fmt: skip


class UserError(ValueError):
    """A failure the user can fix; its message names the flag or file and what was expected."""


class DataError(UserError):
    """Bad input data, vocabulary, flag or output folder of the data tools (same handling)."""


class FolderInUse(UserError):
    """Another live process holds the run folder's lock (`run_lock`): the folder is not this
    run's, so nothing in it is removed."""


class Interrupted(UserError):
    """The job was stopped by a signal after saving its state; `exit_code` is 128 + signal."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + int(signum)


def user_error_types():
    """Exception types reported as one line: ValueError (UserError and the library's checks),
    OSError (paths) and TensorFlow's file errors (when TensorFlow is loaded)."""
    types = [ValueError, OSError]
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "errors"):
        types += [
            tf.errors.DataLossError,
            tf.errors.NotFoundError,
            tf.errors.PermissionDeniedError,
            tf.errors.AlreadyExistsError,
        ]
    return tuple(types)


_OS_EXPECTED = {
    IsADirectoryError: "is a folder; expected a file",
    NotADirectoryError: "a part of this path is a file; expected a folder",
    FileExistsError: "exists and is not a folder; expected a folder (or a new path)",
    FileNotFoundError: "no such file or folder (or its parent folder is missing)",
    PermissionError: "permission denied; expected a readable (or writable) location",
}


def _flag_naming(path):
    """`path`, named by the flag whose value it is (or lies under): '--name=value[: path]'."""
    path = os.path.normpath(str(path))
    for name in flags.FLAGS:
        value = flags.FLAGS[name].value
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, str) and v and "*" not in v:
                v_norm = os.path.normpath(v)
                if path == v_norm:
                    return f"--{name}={v}"
                if path.startswith(v_norm.rstrip(os.sep) + os.sep):
                    return f"--{name}={v}: {path}"
    return str(path)


def describe(error):
    """One line for a user error: the file (and its flag) and what was expected."""
    if isinstance(error, OSError) and error.filename is not None:
        expected = next(
            (text for kind, text in _OS_EXPECTED.items() if isinstance(error, kind)),
            error.strerror or str(error),
        )
        return f"{_flag_naming(error.filename)}: {expected}"
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return " ".join(message.split())  # one line, whatever TensorFlow put in it


def holds_work(path):
    """True when `path` (a folder) holds one of `_WORK_FILES` (a resume point or results)."""
    for _, _, names in files.walk(path):
        if any(name in names for name in _WORK_FILES):
            return True
    return False


def _remove_new_outputs(paths):
    for path in paths:
        if files.isdir(path) and not holds_work(path):
            files.rmtree(path, ignore_errors=True)
        elif files.isfile(path):
            files.remove(path)


def main_entry(main, outputs=(), lock=None):
    """Wraps an absl `main(argv)` so that user errors become one line and exit status 1, and
    only the run's own lines reach the terminal unless --verbosity is given (`console`).

    Args:
        main: callable(argv).
        outputs: names of flags giving output folders or files. One that did not exist before the
            run and holds no work (see `holds_work`) is removed when the run fails.
        lock: name of the flag giving the run folder, or None. Its lock (`run_lock`) is held
            while `main` runs and its outputs are cleaned up, so two runs never share a folder;
            not taken when `--dry_run` is set (a dry run writes nothing).

    Returns: callable(argv) for `absl.app.run`.
    """

    def wrapped(argv):
        from hbert_tf.run_lock import run_folder_lock

        console.quiet_logging()  # absl INFO lines only with --verbosity
        folder = flags.FLAGS[lock].value if lock else None
        if "dry_run" in flags.FLAGS and flags.FLAGS.dry_run:
            folder = None
        try:
            with run_folder_lock(folder, lock):
                return _run_main(main, argv, outputs)
        except FolderInUse as e:  # another run's folder: leave it alone
            _fail(describe(e), 1, [])
        except user_error_types() as e:  # the lock file cannot be made there
            _fail(describe(e), 1, [])

    return wrapped


def _run_main(main, argv, outputs):
    """`main(argv)`, with user errors as one line and the new `outputs` removed on a failure."""
    new = []
    for name in outputs:
        value = flags.FLAGS[name].value
        if value and not (
            files.exists(value) if files.is_remote(value) else os.path.lexists(value)
        ):
            new.append(value)
    try:
        return main(argv)
    except Interrupted as e:
        _fail(describe(e), e.exit_code, [])
    except KeyboardInterrupt:
        _fail("interrupted (Ctrl-C); rerun the same command to resume (or start again)", 130, new)
    except user_error_types() as e:
        _fail(describe(e), 1, new)
    except SystemExit as e:
        if e.code not in (0, None):
            _remove_new_outputs(new)
        raise


def _fail(message, code, new_outputs):
    _remove_new_outputs(new_outputs)
    message = message if message.startswith("error: ") else f"error: {message}"
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


def check_output_file(path, flag):
    """Raises UserError unless `path` can be written as a file: not a folder, parent exists and
    is writable (a remote path: not a folder; its store says the rest when it is written)."""
    if files.isdir(path):
        raise UserError(f"--{flag}={path}: is a folder; expected a file path")
    if files.is_remote(path):
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not files.isdir(parent):
        raise UserError(f"--{flag}={path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"--{flag}={path}: cannot write in {parent}")


def check_output_dir(path, flag):
    """Raises UserError unless `path` is a folder or can be created as one (tried, then undone;
    a remote path: created, as object stores have no empty folders to undo)."""
    if files.exists(path) and not files.isdir(path):
        raise UserError(f"--{flag}={path}: is a file; expected a folder")
    if files.is_remote(path):
        try:
            files.makedirs(path)
        except OSError as e:
            raise UserError(f"--{flag}={path}: cannot create it ({e.strerror})") from None
        return
    ancestor = os.path.abspath(path)
    while not files.exists(ancestor):
        top, ancestor = ancestor, os.path.dirname(ancestor)
    if not files.isdir(ancestor):
        raise UserError(f"--{flag}={path}: {ancestor} is a file; expected a folder")
    if not os.access(ancestor, os.W_OK):
        raise UserError(f"--{flag}={path}: cannot write in {ancestor}")
    if ancestor != os.path.abspath(path):
        try:
            files.makedirs(path)  # another worker may be creating it too
        except OSError as e:
            raise UserError(
                f"--{flag}={path}: cannot create it in {ancestor} ({e.strerror})"
            ) from None
        # Undone by removing empty folders only, up to `top`: whatever another process of the
        # same run (the other workers) wrote there meanwhile stays.
        folder = os.path.abspath(path)
        while True:
            try:
                os.rmdir(folder)
            except OSError:
                break
            if folder == top:
                break
            folder = os.path.dirname(folder)


def check_input_file(path, flag):
    """Raises UserError unless `path` is a readable file."""
    if files.isdir(path):
        raise UserError(f"--{flag}={path}: is a folder; expected a file")
    if not files.isfile(path):
        raise UserError(f"--{flag}={path}: no such file")
    if files.is_remote(path):
        return
    if not os.access(path, os.R_OK):
        raise UserError(f"--{flag}={path}: not readable")


class PreemptionGuard:
    """Turns SIGTERM and SIGINT into a flag the training loop checks between steps.

    Inside `with PreemptionGuard() as guard:`, `guard.signum` is the first signal received (or
    None); a second signal stops at once (KeyboardInterrupt). Handlers are restored on exit.
    Only the main thread may install handlers; elsewhere the guard does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum = None
        self._previous = {}

    def _handle(self, signum, frame):
        del frame
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        try:
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread
            self._previous = {}
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False

    @property
    def name(self):
        return signal.Signals(self.signum).name if self.signum is not None else None
