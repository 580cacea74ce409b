"""The study's report: the paper's values, tables beside them, seeds, findings, plots, HParams.

No training: synthetic records in the study's record format.
"""

import csv
import json
import os

import numpy as np
import pytest

from hbert_tf.study import paper_values, report
from hbert_tf.study.paper_values import paper_value

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def record(model, task, metrics, corpus="wikitext", pt="none", ft="none", seed=0, layer=None,
           selected=True):  # fmt: skip
    kind = (
        "probe" if task in report.TASK_CODES else "pretrain" if task == "pretrain" else "finetune"
    )
    return {
        "unit": f"{kind}-{model}-{corpus}-{pt}-{ft}-{task}-{layer}-{seed}",
        "kind": kind,
        "model": model,
        "corpus": corpus,
        "pt_concat": pt,
        "ft_concat": ft,
        "layer": layer,
        "selected": selected,
        "task": task,
        "seed": seed,
        "metrics": metrics,
    }


def qa(em, f1):
    return {"exact_match": em, "f1": f1}


def table_lines(markdown, title_start):
    """The header and body rows of the markdown table under the heading that starts with
    `title_start`, split in cells."""
    block = markdown.split(f"## {title_start}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_SIGNATURE and os.path.getsize(path) > 5000


# === The paper's values ===========================================================================


def test_paper_values_spot_checks_typed_from_the_paper():
    t1 = ("table1",)
    assert paper_value(*t1, "pretrained_bert", None, "none", "none", "squad1.1", "f1") == 85.4
    assert (
        paper_value(*t1, "lower_mask", "wikitext", "cls", "cls", "squad1.1", "exact_match") == 25.0
    )
    assert paper_value(*t1, "no_pretraining", None, "none", "none", "squad2.0", "f1") == 51.0
    assert paper_value(*t1, "bigram_shift", "wikitext", "none", "none", "squad2.0", "f1") == 48.4
    assert paper_value(*t1, "lower_nsp", "squad", "nsp", "nsp", "squad1.1", "f1") == 63.4
    assert paper_value(*t1, "without_nsp", "wikitext", "none", "none", "squad1.1", "f1") is None
    t2 = ("table2",)
    assert paper_value(*t2, "lower_nsp_freeze", "wikitext", "none", "none", "mnli",
                       "mismatched_accuracy") == 45.3  # fmt: skip
    assert paper_value(*t2, "lower_nsp", "wikitext", "cls", "none", "mnli",
                       "matched_accuracy") == 70.3  # fmt: skip
    assert paper_value(*t2, "lower_mask", "wikitext", "nsp", "none", "mnli",
                       "matched_accuracy") == 67.1  # fmt: skip
    assert paper_value(*t2, "bilstm", None, "none", "none", "mnli", "matched_accuracy") == 66.8
    t3 = ("table3",)
    assert paper_value(*t3, "bert", "squad", "none", "nsp", "squad2.0", "exact_match") == 56.5
    assert paper_value(*t3, "lower_nsp", "wikitext", "nsp", "none", "squad2.0", "f1") == 58.4
    t4 = ("table4",)
    assert paper_value(*t4, "bigram_shift", "wikitext", "none", "none", "bigram_shift",
                       "accuracy") == 70.3  # fmt: skip
    assert paper_value(*t4, "pretrained_bert", None, "none", "none", "word_content",
                       "accuracy") == 32.4  # fmt: skip
    assert paper_value(*t4, "lower_nsp_freeze", "wikitext", "none", "none", "sentence_length",
                       "accuracy") == 93.2  # fmt: skip
    assert paper_value(*t4, "lower_mask", "wikitext", "nsp", "none", "coordination_inversion",
                       "accuracy") == 51.7  # fmt: skip


def test_paper_tables_have_the_papers_rows_and_cells():
    t = paper_values.TABLES
    assert [len(t[name]) for name in ("table1", "table2", "table3", "table4")] == [15, 14, 12, 12]
    # Table 1: 15 rows x 4 EM/F1 cells, 8 printed "-" (WikiText-2 of the 4 rows without it)
    assert sum(len(cells) for cells in t["table1"].values()) == 15 * 4 - 8
    assert all(len(m) == 2 for cells in t["table1"].values() for m in cells.values())
    assert sum(len(cells) for cells in t["table2"].values()) == 14
    assert sum(len(cells) for cells in t["table3"].values()) == 12 * 4
    assert sum(len(cells) for cells in t["table4"].values()) == 12 * 10
    # model families per table, in the paper's row order
    assert list(dict.fromkeys(m for m, _, _ in t["table1"])) == [
        "pretrained_bert", "bert", "lower_nsp", "lower_mask", "lower_nsp_freeze", "without_nsp",
        "bigram_shift", "bilstm", "no_pretraining",
    ]  # fmt: skip
    assert {m for m, _, _ in t["table3"]} == {"bert", "lower_nsp"}
    assert "without_nsp" not in {m for m, _, _ in t["table2"]} | {m for m, _, _ in t["table4"]}
    # Table 1's rows use their concatenation in both pre-training and fine-tuning; the paper
    # prints those rows again in Table 3, with the same numbers
    assert all(pt == ft for _, pt, ft in t["table1"])
    shared = set(t["table1"]) & set(t["table3"])
    assert len(shared) == 6
    for row in shared:
        assert t["table1"][row] == t["table3"][row], row


# === Tables beside the paper ======================================================================


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory):
    """The report of the paper's own numbers as records: every difference is 0."""
    out = str(tmp_path_factory.mktemp("paper_report"))
    markdown = report.write_report(out, paper_values.as_records(), "paper", [])
    return out, markdown


def test_report_of_the_papers_values_matches_them_everywhere(paper_report):
    out, markdown = paper_report
    for name in ("table1", "table2", "table3", "table4"):
        assert os.path.exists(os.path.join(out, f"{name}.csv"))
    data = json.load(open(os.path.join(out, "report.json")))
    assert set(data["tables"]) == {"table1", "table2", "table3", "table4"}
    cells = [
        c
        for table in data["tables"].values()
        for row in table["rows"]
        for column in row["cells"]
        for c in column
        if c["mean"] is not None
    ]
    assert len(cells) == 2 * 52 + 2 * 14 + 2 * 48 + 120  # every number of Tables 1-4
    assert all(c["paper"] == c["mean"] and c["diff"] == 0.0 for c in cells)
    # the paper's layout: Table 1 starts with pre-trained BERT in the SQuAD group, "-" in
    # WikiText-2; every model's three concatenation rows follow each other
    rows = table_lines(markdown, "Table 1")
    assert rows[0][:3] == ["Model", "PT concat", "squad SQuAD1.1 EM / F1"]
    # one seed: no std, no interval ("-")
    assert rows[1][:6] == [
        "Pre-trained BERT", "none", "75.9 ± - / 85.4 ± -", "-", "75.9 / 85.4", "+0.0 / +0.0",
    ]  # fmt: skip
    assert rows[1][10:] == ["-"] * 8
    assert [r[:2] for r in rows[2:5]] == [["BERT", "none"], ["BERT", "cls"], ["BERT", "nsp"]]
    assert len(rows) == 1 + 15
    assert len(table_lines(markdown, "Table 3")) == 1 + 12
    t4 = table_lines(markdown, "Table 4")
    assert [h for h in t4[0] if h not in ("95% CI", "paper", "Δ")][2:] == [
        f"wikitext {code} acc"
        for code in ("SL", "WC", "TD", "BS", "TC", "T", "SN", "ON", "OM", "CI")
    ]
    assert is_png(os.path.join(out, "plots", "probing-wikitext.png"))
    written = os.listdir(out) + os.listdir(os.path.join(out, "plots"))
    assert not [name for name in written if ".tmp-" in name]  # temporary names renamed


def test_findings_of_the_papers_values_all_agree(paper_report):
    out, markdown = paper_report
    findings = json.load(open(os.path.join(out, "report.json")))["findings"]
    assert [f["verdict"] for f in findings] == ["agrees"] * 5  # pre-training helps, then 4
    # the Lower NSP tolerance is computed from the paper: WikiText-2, SQuAD1.1, [CLS] both
    assert report.paper_lower_nsp_shortfall() == pytest.approx(60.6 - 57.6)
    assert "**Lower Mask is worse than BERT on QA**" in markdown


def test_cells_show_ours_the_paper_and_the_difference_and_seeds_mean_std(tmp_path):
    records = [
        record("bert", "squad1.1", qa(40.0, 50.0), seed=1),
        record("bert", "squad1.1", qa(44.0, 54.0), seed=2),
        record("lower_nsp", "squad1.1", qa(30.0, 41.0), pt="cls", ft="cls"),
        record("lower_nsp", "squad1.1", qa(31.0, 42.0), pt="cls", ft="none"),  # Table 3 only
    ]
    markdown = report.write_report(str(tmp_path), records, "seeds", [])
    rows = {tuple(r[:2]): r[2:] for r in table_lines(markdown, "Table 1")[1:]}
    assert set(rows) == {("BERT", "none"), ("Lower NSP", "cls")}  # PT != FT: not in Table 1
    # mean ± sample std over the 2 seeds; the 95% t-interval 42 ± 12.706 * 2.828 / sqrt(2);
    # paper 48.1 / 60.5; difference of the means
    assert rows["BERT", "none"] == [
        "42.0 ± 2.8 / 52.0 ± 2.8", "[16.6, 67.4] / [26.6, 77.4]", "48.1 / 60.5", "-6.1 / -8.5",
    ]  # fmt: skip
    # one seed: no std, no interval
    assert rows["Lower NSP", "cls"] == ["30.0 ± - / 41.0 ± -", "-", "46.8 / 57.6", "-16.8 / -16.6"]
    short = report.format_table(report.build_tables(records)[0], paper=False).splitlines()
    assert short[0] == "| Model | PT concat | wikitext SQuAD1.1 EM / F1 | 95% CI |"
    assert short[2] == "| BERT | none | 42.0 ± 2.8 / 52.0 ± 2.8 | [16.6, 67.4] / [26.6, 77.4] |"
    t3 = {tuple(r[:3]): r[3:] for r in table_lines(markdown, "Table 3")[1:]}
    assert t3["Lower NSP", "cls", "none"] == [
        "31.0 ± - / 42.0 ± -", "-", "46.9 / 58.0", "-15.9 / -16.0",
    ]  # fmt: skip
    with open(tmp_path / "table1.csv") as f:
        bert = next(r for r in csv.DictReader(f) if r["model"] == "bert")
    assert float(bert["wikitext/squad1.1/f1"]) == 52.0
    assert float(bert["wikitext/squad1.1/f1 std"]) == pytest.approx(2.8284, abs=1e-4)
    assert bert["wikitext/squad1.1/f1 n"] == "2"
    assert float(bert["wikitext/squad1.1/f1 ci_low"]) == pytest.approx(52 - 12.7062 * 2, abs=1e-3)
    assert float(bert["wikitext/squad1.1/f1 ci_high"]) == pytest.approx(52 + 12.7062 * 2, abs=1e-3)
    assert float(bert["wikitext/squad1.1/f1 paper"]) == 60.5
    assert float(bert["wikitext/squad1.1/f1 diff"]) == pytest.approx(-8.5)


def test_missing_tables_rows_and_corpora(tmp_path):
    (tmp_path / "table4.csv").write_text("stale\n")
    records = [
        record(
            "bert",
            "mnli",
            {"matched_accuracy": 60.0, "mismatched_accuracy": 61.0},
            corpus="builtin",
        ),  # fmt: skip
        record(
            "bigram_shift",
            "mnli",
            {"matched_accuracy": 58.0, "mismatched_accuracy": 59.5},
            corpus="builtin",
        ),  # fmt: skip
        record(
            "no_pretraining",
            "mnli",
            {"matched_accuracy": 50.0, "mismatched_accuracy": 50.5},
            corpus=None,
        ),  # fmt: skip
    ]
    markdown = report.write_report(str(tmp_path), records, "nli only", [])
    assert sorted(p.name for p in tmp_path.glob("table*.csv")) == ["table2.csv"]
    assert "Not measured in this study: Table 1, Table 3, Table 4." in markdown
    rows = {r[0]: r[2:] for r in table_lines(markdown, "Table 2")[1:]}
    assert list(rows) == ["BERT", "Bigram Shift", "Without Pre-training"]
    # "builtin" is not a corpus of the paper: no paper value; the baseline's value exists
    assert rows["BERT"] == ["60.0 ± -", "-", "-", "-", "61.0 ± -", "-", "-", "-"]
    assert rows["Without Pre-training"] == [
        "50.0 ± -", "-", "61.2", "-11.2", "50.5 ± -", "-", "61.4", "-10.9",
    ]  # fmt: skip
    findings = {k: f["verdict"] for k, f in _verdicts(records).items()}
    assert findings.pop("Pre-training") == "agrees"  # one seed: the point difference, +10 / +10.5
    assert set(findings.values()) == {"not measured"}
    # compared with the paper's WikiText-2 numbers when the study says so
    markdown = report.write_report(
        str(tmp_path), records, "nli only", [], paper_corpora={"builtin": "wikitext"}
    )
    rows = {r[0]: r[2:] for r in table_lines(markdown, "Table 2")[1:]}
    assert rows["BERT"] == ["60.0 ± -", "-", "71.7", "-11.7", "61.0 ± -", "-", "72.5", "-11.5"]
    assert "builtin vs the paper's wikitext" in markdown


def test_chance_row_last_in_every_corpus_group(tmp_path):
    records = [
        record("bert", "squad2.0", qa(50.0, 52.0), corpus="squad"),
        record("bert", "squad2.0", qa(51.0, 53.0), corpus="wikitext"),
        record("pretrained_bert", "squad2.0", qa(70.0, 72.0), corpus=None),
        record("chance", "squad2.0", qa(48.0, 48.0), corpus=None),
    ]
    markdown = report.write_report(str(tmp_path), records, "chance", [])
    rows = table_lines(markdown, "Table 1")
    assert rows[0][2] == "squad SQuAD2.0 EM / F1" and rows[0][6] == "wikitext SQuAD2.0 EM / F1"
    assert rows[1][0] == "Pre-trained BERT" and rows[1][6:] == ["-"] * 4  # first group
    # chance depends on the evaluation data only: no "± -"
    assert rows[-1] == ["chance", "none", "48.0 / 48.0", "-", "-", "-", "48.0 / 48.0"] + ["-"] * 3
    # a baseline's unmeasured cell still shows the paper's value (first group only)
    records.append(record("pretrained_bert", "squad1.1", qa(80.0, 86.0), corpus=None))
    rows = table_lines(report.write_report(str(tmp_path), records[-2:], "b", []), "Table 1")
    assert rows[1] == ["Pre-trained BERT", "none", "80.0 ± - / 86.0 ± -", "-", "75.9 / 85.4",
                       "+4.1 / +0.6", "-", "-", "71.1 / 73.8", "-"]  # fmt: skip


def test_records_that_are_not_results_are_refused(tmp_path):
    good = record("bert", "squad1.1", qa(1.0, 2.0))
    with pytest.raises(ValueError, match="two selected results .* same seed 0"):
        report.write_report(str(tmp_path), [good, dict(good, unit="again")], "dup", [])
    with pytest.raises(ValueError, match="task='squad3'"):
        report.write_report(str(tmp_path), [dict(good, task="squad3")], "bad", [])
    with pytest.raises(ValueError, match="lacks seed"):
        report.write_report(str(tmp_path), [{k: v for k, v in good.items() if k != "seed"}],
                            "bad", [])  # fmt: skip
    assert not os.path.exists(tmp_path / "report.md")


# === Layer selection and sweep plots ==============================================================


def test_layer_selection_section_and_sweep_plot(tmp_path):
    f1 = {0: 40.0, 1: 47.0, 2: 45.0}
    records = [
        record("lower_nsp", "squad1.1", qa(v - 10 + s, v + s), layer=k, selected=k == 1, seed=s)
        for k, v in f1.items()
        for s in (0, 1)
    ] + [
        record("lower_nsp", "pretrain", {"eval_loss": 5.0 - k}, layer=k, selected=k == 1)
        for k in f1
    ]  # fmt: skip
    selections = [
        {"model": "lower_nsp", "corpus": "wikitext", "pt_concat": "none",
         "select_by": "squad1.1/f1", "scores": f1, "chosen": 1}
    ]  # fmt: skip
    markdown = report.write_report(str(tmp_path), records, "sweep", selections)
    rows = table_lines(markdown, "Layer selection")
    assert rows[1] == [
        "Lower NSP", "wikitext", "none", "squad1.1/f1", "0: 40, **1: 47**, 2: 45", "1",
    ]  # fmt: skip
    assert table_lines(markdown, "Pre-training")[1] == [
        "Lower NSP",
        "none",
        "wikitext",
        "1",
        "4.0000 ± - [-]",
    ]
    # only the chosen layer is in Table 1
    assert table_lines(markdown, "Table 1")[1][2:4] == [
        "37.5 ± 0.7 / 47.5 ± 0.7", "[31.1, 43.9] / [41.1, 53.9]",
    ]  # fmt: skip
    plot = tmp_path / "plots" / "sweep-lower_nsp-none.png"
    assert is_png(plot)
    assert "plots/sweep-lower_nsp-none.png" in markdown
    data = json.load(open(tmp_path / "report.json"))
    assert data["selections"][0]["chosen"] == 1 and len(data["records"]) == 9
    # a later report without the sweep removes its plot
    report.write_report(str(tmp_path), [record("bert", "squad1.1", qa(1.0, 2.0))], "no sweep", [])
    assert not plot.exists()


# === Findings =====================================================================================


def _qa_and_probes(lower_mask_f1, bigram_bs):
    rows = [
        record("bert", "squad1.1", qa(40.0, 50.0)),
        record("lower_nsp", "squad1.1", qa(39.0, 49.0)),
        record("lower_mask", "squad1.1", qa(lower_mask_f1 - 10, lower_mask_f1)),
        record("without_nsp", "mnli", {"matched_accuracy": 55.0, "mismatched_accuracy": 56.0}),
        record("bert", "mnli", {"matched_accuracy": 60.0, "mismatched_accuracy": 61.0}),
        record("bigram_shift", "bigram_shift", {"accuracy": bigram_bs}),
        record("bert", "bigram_shift", {"accuracy": 60.0}),
        record("bert", "bigram_shift", {"accuracy": 62.0}, pt="cls"),
        record("lower_nsp", "bigram_shift", {"accuracy": 55.0}),
        record("bigram_shift", "tree_depth", {"accuracy": 30.0}),
        record("bert", "tree_depth", {"accuracy": 29.0}),
        # pre-trained BERT is not pre-trained here: not a rival for the word-order claim
        record("pretrained_bert", "bigram_shift", {"accuracy": 90.0}, corpus=None),
    ]
    return rows


def _verdicts(records):
    """{claim's subject ("Pre-training", "Lower NSP", ...): finding}."""
    findings = report.compute_findings(records)
    return {f["claim"].split(" is ")[0].split(" beats ")[0]: f for f in findings}


def test_findings_agree_when_our_numbers_point_the_papers_way():
    findings = _verdicts(_qa_and_probes(lower_mask_f1=30.0, bigram_bs=70.0))
    assert {k: f["verdict"] for k, f in findings.items()} == {
        "Pre-training": "not measured",  # no run without pre-training here
        "Lower NSP": "agrees",
        "Lower Mask": "agrees",
        "Without NSP": "agrees",
        "Bigram Shift": "agrees",
    }
    bs = findings["Bigram Shift"]["comparisons"]
    assert [(c["task"], c["against"], c["ours"]) for c in bs] == [
        ("tree_depth", "bert", pytest.approx(1.0)),
        ("bigram_shift", "bert", pytest.approx(8.0)),  # BERT's best concat mode (62.0)
    ]
    assert bs[1]["paper"] == pytest.approx(70.3 - 62.5)


def test_findings_disagree_or_mix_when_they_do_not():
    records = _qa_and_probes(lower_mask_f1=55.0, bigram_bs=61.0)
    records[1] = record("lower_nsp", "squad1.1", qa(30.0, 40.0))  # 10 points below BERT
    records.append(record("lower_mask", "squad2.0", qa(20.0, 21.0)))
    records.append(record("bert", "squad2.0", qa(30.0, 31.0)))
    findings = _verdicts(records)
    assert findings["Lower NSP"]["verdict"] == "disagrees"
    assert findings["Lower Mask"]["verdict"] == "mixed"  # better on 1.1, worse on 2.0
    assert findings["Bigram Shift"]["verdict"] == "mixed"  # best on TD, not on BS (62.0)
    assert findings["Without NSP"]["verdict"] == "agrees"
    markdown = report.format_findings(report.compute_findings(records))
    assert (
        "**Lower NSP is close to BERT on QA and NLI**" in markdown and "**disagrees**" in markdown
    )


# === HParams ======================================================================================


def test_unit_hparams_are_read_back_from_the_event_file(tmp_path):
    import tensorflow as tf
    from tensorboard.plugins.hparams import metadata

    from hbert_tf.study.hparams import metrics_of, write_unit_hparams

    unit_dir = str(tmp_path / "tensorboard" / "finetune-lower_nsp-squad1.1-3f2a9c01bd77")
    settings = {"model": "lower_nsp", "layer": 5, "learning_rate": 1e-5, "freeze": False,
                "corpus": None}  # fmt: skip
    metrics = metrics_of([record("lower_nsp", "squad1.1", qa(47.25, 58.5))])
    assert metrics == {"squad1.1/exact_match": 47.25, "squad1.1/f1": 58.5}
    write_unit_hparams(unit_dir, dict(settings, layer=4), {"squad1.1/f1": 1.0})
    path = write_unit_hparams(unit_dir, settings, metrics)  # replaces the first
    assert os.listdir(unit_dir) == [os.path.basename(path)]
    hparams, scalars = {}, {}
    for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
            plugin = value.metadata.plugin_data
            if plugin.plugin_name == "hparams":
                info = metadata.parse_session_start_info_plugin_data(plugin.content)
                assert info.group_name == os.path.basename(unit_dir)
                for name, v in info.hparams.items():
                    hparams[name] = getattr(v, v.WhichOneof("kind"))
            else:
                scalars[value.tag] = float(tf.make_ndarray(value.tensor))
    assert hparams == {"model": "lower_nsp", "layer": 5, "learning_rate": 1e-5, "freeze": False}
    assert scalars == metrics
    with pytest.raises(ValueError, match=r"hparams\['layers'\]"):
        write_unit_hparams(unit_dir, {"layers": [1, 2]}, metrics)
    with pytest.raises(ValueError, match=r"metrics\['f1'\]"):
        write_unit_hparams(unit_dir, settings, {"f1": "high"})


# === Statistics over seeds and paired verdicts ====================================================


def test_t_interval_and_paired_verdicts():
    from hbert_tf.study import statistics

    assert statistics.t_quantile(1) == pytest.approx(12.7062, abs=1e-4)
    assert statistics.t_quantile(2) == pytest.approx(4.3027, abs=1e-4)
    assert statistics.t_quantile(10_000) == pytest.approx(1.960, abs=1e-3)
    s = statistics.summarize([1.0, 2.0, 3.0])  # mean 2, std 1, half-width 4.3027 / sqrt(3)
    assert (s["mean"], s["std"], s["n"]) == (2.0, 1.0, 3)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((2 - 2.4841, 2 + 2.4841), abs=1e-4)
    one = statistics.summarize([5.0])
    assert (one["std"], one["ci_low"], one["ci_high"]) == (None, None, None)
    assert statistics.paired_differences({0: 5.0, 1: 7.0, 2: 1.0}, {1: 6.0, 0: 1.0}) == (
        [0, 1], [4.0, 1.0],
    )  # fmt: skip
    # the claim "A - B < 0": interval below 0 agrees, above 0 disagrees, across 0 inconclusive
    verdict = statistics.verdict
    assert verdict(statistics.summarize([-3.0, -2.0, -2.5]), 0.0, "<") == "agrees"
    assert verdict(statistics.summarize([3.0, 2.0, 2.5]), 0.0, "<") == "disagrees"
    assert verdict(statistics.summarize([-3.0, 2.0, -1.0]), 0.0, "<") == "inconclusive"
    assert verdict(statistics.summarize([-2.9, -2.0]), -3.0, ">=") == "inconclusive"  # n=2: wide
    assert verdict(statistics.summarize([-1.0]), -3.0, ">=") == "agrees"  # one seed: the point
    # "A - B > 0": the interval must exclude 0
    assert verdict(statistics.summarize([1.0, 2.0, 1.5]), 0.0, ">") == "agrees"
    assert verdict(statistics.summarize([0.0, 0.0]), 0.0, ">") == "disagrees"
    assert verdict(statistics.summarize([0.0, 0.0]), 0.0, ">=") == "agrees"
    assert statistics.combine(["agrees", "inconclusive"]) == "inconclusive"
    assert statistics.combine(["agrees", "disagrees", "inconclusive"]) == "mixed"
    assert statistics.combine([]) == "not measured"


def _seeded(model, task, values, **kw):
    """A record per seed of `values` (QA: F1 = value, EM = value - 10; MNLI: both = value)."""
    if task == "mnli":
        metrics = [{"matched_accuracy": v, "mismatched_accuracy": v} for v in values]
    elif task in report.QA_TASKS:
        metrics = [qa(v - 10, v) for v in values]
    else:
        metrics = [{"accuracy": v} for v in values]
    return [record(model, task, m, seed=s, **kw) for s, m in enumerate(metrics)]


def test_findings_verdicts_come_from_paired_differences_over_seeds(tmp_path):
    # BERT varies a lot between seeds; Lower Mask is 2 points below it on every seed, so the
    # paired differences are constant (-2): "agrees" although the means' spreads overlap.
    bert_f1 = [40.0, 50.0, 60.0]
    records = _seeded("bert", "squad1.1", bert_f1)
    records += _seeded("lower_mask", "squad1.1", [v - 2 for v in bert_f1])
    # Without NSP is 3 points above BERT on every seed of MNLI: the claim "worse" disagrees.
    records += _seeded("bert", "mnli", [60.0, 62.0, 61.0])
    records += _seeded("without_nsp", "mnli", [63.0, 65.0, 64.0])
    # Lower NSP: differences -8, +3, -1 (mean -2): the interval contains -3.0, inconclusive.
    records += _seeded("lower_nsp", "squad1.1", [32.0, 53.0, 59.0])
    findings = _verdicts(records)
    verdicts = {k: f["verdict"] for k, f in findings.items()}
    assert verdicts == {
        "Pre-training": "not measured",
        "Lower NSP": "inconclusive",
        "Lower Mask": "agrees",
        "Without NSP": "disagrees",
        "Bigram Shift": "not measured",
    }
    mask = findings["Lower Mask"]["comparisons"][0]
    assert (mask["ours"], mask["std"], mask["n"], mask["seeds"]) == (-2.0, 0.0, 3, [0, 1, 2])
    assert mask["ci_low"] == mask["ci_high"] == -2.0
    nsp = findings["Lower NSP"]["comparisons"][0]
    assert nsp["differences"] == [-8.0, 3.0, -1.0]
    half = 4.3027 * float(np.std([-8.0, 3.0, -1.0], ddof=1)) / np.sqrt(3)
    assert (nsp["ci_low"], nsp["ci_high"]) == pytest.approx((-2 - half, -2 + half), abs=1e-3)
    markdown = report.write_report(str(tmp_path), records, "three seeds", [])
    assert "**Lower Mask is worse than BERT on QA** (Lower Mask - BERT < 0 (F1)): **agrees**" in (
        markdown
    )
    assert "PT none: -2.0 [-2.0, -2.0], 3 seeds: agrees" in markdown
    assert "3 seeds: disagrees (paper -) ✗" in markdown
    assert "paired over up to 3 seeds, 95% t-intervals" in markdown
    assert "confidence intervals need" not in markdown
    data = json.load(open(tmp_path / "report.json"))
    assert [f["verdict"] for f in data["findings"]] == [
        "not measured", "inconclusive", "agrees", "disagrees", "not measured",
    ]  # fmt: skip


def test_pretraining_must_beat_no_pretraining_with_an_interval_that_excludes_0():
    # QA: BERT 9-11 points above no pre-training on every seed (agrees); MNLI: +1, -1, +3, the
    # interval contains 0 (inconclusive). No pre-training has one row for every corpus (None).
    records = _seeded("bert", "squad1.1", [40.0, 50.0, 60.0])
    records += _seeded("no_pretraining", "squad1.1", [30.0, 41.0, 49.0], corpus=None)
    records += _seeded("bert", "mnli", [60.0, 62.0, 61.0])
    records += _seeded("no_pretraining", "mnli", [59.0, 63.0, 58.0], corpus=None)
    finding = _verdicts(records)["Pre-training"]
    assert finding["verdict"] == "inconclusive"
    by_cell = {(c["task"], c["metric"]): c for c in finding["comparisons"]}
    assert by_cell["squad1.1", "f1"]["differences"] == [10.0, 9.0, 11.0]
    assert by_cell["squad1.1", "f1"]["verdict"] == "agrees"
    assert by_cell["squad1.1", "f1"]["paper"] == pytest.approx(60.5 - 12.1)  # WikiText-2 BERT
    assert by_cell["mnli", "matched_accuracy"]["verdict"] == "inconclusive"
    # Only the QA cells: agrees. Equal on every seed: not "beats".
    qa_only = [r for r in records if r["task"] == "squad1.1"]
    assert _verdicts(qa_only)["Pre-training"]["verdict"] == "agrees"
    same = _seeded("bert", "mnli", [60.0, 61.0]) + _seeded(
        "no_pretraining", "mnli", [60.0, 61.0], corpus=None
    )
    assert _verdicts(same)["Pre-training"]["verdict"] == "disagrees"


def test_fewer_than_two_seeds_say_so_and_show_dashes(tmp_path):
    from hbert_tf.study import statistics

    records = [record("bert", "squad1.1", qa(40.0, 50.0), seed=3)]
    records.append(record("chance", "squad1.1", qa(1.0, 2.0), seed=0))  # not a seed of the study
    markdown = report.write_report(str(tmp_path), records, "one seed", [])
    note = statistics.seeds_note([3])
    assert note.startswith("confidence intervals need 2 or more seeds; this study has 1")
    assert "seeds 3. " in markdown and f"Note: {note}." in markdown
    assert table_lines(markdown, "Table 1")[1][2:4] == ["40.0 ± - / 50.0 ± -", "-"]
    with open(tmp_path / "table1.csv") as f:
        bert = next(r for r in csv.DictReader(f) if r["model"] == "bert")
    assert bert["wikitext/squad1.1/f1 std"] == bert["wikitext/squad1.1/f1 ci_low"] == ""
    assert statistics.seeds_note([0, 1]) is None


def test_pretraining_table_baselines_and_learning_curves(tmp_path):
    def run(model, seed, nsp, curve_scale):
        metrics = {"eval_loss": 5.0 - nsp, "mlm_accuracy": 0.2 + seed / 100,
                   "mlm_unigram_baseline": 0.06, "nsp_accuracy": nsp,
                   "nsp_majority_baseline": 0.52}  # fmt: skip
        r = record(model, "pretrain", metrics, corpus="builtin", seed=seed)
        r["curve"] = [
            {"step": step, "mlm_loss": curve_scale / step, "mlm_accuracy": 0.02 * step,
             "nsp_loss": 0.7, "nsp_accuracy": 0.5 + 0.01 * step}
            for step in (10, 20, 30)
        ]  # fmt: skip
        return r

    records = [run("bert", 0, 0.90, 6.0), run("bert", 1, 0.86, 5.0), run("without_nsp", 0, 0, 7)]
    markdown = report.write_report(str(tmp_path), records, "pre-training", [])
    head, bert = table_lines(markdown, "Pre-training")[:2]
    assert head[4:] == ["eval_loss", "mlm_accuracy", "mlm_unigram_baseline", "nsp_accuracy",
                        "nsp_majority_baseline"]  # fmt: skip
    half = 12.7062 * float(np.std([0.90, 0.86], ddof=1)) / np.sqrt(2)
    assert bert[7] == f"0.8800 ± 0.0283 [{0.88 - half:.4f}, {0.88 + half:.4f}]"
    assert bert[8] == "0.5200 ± 0.0000 [0.5200, 0.5200]"
    with open(tmp_path / "pretraining.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["nsp_accuracy ci_high"]) == pytest.approx(0.88 + half, abs=1e-6)
    assert is_png(tmp_path / "plots" / "curves-builtin.png")
    assert "plots/curves-builtin.png" in markdown
    pre = json.load(open(tmp_path / "report.json"))["pretraining"]
    assert pre["rows"][0]["cells"]["nsp_accuracy"]["values"] == [0.90, 0.86]
    assert report.curve_metrics(records) == ["mlm_loss", "mlm_accuracy", "nsp_loss",
                                             "nsp_accuracy"]  # fmt: skip
    with pytest.raises(ValueError, match="curve must be a list"):
        report.check_records([dict(records[0], curve=[{"loss": 1.0}])])
