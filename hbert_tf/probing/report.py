"""Probing results as Table 4 (`format_table`) and as a bar chart (`plot_results`)."""

import numpy as np

from hbert_tf.files import AtomicFile
from hbert_tf.probing.senteval_format import TASK_CODES, TASKS


def row_label(record):
    """A table row: the model, its variant and head layout, the probed layer and the pooling."""
    return f"{record['model']} [{record['variant']}] {record['layer']} {record['pooling']}"


def format_table(records):
    """Table 4's layout: a row per model (and layer/pooling), a column per task, accuracy in %.

    The last row is chance (majority class of te), so each column can be read against it.
    """
    codes = [t.code for t in TASKS if any(r["task"] == t.name for r in records)]
    rows, cells, chance = [], {}, {}
    for r in records:
        label = row_label(r)
        if label not in rows:
            rows.append(label)
        cells[label, TASK_CODES[r["task"]]] = f"{100 * r['accuracy']:.1f}"
        chance[TASK_CODES[r["task"]]] = f"{100 * r['chance']:.1f}"
    width = max([len(row) for row in rows] + [len("Models")])
    lines = ["Models".ljust(width) + "".join(f"{code:>7}" for code in codes)]
    for row in rows:
        lines.append(row.ljust(width) + "".join(f"{cells.get((row, c), '-'):>7}" for c in codes))
    lines.append("chance".ljust(width) + "".join(f"{chance[c]:>7}" for c in codes))
    return "\n".join(lines)


def plot_results(path, records, title="Probing accuracy"):
    """Grouped bar chart (a bar per model/layer row, a group per task, chance marked); PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    codes = [t.code for t in TASKS if any(r["task"] == t.name for r in records)]
    rows = list(dict.fromkeys(row_label(r) for r in records))
    values = {(row_label(r), TASK_CODES[r["task"]]): 100 * r["accuracy"] for r in records}
    chance = {TASK_CODES[r["task"]]: 100 * r["chance"] for r in records}
    fig = Figure(figsize=(max(6.0, 1.1 * len(codes) * max(1, len(rows)) ** 0.5 + 3), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    x = np.arange(len(codes))
    for i, row in enumerate(rows):
        heights = [values.get((row, c), np.nan) for c in codes]
        ax.bar(x - 0.4 + width * (i + 0.5), heights, width, label=row)
    ax.hlines(
        [chance[c] for c in codes], x - 0.45, x + 0.45, colors="black", linestyles="dashed",
        label="chance",
    )  # fmt: skip
    ax.set_xticks(x, codes)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy on te (%)")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1)
    fig.tight_layout()
    with AtomicFile(path) as out:
        fig.savefig(out.file, format="png", dpi=120, bbox_inches="tight")
        out.commit()
