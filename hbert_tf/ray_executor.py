"""Runs a graph of units (the study's data builds, pre-trainings, fine-tunings, ...) as Ray tasks.

Each unit becomes one Ray task with the unit's CPU and GPU request. A unit's task receives the
ObjectRefs of the units it depends on, so Ray starts it only once they have finished, on whichever
node of the cluster has the resources free. A task that raises, or whose worker or node dies, is
retried (`max_retries`); `run_unit` must be idempotent (skip a unit whose result exists, write
results atomically), so a retry never writes a result twice. Results are files under the study
folder, which every node must reach (a shared file system or a `tf.io.gfile` URL such as gs://);
the tasks return only the unit's key.

Why Ray: tasks with dependencies, per-task CPU/GPU requests, retries of lost workers and nodes,
and a local embedded mode that needs no server are all built in; `ray start` on each machine makes
a cluster (see BUILD_NOTES.md, "The study on a Ray cluster").
"""

import importlib
import logging as std_logging
import signal
import socket
import threading

from absl import logging

from hbert_tf.errors import Interrupted, UserError

# Embedded Ray: results are files, tasks return only keys, so a small object store is plenty.
_OBJECT_STORE_BYTES = 256 * 1024 * 1024
# Seconds to wait for a cluster's address to answer (the binaries' --ray_connect_timeout).
CONNECT_TIMEOUT_S = 10.0


def check_reachable(address, timeout_s=CONNECT_TIMEOUT_S, flag="ray_address"):
    """Raises UserError, within `timeout_s`, unless something answers at a Ray cluster address
    "host:port" or "ray://host:port" (a TCP connection to its port). Ray's own connect retries
    for minutes, outside Python, where neither a timeout nor SIGTERM reaches it. "auto", "local",
    "" and None are not checked (Ray finds or starts the cluster itself and fails fast)."""
    if not address or address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--{flag}={address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise UserError(
            f"--{flag}={address}: no Ray cluster answers there ({reason}, within "
            f"{timeout_s:g} s); start one with `ray start --head --port={port}` on {host}, or "
            "check the address"
        ) from None


class UnitFailedError(RuntimeError):
    """A unit's task failed (raised, or lost its worker or node) on every attempt.

    `key` names the unit; `cause` is the exception the unit raised (unwrapped from Ray's), or
    Ray's own error when the worker or node was lost.
    """

    def __init__(self, key, attempts, cause):
        super().__init__(
            f"unit {key!r} failed after {attempts} attempt(s): {type(cause).__name__}: {cause}"
        )
        self.key = key
        self.cause = cause


def check_graph(units):
    """Returns the units in an order where every unit comes after the units it depends on.

    Raises ValueError for a repeated key, a dependency on an unknown key, or a cycle.
    """
    by_key = {}
    for unit in units:
        if unit.key in by_key:
            raise ValueError(f"unit key {unit.key!r} appears twice")
        by_key[unit.key] = unit
    for unit in units:
        for key in unit.depends_on:
            if key not in by_key:
                raise ValueError(f"unit {unit.key!r} depends on unknown unit {key!r}")
    ordered, state = [], {}  # state: 1 = being visited, 2 = placed

    def visit(key, path):
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise ValueError(f"units depend on each other in a cycle: {' -> '.join(path + [key])}")
        state[key] = 1
        for dependency in by_key[key].depends_on:
            visit(dependency, path + [key])
        state[key] = 2
        ordered.append(by_key[key])

    for unit in units:
        visit(unit.key, [])
    return ordered


def check_resources(units, resources, local):
    """Refuses (local Ray) or warns about (a cluster, which may autoscale) a unit that asks for
    more CPUs or GPUs than `resources` (`ray.cluster_resources()`) hold: Ray would wait forever."""
    for unit in units:
        for name, need in (("CPU", unit.num_cpus), ("GPU", unit.num_gpus)):
            have = resources.get(name, 0)
            if need > have:
                message = (
                    f"unit {unit.key!r} asks for {need:g} {name}(s) but the "
                    f"{'local Ray' if local else 'Ray cluster'} has {have:g}"
                )
                if local:
                    raise ValueError(f"{message}; run it on a machine or cluster that has them")
                logging.warning("%s; it waits until the cluster grows", message)


def _run_after(run_unit, unit, *finished_dependencies):
    """The Ray task of one unit; its dependencies' keys arrive once they have finished."""
    del finished_dependencies  # only the ordering matters; results are files
    run_unit(unit)
    return unit.key


def call_by_name(module, function, *args):
    """Imports `module` and calls its `function(*args)`: a picklable handle on a function of a
    module that may run as `__main__` in the driver (`functools.partial(call_by_name, ...)`)."""
    return getattr(importlib.import_module(module), function)(*args)


def run_on_ray(units, run_unit, *, address=None, max_retries=3, on_done=None, finished=()):
    """Runs `run_unit(unit)` for every unit after the units it depends on, as Ray tasks.

    units: sequence of objects with attributes key (str, unique), depends_on (tuple of keys),
           num_cpus (float), num_gpus (float). run_unit: a picklable callable (a top-level function
           or functools.partial of one) that is idempotent: it skips a unit whose result exists and
           writes its result atomically, so a retried unit never writes a result twice.
    address: None = start a local embedded Ray (ray.init with no server to start), or a cluster
           address ("auto", "ray://host:port", "host:port"). on_done(key) is called in the driver as
           each unit finishes (for progress). finished: keys of units whose results exist already
           (a resumed study): no task is started for them, and the units that read them start
           at once. Raises a clear error naming the unit whose task failed after its retries.

    Ray already initialised in this process (by the caller, or inside a Ray task) is used as it is
    and left running; otherwise Ray is started or joined here and shut down at the end.
    """
    import ray

    finished = set(finished)
    ordered = [unit for unit in check_graph(units) if unit.key not in finished]
    if max_retries < 0:
        raise ValueError(f"max_retries={max_retries}: expected 0 or more")
    if not ordered:
        return  # nothing to run: no Ray to start
    started_here = not ray.is_initialized()
    # Ray's own INFO lines ("Started a local Ray instance") only with --verbosity, like ours.
    ray_logging = std_logging.INFO if logging.level_info() else std_logging.WARNING
    if started_here:
        if address is None:
            ray.init(
                address="local",  # never join a cluster found on this machine by accident
                include_dashboard=False,
                object_store_memory=_OBJECT_STORE_BYTES,
                logging_level=ray_logging,
            )
        else:
            check_reachable(address)
            try:
                ray.init(address=address, logging_level=ray_logging)
            except ConnectionError as e:
                raise ConnectionError(f"cannot join the Ray cluster at {address!r}: {e}") from None
    previous = _stop_on_sigterm()
    try:
        check_resources(ordered, ray.cluster_resources(), local=address is None and started_here)
        task = ray.remote(_run_after)
        refs = {}
        for unit in ordered:  # dependencies first, so their refs exist
            refs[unit.key] = task.options(
                name=unit.key,
                num_cpus=unit.num_cpus,
                num_gpus=unit.num_gpus,
                max_retries=max_retries,
                retry_exceptions=True,
            ).remote(run_unit, unit, *(refs[k] for k in unit.depends_on if k not in finished))
        # Waiting in dependency order: when a unit fails, its failure is seen before the same
        # error reaches the units that depend on it, so the error names the unit that failed.
        pending = [refs[unit.key] for unit in ordered]
        keys = {ref: unit.key for unit, ref in zip(ordered, pending)}
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    ray.get(ref)
                except Exception as e:  # RayTaskError, WorkerCrashedError, NodeDiedError, ...
                    for ref_left in pending:  # stop the rest; their units resume on a rerun
                        ray.cancel(ref_left)
                    cause = getattr(e, "cause", None) or e  # RayTaskError wraps the unit's error
                    raise UnitFailedError(keys[ref], max_retries + 1, cause) from e
                if on_done is not None:
                    on_done(keys[ref])
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if started_here:
            ray.shutdown()


def _stop_on_sigterm():
    """Makes SIGTERM stop the driver with one line (Ray's own handler exits without one);
    returns the handler it replaced (None outside the main thread, where none can be set)."""

    def stop(signum, frame):
        del frame
        raise Interrupted(
            "stopped by SIGTERM; the units that finished are kept: rerun the same command to "
            "resume",
            signum,
        )

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, stop)
