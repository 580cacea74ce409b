"""The paper's published numbers (Tables 1-4 of Aksoy et al.), as data keyed like study records.

Each table maps a row `(model, pt_concat, ft_concat)` to its cells `{(corpus, task): {metric:
value}}`, with the study's names: model (`bert`, `lower_nsp`, ...), corpus (`"squad"` or
`"wikitext"`; None for the baselines that the paper did not pre-train: pre-trained BERT, BiLSTM,
Without Pre-training), concat mode (`none`, `cls`, `nsp`), task (`squad1.1`, `squad2.0`, `mnli`,
or a SentEval probing task name) and metric (`exact_match`, `f1`, `matched_accuracy`,
`mismatched_accuracy`, `accuracy`; all in %). A "-" of the paper is a missing cell. Rows are in
the paper's order.

Readings where the paper's layout leaves room:
- Table 1's concatenation columns mean "used in both pre-training and fine-tuning", so a Table 1
  row with mode m is `(model, m, m)`.
- Tables 2 and 4 state no corpus: Section 4.1 says MultiNLI "did not use this dataset for
  pre-training. Instead, we used the model pre-trained on the WikiText-2 dataset", and probing
  evaluates "only embeddings that are pre-trained on WikiText-2"; so their pre-trained rows are
  keyed `"wikitext"`. Both tables list their three concatenation rows of a model under one
  label; the order of the groups (BERT, Lower Mask, Lower NSP) follows the labels as printed.
- Table 1 and Table 3 print the baselines' and every model's SQuAD-pretrained cells in the
  "SQuAD" column group; a baseline is keyed with corpus None.
- Table 3's last two rows (concatenation in pre-training only) sit below the Lower NSP rows and
  are read as Lower NSP; its BERT group has five rows, its Lower NSP group seven.
- Table 4's "L. NSP-Freeze" is Lower NSP-Freeze and "PT. BERT" is pre-trained BERT.
"""

SQUAD, WIKITEXT = "squad", "wikitext"
QA_TASKS = ("squad1.1", "squad2.0")
# Table 4's columns in order (hbert_tf.probing.senteval_format.TASK_NAMES; this module stays import-free).
PROBE_TASKS = (
    "sentence_length", "word_content", "tree_depth", "bigram_shift", "top_constituents",
    "past_present", "subj_number", "obj_number", "odd_man_out", "coordination_inversion",
)  # fmt: skip


def _qa(squad_v1, squad_v2, wiki_v1=None, wiki_v2=None, corpus=SQUAD):
    """Four "EM / F1" cells (SQuAD group 1.1, 2.0; WikiText-2 group 1.1, 2.0; None = "-")."""
    cells = {}
    for cell_corpus, task, pair in (
        (corpus, "squad1.1", squad_v1),
        (corpus, "squad2.0", squad_v2),
        (WIKITEXT, "squad1.1", wiki_v1),
        (WIKITEXT, "squad2.0", wiki_v2),
    ):
        if pair is not None:
            cells[cell_corpus, task] = {"exact_match": pair[0], "f1": pair[1]}
    return cells


def _mnli(matched, mismatched, corpus=WIKITEXT):
    return {(corpus, "mnli"): {"matched_accuracy": matched, "mismatched_accuracy": mismatched}}


def _probe(*accuracies, corpus=WIKITEXT):
    """Ten accuracies in Table 4's column order (SL WC TD BS TC T SN ON OM CI)."""
    if len(accuracies) != len(PROBE_TASKS):
        raise ValueError(f"Table 4 rows have {len(PROBE_TASKS)} cells, got {len(accuracies)}")
    return {(corpus, t): {"accuracy": a} for t, a in zip(PROBE_TASKS, accuracies)}


# Table 1: EM / F1 on the SQuAD validation sets; column groups = pre-training corpus.
TABLE1 = {
    ("pretrained_bert", "none", "none"): _qa((75.9, 85.4), (71.1, 73.8), corpus=None),
    ("bert", "none", "none"): _qa((49.5, 60.6), (54.8, 57.4), (48.1, 60.5), (54.7, 57.9)),
    ("bert", "cls", "cls"): _qa((48.1, 59.1), (56.7, 59.7), (48.8, 60.6), (55.0, 58.0)),
    ("bert", "nsp", "nsp"): _qa((48.7, 60.2), (55.5, 58.5), (48.2, 59.7), (51.2, 53.2)),
    ("lower_nsp", "none", "none"): _qa((47.2, 58.3), (56.3, 58.8), (51.4, 62.7), (54.1, 55.9)),
    ("lower_nsp", "cls", "cls"): _qa((47.0, 58.5), (55.8, 58.3), (46.8, 57.6), (53.6, 56.6)),
    ("lower_nsp", "nsp", "nsp"): _qa((52.1, 63.4), (54.8, 57.3), (46.0, 57.6), (54.7, 57.8)),
    ("lower_mask", "none", "none"): _qa((27.5, 34.0), (48.1, 48.8), (41.8, 52.2), (47.1, 47.4)),
    ("lower_mask", "cls", "cls"): _qa((43.3, 53.5), (47.6, 48.2), (25.0, 31.8), (46.9, 47.4)),
    ("lower_mask", "nsp", "nsp"): _qa((45.5, 56.3), (51.2, 53.4), (23.7, 30.2), (48.1, 48.6)),
    ("lower_nsp_freeze", "none", "none"): _qa(
        (40.9, 51.4), (51.7, 53.4), (39.7, 49.5), (50.2, 52.3)
    ),
    ("without_nsp", "none", "none"): _qa((30.2, 37.5), (46.9, 47.5)),
    ("bigram_shift", "none", "none"): _qa((47.0, 57.6), (55.6, 58.0), (34.5, 45.7), (46.0, 48.4)),
    ("bilstm", "none", "none"): _qa((22.9, 29.3), (46.4, 46.7), corpus=None),
    ("no_pretraining", "none", "none"): _qa((7.4, 12.1), (51.0, 51.0), corpus=None),
}

# Table 2: MultiNLI matched / mismatched accuracy; models pre-trained on WikiText-2 (Section 4.1).
TABLE2 = {
    ("pretrained_bert", "none", "none"): _mnli(84.4, 84.9, corpus=None),
    ("bert", "none", "none"): _mnli(71.7, 72.5),
    ("bert", "cls", "none"): _mnli(70.2, 70.8),
    ("bert", "nsp", "none"): _mnli(71.1, 71.3),
    ("lower_mask", "none", "none"): _mnli(69.9, 70.7),
    ("lower_mask", "cls", "none"): _mnli(68.5, 69.2),
    ("lower_mask", "nsp", "none"): _mnli(67.1, 67.9),
    ("lower_nsp", "none", "none"): _mnli(69.1, 70.2),
    ("lower_nsp", "cls", "none"): _mnli(70.3, 71.9),
    ("lower_nsp", "nsp", "none"): _mnli(70.5, 71.3),
    ("lower_nsp_freeze", "none", "none"): _mnli(45.2, 45.3),
    ("bigram_shift", "none", "none"): _mnli(69.8, 70.7),
    ("bilstm", "none", "none"): _mnli(66.8, 67.3, corpus=None),
    ("no_pretraining", "none", "none"): _mnli(61.2, 61.4, corpus=None),
}

# Table 3: EM / F1 for concatenation in pre-training (PT) and / or fine-tuning (FT).
TABLE3 = {
    ("bert", "none", "none"): _qa((49.5, 60.6), (54.8, 57.4), (48.1, 60.5), (54.7, 57.9)),
    ("bert", "none", "cls"): _qa((50.0, 61.6), (55.1, 58.4), (48.0, 60.7), (54.9, 58.2)),
    ("bert", "none", "nsp"): _qa((50.4, 61.7), (56.5, 59.5), (47.4, 60.1), (55.6, 58.9)),
    ("bert", "cls", "cls"): _qa((48.1, 59.1), (56.7, 59.7), (48.8, 60.6), (55.0, 58.0)),
    ("bert", "nsp", "nsp"): _qa((48.7, 60.2), (55.5, 58.5), (48.2, 59.7), (51.2, 53.2)),
    ("lower_nsp", "none", "none"): _qa((47.2, 58.3), (56.3, 58.8), (51.4, 62.7), (54.1, 55.9)),
    ("lower_nsp", "none", "cls"): _qa((47.9, 59.5), (56.7, 59.6), (50.7, 62.1), (54.0, 57.1)),
    ("lower_nsp", "none", "nsp"): _qa((48.3, 59.4), (56.3, 59.3), (50.6, 62.3), (54.6, 57.7)),
    ("lower_nsp", "cls", "cls"): _qa((47.0, 58.5), (55.8, 58.3), (46.8, 57.6), (53.6, 56.6)),
    ("lower_nsp", "nsp", "nsp"): _qa((52.1, 63.4), (54.8, 57.3), (46.0, 57.6), (54.7, 57.8)),
    ("lower_nsp", "cls", "none"): _qa((47.1, 58.3), (55.6, 58.3), (46.9, 58.0), (53.4, 56.3)),
    ("lower_nsp", "nsp", "none"): _qa((51.0, 62.8), (54.2, 56.9), (46.5, 58.1), (55.7, 58.4)),
}

# Table 4: probing accuracy (SL WC TD BS TC T SN ON OM CI); pre-trained on WikiText-2 (4.1).
TABLE4 = {
    ("pretrained_bert", "none", "none"): _probe(
        68.3, 32.4, 34.3, 86.5, 75.2, 88.7, 83.0, 77.8, 64.3, 74.4, corpus=None
    ),
    ("bert", "none", "none"): _probe(83.8, 9.6, 36.0, 62.5, 70.1, 75.9, 74.7, 69.9, 49.7, 59.8),
    ("bert", "cls", "none"): _probe(75.7, 10.1, 34.6, 57.9, 63.6, 70.2, 73.8, 68.9, 50.5, 55.6),
    ("bert", "nsp", "none"): _probe(84.9, 12.4, 34.9, 60.4, 60.7, 72.2, 73.2, 69.2, 49.9, 58.6),
    ("lower_mask", "none", "none"): _probe(
        73.2, 2.2, 29.0, 56.1, 61.3, 73.6, 73.0, 67.1, 50.2, 56.8
    ),
    ("lower_mask", "cls", "none"): _probe(
        43.8, 1.8, 23.5, 54.1, 30.7, 70.5, 62.2, 58.2, 49.8, 51.5
    ),
    ("lower_mask", "nsp", "none"): _probe(
        41.7, 0.8, 21.3, 52.1, 26.7, 66.6, 62.3, 58.0, 49.9, 51.7
    ),
    ("lower_nsp", "none", "none"): _probe(
        91.0, 5.6, 31.7, 52.9, 57.5, 71.7, 71.9, 66.4, 51.1, 56.0
    ),
    ("lower_nsp", "cls", "none"): _probe(
        86.1, 11.1, 34.5, 60.0, 67.9, 74.9, 75.4, 71.5, 50.8, 57.2
    ),
    ("lower_nsp", "nsp", "none"): _probe(90.1, 1.1, 31.0, 57.6, 71.8, 70.9, 72.7, 65.5, 50.3, 57.6),
    ("lower_nsp_freeze", "none", "none"): _probe(
        93.2, 1.5, 33.7, 53.8, 72.3, 75.9, 75.2, 68.8, 50.3, 57.2
    ),
    ("bigram_shift", "none", "none"): _probe(
        88.6, 3.8, 37.2, 70.3, 65.6, 70.5, 72.7, 68.2, 49.9, 59.8
    ),
}

TABLES = {"table1": TABLE1, "table2": TABLE2, "table3": TABLE3, "table4": TABLE4}


def paper_value(table, model, corpus, pt_concat, ft_concat, task, metric):
    """The paper's number for one cell of `table` ("table1" ... "table4"), or None ("-")."""
    cells = TABLES.get(table, {}).get((model, pt_concat, ft_concat), {})
    return cells.get((corpus, task), {}).get(metric)


def _kind(task):
    return "finetune" if task in QA_TASKS or task == "mnli" else "probe"


def as_records(corpus_names=None):
    """The paper's numbers as study records (seed 0, all selected, layer None), one per cell.

    A cell printed in two tables (Table 1's rows inside Table 3) gives one record.
    `corpus_names` renames the paper's corpora (e.g. {"wikitext": "builtin"}).
    """
    corpus_names = corpus_names or {}
    records = {}
    for table in TABLES.values():
        for (model, pt_concat, ft_concat), cells in table.items():
            for (corpus, task), metrics in cells.items():
                corpus = corpus_names.get(corpus, corpus)
                key = (model, corpus, pt_concat, ft_concat, task)
                record = records.setdefault(
                    key,
                    {
                        "unit": f"paper-{model}-{corpus}-{pt_concat}-{ft_concat}-{task}",
                        "kind": _kind(task),
                        "model": model,
                        "corpus": corpus,
                        "pt_concat": pt_concat,
                        "ft_concat": ft_concat,
                        "layer": None,
                        "selected": True,
                        "task": task,
                        "seed": 0,
                        "metrics": {},
                    },
                )
                record["metrics"].update(metrics)
    return list(records.values())
