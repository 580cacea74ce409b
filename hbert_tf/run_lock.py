"""One run per folder: a lock file beside the run folder, held while a binary writes into it.

Every binary takes it through `errors.main_entry(main, outputs, lock="model_dir")`.
`with run_folder_lock(model_dir, "model_dir"):` holds `<model_dir>.lock` (an advisory `flock`)
for the block. A second process given the same folder fails at once with `FolderInUse`, whose
one line names the process holding it (pid, host, start time, command). The lock file is beside
the folder, not in it, so it never becomes part of a run or an export, and it is removed when the
block ends.

Stale locks: the kernel drops a `flock` when its process dies, however it dies (SIGKILL, a
crash, a reboot). A lock file left behind by a dead process therefore no longer holds the lock;
the next run takes it over and logs whose it was.

Workers of one multi-worker run (TF_CONFIG) share the folder: each task holds its own lock
(`<folder>.lock` for the chief, `<folder>.<type>-<index>.lock` for the others), so a second
run's chief still finds the first run's. Remote paths (`gs://...`) are not locked.

Free of TensorFlow.
"""

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys

from absl import logging

from hbert_tf.errors import FolderInUse, UserError


def lock_path(folder):
    """The lock file of `folder`: beside it, named after it and this process's TF_CONFIG task."""
    folder = os.path.abspath(folder).rstrip(os.sep)
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind is None or kind == "chief" or (kind == "worker" and index == 0):
        return f"{folder}.lock"
    return f"{folder}.{kind}-{index}.lock"


def _holder(fd):
    """The JSON the holding process wrote into the lock file (empty while it is writing it)."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        return json.loads(os.read(fd, 65536).decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError):
        return {}


def _describe(holder, path):
    if not holder.get("pid"):
        return f"in use by another process (lock file {path})"
    return (
        f"in use by process {holder['pid']} on {holder.get('host', '?')} (since "
        f"{holder.get('started', '?')}: {holder.get('command', '?')}); wait for it to end or stop "
        f"it, or choose another folder (lock file {path})"
    )


def _acquire(path, flag, folder):
    """An open file descriptor of `path` holding its lock; FolderInUse if another process holds
    it. Retries when the file was replaced between open and lock (its holder just removed it)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderInUse(f"--{flag}={folder}: {_describe(holder, path)}") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def run_folder_lock(folder, flag):
    """Holds the lock of run folder `folder` (given by `--flag`) for the block.

    Missing parent folders are created for the lock file and removed again if still empty.

    Raises:
        FolderInUse: another live process holds it (one line naming that process).
    """
    if not folder or "://" in str(folder):
        yield
        return
    path = lock_path(folder)
    parent, created = os.path.dirname(path), []
    while not os.path.isdir(parent) and not os.path.lexists(parent):
        created.append(parent)
        parent = os.path.dirname(parent)
    try:
        for new in reversed(created):
            os.makedirs(new, exist_ok=True)
        fd = _acquire(path, flag, folder)
    except OSError as e:
        _remove_empty(created)
        raise UserError(
            f"--{flag}={folder}: cannot write its lock file {path} ({e.strerror}); expected a "
            "writable location"
        ) from None
    try:
        stale = _holder(fd)
        if stale.get("pid"):
            logging.warning(
                "%s: taking over the lock of process %s on %s, which has ended",
                folder, stale["pid"], stale.get("host", "?"),
            )  # fmt: skip
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        yield
    finally:
        os.remove(path)  # before closing: a process that opened it meanwhile retries
        os.close(fd)
        _remove_empty(created)


def _remove_empty(folders):
    """Removes `folders` (innermost first) while they are empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            break
