"""Runs a study's units (in process, or on Ray), collects their records and writes the report.

Every unit runs in `<output_dir>/units/<key>/`: `unit.log` gets a `start` and a `done` line with
timestamps, `output.log` the unit's progress lines, log records and warnings (the terminal shows
one line per unit; `console.lines_to`), and `result.json` ({"key", "outputs", "records", "sweep", "seconds"}) is written
atomically, last; a unit whose result.json exists is skipped, so a killed study resumes with the
same command (pre-training and fine-tuning also resume from their checkpoints).
"""

import datetime
import os
import sys
import time

from hbert_tf import console, files
from hbert_tf.files import write_json_atomic

RESULT = "result.json"
UNIT_LOG = "unit.log"
UNIT_OUTPUT = "output.log"


def unit_dir(output_dir, key):
    return os.path.join(output_dir, "units", key)


def read_result(output_dir, key):
    """The unit's result dict, or None when it has not finished."""
    path = os.path.join(unit_dir(output_dir, key), RESULT)
    if not files.isfile(path):
        return None
    result = files.read_json(path)
    result["outputs"] = _map_paths(result["outputs"], lambda p: _absolute(p, output_dir))
    return result


def _map_paths(value, function):
    if isinstance(value, dict):
        return {k: _map_paths(v, function) for k, v in value.items()}
    return function(value) if isinstance(value, str) else value


def _relative(path, output_dir):
    """Paths inside the study folder are stored relative to it (the folder can move)."""
    root = files.abspath(output_dir).rstrip(os.sep) + os.sep
    absolute = files.abspath(path)
    return absolute[len(root) :] if absolute.startswith(root) else path


def _absolute(path, output_dir):
    return os.path.join(output_dir, path) if path.startswith("units" + os.sep) else path


def _log(run_dir, line):
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with files.open(os.path.join(run_dir, UNIT_LOG), "a") as f:
        f.write(f"{stamp} {line}\n")


def execute_unit(unit, output_dir, job):
    """Runs `job(unit, run_dir, inputs)` unless the unit's result exists; returns the result.

    Idempotent: a finished unit is read back, not rerun. The result is written atomically after
    the job returns, so a unit killed half-way reruns (resuming from its checkpoints).
    """
    done = read_result(output_dir, unit.key)
    if done is not None:
        return done
    run_dir = unit_dir(output_dir, unit.key)
    files.makedirs(run_dir)
    inputs = {}
    for role, key in unit.inputs:
        inputs[role] = read_result(output_dir, key)
        if inputs[role] is None:
            raise RuntimeError(f"{unit.key}: input {role} ({key}) has not finished")
    _log(run_dir, "start")
    start = time.time()
    try:
        with console.lines_to(os.path.join(run_dir, UNIT_OUTPUT)):
            outputs, records = job(unit, run_dir, inputs)
    except BaseException as e:  # the binary reports it; the log says which unit
        _log(run_dir, f"failed {type(e).__name__}: {' '.join(str(e).split())[:300]}")
        output = os.path.join(run_dir, UNIT_OUTPUT)
        print(f"unit {unit.key} failed (its output: {output})", file=sys.stderr, flush=True)
        raise
    finally:
        _clear_keras_session()
    result = {
        "key": unit.key,
        "kind": unit.kind,
        "outputs": _map_paths(outputs, lambda p: _relative(p, output_dir)),
        "records": records,
        "sweep": unit.sweep,
        "seconds": round(time.time() - start, 1),
    }
    write_json_atomic(os.path.join(run_dir, RESULT), result)
    _log(run_dir, f"done {result['seconds']} s")
    _write_hparams(run_dir, unit, records)
    return read_result(output_dir, unit.key)


def _clear_keras_session():
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


def _write_hparams(run_dir, unit, records):
    """TensorBoard HParams summaries of a finished unit (its settings and its results)."""
    from hbert_tf.study import hparams

    values = {"kind": unit.kind, "key": unit.key}
    values.update({k: ("none" if v is None else v) for k, v in unit.tags})
    metrics = {
        f"{r['task']}/{name}": value for r in records for name, value in r["metrics"].items()
    }
    hparams.write_unit_hparams(os.path.join(run_dir, "hparams"), values, metrics)


def topological(units):
    """Units ordered so that each comes after those it depends on (stable otherwise)."""
    by_key = {u.key: u for u in units}
    order, state = [], {}

    def visit(unit):
        if state.get(unit.key) == "done":
            return
        if state.get(unit.key) == "active":
            raise ValueError(f"dependency cycle at {unit.key}")
        state[unit.key] = "active"
        for key in unit.depends_on:
            if key not in by_key:
                raise ValueError(f"{unit.key} depends on an unknown unit {key}")
            visit(by_key[key])
        state[unit.key] = "done"
        order.append(unit)

    for unit in units:
        visit(unit)
    return order


def run_locally(units, run_unit, on_done=None):
    """Runs `run_unit(unit)` for every unit in process, in topological order.

    Same shape as `ray_executor.run_on_ray`: `on_done(unit, result)` after each unit.
    Returns: dict key -> result.
    """
    results = {}
    for unit in topological(units):
        results[unit.key] = run_unit(unit)
        if on_done is not None:
            on_done(unit, results[unit.key])
    return results


class Progress:
    """One `[done/total] unit: done in S s (elapsed)` line per unit. On a terminal, a
    `running` line shows while a unit runs and the `done` line replaces it."""

    def __init__(self, units, output_dir, out=print, terminal=None):
        self.total, self.out, self.start = len(units), out, time.time()
        self.done = sum(read_result(output_dir, u.key) is not None for u in units)
        self.terminal = sys.stdout.isatty() if terminal is None else terminal

    def elapsed(self):
        return console.duration(time.time() - self.start)

    def starting(self, unit):
        if self.terminal:
            text = f"[{self.done}/{self.total}] {unit.key}: running (elapsed {self.elapsed()})"
            print(text, end="\r", flush=True)

    def finished(self, unit, result):
        self.done += 1
        clear = "\x1b[K" if self.terminal else ""  # the rest of a longer running line
        self.out(f"{clear}[{self.done}/{self.total}] {unit.key}: done in {result['seconds']} s "
                 f"(elapsed {self.elapsed()})")  # fmt: skip


def _lost_outputs(result, output_dir):
    """The study-folder paths a finished unit recorded as outputs that are no longer there."""
    root = os.path.join(output_dir, "units")
    paths = []
    _map_paths(result["outputs"], lambda p: paths.append(p) if p.startswith(root) else None)
    return [p for p in paths if not files.exists(p)]


def rerun_lost_outputs(units, output_dir):
    """Marks unfinished every finished unit whose output files are gone while a unit that will
    run still reads them (a study folder moved to another machine without its model dirs and
    data, to keep it small), so it runs again; the study is deterministic, so its numbers are the
    same. Runs over the units from the last to the first, so a rerun pre-training whose data is
    gone reruns the data unit too. Returns the keys marked, in that order.
    """
    by_key = {u.key: u for u in units}
    will_run = {u.key for u in units if read_result(output_dir, u.key) is None}
    marked = []
    for unit in reversed(topological(units)):
        if unit.key not in will_run:
            continue
        for key in unit.depends_on:
            result = read_result(output_dir, key)
            if result is not None and _lost_outputs(result, output_dir):
                files.remove(os.path.join(unit_dir(output_dir, key), RESULT))
                _log(unit_dir(output_dir, key), "outputs lost: runs again")
                will_run.add(by_key[key].key)
                marked.append(key)
    return marked


def describe(units, output_dir):
    """The --dry_run listing: every unit, its state and what it depends on."""
    lines = []
    done = 0
    for unit in topological(units):
        finished = read_result(output_dir, unit.key) is not None
        done += finished
        lines.append(f"{'done   ' if finished else 'pending'} {unit.key}")
        for key in unit.depends_on:
            lines.append(f"          <- {key}")
    lines.append(f"{len(units)} units: {done} done, {len(units) - done} pending")
    return "\n".join(lines)


def collect(units, output_dir):
    """(records, selections) from the finished units; sweep records get `selected` from their
    sweep's choice."""
    results = [read_result(output_dir, u.key) for u in topological(units)]
    results = [r for r in results if r is not None]
    chosen, selections = {}, []
    for result in results:
        if result["kind"] == "select":
            selection = result["outputs"]["selection"]
            selections.append(selection)
            group = f"{selection['model']}/{selection['corpus']}/{selection['pt_concat']}"
            chosen[group] = selection["chosen"]
    records = []
    for result in results:
        for record in result["records"]:
            record = dict(record)
            if result["sweep"] is not None:
                record["selected"] = chosen.get(result["sweep"]) == record["layer"]
            records.append(record)
    return records, selections


def run_study(study, units, output_dir, run_unit, ray_address=None, out=print):
    """Runs every unit (locally, or on the Ray cluster at `ray_address`), then writes
    records.json, selections.json and the report. Returns (records, selections)."""
    files.makedirs(output_dir)
    write_json_atomic(
        os.path.join(output_dir, "units.json"),
        [{"key": u.key, "kind": u.kind, "depends_on": list(u.depends_on)} for u in units],
    )
    for key in rerun_lost_outputs(units, output_dir):
        out(f"{key}: its outputs are gone and a pending unit reads them: it runs again")
    progress = Progress(units, output_dir, out)

    def on_done(unit, result):
        progress.finished(unit, result)

    if ray_address is not None:  # "" starts an embedded Ray; else joins the cluster there
        from hbert_tf import ray_executor

        by_key = {u.key: u for u in units}
        finished = [u.key for u in units if read_result(output_dir, u.key) is not None]

        def on_ray_done(key):
            on_done(by_key[key], read_result(output_dir, key))

        ray_executor.run_on_ray(
            units,
            run_unit,
            address=ray_address or None,
            on_done=on_ray_done,
            finished=finished,  # no task for them
        )
    else:
        for unit in topological(units):
            if read_result(output_dir, unit.key) is None:  # finished units are skipped
                progress.starting(unit)
                on_done(unit, run_unit(unit))
    records, selections = collect(units, output_dir)
    write_json_atomic(os.path.join(output_dir, "records.json"), records)
    write_json_atomic(os.path.join(output_dir, "selections.json"), selections)
    out(write_report(output_dir, records, study.name, selections, dict(study.compare_with)))
    return records, selections


def write_report(output_dir, records, study_name, selections, paper_corpora=None):
    """Writes the report (report.md, report.json, tables as CSV, plots; `hbert_tf.study.report`)
    and returns a short text for the terminal (a line per table row, without markdown's rule and
    blank lines): our numbers of each table, the layer choices and where the full report is."""
    from hbert_tf.study import report

    report.write_report(output_dir, records, study_name, selections, paper_corpora)
    lines = [f"# Study {study_name}"]
    for table in report.build_tables(records, paper_corpora):
        head, _, *rows = report.format_table(table, paper=False).split("\n")
        lines += [f"## {table['title']}", head, *rows]  # compact: no rule, no blank lines
    for s in selections:
        lines.append(f"{s['model']} on {s['corpus']} ({s['pt_concat']}): layer {s['chosen']} "
                     f"chosen by {s['select_by']} from {s['scores']}")  # fmt: skip
    lines.append(f"Full report, beside the paper's values: {os.path.join(output_dir, 'report.md')}")
    return "\n".join(lines) + "\n"
