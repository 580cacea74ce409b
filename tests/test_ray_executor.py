"""The study's unit graph on Ray: dependencies, retries, a clear error, and a two-node cluster on
localhost where a unit's worker is killed in the middle (hbert_tf.ray_executor)."""

import dataclasses
import functools
import json
import os
import signal
import time

import pytest

from hbert_tf.ray_executor import UnitFailedError, check_graph, run_on_ray

ray = pytest.importorskip("ray")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Unit:
    key: str
    depends_on: tuple = ()
    num_cpus: float = 1
    num_gpus: float = 0


# data -> two pre-trainings -> selection -> fine-tuning, as the study's units depend on each other
GRAPH = (
    Unit("data"),
    Unit("pretrain_a", ("data",)),
    Unit("pretrain_b", ("data",)),
    Unit("select", ("pretrain_a", "pretrain_b")),
    Unit("finetune", ("select",)),
)


def toy_run_unit(folder, unit, kill=(), fail=(), seconds=0.0):
    """An idempotent unit: skips when its result exists, else checks that its dependencies'
    results exist, works, and writes `<key>.json` atomically. Every event goes to `<key>.log`.
    A unit in `kill` SIGKILLs its own worker on its first attempt (a marker file remembers it);
    a unit in `fail` always raises."""

    def log(event):
        with open(os.path.join(folder, f"{unit.key}.log"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "time": time.time(), "pid": os.getpid(),
                                "node": ray.get_runtime_context().get_node_id()}) + "\n")  # fmt: skip

    result = os.path.join(folder, f"{unit.key}.json")
    if os.path.exists(result):
        log("skipped")
        return
    log("started")
    missing = [k for k in unit.depends_on if not os.path.exists(os.path.join(folder, f"{k}.json"))]
    if missing:
        log(f"missing {missing}")
    if unit.key in fail:
        raise RuntimeError(f"{unit.key} is broken")
    time.sleep(seconds)
    marker = os.path.join(folder, f"{unit.key}.killed")
    if unit.key in kill and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies in the middle of the unit
    with open(result + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"key": unit.key}, f)
    os.replace(result + ".tmp", result)
    log("wrote")


def events(folder, key):
    path = os.path.join(folder, f"{key}.log")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def first(folder, key, event):
    return next(e["time"] for e in events(folder, key) if e["event"] == event)


def check_ran_once_in_order(folder):
    for unit in GRAPH:
        names = [e["event"] for e in events(folder, unit.key)]
        assert names.count("wrote") == 1, (unit.key, names)  # no result written twice
        assert not [n for n in names if n.startswith("missing")], (unit.key, names)
        for dependency in unit.depends_on:
            assert first(folder, dependency, "wrote") <= first(folder, unit.key, "started")


@pytest.fixture
def worker_path(monkeypatch):
    """Ray workers import this module (toy_run_unit) and the worktree's hbert_tf."""
    path = os.pathsep.join([ROOT, os.path.join(ROOT, "tests"), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)


def test_check_graph_orders_and_rejects_bad_graphs():
    ordered = [u.key for u in check_graph(GRAPH[::-1])]
    assert ordered.index("data") < ordered.index("pretrain_a") < ordered.index("select")
    assert ordered.index("select") < ordered.index("finetune")
    with pytest.raises(ValueError, match="'data' appears twice"):
        check_graph([Unit("data"), Unit("data")])
    with pytest.raises(ValueError, match="'a' depends on unknown unit 'b'"):
        check_graph([Unit("a", ("b",))])
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        check_graph([Unit("a", ("b",)), Unit("b", ("a",))])
    run_on_ray([], print, address="unused:1")  # nothing to run: returns without Ray
    assert not ray.is_initialized()


@pytest.mark.slow
def test_local_embedded_ray_respects_dependencies_then_skips_done_units(tmp_path, worker_path):
    folder = str(tmp_path)
    finished = []
    run_on_ray(GRAPH, functools.partial(toy_run_unit, folder), on_done=finished.append)
    assert not ray.is_initialized()  # the embedded Ray is shut down again
    check_ran_once_in_order(folder)
    assert sorted(finished) == sorted(u.key for u in GRAPH)
    assert finished.index("data") < finished.index("select") < finished.index("finetune")

    # A resumed graph: no task for the finished units; the rest start without waiting for them.
    os.remove(tmp_path / "finetune.json")
    finished = []
    run_unit = functools.partial(toy_run_unit, folder)
    run_on_ray(GRAPH, run_unit, on_done=finished.append, finished=[u.key for u in GRAPH[:4]])
    assert finished == ["finetune"]
    assert [e["event"] for e in events(folder, "data")] == ["started", "wrote"]  # no new task
    assert [e["event"] for e in events(folder, "finetune")][-2:] == ["started", "wrote"]

    # A failing unit: retried, then one error naming it; the units after it never start.
    for unit in GRAPH:
        os.remove(tmp_path / f"{unit.key}.json")
    run_unit = functools.partial(toy_run_unit, folder, fail=("pretrain_b",))
    with pytest.raises(UnitFailedError, match="unit 'pretrain_b' failed after 2 attempt.*broken"):
        run_on_ray(GRAPH, run_unit, max_retries=1)
    attempts = [e for e in events(folder, "pretrain_b") if e["event"] == "started"]
    assert len(attempts) == 3  # the first run, then the failing run's two attempts
    assert [e["event"] for e in events(folder, "select")] == ["started", "wrote"]  # first run only

    # A unit asking for a GPU this machine's Ray lacks is refused, instead of waiting forever.
    with pytest.raises(ValueError, match="unit 'gpu' asks for 64 GPU.* local Ray has"):
        run_on_ray([Unit("gpu", num_gpus=64)], run_unit)
    assert not ray.is_initialized()


@pytest.mark.slow
def test_two_node_cluster_survives_a_killed_worker(tmp_path, worker_path):
    """A Ray head and one more node on localhost (one CPU each); the two pre-trainings run on
    both nodes at once; `pretrain_b` kills its own worker once. The graph completes, the killed
    unit ran again, and every result was written exactly once."""
    from ray.cluster_utils import Cluster

    node = dict(num_cpus=1, object_store_memory=80 * 1024 * 1024, include_dashboard=False)
    cluster = Cluster(initialize_head=True, head_node_args=node)
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        folder = str(tmp_path)
        run_unit = functools.partial(toy_run_unit, folder, kill=("pretrain_b",), seconds=1.0)
        run_on_ray(GRAPH, run_unit, address=cluster.address)
        assert not ray.is_initialized()
    finally:
        cluster.shutdown()
    check_ran_once_in_order(folder)
    assert os.path.exists(tmp_path / "pretrain_b.killed")
    killed = [e for e in events(folder, "pretrain_b") if e["event"] == "started"]
    assert len(killed) == 2 and killed[0]["pid"] != killed[1]["pid"]  # retried in a new worker
    nodes = {e["node"] for unit in GRAPH for e in events(folder, unit.key)}
    assert len(nodes) == 2  # the units were spread over both nodes
