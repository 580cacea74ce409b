"""The study's report: Tables 1-4 beside the paper's values, layer selection, findings, plots.

`write_report(output_dir, records, study_name, selections)` turns the study's result records
(one JSON-able dict per measured result; see docs/study_report.md for the fields) into
`report.md`, `report.json`, `table1.csv` ... `table4.csv` (only the tables that have records) and
`plots/*.png`, every file written atomically, and returns the markdown.

A table holds the `selected` records only; its rows are `(model, pt_concat, ft_concat)` in the
paper's order, its column groups the pre-training corpora (the baselines that were not
pre-trained here, corpus None, sit in the first group as in the paper; the chance row in every
group). Each cell is ours (mean ± sample std over seeds), the 95% t-interval of that mean
(`hbert_tf.study.statistics`), the paper's value and the difference ours - paper, or "-" where
there is none (one seed has no std nor interval; the paper has no such cell).
"""

import csv
import dataclasses
import io
import math
import os
import re
from collections import Counter
from collections.abc import Callable

import numpy as np

from hbert_tf import files
from hbert_tf.files import AtomicFile, write_json_atomic, write_text_atomic
from hbert_tf.finetuning import tasks as downstream_tasks
from hbert_tf.probing.senteval_format import TASK_CODES, TASK_NAMES
from hbert_tf.study import paper_values, statistics
from hbert_tf.tasks import PRETRAINING_TASKS

QA_TASKS = ("squad1.1", "squad2.0")
STUDY_TASKS = downstream_tasks.STUDY_NAMES
TASKS = (*STUDY_TASKS, *TASK_NAMES, "pretrain")
KINDS = ("pretrain", "finetune", "probe")
CONCATS = ("none", "cls", "nsp")
# The paper's row order; models the paper does not have come after these, by name.
MODEL_NAMES = {
    "pretrained_bert": "Pre-trained BERT",
    "bert": "BERT",
    "lower_nsp": "Lower NSP",
    "lower_mask": "Lower Mask",
    "lower_nsp_freeze": "Lower NSP-Freeze",
    "without_nsp": "Without NSP",
    "bigram_shift": "Bigram Shift",
    **{t.study_model: t.study_label for t in PRETRAINING_TASKS if t.study_model},  # e.g. SOP
    "bilstm": "BiLSTM",
    "no_pretraining": "Without Pre-training",
    "chance": "chance",
}
TASK_LABELS = {
    **{name: task.titles[name] for task in downstream_tasks.TASKS for name in task.study_names},
    **TASK_CODES,
}
METRIC_LABELS = {
    **{m: label for task in downstream_tasks.TASKS for m, label in task.metric_labels.items()},
    "accuracy": "acc",
    "eval_loss": "eval loss",
}
# The metric a sweep plot and the findings read for each task.
PRIMARY_METRICS = {
    **{name: downstream_tasks.study_task(name).primary_metrics for name in STUDY_TASKS},
    **{task: ("accuracy",) for task in TASK_NAMES},
    "pretrain": ("eval_loss",),
}
WORD_ORDER_TASKS = ("tree_depth", "bigram_shift", "coordination_inversion")
NOT_PRETRAINED_HERE = ("pretrained_bert", "no_pretraining", "bilstm", "chance")
REQUIRED_KEYS = (
    "unit", "kind", "model", "corpus", "pt_concat", "ft_concat", "layer", "selected", "task",
    "seed", "metrics",
)  # fmt: skip


# === Records ======================================================================================


def check_records(records):
    """Raises ValueError naming the unit and the field of the first malformed record."""
    for i, r in enumerate(records):
        unit = r.get("unit", f"record {i}") if isinstance(r, dict) else f"record {i}"
        if not isinstance(r, dict):
            raise ValueError(f"{unit}: a record is a dict, got {type(r).__name__}")
        missing = [k for k in REQUIRED_KEYS if k not in r]
        if missing:
            raise ValueError(f"{unit}: record lacks {', '.join(missing)}")
        for key, allowed in (("kind", KINDS), ("task", TASKS), ("pt_concat", CONCATS),
                             ("ft_concat", CONCATS)):  # fmt: skip
            if r[key] not in allowed:
                raise ValueError(f"{unit}: {key}={r[key]!r}; expected one of {', '.join(allowed)}")
        if not isinstance(r["model"], str) or not r["model"]:
            raise ValueError(f"{unit}: model must be a name, got {r['model']!r}")
        if not isinstance(r["selected"], bool):
            raise ValueError(f"{unit}: selected must be true or false, got {r['selected']!r}")
        if not isinstance(r["seed"], int):
            raise ValueError(f"{unit}: seed must be an int, got {r['seed']!r}")
        if not isinstance(r["metrics"], dict):
            raise ValueError(f"{unit}: metrics must be a dict, got {r['metrics']!r}")
        for name, value in r["metrics"].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{unit}: metrics[{name!r}] = {value!r} is not a number")
        if r["layer"] is not None and not isinstance(r["layer"], int):
            raise ValueError(f"{unit}: layer must be an int or None, got {r['layer']!r}")
        curve = r.get("curve", [])
        if not isinstance(curve, list) or not all(
            isinstance(p, dict) and isinstance(p.get("step"), int) for p in curve
        ):
            raise ValueError(f"{unit}: curve must be a list of {{'step': int, ...}} points")


def _model_order(model):
    names = list(MODEL_NAMES)
    return (names.index(model), "") if model in names else (len(names) - 1, model)


def _row_order(row):
    model, pt_concat, ft_concat = row
    # chance last; models the paper lacks before it
    return (
        model == "chance",
        _model_order(model),
        CONCATS.index(pt_concat),
        CONCATS.index(ft_concat),
    )


def _corpus_order(corpora):
    """Distinct non-None corpora: the paper's ("squad", "wikitext") first, then by name."""
    known = [c for c in (paper_values.SQUAD, paper_values.WIKITEXT) if c in corpora]
    return known + sorted(c for c in set(corpora) if c is not None and c not in known)


# === Tables =======================================================================================


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One of the paper's tables: which selected records it holds and its columns.

    Attributes:
        name: str. "table1" ... "table4" (also the key into paper_values.TABLES).
        title: str. Markdown heading.
        columns: tuple of (task, metrics): a column per task, its cell "m1 / m2" for metrics.
        keep: callable record -> bool. Which selected records belong to the table.
        show_ft: bool. Whether the fine-tuning concatenation is a row field (Table 3).
    """

    name: str
    title: str
    columns: tuple
    keep: Callable
    show_ft: bool = False


def _task_tables():
    """A TableSpec per `report` table of the tasks the paper does not have (tasks may share one)."""
    names = {}
    for task in downstream_tasks.TASKS:
        if task.report is not None:
            names.setdefault(task.report, []).extend(task.study_names)
    return tuple(
        TableSpec(t.name, t.title, t.columns, lambda r, names=tuple(n): r["task"] in names)
        for t, n in names.items()
    )


SQUAD2_SPLIT = ("HasAns_f1", "NoAns_f1")  # SQuAD 2.0's F1 on answerable / unanswerable questions
TABLE_SPECS = (
    TableSpec(
        "table1",
        "Table 1: question answering, EM / F1 (concatenation in both pre-training and fine-tuning); "
        "SQuAD2.0 also F1 on answerable / unanswerable questions",
        (*((task, ("exact_match", "f1")) for task in QA_TASKS), ("squad2.0", SQUAD2_SPLIT)),
        lambda r: r["task"] in QA_TASKS and r["pt_concat"] == r["ft_concat"],
    ),
    TableSpec(
        "table2",
        "Table 2: MultiNLI accuracy, matched / mismatched",
        (("mnli", ("matched_accuracy",)), ("mnli", ("mismatched_accuracy",))),
        lambda r: r["task"] == "mnli",
    ),
    TableSpec(
        "table3",
        "Table 3: question answering, EM / F1, concatenation in pre-training (PT) x fine-tuning (FT)",
        tuple((task, ("exact_match", "f1")) for task in QA_TASKS),
        lambda r: r["task"] in QA_TASKS and r["model"] in ("bert", "lower_nsp", "chance"),
        show_ft=True,
    ),
    TableSpec(
        "table4",
        "Table 4: probing accuracy",
        tuple((task, ("accuracy",)) for task in TASK_NAMES),
        lambda r: r["kind"] == "probe",
    ),
    *_task_tables(),
)


def _placed_corpora(record, groups):
    """The column groups a record's values go in (see the module docstring)."""
    if record["corpus"] is not None:
        return [record["corpus"]]
    return list(groups) if record["model"] == "chance" else groups[:1]


def build_table(spec, records, paper_corpora=None):
    """One table as data, or None when no selected record belongs to it.

    Returns:
        dict with "name", "title", "show_ft", "columns" (list of {"corpus", "task", "metrics"}),
        "rows" (list of {"model", "pt_concat", "ft_concat", "cells"}), where cells[j] belongs to
        columns[j] and is a list, one per metric, of {"metric", "values", "seeds", "units",
        "mean", "std", "n", "ci_low", "ci_high", "paper", "diff"} (None where missing; std and
        the 95% interval need 2 seeds).
    """
    paper_corpora = paper_corpora or {}
    chosen = [r for r in records if r["selected"] and spec.keep(r)]
    if not chosen:
        return None
    groups = _corpus_order([r["corpus"] for r in chosen]) or [None]
    cells = {}  # (row, corpus, task) -> list of records
    for r in chosen:
        row = (r["model"], r["pt_concat"], r["ft_concat"])
        for corpus in _placed_corpora(r, groups):
            cells.setdefault((row, corpus, r["task"]), []).append(r)
    columns = [
        {"corpus": corpus, "task": task, "metrics": list(metrics)}
        for corpus in groups
        for task, metrics in spec.columns
        if any(
            c == corpus and t == task and any(m in r["metrics"] for r in found for m in metrics)
            for (_, c, t), found in cells.items()
        )
    ]
    rows = sorted({row for row, _, _ in cells}, key=_row_order)
    baselines = {
        (r["model"], r["pt_concat"], r["ft_concat"]) for r in chosen if r["corpus"] is None
    }
    table_rows = []
    for row in rows:
        row_cells = []
        for col in columns:
            found = cells.get((row, col["corpus"], col["task"]), [])
            # the paper's cell to compare with: a baseline's (corpus None) in the first group
            # only, as the paper prints it; none for chance
            compare = row[0] != "chance" and (row not in baselines or col["corpus"] == groups[0])
            paper_corpus = (
                None if row in baselines else paper_corpora.get(col["corpus"], col["corpus"])
            )
            row_cells.append(
                [
                    _cell(spec.name, row, col["task"], m, found, compare, paper_corpus)
                    for m in col["metrics"]
                ]  # fmt: skip
            )
        table_rows.append(
            {"model": row[0], "pt_concat": row[1], "ft_concat": row[2], "cells": row_cells}
        )
    return {
        "name": spec.name,
        "title": spec.title,
        "show_ft": spec.show_ft,
        "columns": columns,
        "rows": table_rows,
    }


def _cell(table, row, task, metric, records, compare, paper_corpus):
    """One metric of one table cell: our values over seeds and, if `compare`, the paper's."""
    model, pt_concat, ft_concat = row
    values, seeds, units = [], [], []
    for r in records:
        if metric not in r["metrics"]:
            continue
        if r["seed"] in seeds:
            other = units[seeds.index(r["seed"])]
            raise ValueError(
                f"{r['unit']} and {other}: two selected results for {table} cell {model} "
                f"{pt_concat}/{ft_concat} {r['corpus']} {task} with the same seed {r['seed']}"
            )
        values.append(float(r["metrics"][metric]))
        seeds.append(r["seed"])
        units.append(r["unit"])
    summary = statistics.summarize(values)
    mean = summary["mean"]
    paper = None
    if compare:
        paper = paper_values.paper_value(
            table, model, paper_corpus, pt_concat, ft_concat, task, metric
        )
    diff = mean - paper if mean is not None and paper is not None else None
    return {
        "metric": metric,
        "values": values,
        "seeds": seeds,
        "units": units,
        **summary,
        "paper": paper,
        "diff": diff,
    }


def _fmt(value, sign=False):
    if value is None:
        return "-"
    if sign and abs(value) < 0.05:  # no "-0.0"
        value = 0.0
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def _fmt_mean_std(summary, digits=1, exact=False):
    """ "mean ± std" ("mean ± -" for one seed; "mean" alone when `exact`); "-" without values."""
    if summary["mean"] is None:
        return "-"
    text = f"{summary['mean']:.{digits}f}"
    if exact:
        return text
    std = "-" if summary["std"] is None else f"{summary['std']:.{digits}f}"
    return f"{text} ± {std}"


def _fmt_interval(summary, digits=1):
    """ "[low, high]" (the 95% t-interval of the mean) or "-"."""
    if summary["ci_low"] is None:
        return "-"
    return f"[{summary['ci_low']:.{digits}f}, {summary['ci_high']:.{digits}f}]"


def _fmt_summary(summary, digits=1):
    """ "mean ± std [low, high]", with "-" for what one seed cannot give."""
    if summary["mean"] is None:
        return "-"
    interval = _fmt_interval(summary, digits)
    return f"{_fmt_mean_std(summary, digits)} {'[-]' if interval == '-' else interval}"


def _fmt_cell(cell, key, exact):
    if key == "ours":
        return _fmt_mean_std(cell, exact=exact)
    if key == "ci":
        return _fmt_interval(cell)
    return _fmt(cell[key], sign=key == "diff")


def _joined(cells, key, exact=False):
    """ "a / b" over a column's metrics; "-" when every part is missing. `exact`: the chance
    row, which depends on the evaluation data only (no spread over seeds)."""
    parts = [_fmt_cell(c, key, exact) for c in cells]
    return "-" if all(p == "-" for p in parts) else " / ".join(parts)


def _row_fields(table, row):
    fields = [MODEL_NAMES.get(row["model"], row["model"]), row["pt_concat"]]
    return fields + [row["ft_concat"]] if table["show_ft"] else fields


def _column_label(col):
    corpus = "-" if col["corpus"] is None else col["corpus"]
    metrics = " / ".join(METRIC_LABELS[m] for m in col["metrics"])
    return f"{corpus} {TASK_LABELS[col['task']]} {metrics}"


def format_table(table, paper=True):
    """Markdown: a row per (model, concat), four columns (ours as mean ± std, its 95% interval,
    the paper's value, Δ) per table column; ours and the interval only with `paper=False` (a
    short table for a terminal)."""
    keys = ("ours", "ci", "paper", "diff") if paper else ("ours", "ci")
    head = ["Model", "PT concat"] + (["FT concat"] if table["show_ft"] else [])
    for col in table["columns"]:
        head += [_column_label(col), "95% CI", "paper", "Δ"][: len(keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table["rows"]:
        fields = _row_fields(table, row)
        for cells in row["cells"]:
            fields += [_joined(cells, key, exact=row["model"] == "chance") for key in keys]
        lines.append("| " + " | ".join(fields) + " |")
    return "\n".join(lines)


def build_tables(records, paper_corpora=None):
    """The tables among Tables 1-4 that have selected records (see `build_table`)."""
    check_records(records)
    tables = (build_table(spec, records, paper_corpora) for spec in TABLE_SPECS)
    return [t for t in tables if t is not None]


CSV_FIELDS = ("mean", "std", "n", "ci_low", "ci_high", "paper", "diff")
PRETRAINING_CSV = "pretraining.csv"


def table_csv(table):
    """CSV text: model, pt_concat, ft_concat, then per column and metric: ours, std, n, ci_low,
    ci_high (the 95% t-interval), paper, diff (numbers; empty where missing)."""
    head = ["model", "pt_concat", "ft_concat"]
    for col in table["columns"]:
        for m in col["metrics"]:
            name = f"{col['corpus'] or '-'}/{col['task']}/{m}"
            head += [name] + [f"{name} {k}" for k in CSV_FIELDS[1:]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for row in table["rows"]:
        fields = [row["model"], row["pt_concat"], row["ft_concat"]]
        for cells in row["cells"]:
            for c in cells:
                fields += [
                    "" if c[k] is None else (c[k] if k == "n" else f"{c[k]:.4f}")
                    for k in CSV_FIELDS
                ]
        writer.writerow(fields)
    return out.getvalue()


# === Pre-training =================================================================================


def build_pretraining(records):
    """The selected pre-training runs as data, or None when there are none.

    Returns:
        dict with "metrics" (names: eval_loss first, then by name, so that a head's baseline,
        e.g. `nsp_majority_baseline`, sits beside its accuracy) and "rows", a list of
        {"model", "pt_concat", "corpus", "layer", "cells": {metric: `statistics.summarize`
        over seeds plus "values" and "seeds"}}.
    """
    runs = {}
    for r in records:
        if r["kind"] == "pretrain" and r["selected"]:
            key = (r["model"], r["pt_concat"], r["corpus"], r["layer"])
            runs.setdefault(key, []).append(r)
    if not runs:
        return None
    metrics = sorted({m for rs in runs.values() for r in rs for m in r["metrics"]},
                     key=lambda m: (m != "eval_loss", m))  # fmt: skip
    rows = []
    for key in sorted(runs, key=lambda k: (_row_order((k[0], k[1], "none")), str(k[2]))):
        cells = {}
        for m in metrics:
            found = [r for r in runs[key] if m in r["metrics"]]
            values = [float(r["metrics"][m]) for r in found]
            cells[m] = {**statistics.summarize(values), "values": values,
                        "seeds": [r["seed"] for r in found]}  # fmt: skip
        model, pt_concat, corpus, layer = key
        rows.append({"model": model, "pt_concat": pt_concat, "corpus": corpus, "layer": layer,
                     "cells": cells})  # fmt: skip
    return {"metrics": metrics, "rows": rows}


def format_pretraining(table):
    """Markdown of `build_pretraining`: each metric as mean ± std [95% interval] over seeds."""
    metrics = table["metrics"]
    lines = [
        "| Model | PT concat | corpus | layer | " + " | ".join(metrics) + " |",
        "|---|---|---|---|" + "---|" * len(metrics),
    ]
    for row in table["rows"]:
        cells = [_fmt_summary(row["cells"][m], digits=4) for m in metrics]
        lines.append(
            f"| {MODEL_NAMES.get(row['model'], row['model'])} | {row['pt_concat']} | "
            f"{row['corpus']} | {'-' if row['layer'] is None else row['layer']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def pretraining_csv(table):
    """CSV text: model, pt_concat, corpus, layer, then per metric: mean, std, n, ci_low, ci_high."""
    head = ["model", "pt_concat", "corpus", "layer"]
    for m in table["metrics"]:
        head += [m] + [f"{m} {k}" for k in CSV_FIELDS[1:5]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for row in table["rows"]:
        layer = "" if row["layer"] is None else row["layer"]
        fields = [row["model"], row["pt_concat"], row["corpus"] or "", layer]
        for m in table["metrics"]:
            cell = row["cells"][m]
            fields += ["" if cell[k] is None else (cell[k] if k == "n" else f"{cell[k]:.6f}")
                       for k in CSV_FIELDS[:5]]  # fmt: skip
        writer.writerow(fields)
    return out.getvalue()


# === Layer selection ==============================================================================


def format_selections(selections):
    """Markdown table: each sweep, its criterion, the score of every layer and the chosen one."""
    if not selections:
        return "No layer sweeps in this study."
    lines = [
        "| Model | corpus | PT concat | select by | score per layer | chosen |",
        "|---|---|---|---|---|---|",
    ]
    for s in selections:
        scores = sorted((int(layer), value) for layer, value in s["scores"].items())
        text = ", ".join(
            f"**{layer}: {_fmt_score(v)}**" if layer == s["chosen"] else f"{layer}: {_fmt_score(v)}"
            for layer, v in scores
        )
        lines.append(
            f"| {MODEL_NAMES.get(s['model'], s['model'])} | {s['corpus']} | {s['pt_concat']} | "
            f"{s['select_by']} | {text} | {s['chosen']} |"
        )
    return "\n".join(lines)


def _fmt_score(value):
    return "-" if value is None else f"{value:.4g}"


# === Findings =====================================================================================


def _by_seed(records, models, tasks):
    """{(model, corpus, pt_concat, ft_concat, task, metric): {seed: value}} of the selected
    records of `models` on `tasks` (QA: only rows with the same concatenation in PT and FT,
    Table 1)."""
    values = {}
    for r in records:
        if not r["selected"] or r["model"] not in models or r["task"] not in tasks:
            continue
        if r["task"] in QA_TASKS and r["pt_concat"] != r["ft_concat"]:
            continue
        for metric in PRIMARY_METRICS[r["task"]]:
            if metric in r["metrics"]:
                key = (r["model"], r["corpus"], r["pt_concat"], r["ft_concat"], r["task"], metric)
                values.setdefault(key, {})[r["seed"]] = float(r["metrics"][metric])
    return values


def _mean(by_seed):
    return float(np.mean(list(by_seed.values())))


def _cell_order(key):
    """Sort key of (model, corpus, pt_concat, ft_concat, task, metric): the tables' order."""
    model, corpus, pt_concat, ft_concat, task, metric = key
    return (
        (corpus != paper_values.SQUAD, corpus != paper_values.WIKITEXT, str(corpus)),
        TASKS.index(task),
        _row_order((model, pt_concat, ft_concat)),
        metric,
    )


def _paper_table(task):
    return "table1" if task in QA_TASKS else "table2" if task == "mnli" else "table4"


def _rival_cell(other, corpus, pt_concat, ft_concat):
    """(model, corpus, pt_concat, ft_concat) of `other`'s cell beside a pre-trained model's cell:
    the same, except for a model not pre-trained here, whose one row (corpus None, no
    concatenation) stands beside every corpus."""
    if other in NOT_PRETRAINED_HERE:
        return other, None, "none", "none"
    return other, corpus, pt_concat, ft_concat


def _paper_gap(model, other, corpus, pt_concat, ft_concat, task, metric):
    """The paper's model - other on one cell, or None."""
    table = _paper_table(task)
    a = paper_values.paper_value(table, model, corpus, pt_concat, ft_concat, task, metric)
    rival = _rival_cell(other, corpus, pt_concat, ft_concat)
    b = paper_values.paper_value(table, *rival, task, metric)
    return None if a is None or b is None else a - b


def _comparison(key, ours, theirs, threshold, claim, paper):
    """One paired comparison: the differences ours - theirs over their common seeds, their mean,
    95% interval and verdict against the claim `difference <claim> threshold`."""
    _, corpus, pt_concat, ft_concat, task, metric = key
    seeds, differences = statistics.paired_differences(ours, theirs)
    summary = statistics.summarize(differences)
    return {
        "corpus": corpus,
        "pt_concat": pt_concat,
        "ft_concat": ft_concat,
        "task": task,
        "metric": metric,
        "seeds": seeds,
        "differences": differences,
        "ours": summary["mean"],
        "std": summary["std"],
        "ci_low": summary["ci_low"],
        "ci_high": summary["ci_high"],
        "n": summary["n"],
        "paper": paper,
        "verdict": statistics.verdict(summary, threshold, claim),
    }


def _pair_comparisons(records, model, other, tasks, threshold, claim, paper_corpora):
    """Each cell where both `model` and `other` have selected results on common seeds (`other`'s
    cell: `_rival_cell`): the paired differences model - other and the verdict on
    `difference <claim> threshold`."""
    values = _by_seed(records, (model, other), tasks)
    comparisons = []
    for key in sorted(values, key=_cell_order):
        _, corpus, pt_concat, ft_concat, task, metric = key
        theirs = values.get((*_rival_cell(other, corpus, pt_concat, ft_concat), task, metric))
        if key[0] != model or theirs is None or not set(values[key]) & set(theirs):
            continue
        paper_corpus = paper_corpora.get(corpus, corpus)
        paper = _paper_gap(model, other, paper_corpus, pt_concat, ft_concat, task, metric)
        comparisons.append(_comparison(key, values[key], theirs, threshold, claim, paper))
    return comparisons


def paper_lower_nsp_shortfall():
    """The paper's largest F1 / accuracy gap BERT - Lower NSP over Tables 1 and 2 (points): how
    far below BERT the paper still calls Lower NSP "competitive"."""
    shortfalls = []
    for name in ("table1", "table2"):
        for (model, pt, ft), cells in paper_values.TABLES[name].items():
            for corpus, task in cells if model == "bert" else ():
                for metric in PRIMARY_METRICS[task]:
                    gap = _paper_gap("lower_nsp", "bert", corpus, pt, ft, task, metric)
                    if gap is not None:
                        shortfalls.append(-gap)
    return max(shortfalls)


def _word_order_comparisons(records, paper_corpora):
    """Bigram Shift against the best other model pre-trained on the same corpus (by the mean over
    seeds, over its concatenation modes), per word-order probing task, paired over seeds."""
    models = {r["model"] for r in records} - set(NOT_PRETRAINED_HERE)
    values = _by_seed(records, models, WORD_ORDER_TASKS)
    comparisons = []
    for key in sorted(values, key=_cell_order):
        model, corpus, pt_concat, ft_concat, task, metric = key
        if model != "bigram_shift" or corpus is None:
            continue
        others = {}  # model -> the key of its best concatenation mode
        for k, v in values.items():
            if k[0] != "bigram_shift" and k[1] == corpus and k[4] == task:
                if k[0] not in others or _mean(v) > _mean(values[others[k[0]]]):
                    others[k[0]] = k
        others = {m: k for m, k in others.items() if set(values[k]) & set(values[key])}
        if not others:
            continue
        best = max(others, key=lambda m: _mean(values[others[m]]))
        paper_corpus = paper_corpora.get(corpus, corpus)
        paper_own = paper_values.paper_value(
            "table4", "bigram_shift", paper_corpus, pt_concat, ft_concat, task, metric
        )
        paper_best = [
            v
            for (m, pt, ft) in paper_values.TABLE4
            if m in others
            and (v := paper_values.paper_value("table4", m, paper_corpus, pt, ft, task, metric))
            is not None
        ]
        paper = paper_own - max(paper_best) if paper_own is not None and paper_best else None
        comparison = _comparison(key, values[key], values[others[best]], 0.0, ">=", paper)
        comparisons.append({**comparison, "against": best})
    return comparisons


def compute_findings(records, paper_corpora=None):
    """The paper's claims, each checked on our selected records: pre-training helps (BERT against
    no pre-training, the claim the others rest on), then its four findings.

    Every comparison pairs the two models' runs seed by seed (same seed: model - other) and
    takes the 95% t-interval of the mean difference (`hbert_tf.study.statistics`).

    Returns:
        list of {"claim", "test", "verdict", "seeds", "comparisons"}: a comparison's verdict is
        "agrees" (its interval lies on the paper's side), "disagrees" (on the other side) or
        "inconclusive" (the interval straddles the claim's boundary); with one seed the point
        difference decides. The claim's verdict combines them (`statistics.combine`: also
        "mixed" and "not measured"). `seeds` is the most seeds any comparison has.
    """
    paper_corpora = paper_corpora or {}
    tol = paper_lower_nsp_shortfall()
    qa_nli = (*QA_TASKS, "mnli")
    claims = [
        (
            "Pre-training beats no pre-training on QA and NLI",
            "BERT - no pre-training > 0 (QA F1, MNLI accuracy; the interval excludes 0)",
            _pair_comparisons(records, "bert", "no_pretraining", qa_nli, 0.0, ">", paper_corpora),
        ),
        (
            "Lower NSP is close to BERT on QA and NLI",
            f"Lower NSP - BERT >= -{tol:.1f} (the paper's largest shortfall, Tables 1-2)",
            _pair_comparisons(records, "lower_nsp", "bert", qa_nli, -tol, ">=", paper_corpora),
        ),
        (
            "Lower Mask is worse than BERT on QA",
            "Lower Mask - BERT < 0 (F1)",
            _pair_comparisons(records, "lower_mask", "bert", QA_TASKS, 0.0, "<", paper_corpora),
        ),
        (
            "Without NSP is worse than BERT",
            "Without NSP - BERT < 0 (QA F1, MNLI accuracy)",
            _pair_comparisons(records, "without_nsp", "bert", qa_nli, 0.0, "<", paper_corpora),
        ),
        (
            "Bigram Shift is best on the word-order probes (TD, BS, CI)",
            "Bigram Shift - the best other model pre-trained on the same corpus >= 0",
            _word_order_comparisons(records, paper_corpora),
        ),
    ]
    return [
        {
            "claim": claim,
            "test": test,
            "verdict": statistics.combine([c["verdict"] for c in comparisons]),
            "seeds": max((c["n"] for c in comparisons), default=0),
            "comparisons": comparisons,
        }
        for claim, test, comparisons in claims
    ]


VERDICTS = ("agrees", "disagrees", "inconclusive")


def format_findings(findings):
    """Markdown: each claim with its verdict, then each comparison: the mean paired difference,
    its 95% interval, the number of seeds, its verdict and the paper's gap."""
    lines = []
    for f in findings:
        counts = Counter(c["verdict"] for c in f["comparisons"])
        detail = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
        basis = ""
        if f["comparisons"]:
            basis = (
                " (one seed: point differences, no interval)"
                if f["seeds"] < statistics.MIN_SEEDS
                else f" (paired over up to {f['seeds']} seeds, 95% t-intervals)"
            )
        lines.append(
            f"- **{f['claim']}** ({f['test']}): **{f['verdict']}**"
            + (f"; comparisons: {detail}{basis}." if f["comparisons"] else ".")
        )
        for c in f["comparisons"]:
            against = f" vs {MODEL_NAMES.get(c['against'], c['against'])}" if "against" in c else ""
            interval = "" if c["ci_low"] is None else f" {_fmt_interval(c)}"
            lines.append(
                f"  - {c['corpus']} {TASK_LABELS[c['task']]} {METRIC_LABELS[c['metric']]}, "
                f"PT {c['pt_concat']}{against}: {_fmt(c['ours'], sign=True)}{interval}, "
                f"{c['n']} seed{'s' * (c['n'] != 1)}: {c['verdict']} "
                f"(paper {_fmt(c['paper'], sign=True)}){' ✗' * (c['verdict'] == 'disagrees')}"
            )
    return "\n".join(lines)


# === Plots ========================================================================================


def _safe(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))


def _save(fig, path):
    with AtomicFile(path) as out:
        fig.savefig(out.file, format="png", dpi=110, bbox_inches="tight")
        out.commit()


def plot_sweeps(plot_dir, records, selections):
    """A PNG per sweep (model, pt_concat): primary metric against layer, a line per pre-training
    corpus and task (mean over seeds, std as error bars), the chosen layer marked. Returns paths."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    sweeps = {}
    for r in records:
        if r["layer"] is not None:
            sweeps.setdefault((r["model"], r["pt_concat"]), []).append(r)
    paths = []
    for (model, pt_concat), sweep in sorted(
        sweeps.items(), key=lambda kv: _row_order((*kv[0], "none"))
    ):
        lines = {}  # (axis, corpus, task, metric, ft_concat) -> {layer: [values]}
        for r in sweep:
            for metric in PRIMARY_METRICS[r["task"]]:
                if metric in r["metrics"]:
                    axis = "pretrain" if r["task"] == "pretrain" else "downstream"
                    key = (axis, r["corpus"], r["task"], metric, r["ft_concat"])
                    lines.setdefault(key, {}).setdefault(r["layer"], []).append(
                        float(r["metrics"][metric])
                    )
        if not lines:
            continue
        sweep_layers = sorted({r["layer"] for r in sweep})
        axes_names = [a for a in ("downstream", "pretrain") if any(k[0] == a for k in lines)]
        fig = Figure(figsize=(6.4 * len(axes_names), 4.8))
        axes = {a: fig.add_subplot(1, len(axes_names), i + 1) for i, a in enumerate(axes_names)}
        for (axis, corpus, task, metric, ft_concat), by_layer in sorted(lines.items(), key=str):
            layers = sorted(by_layer)
            stats = [statistics.summarize(by_layer[layer]) for layer in layers]
            label = f"{corpus} {TASK_LABELS.get(task, task)} {METRIC_LABELS[metric]}"
            if ft_concat != pt_concat and task in QA_TASKS:
                label += f" (FT {ft_concat})"
            axes[axis].errorbar(
                layers, [s["mean"] for s in stats], yerr=[s["std"] or 0.0 for s in stats],
                marker="o", capsize=3, label=label,
            )  # fmt: skip
        chosen = {s["corpus"]: s["chosen"] for s in selections
                  if s["model"] == model and s["pt_concat"] == pt_concat}  # fmt: skip
        if not chosen:
            chosen = {r["corpus"]: r["layer"] for r in sweep if r["selected"]}
        by_layer = {}  # chosen layer -> the corpora that chose it
        for corpus, layer in chosen.items():
            if layer is not None:
                by_layer.setdefault(layer, []).append(str(corpus))
        for axis, ax in axes.items():
            for layer, corpora in sorted(by_layer.items()):
                ax.axvline(layer, color="grey", linestyle=":", linewidth=1)
                ax.annotate(f"chosen ({', '.join(sorted(corpora))})", (layer, 1.0),
                            xycoords=("data", "axes fraction"), rotation=90, va="top",
                            ha="right", fontsize="x-small")  # fmt: skip
            ax.set_xlabel("layer k (0-based block)")
            ax.set_ylabel("%" if axis == "downstream" else "pre-training eval loss")
            # Every panel spans the whole sweep (downstream may hold the chosen layer only).
            ax.set_xticks(sweep_layers)
            ax.set_xlim(sweep_layers[0] - 0.5, sweep_layers[-1] + 0.5)
            ax.legend(fontsize="x-small")
        fig.suptitle(f"{MODEL_NAMES.get(model, model)} (PT concat {pt_concat}): layer sweep")
        path = os.path.join(plot_dir, f"sweep-{_safe(model)}-{_safe(pt_concat)}.png")
        _save(fig, path)
        paths.append(path)
    return paths


def curve_metrics(records):
    """The head metrics the curves of `records` have: each head's loss and accuracy (the
    bigram-shift head's balanced accuracy), in a fixed order."""
    found = {k for r in records for point in r.get("curve", ()) for k in point}
    return [m for m in CURVE_METRICS if m in found]


CURVE_METRICS = tuple(  # mlm_loss, mlm_accuracy, nsp_loss, ..., bigram_shift_balanced_accuracy
    metric
    for t in PRETRAINING_TASKS
    for metric in (f"{t.name}_loss", f"{t.name}_{'balanced_' * t.balanced}accuracy")
)


def plot_curves(plot_dir, records):
    """A PNG per pre-training corpus: held-out learning curves of the selected pre-training runs,
    a panel per head metric, a line per model (mean over seeds at each step). Returns paths."""
    import matplotlib
    from matplotlib.figure import Figure

    runs = [r for r in records if r["kind"] == "pretrain" and r["selected"] and r.get("curve")]
    colors = matplotlib.colormaps["tab10"].colors
    paths = []
    for corpus in _corpus_order([r["corpus"] for r in runs]):
        mine = [r for r in runs if r["corpus"] == corpus]
        metrics = curve_metrics(mine)
        if not metrics:
            continue
        columns = min(2, len(metrics))
        rows = math.ceil(len(metrics) / columns)
        fig = Figure(figsize=(6.0 * columns, 3.6 * rows))
        lines = {}  # (model, pt_concat, layer) -> the runs' curves
        for r in mine:
            lines.setdefault((r["model"], r["pt_concat"], r["layer"]), []).append(r["curve"])
        order = sorted(lines, key=lambda k: _row_order((k[0], k[1], "none")))
        for i, metric in enumerate(metrics):
            ax = fig.add_subplot(rows, columns, i + 1)
            for j, (model, pt_concat, layer) in enumerate(order):  # a model keeps its colour
                curves = lines[model, pt_concat, layer]
                by_step = {}
                for curve in curves:
                    for point in curve:
                        if metric in point:
                            by_step.setdefault(point["step"], []).append(point[metric])
                if not by_step:
                    continue
                steps = sorted(by_step)
                label = MODEL_NAMES.get(model, model) + (f" {pt_concat}" * (pt_concat != "none"))
                label += "" if layer is None else f" k{layer}"
                ax.plot(steps, [float(np.mean(by_step[s])) for s in steps], marker=".",
                        color=colors[j % len(colors)], label=f"{label} (n={len(curves)})")  # fmt: skip
            ax.set_xlabel("step")
            ax.set_ylabel(metric)
            ax.legend(fontsize="x-small")
        fig.suptitle(f"Held-out pre-training curves on {corpus} (mean over seeds)")
        path = os.path.join(plot_dir, f"curves-{_safe(corpus)}.png")
        _save(fig, path)
        paths.append(path)
    return paths


def plot_probing(plot_dir, table):
    """A PNG per column group of Table 4: grouped bars (a bar per row, a group per task, std as
    error bars), chance as dashed marks. Returns paths."""
    import matplotlib
    from matplotlib.figure import Figure

    paths = []
    groups = list(dict.fromkeys(col["corpus"] for col in table["columns"]))
    for corpus in groups:
        cols = [j for j, col in enumerate(table["columns"]) if col["corpus"] == corpus]
        codes = [TASK_CODES[table["columns"][j]["task"]] for j in cols]
        rows = [
            row
            for row in table["rows"]
            if any(row["cells"][j][0]["mean"] is not None for j in cols)
        ]
        bars = [row for row in rows if row["model"] != "chance"]
        chance = [row for row in rows if row["model"] == "chance"]
        fig = Figure(figsize=(min(16.0, max(6.4, 0.12 * len(codes) * len(bars) + 3)), 4.8))
        ax = fig.add_subplot()
        x = np.arange(len(codes))
        width = 0.8 / max(1, len(bars))
        colors = matplotlib.colormaps["tab20" if len(bars) > 10 else "tab10"].colors
        for i, row in enumerate(bars):
            cells = [row["cells"][j][0] for j in cols]
            ax.bar(
                x - 0.4 + width * (i + 0.5),
                [math.nan if c["mean"] is None else c["mean"] for c in cells],
                width,
                yerr=[c["std"] or 0.0 for c in cells],
                color=colors[i % len(colors)],
                label=f"{MODEL_NAMES.get(row['model'], row['model'])} ({row['pt_concat']})",
            )
        for row in chance:
            heights = [row["cells"][j][0]["mean"] for j in cols]
            ax.hlines([math.nan if h is None else h for h in heights], x - 0.45, x + 0.45,
                      colors="black", linestyles="dashed", label="chance")  # fmt: skip
        ax.set_xticks(x, codes)
        ax.set_ylim(0, 100)
        ax.set_ylabel("probing accuracy (%)")
        ax.set_title(f"Probing accuracy per model (pre-trained on {corpus or '-'})")
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
        path = os.path.join(plot_dir, f"probing-{_safe(corpus or 'baselines')}.png")
        _save(fig, path)
        paths.append(path)
    return paths


# === The report ===================================================================================


def write_report(output_dir, records, study_name, selections, paper_corpora=None):
    """Writes the study's report into `output_dir` and returns its markdown.

    Args:
        output_dir: str. Gets report.md, report.json, table1.csv ... table4.csv (the tables that
            have records; stale ones removed) and plots/*.png.
        records: list of result records (see docs/study_report.md).
        study_name: str.
        selections: list of {"model", "corpus", "pt_concat", "select_by", "scores": {layer:
            value}, "chosen": layer}, one per layer sweep.
        paper_corpora: dict our corpus name -> the paper's ("squad" / "wikitext") to compare
            with, for corpora named otherwise (e.g. {"builtin": "wikitext"}); default: none.

    Returns:
        str. The markdown of report.md.
    """
    check_records(records)
    paper_corpora = dict(paper_corpora or {})
    files.makedirs(os.path.join(output_dir, "plots"))
    tables = build_tables(records, paper_corpora)
    findings = compute_findings(records, paper_corpora)

    plot_dir = os.path.join(output_dir, "plots")
    plots = plot_sweeps(plot_dir, records, selections)
    plots += plot_curves(plot_dir, records)
    plots += [p for t in tables if t["name"] == "table4" for p in plot_probing(plot_dir, t)]
    for name in files.listdir(plot_dir):  # plots of an earlier report that this one does not have
        if name.endswith(".png") and os.path.join(plot_dir, name) not in plots:
            files.remove(os.path.join(plot_dir, name))

    written = {t["name"] for t in tables}
    for t in tables:
        write_text_atomic(os.path.join(output_dir, f"{t['name']}.csv"), table_csv(t))
    pretraining = build_pretraining(records)
    if pretraining:
        write_text_atomic(os.path.join(output_dir, PRETRAINING_CSV), pretraining_csv(pretraining))
        written.add(PRETRAINING_CSV[:-4])
    for name in [spec.name for spec in TABLE_SPECS] + [PRETRAINING_CSV[:-4]]:
        stale = os.path.join(output_dir, f"{name}.csv")
        if name not in written and files.exists(stale):
            files.remove(stale)

    seeds = sorted({r["seed"] for r in records if r["model"] != "chance"})
    note = statistics.seeds_note(seeds)
    mapped = ", ".join(f"{ours} vs the paper's {theirs}" for ours, theirs in paper_corpora.items())
    parts = [
        f"# Study report: {study_name}",
        f"{len(records)} results from {len({r['unit'] for r in records})} units; seeds "
        f"{', '.join(map(str, seeds)) or '-'}. Every table column comes in four: ours (mean ± "
        "sample std over seeds), the 95% t-interval of that mean over seeds, the paper's value, "
        'and Δ = ours - paper (of the mean); "-" where not measured, not in the paper, or not '
        "defined for one seed. The chance row depends on the evaluation data only (no seeds). "
        "Only the layer chosen for each sweep is in the tables; baselines not pre-trained here "
        "sit in the first column group."
        + (f" Corpora compared: {mapped}." if mapped else "")
        + (f" Note: {note}." if note else ""),
    ]
    for t in tables:
        parts += [f"## {t['title']}", format_table(t)]
    missing = [
        s.title.split(":")[0]
        for s in TABLE_SPECS
        if s.name not in written and s.name in paper_values.TABLES
    ]
    if missing:
        parts.append(f"Not measured in this study: {', '.join(missing)}.")
    if pretraining:
        parts += [
            "## Pre-training (the runs behind the tables)",
            "Held-out metrics after the last step, mean ± std [95% interval] over seeds, each "
            "head's baseline beside its accuracy: `nsp_majority_baseline` (the majority class of "
            "the held-out pairs), `mlm_unigram_baseline` (always the most frequent masked token "
            "of the held-out positions); `bigram_shift_balanced_accuracy` is the mean of the two "
            "classes' recalls.",
            format_pretraining(pretraining),
        ]
    parts += ["## Layer selection", format_selections(selections)]
    parts += ["## Findings", format_findings(findings)]
    if plots:
        parts += ["## Plots", "\n".join(f"![{os.path.basename(p)}](plots/{os.path.basename(p)})"
                                        for p in plots)]  # fmt: skip
    markdown = "\n\n".join(parts) + "\n"

    write_json_atomic(
        os.path.join(output_dir, "report.json"),
        {
            "study": study_name,
            "tables": {t["name"]: t for t in tables},
            "pretraining": pretraining,
            "selections": selections,
            "findings": findings,
            "paper_corpora": paper_corpora,
            "plots": [os.path.relpath(p, output_dir) for p in plots],
            "records": records,
        },
    )
    write_text_atomic(os.path.join(output_dir, "report.md"), markdown)
    return markdown
