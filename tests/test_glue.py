"""GLUE as downstream plug-ins: TSV layouts, official metrics, a built-in fine-tune, the text-in
export and predict, and a study that lists GLUE tasks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hbert_tf.errors import DataError
from hbert_tf.finetuning import glue, tasks


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def test_tsvs_in_the_glue_release_layouts_are_read(tmp_path):
    sst2 = _write(tmp_path / "sst2.tsv", ["sentence\tlabel", "a fine film \t1", "dull\t0"])
    assert [(e.texts, e.label) for e in glue.read_tsv(sst2, "sst2")] == [
        (("a fine film",), 1), (("dull",), 0)]  # fmt: skip
    rte = _write(tmp_path / "rte.tsv", ["index\tsentence1\tsentence2\tlabel",
                                        "0\tA man sleeps.\tA man rests.\tentailment",
                                        "1\tA dog.\tA cat.\tnot_entailment"])  # fmt: skip
    examples = glue.read_tsv(rte, "rte")
    assert [(e.idx, e.texts, e.label) for e in examples] == [
        ("0", ("A man sleeps.", "A man rests."), 0), ("1", ("A dog.", "A cat."), 1)]  # fmt: skip
    cola = _write(tmp_path / "cola.tsv", ["gj04\t1\t\tThe book was read.",
                                          "gj04\t0\t*\tBook the read was."])  # fmt: skip
    assert [(e.texts, e.label) for e in glue.read_tsv(cola, "cola")] == [
        (("The book was read.",), 1), (("Book the read was.",), 0)]  # fmt: skip
    mrpc = _write(tmp_path / "mrpc.tsv", ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                                          "1\t11\t12\tHe said so.\tSo he said."])  # fmt: skip
    assert glue.read_tsv(mrpc, "mrpc")[0].texts == ("He said so.", "So he said.")
    qqp = _write(tmp_path / "qqp.tsv", ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
                                        "5\t1\t2\tWhy?\tHow come?\t1", "6\t3\tbroken line"])  # fmt: skip
    assert [e.label for e in glue.read_tsv(qqp, "qqp")] == [1]  # the short line is skipped
    qnli = _write(tmp_path / "qnli.tsv", ["index\tquestion\tsentence\tlabel",
                                          "0\tWho?\tHe did.\tentailment"])  # fmt: skip
    assert glue.read_tsv(qnli, "qnli")[0].texts == ("Who?", "He did.")
    with pytest.raises(DataError, match="not a GLUE rte TSV"):
        glue.read_tsv(sst2, "rte")
    # unlabelled files (predict): only the text columns are needed
    test = _write(tmp_path / "test.tsv", ["index\tsentence1\tsentence2", "7\tA.\tB."])
    assert tasks.task_named("rte").predict_rows(test) == (
        "idx", ["7"], {"sentence1": ["A."], "sentence2": ["B."]})  # fmt: skip


def test_official_metrics():
    labels, predicted = [1, 1, 0, 0, 1], [1, 0, 0, 1, 1]
    # tp 2, fp 1, fn 1, tn 1: F1 = 2/3; MCC = (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    assert glue.f1_score(labels, predicted) == pytest.approx(2 / 3)
    assert glue.matthews_corrcoef(labels, predicted) == pytest.approx(1 / 6)
    assert glue.matthews_corrcoef([1, 0], [1, 1]) == 0.0  # a constant prediction
    assert glue.glue_metrics("mrpc", labels, predicted) == pytest.approx(
        {"f1": 2 / 3, "accuracy": 0.6})  # fmt: skip
    assert set(glue.glue_metrics("cola", labels, predicted)) == {"matthews_corr", "accuracy"}
    assert set(glue.glue_metrics("rte", labels, predicted)) == {"accuracy"}


def test_builtin_sst2_learns_and_its_text_in_export_matches_the_run(tmp_path):
    from hbert_tf.finetuning.run import run_finetune
    from hbert_tf.serving import export, predict

    model_dir = tmp_path / "run"
    config = glue.GlueConfig.resolve(
        task="sst2", model_dir=str(model_dir), init_from="none", config="tiny", data="builtin",
        builtin_documents=400, max_seq_length=32, train_steps=400, preset="bert", batch_size=32,
        learning_rate=1e-3, checkpoint_every=400, seed=1, verbose=0,
    )  # fmt: skip
    metrics = run_finetune(config)
    dev = glue.read_tsv(str(model_dir / "data/builtin_sst2_dev.tsv"), "sst2")
    assert metrics["dev_examples"] == len(dev) and {e.label for e in dev} == {0, 1}
    majority = max(np.mean([e.label for e in dev]), 1 - np.mean([e.label for e in dev]))
    assert metrics["dev_accuracy"] > majority + 0.2, (metrics, majority)

    export.export_run(str(model_dir), str(tmp_path / "export"))
    out = tmp_path / "predictions.jsonl"
    kind = predict.predict(
        str(tmp_path / "export"), str(model_dir / "data/builtin_sst2_dev.tsv"), str(out),
        progress=False,
    )  # fmt: skip
    assert kind == "sst2"
    served = [json.loads(line) for line in out.read_text().splitlines()]
    ran = [json.loads(line) for line in (model_dir / "predictions_dev.jsonl").read_text().splitlines()]  # fmt: skip
    assert [r["prediction"] for r in served] == [r["prediction"] for r in ran]
    assert {r["prediction"] for r in served} <= {"negative", "positive"}


def test_a_study_lists_glue_tasks_and_reports_them(tmp_path):
    studies = os.path.join(os.path.dirname(glue.__file__), os.pardir, "study", "studies")
    study = json.loads(open(os.path.join(studies, "tiny.json")).read())
    study["encoder"] = os.path.abspath(os.path.join(studies, study["encoder"]))
    study["downstream"]["tasks"] = ["sst2", "rte"]
    study.pop("probing", None)
    path = tmp_path / "glue_study.json"
    path.write_text(json.dumps(study))
    result = subprocess.run(
        [sys.executable, "-m", "trainers.study", f"--study={path}", "--dry_run", "--throughput=2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pending data-task-sst2-" in result.stdout and "pending finetune-" in result.stdout
    assert "pending finetune-bert-rte-" in result.stdout and "chance-rte-" in result.stdout
    from hbert_tf.study import report

    records = [
        {"unit": f"u{task}", "kind": "finetune", "model": "bert", "corpus": "builtin",
         "pt_concat": "none", "ft_concat": "none", "layer": None, "selected": True, "task": task,
         "seed": 0, "metrics": values}
        for task, values in (("sst2", {"accuracy": 91.0}), ("rte", {"accuracy": 60.0}))
    ]  # fmt: skip
    report.check_records(records)
    table = next(
        report.build_table(spec, records) for spec in report.TABLE_SPECS if spec.name == "glue"
    )
    assert [c["task"] for c in table["columns"]] == ["sst2", "rte"]
    assert "SST-2" in report.format_table(table) and "91" in report.format_table(table)
