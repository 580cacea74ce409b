"""The study runner: study files, units and their hashes, --data checks, selection, resume after
SIGKILL, and records for all four tables (end to end on the tiny study and on real-format files)."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from hbert_tf.errors import UserError
from hbert_tf.run_config import MnliConfig, SquadConfig
from hbert_tf.study import data_sources, jobs, paper_values, runner, spec, units

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE_TASKS = {"squad1.1", "mnli"}


def study_cmd(*flags):
    return [sys.executable, "-m", "trainers.study", *flags]


def run_study(*flags, timeout=1800):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it: the binary's own default
    return subprocess.run(
        study_cmd(*flags), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def write_study(path, **changes):
    """The tiny study with `changes` (top-level keys) as a JSON file beside its encoder."""
    values = json.loads(open(os.path.join(spec.STUDIES_DIR, "tiny.json")).read())
    values.update(changes)
    if "corpora" in changes and "compare_with" not in changes:
        del values["compare_with"]  # it names the built-in corpus
    values["encoder"] = os.path.join(spec.STUDIES_DIR, "encoders", "tiny3.json")
    path.write_text(json.dumps(values))
    return str(path)


def unit_logs(output_dir):
    folder = os.path.join(output_dir, "units")
    logs = {}
    for key in sorted(os.listdir(folder)):
        path = os.path.join(folder, key, runner.UNIT_LOG)
        logs[key] = open(path).read().split("\n")[:-1] if os.path.isfile(path) else []
    return logs


def comparable(records):
    """Records keyed by unit and task, metrics rounded (float noise of re-traced graphs)."""
    return {
        (r["unit"], r["task"]): (
            {k: v for k, v in r.items() if k not in ("metrics", "curve")},
            {k: round(v, 3) for k, v in r["metrics"].items()},
            [{k: round(v, 3) for k, v in point.items()} for point in r.get("curve", [])],
        )
        for r in records
    }


# --- study files --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["paper", "small", "tiny", "demo", "evidence"])
def test_built_in_studies_load_and_expand(name, tmp_path):
    assert name in spec.builtin_names()
    study = spec.load_study(name)
    data = {}
    if "wikitext" in study.corpora:
        (tmp_path / "wiki.train.raw").write_text(" = A = \n\n text here .\n")
        data["wikitext"] = str(tmp_path)
    if "squad" in study.corpora:
        data["squad_v1_train"] = str(tmp_path / "train.json")
    all_units = units.expand(study, data)
    keys = [u.key for u in all_units]
    assert len(keys) == len(set(keys))
    assert [u.key for u in runner.topological(all_units)][0].startswith("data-")
    assert {u.kind for u in all_units} >= {"data", "pretrain", "finetune", "chance"}
    for unit in all_units:
        assert set(unit.depends_on) <= set(keys)
    # --seeds replaces the study's seeds in every run: pre-training, selection, fine-tuning and
    # probing of the variants and the baselines (chance depends on the eval data only)
    reseeded = units.expand(spec.load_study(name, seeds=[7, 8]), data)
    seeded = [u for u in reseeded if u.kind in ("pretrain", "finetune", "probe")]
    assert {dict(u.tags)["seed"] for u in seeded} == {u.config.seed for u in seeded} == {7, 8}
    assert {u.config.seeds for u in reseeded if u.kind == "select"} <= {(7, 8)}
    baselines = {dict(u.tags)["model"] for u in seeded} & {"no_pretraining", "pretrained_bert"}
    assert baselines or not study.baselines
    assert all(u.config.eval_every > 0 for u in reseeded if u.kind == "pretrain")  # curves
    if name == "paper":  # 11 intermediate layers swept per concat mode and corpus, as the paper
        lower_nsp = [u for u in all_units if u.kind == "pretrain" and "lower_nsp-" in u.key]
        assert len(lower_nsp) == 11 * 3 * 2
        assert study.select_by == "squad1.1.f1"


def test_study_errors_name_the_key_path(tmp_path):
    variants = [{"model": "bert"}, {"model": "lower_nsp", "layers": [0]}]
    bad = variants + [{"model": "lower_mask", "layers": "x"}]
    with pytest.raises(UserError, match=r'study bad.json: variants\[2\].layers: expected a list '
                       r'of ints or "all", got "x"'):  # fmt: skip
        spec.load_study(write_study(tmp_path / "bad.json", variants=bad))
    too_deep = variants + [{"model": "lower_mask", "layers": [2]}]  # tiny3 has blocks 0, 1, 2
    with pytest.raises(UserError, match=r"variants\[2\].layers\[0\]: expected an intermediate"):
        spec.load_study(write_study(tmp_path / "deep.json", variants=too_deep))
    with pytest.raises(UserError, match=r"downstream.tsks: unknown key"):
        spec.load_study(write_study(tmp_path / "key.json", downstream={"tsks": []}))
    with pytest.raises(UserError, match=r"select_by: expected one of pretrain_eval_loss"):
        spec.load_study(write_study(tmp_path / "sel.json", select_by="squad2.0.f1"))
    with pytest.raises(UserError, match=r"variants\[0\].freeze_nsp: expected"):
        spec.load_study(write_study(tmp_path / "fr.json", variants=[{"model": "lower_nsp_freeze",
                                                                     "layers": [0]}]))  # fmt: skip
    study = spec.load_study(write_study(tmp_path / "steps.json", pretrain={"train_steps": 0}))
    with pytest.raises(UserError, match=r"study steps: pretrain: --train_steps=0"):
        units.expand(study, {})
    with pytest.raises(UserError, match=r"compare_with.builtin: expected one of squad, wikitext"):
        spec.load_study(write_study(tmp_path / "cw.json", compare_with={"builtin": "wiki"}))
    with pytest.raises(
        UserError, match=r"compare_with.squad: unknown key; expected one of builtin"
    ):
        spec.load_study(write_study(tmp_path / "cw2.json", compare_with={"squad": "squad"}))
    with pytest.raises(UserError, match="--study=nope: neither a file nor a built-in study"):
        spec.load_study("nope")


def test_a_changed_setting_makes_new_units_downstream_only(tmp_path):
    tiny = units.expand(spec.load_study("tiny"), {})
    values = json.loads(open(os.path.join(spec.STUDIES_DIR, "tiny.json")).read())
    changed = units.expand(
        spec.load_study(write_study(tmp_path / "t.json", pretrain=dict(values["pretrain"],
                                                                         train_steps=41))),
        {},
    )  # fmt: skip
    old, new = {u.key for u in tiny}, {u.key for u in changed}
    by_kind = {}
    for unit in changed:
        by_kind.setdefault(unit.kind, set()).add(unit.key in old)
    assert by_kind["data"] == {True} and by_kind["chance"] == {True}  # reused
    assert by_kind["pretrain"] == {False} and by_kind["select"] == {False}
    # Fine-tuning of pre-trained models is new; the baselines' is not.
    reused = {u.name for u in changed if u.kind == "finetune" and u.key in old}
    assert reused and all(n.startswith(("no_pretraining", "bilstm")) for n in reused)
    assert len(new - old) == len([u for u in changed if u.key not in old])
    # Fine-tuning units hold typed, frozen, hashable fine-tuning configs.
    config = next(u.config for u in changed if u.kind == "finetune")
    assert isinstance(config, (SquadConfig, MnliConfig))
    assert hash(config) == hash(dataclasses.replace(config))


def test_unit_keys_follow_the_encoder_files_content_not_its_path(tmp_path):
    tiny = [u.key for u in units.expand(spec.load_study("tiny"), {})]
    values = json.loads(open(os.path.join(spec.STUDIES_DIR, "tiny.json")).read())
    encoder = open(os.path.join(spec.STUDIES_DIR, "encoders", "tiny3.json")).read()
    (tmp_path / "moved.json").write_text(encoder)
    moved = tmp_path / "tiny.json"  # a copy of the study elsewhere (another checkout)
    moved.write_text(json.dumps(dict(values, encoder="moved.json")))
    assert [u.key for u in units.expand(spec.load_study(str(moved)), {})] == tiny
    (tmp_path / "moved.json").write_text(encoder.replace('"hidden_size": 32', '"hidden_size": 48'))
    changed = {u.key for u in units.expand(spec.load_study(str(moved)), {})}
    assert {k for k in changed if k.startswith("pretrain-")}.isdisjoint(tiny)


def test_data_flags_are_parsed_and_checked(tmp_path):
    study = spec.load_study("tiny")
    assert data_sources.parse_data_flags(["mnli_train=a.tsv"]) == {"mnli_train": "a.tsv"}
    with pytest.raises(UserError, match="unknown data set 'squad'"):
        data_sources.parse_data_flags(["squad=x.json"])
    with pytest.raises(UserError, match="expected NAME=PATH"):
        data_sources.parse_data_flags(["squad_v1_dev"])
    missing = str(tmp_path / "dev.json")
    with pytest.raises(UserError, match=f"--data squad_v1_dev: {missing}: file not found"):
        data_sources.check_data(study, {"squad_v1_dev": missing})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match=r"--data squad_v2_dev: .*bad.json"):
        data_sources.check_data(study, {"squad_v2_dev": str(tmp_path / "bad.json")})
    (tmp_path / "m.tsv").write_text(
        "index\tpairID\tsentence1\tsentence2\tgold_label\n1\tp\ta\tb\tno\n"
    )
    with pytest.raises(UserError, match=r"--data mnli_train: .*m.tsv"):
        data_sources.check_data(study, {"mnli_train": str(tmp_path / "m.tsv")})
    wiki = spec.load_study(write_study(tmp_path / "w.json", corpora=["wikitext"]))
    with pytest.raises(UserError, match="--data wikitext: required by the study's corpus wikitext"):
        data_sources.check_data(wiki, {})
    with pytest.raises(UserError, match=r"--data senteval_probing: \S*none: not a directory"):
        data_sources.check_data(study, {"senteval_probing": str(tmp_path / "none")})


# --- selection, records, the executor -----------------------------------------------------------
def _fake_result(key, kind, metrics, layer, sweep=None, outputs=None):
    record = {"unit": key, "kind": kind, "model": "lower_nsp", "corpus": "builtin",
              "pt_concat": "none", "ft_concat": "none", "layer": layer, "selected": sweep is None,
              "task": "pretrain", "seed": 0, "metrics": metrics}  # fmt: skip
    return {"key": key, "kind": kind, "outputs": outputs or {}, "records": [record],
            "sweep": sweep, "seconds": 0.0}  # fmt: skip


def test_selection_chooses_by_the_studys_criterion(tmp_path):
    tags = (("corpus", "builtin"), ("model", "lower_nsp"), ("pt_concat", "none"))
    losses = {0: 3.0, 1: 2.5, 2: 2.5}  # a tie goes to the lower layer
    inputs = {
        f"pretrain/k{k}/s0": _fake_result(
            f"p{k}", "pretrain", {"eval_loss": v}, k, outputs={"model_dir": f"dir{k}"}
        )  # fmt: skip
        for k, v in losses.items()
    }
    unit = units.Unit("select", "s", units.Selection("pretrain_eval_loss", (0, 1, 2), (0,)),
                      tags=tags)  # fmt: skip
    outputs, records = jobs.select_job(unit, str(tmp_path), inputs)
    assert outputs["chosen"] == 1 and outputs["model_dirs"] == {"0": "dir1"} and records == []
    saved = json.loads((tmp_path / "selection.json").read_text())
    assert saved["scores"] == {"0": 3.0, "1": 2.5, "2": 2.5} and saved["chosen"] == 1
    f1 = {0: 40.0, 1: 55.0, 2: 50.0}
    inputs.update({f"finetune/k{k}/s0": _fake_result(f"f{k}", "finetune", {"f1": v}, k)
                   for k, v in f1.items()})  # fmt: skip
    unit = dataclasses.replace(unit, config=units.Selection("squad1.1.f1", (0, 1, 2), (0,)))
    assert jobs.select_job(unit, str(tmp_path), inputs)[0]["chosen"] == 1


def _bert_probe_unit(tmp_path, name, settings):
    """The probe unit of BERT in a tiny study whose probing.settings are `settings`."""
    probing = {"tasks": ["sentence_length"], "settings": settings}
    study = spec.load_study(write_study(tmp_path / f"{name}.json", probing=probing))
    return next(
        u for u in units.expand(study, {}) if u.kind == "probe" and dict(u.tags)["model"] == "bert"
    )


def test_a_studys_probing_settings_reach_the_probe_run(tmp_path, monkeypatch):
    """The study's probe job runs `hbert_tf.probing.run.run_probe` with the study's settings:
    the encoder computes in the study's dtype policy, XLA compiles the features, the layer,
    pooling and probe settings are the study's, and a layer the model lacks is refused before any probe."""
    from hbert_tf.probing import features as probing_features
    from hbert_tf.probing import run as probing_run
    from tests.test_probing import make_model_dir
    from tfrecords import probing_tasks

    generation = probing_tasks.GenerationConfig(
        train_size=40, dev_size=20, test_size=20, num_documents=60, seed=1
    )
    generated, metadata = probing_tasks.generate_tasks("builtin", ["sentence_length"], generation)
    probing_tasks.write_tasks(str(tmp_path / "tasks"), generated, metadata, {})
    inputs = {
        "probing_data": {"outputs": {"task_dir": str(tmp_path / "tasks")}},
        "model": {"outputs": {"model_dir": make_model_dir(tmp_path / "bert", "bert")}},
    }
    models, jit_flags = [], []

    class RecordedModel(probing_run.ProbingModel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            models.append(self)

    def recorded_compiled_call(model, jit_compile=False):
        jit_flags.append(jit_compile)
        return compiled_call(model, jit_compile)

    compiled_call = probing_features.compiled_call
    monkeypatch.setattr(probing_run, "ProbingModel", RecordedModel)
    monkeypatch.setattr(probing_features, "compiled_call", recorded_compiled_call)
    settings = {
        "mixed_precision": "mixed_bfloat16", "jit_compile": True, "layer": ["embeddings"],
        "pooling": ["mean"], "max_epochs": 1, "hidden_units": 8, "max_seq_length": 24,
    }  # fmt: skip
    unit = _bert_probe_unit(tmp_path, "settings", settings)
    outputs, records = jobs.probe_job(unit, str(tmp_path / "run"), inputs)
    (model,) = models
    assert model.encoder.dtype_policy.name == "mixed_bfloat16"
    assert jit_flags == [True]  # the feature function is compiled by XLA
    results = json.loads(open(outputs["probing_json"]).read())["results"]
    assert [(r["layer"], r["pooling"], r["epochs"]) for r in results] == [("embeddings", "mean", 1)]
    saved = json.loads((tmp_path / "run" / "probe" / probing_run.SETTINGS_FILE).read_text())
    for key, value in settings.items():
        assert saved[key] == value, key
    assert len(records) == 1 and (tmp_path / "run" / "probe" / "probing.txt").is_file()

    unit = _bert_probe_unit(tmp_path, "layer", {"layer": ["nsp", "9"]})  # the model has 2 blocks
    with pytest.raises(ValueError, match="--layer=9: out of range"):
        jobs.probe_job(unit, str(tmp_path / "bad"), inputs)
    assert not (tmp_path / "bad" / "probe" / "probing.json").exists()  # checked before any probe


def test_executor_runs_in_order_skips_done_units_and_marks_sweep_records(tmp_path):
    out = str(tmp_path)
    sweep = "lower_nsp/builtin/none"
    pre = [units.Unit("pretrain", f"k{k}", units.Chance(f"k{k}"), tags=(("layer", k),),
                      sweep=sweep) for k in (0, 1)]  # fmt: skip
    select = units.Unit(
        "select",
        "s",
        units.Selection("pretrain_eval_loss", (0, 1), (0,)),
        tuple((f"pretrain/k{u.config.task[1]}/s0", u.key) for u in pre),
        (("corpus", "builtin"), ("model", "lower_nsp"), ("pt_concat", "none")),
    )
    calls = []

    def job(unit, run_dir, inputs):
        calls.append(unit.key)
        if unit.kind == "select":
            return jobs.select_job(unit, run_dir, inputs)
        k = dict(unit.tags)["layer"]
        return _fake_result(unit.key, "pretrain", {"eval_loss": 3.0 - k}, k, sweep,
                            {"model_dir": "d"})["outputs"], [
            _fake_result(unit.key, "pretrain", {"eval_loss": 3.0 - k}, k, sweep)["records"][0]
        ]  # fmt: skip

    results = runner.run_locally([select] + pre, lambda u: runner.execute_unit(u, out, job))
    assert calls == [pre[0].key, pre[1].key, select.key] and len(results) == 3
    runner.run_locally([select] + pre, lambda u: runner.execute_unit(u, out, job))
    assert len(calls) == 3  # all done: nothing reruns
    logs = unit_logs(out)
    assert all(len(lines) == 2 and "start" in lines[0] and "done" in lines[1]
               for lines in logs.values())  # fmt: skip
    records, selections = runner.collect([select] + pre, out)
    assert [r["selected"] for r in records] == [False, True]  # layer 1 has the lower loss
    assert selections[0]["chosen"] == 1
    assert "3 units: 3 done, 0 pending" in runner.describe([select] + pre, out)


def test_read_curve_keeps_the_eval_lines_by_step_last_wins(tmp_path):
    lines = [
        {"step": 10, "phase": "seq128", "mlm_loss": 9.0},  # a training line: not the curve
        {"step": 10, "split": "eval", "mlm_loss": 5.0, "mlm_accuracy": 0.1, "learning_rate": 1},
        {"step": 20, "split": "eval", "mlm_loss": 4.0, "mlm_accuracy": 0.2},
        {"step": 20, "split": "eval", "mlm_loss": 3.9, "mlm_accuracy": 0.25},  # resumed: again
        {
            "split": "eval",
            "step": 30,
            "mlm_loss": 3.0,
            "mlm_accuracy": 0.3,
            "bigram_shift_balanced_accuracy": 0.7,
            "bigram_shift_swapped_recall": 0.6,
            "nsp_majority_baseline": 0.5,
        },  # the final evaluation  # fmt: skip
    ]
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert jobs.read_curve(str(tmp_path)) == [
        {"step": 10, "mlm_loss": 5.0, "mlm_accuracy": 0.1},
        {"step": 20, "mlm_loss": 3.9, "mlm_accuracy": 0.25},
        {"step": 30, "mlm_loss": 3.0, "mlm_accuracy": 0.3, "bigram_shift_balanced_accuracy": 0.7},
    ]
    assert jobs.read_curve(str(tmp_path / "none")) == []


def test_squad2_records_keep_hasans_and_noans_f1(tmp_path):
    from hbert_tf.finetuning import builtin_tasks
    from hbert_tf.finetuning.tasks import study_task

    squad_task = study_task("squad2.0")
    _, dev = builtin_tasks.write_builtin_squad(str(tmp_path), 0, 10, 20, "2.0")
    chance = squad_task.chance_values({"dev": dev}, "squad2.0")
    assert set(chance) == {"exact_match", "f1", "HasAns_f1", "NoAns_f1"}
    # answering nothing is right on every unanswerable question only
    assert chance["NoAns_f1"] == 100.0 and chance["HasAns_f1"] == 0.0
    official = {"exact": 50.0, "f1": 55.0, "total": 8.0, "HasAns_exact": 20.0, "HasAns_f1": 30.0,
                "HasAns_total": 4.0, "NoAns_exact": 80.0, "NoAns_f1": 80.0}  # fmt: skip
    assert squad_task.record_values(official, "squad2.0") == {
        "exact_match": 50.0, "f1": 55.0, "HasAns_f1": 30.0, "NoAns_f1": 80.0}  # fmt: skip
    assert squad_task.record_values({"exact": 1.0, "f1": 2.0}, "squad1.1") == {
        "exact_match": 1.0, "f1": 2.0}  # fmt: skip


# --- the binary ---------------------------------------------------------------------------------
def test_dry_run_lists_units_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = run_study("--study=tiny", f"--output_dir={out}", "--dry_run", "--throughput=2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pending data-corpus-builtin-" in result.stdout
    assert "<- data-corpus-builtin-" in result.stdout
    assert "0 done," in result.stdout and not out.exists()
    # one seed: said once; the compute plan per unit and in total, at the given rate
    assert result.stdout.count("confidence intervals need 2 or more seeds") == 1
    assert "time at 2 TFLOP/s per device (--throughput) x 1 device" in result.stdout
    assert "pretrain-bert-" in result.stdout.split("Compute plan")[1]
    assert "Study total: " in result.stdout
    result = run_study("--study=tiny", "--dry_run", "--seeds=0,1", "--device=H100", "--mfu=-0.5")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --mfu=-0.5: expected a fraction of the peak, 0 < mfu <= 1"
    )
    assert "confidence intervals need" not in result.stdout


def test_dry_run_flops_match_a_hand_count_and_bad_rates_are_refused():
    from hbert_tf.study import planning

    study = spec.load_study("tiny")  # encoder: 3 blocks, d 32, inner 64; vocabulary 600
    all_units = units.expand(study, {})
    planner = planning.Planner(study, all_units)
    by_kind = {}
    for unit in all_units:
        by_kind.setdefault(unit.kind, []).append(planner.unit_flops(unit))
    # pre-training: 30 steps x 16 sequences of 64 tokens with 10 predictions; per sequence, 2
    # FLOPs per multiply-add: projections 3 blocks x (4 d^2 + 2 d inner) x 64 tokens, attention
    # 3 x 2 x 64^2 x d, MLM head 10 x (d^2 + d x 600); training 3x the forward
    forward = 2 * (
        3 * (4 * 32 * 32 + 2 * 32 * 64) * 64 + 3 * 2 * 64**2 * 32 + 10 * (32 * 32 + 32 * 600)
    )
    assert forward == 5_123_072
    assert set(by_kind["pretrain"]) == {30 * 16 * 3 * forward}
    # fine-tuning: 10 steps x 16 sequences of 48 tokens, no MLM head
    forward = 2 * (3 * (4 * 32 * 32 + 2 * 32 * 64) * 48 + 3 * 2 * 48**2 * 32)
    assert set(by_kind["finetune"]) == {10 * 16 * 3 * forward}
    assert set(by_kind["data"]) == set(by_kind["chance"]) == set(by_kind["select"]) == {0.0}
    assert min(by_kind["probe"]) > 0
    text = planning.describe_plan(study, all_units, 1.0, "1 TFLOP/s")
    total = sum(sum(v) for v in by_kind.values())
    assert text.splitlines()[-1] == f"Study total: {total:.3e} FLOP, ~{total / 1e12:.1f} s"
    # finished units: measured time beside the estimate, and the ratio over them
    pre = [u for u in all_units if u.kind == "pretrain"][:2]
    measured = {pre[0].key: 2.0, pre[1].key: 6.0}
    text = planning.describe_plan(study, all_units, 1.0, "1 TFLOP/s", measured)
    flops = 30 * 16 * 3 * 5_123_072
    line = next(x for x in text.splitlines() if x.startswith(f"  {pre[1].key}:"))
    assert line.endswith(f"; measured 6.0 s ({flops / 6.0 / 1e12:.3g} TFLOP/s)")
    ratio = 8.0 / (2 * flops / 1e12)
    assert text.splitlines()[-1] == (
        f"Finished units: estimated {2 * flops / 1e12:.1f} s, measured 8.0 s "
        f"(measured / estimated = {ratio:.2f}; {2 * flops / 8.0 / 1e12:.3g} TFLOP/s achieved)"
    )
    assert planning.device_rate(device="h100", mfu=0.5, num_devices=8)[0] == 989.0 * 0.5 * 8
    for kwargs, flag in (
        ({"throughput": 0.0}, "--throughput=0.0"),
        ({"throughput": -3.0}, "--throughput=-3.0"),
        ({"device": "H100", "mfu": 0.0}, "--mfu=0.0"),
        ({"device": "H100", "mfu": 1.5}, "--mfu=1.5"),
        ({"throughput": 1.0, "num_devices": 0}, "--num_devices=0"),
        ({"device": "Z80"}, "--device=Z80"),
    ):
        with pytest.raises(UserError, match=f"^{flag}: expected"):
            planning.device_rate(**kwargs)


def test_a_study_on_the_pydoc_corpus_validates_and_expands(tmp_path):
    """`"corpora": ["pydoc"]`: Python's documentation topics, with no --data; the corpus' unit
    reads them (its key follows their text) and every pre-training record is tagged pydoc."""
    from hbert_tf.text import pydoc_corpus

    path = write_study(tmp_path / "pydoc.json", corpora=["pydoc"])
    (corpus,) = [u for u in units.expand(spec.load_study(path), {}) if "corpus" in u.name]
    assert corpus.name == "corpus-pydoc" and corpus.config.input_format == "pydoc"
    assert corpus.config.identity == (pydoc_corpus.identity(),)
    out = tmp_path / "out"
    result = run_study(f"--study={path}", f"--output_dir={out}", "--dry_run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "pending data-corpus-pydoc-" in result.stdout and "<- data-corpus-pydoc-" in result.stdout
    )
    assert "corpus-builtin" not in result.stdout and not out.exists()


def test_bad_study_and_missing_data_fail_before_training(tmp_path):
    out = tmp_path / "out"
    bad = write_study(tmp_path / "bad.json", variants=[{"model": "lower_mask", "layers": "x"}])
    result = run_study(f"--study={bad}", f"--output_dir={out}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        'error: study bad.json: variants[0].layers: expected a list of ints or "all", got "x"'
    )
    missing = tmp_path / "dev-v1.1.json"
    result = run_study("--study=tiny", f"--output_dir={out}", f"--data=squad_v1_dev={missing}")
    assert result.returncode == 1
    assert f"error: --data squad_v1_dev: {missing}: file not found" in result.stderr
    assert not out.exists()


# --- end to end ---------------------------------------------------------------------------------
# The tests that read the tiny run share one pytest-xdist worker, so it runs once, not once per
# worker (a session fixture is per worker).
TINY_RUN_GROUP = pytest.mark.xdist_group("tiny_study")


def copy_with_units_removed(source, out, fraction):
    """`out` holds the tiny run's unit folders except the last `fraction` of them in dependency
    order (a study stopped part way); returns (all keys in order, the removed keys)."""
    shutil.copytree(source / "units", out / "units")
    order = [u["key"] for u in json.loads((source / "units.json").read_text())]  # deps first
    removed = order[len(order) - int(len(order) * fraction) :]
    for key in removed:
        shutil.rmtree(out / "units" / key)
    return order, removed


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny study run once, uninterrupted (shared by the end-to-end tests)."""
    out = tmp_path_factory.mktemp("tiny_study") / "out"
    start = time.time()
    result = run_study("--study=tiny", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr[-4000:]
    records = json.loads((out / "records.json").read_text())
    return out, records, result, time.time() - start


def _check_tables(records, probing_tasks, sweeps_and_cross=True):
    selected = [r for r in records if r["selected"]]
    table1 = {(r["model"], r["task"]) for r in selected
              if r["task"].startswith("squad") and r["ft_concat"] == r["pt_concat"]}  # fmt: skip
    table2 = {(r["model"], r["pt_concat"]) for r in selected if r["task"] == "mnli"}
    table3 = {(r["pt_concat"], r["ft_concat"]) for r in selected
              if r["task"].startswith("squad") and r["model"] == "bert"}  # fmt: skip
    table4 = {r["task"] for r in selected if r["kind"] == "probe" and r["model"] != "chance"}
    assert ("chance", "squad1.1") in table1 and ("bert", "squad1.1") in table1
    assert ("bert", "none") in table2 and ("chance", "none") in table2
    assert ("none", "none") in table3
    if sweeps_and_cross:
        assert ("lower_nsp", "squad1.1") in table1 and ("lower_nsp", "cls") in table2
        assert {("none", "cls"), ("none", "nsp")} <= table3
    assert table4 == set(probing_tasks)
    for r in records:
        assert set(r) - {"curve"} == {"unit", "kind", "model", "corpus", "pt_concat", "ft_concat",
                                      "layer", "selected", "task", "seed", "metrics"}  # fmt: skip
        if r["kind"] == "pretrain":  # held-out learning curve and baselines beside accuracies
            assert r["curve"] and r["curve"][-1]["step"] > r["curve"][0]["step"]
            assert {"nsp_majority_baseline", "mlm_unigram_baseline"} <= set(r["metrics"])
        if r["task"] == "squad1.1":
            assert set(r["metrics"]) == {"exact_match", "f1"} and 0 <= r["metrics"]["f1"] <= 100
        if r["task"] == "mnli":
            assert set(r["metrics"]) == {"matched_accuracy", "mismatched_accuracy"}


@pytest.mark.slow
@TINY_RUN_GROUP
def test_tiny_study_end_to_end(tiny_run):
    out, records, result, seconds = tiny_run
    study = spec.load_study("tiny")
    _check_tables(records, study.probing_tasks)
    # Sweeps: every layer has a pre-training record; exactly one per sweep is selected.
    sweep = [r for r in records if r["model"] == "lower_nsp" and r["task"] == "pretrain"]
    assert sorted(r["layer"] for r in sweep) == [0, 1] and sum(r["selected"] for r in sweep) == 1
    selections = json.loads((out / "selections.json").read_text())
    chosen = {s["model"]: s["chosen"] for s in selections}
    scores = {s["model"]: s["scores"] for s in selections}
    best = min(scores["lower_nsp"], key=lambda k: (scores["lower_nsp"][k], int(k)))
    assert chosen["lower_nsp"] == int(best)
    downstream = [r for r in records if r["model"] == "lower_nsp" and r["task"] == "mnli"]
    assert [r["layer"] for r in downstream] == [chosen["lower_nsp"]]
    # The built-in corpus is compared with the paper's WikiText-2 columns (compare_with).
    assert study.compare_with == (("builtin", "wikitext"),)
    table2 = json.loads((out / "report.json").read_text())["tables"]["table2"]
    bert = next(r for r in table2["rows"] if (r["model"], r["pt_concat"]) == ("bert", "none"))
    paper = paper_values.paper_value("table2", "bert", "wikitext", "none", "none", "mnli",
                                     "matched_accuracy")  # fmt: skip
    assert paper == 71.7 and bert["cells"][0][0]["paper"] == paper
    # The curves: an evaluation every 10 steps (curve_eval_every of 30 steps), in the report.
    bert = next(r for r in records if r["model"] == "bert" and r["task"] == "pretrain")
    assert [p["step"] for p in bert["curve"]] == [10, 20, 30]
    assert bert["curve"][-1]["mlm_accuracy"] == pytest.approx(bert["metrics"]["mlm_accuracy"])
    assert (out / "plots" / "curves-builtin.png").is_file() and (out / "pretraining.csv").is_file()
    # Every unit ran once; progress was printed.
    logs = unit_logs(out)
    assert len(logs) == len(json.loads((out / "units.json").read_text()))
    assert all([line.split()[1] for line in lines] == ["start", "done"] for lines in logs.values())
    assert f"[{len(logs)}/{len(logs)}]" in result.stdout
    # Quiet: one line per unit and the report on stdout, nothing on stderr; each unit's own
    # progress lines, log records and warnings are in its output.log.
    assert sum(line.startswith("[") for line in result.stdout.splitlines()) == len(logs)
    assert result.stderr == "", result.stderr[-3000:]
    pretrain = next(k for k in logs if k.startswith("pretrain-bert-"))
    output = (out / "units" / pretrain / runner.UNIT_OUTPUT).read_text()
    assert "phase seq64: steps 0..30" in output and "pre-training: 30/30 steps (100%)" in output
    print(f"tiny study: {len(logs)} units in {seconds:.0f} s")


@pytest.mark.slow
@TINY_RUN_GROUP
def test_tiny_study_resumes_after_sigkill(tiny_run, tmp_path):
    """The tiny study with its last quarter of units not yet run (a copy of the uninterrupted run's
    folder without them) is started, SIGKILLed in the middle of a unit after at least one more
    finished, and rerun: it finishes, no unit finishes twice, finished units do not rerun, and
    the records equal the uninterrupted run's."""
    source, reference = tiny_run[0], tiny_run[1]
    out = tmp_path / "out"
    order, removed = copy_with_units_removed(source, out, 1 / 4)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen(
        study_cmd("--study=tiny", f"--output_dir={out}"), cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 900
    while time.time() < deadline and process.poll() is None:
        if any((out / "units" / k / runner.RESULT).is_file() for k in removed):
            break
        time.sleep(0.5)
    assert process.poll() is None, "the study ended before it could be killed"
    time.sleep(3)  # into the next unit
    process.send_signal(signal.SIGKILL)
    process.wait()
    units_dir = out / "units"
    done_before = {k for k in os.listdir(units_dir) if (units_dir / k / runner.RESULT).is_file()}
    assert set(order) - done_before and not (out / "records.json").exists()
    result = run_study("--study=tiny", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr[-4000:]
    logs = unit_logs(str(out))
    assert sorted(logs) == sorted(order)
    for key, lines in logs.items():
        words = [line.split()[1] for line in lines]
        assert words.count("done") == 1, key  # no unit finished twice
        if key in done_before:
            assert words == ["start", "done"], key  # finished units did not rerun
    killed = [k for k, lines in logs.items() if [x.split()[1] for x in lines].count("start") == 2]
    assert len(killed) == 1  # the unit running at the kill started again
    records = json.loads((out / "records.json").read_text())
    assert comparable(records) == comparable(reference)


@pytest.mark.slow
def test_every_data_name_points_at_real_format_files(tmp_path):
    from tests.test_pretrained import write_hf_bert_dir

    files = write_real_format_files(tmp_path)
    write_hf_bert_dir(tmp_path / "hf_bert")
    files["pretrained_bert"] = str(tmp_path / "hf_bert")
    values = json.loads(open(os.path.join(spec.STUDIES_DIR, "tiny.json")).read())
    values["encoder"] = os.path.join(spec.STUDIES_DIR, "encoders", "tiny3.json")
    values["corpora"] = ["wikitext"]
    del values["compare_with"]  # WikiText is the paper's own corpus
    values["corpus_data"].update(vocab_size=200, eval_documents=20)
    values["pretrain"].update(eval_batch_size=4)
    values["variants"] = [{"model": "bert"}]
    values["downstream"]["tasks"] = ["squad1.1", "squad2.0", "mnli"]
    values["downstream"]["concat_cross"] = []
    values["downstream"]["settings"].update(max_seq_length=32, train_steps=4)
    values["downstream"]["task_settings"] = {
        t: {"doc_stride": 8, "max_query_length": 8} for t in ("squad1.1", "squad2.0")
    }
    values["probing"]["tasks"] = ["sentence_length", "bigram_shift"]
    values["baselines"] = ["pretrained_bert", "bilstm"]
    study = tmp_path / "real.json"
    study.write_text(json.dumps(values))
    out = tmp_path / "out"
    flags = [f"--data={name}={path}" for name, path in files.items()]
    result = run_study(f"--study={study}", f"--output_dir={out}", *flags)
    assert result.returncode == 0, result.stderr[-4000:]
    records = json.loads((out / "records.json").read_text())
    _check_tables(records, ["sentence_length", "bigram_shift"], sweeps_and_cross=False)
    tasks = {(r["model"], r["task"]) for r in records if r["selected"]}
    for task in ("squad1.1", "squad2.0", "mnli"):
        assert ("pretrained_bert", task) in tasks and ("bilstm", task) in tasks
    assert ("pretrained_bert", "bigram_shift") in tasks
    assert {r["corpus"] for r in records if r["model"] == "bert"} == {"wikitext"}
    chance = {r["task"]: r["metrics"] for r in records if r["model"] == "chance"}
    assert chance["mnli"]["matched_accuracy"] == pytest.approx(100 * 2 / 3)  # 2 of 3 neutral
    assert chance["sentence_length"]["accuracy"] == pytest.approx(50.0)


def write_real_format_files(folder):
    """WikiText raw, SQuAD 1.1 / 2.0 JSON, MultiNLI TSV, SentEval probing lines, a .vec file."""
    from hbert_tf.finetuning import builtin_tasks
    from hbert_tf.text import builtin_corpus

    docs = list(builtin_corpus.generate_documents(0, 40))
    wiki = folder / "wikitext-2-raw"
    wiki.mkdir()
    text = "".join(f" = Article {i} = \n\n" + " ".join(s.text for s in d.sentences) + " \n\n"
                   for i, d in enumerate(docs))  # fmt: skip
    (wiki / "wiki.train.raw").write_text(text)
    files = {"wikitext": str(wiki)}
    for version, tag in (("1.1", "v1"), ("2.0", "v2")):
        for split, (lo, hi) in (("train", (0, 30)), ("dev", (30, 40))):
            path = folder / f"{split}-{tag}.json"
            path.write_text(json.dumps(builtin_tasks.make_squad(0, hi, lo, version)))
            files[f"squad_{tag}_{split}"] = str(path)
    header = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tgold_label\n"
    rows = builtin_tasks.make_nli(0, 30)
    labels = ["neutral", "neutral", "entailment"]
    for name in ("mnli_train", "mnli_dev_matched", "mnli_dev_mismatched"):
        path = folder / f"{name}.tsv"
        lines = [f"{i}\t{i}\t{i}{name[-3:]}\tfiction\t{r['sentence1']}\t{r['sentence2']}\t"
                 f"{r['gold_label'] if name == 'mnli_train' else labels[i % 3]}\n"
                 for i, r in enumerate(rows if name == "mnli_train" else rows[:3])]  # fmt: skip
        path.write_text(header + "".join(lines))
        files[name] = str(path)
    probing = folder / "probing"
    probing.mkdir()
    sentences = [" ".join(s.text for s in d.sentences[:1]) for d in docs]
    for task in ("sentence_length", "bigram_shift"):
        lines = [f"{split}\t{i % 2}\t{sentences[i % len(sentences)]}\n"
                 for split, n in (("tr", 40), ("va", 10), ("te", 10)) for i in range(n)]  # fmt: skip
        (probing / f"{task}.txt").write_text("".join(lines))
    files["senteval_probing"] = str(probing)
    words = sorted({w for d in docs for s in d.sentences for w in s.text.split()})[:50]
    vec = folder / "vectors.vec"
    vec.write_text(f"{len(words)} 4\n" + "".join(f"{w} 0.1 0.2 0.3 0.4\n" for w in words))
    files["fasttext"] = str(vec)
    return files


@pytest.mark.slow
@TINY_RUN_GROUP
def test_tiny_study_on_a_two_node_ray_cluster_survives_a_killed_worker(
    tiny_run, tmp_path, monkeypatch
):
    """The tiny study with --ray_address on a Ray head plus one more node (localhost, two logical
    CPUs each: the corpus data unit asks for 2), resumed from its first two thirds (a copy of the
    local run's folder; the last third holds a pre-training and fine-tunings and probes that
    read it). A worker running a pre-training unit is SIGKILLed in the middle: the study
    completes, no unit finishes twice, finished units get no task, and the records equal the
    local run's."""
    import psutil
    from ray.cluster_utils import Cluster

    # The Ray workers import trainers.study_data and this checkout's hbert_tf.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    node = dict(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False)
    cluster = Cluster(initialize_head=True, head_node_args=node)
    out = tmp_path / "out"
    order, removed = copy_with_units_removed(tiny_run[0], out, 1 / 3)
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        study = subprocess.Popen(
            study_cmd("--study=tiny", f"--output_dir={out}", f"--ray_address={cluster.address}"),
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        killed, deadline = None, time.time() + 900
        while killed is None and time.time() < deadline and study.poll() is None:
            for process in psutil.process_iter(["pid", "cmdline"]):
                title = " ".join(process.info["cmdline"] or [])
                key = title.split()[0][len("ray::") :] if title.startswith("ray::") else ""
                log = out / "units" / key / runner.UNIT_LOG
                if key.startswith("pretrain-") and log.is_file() and "start" in log.read_text():
                    os.kill(process.info["pid"], signal.SIGKILL)  # the unit's worker dies
                    killed = key
                    break
            time.sleep(0.5)
        output, _ = study.communicate(timeout=1800)
    finally:
        cluster.shutdown()
    assert killed, "no pre-training unit was seen running on the cluster"
    assert study.returncode == 0, output[-4000:]
    logs = unit_logs(out)
    assert sorted(logs) == sorted(order)
    assert all(sum(line.split()[1] == "done" for line in lines) == 1 for lines in logs.values())
    assert sum(line.split()[1] == "start" for line in logs[killed]) == 2  # retried once
    assert all(len(logs[key]) == 2 for key in set(order) - set(removed) - {killed})  # no rerun
    records = json.loads((out / "records.json").read_text())
    assert comparable(records) == comparable(tiny_run[1])


@pytest.mark.slow
def test_reduced_evidence_study_reports_intervals_and_paired_verdicts(tmp_path):
    """The evidence study's code path at a reduced size (issue 19): its study file with a tiny
    encoder, few steps, BERT and Without NSP against no pre-training, SQuAD 2.0-style QA only,
    and 2 seeds given with --seeds: every cell gets an interval, HasAns and NoAns F1 are kept,
    the pre-training table has its baselines, and the Without NSP finding a paired verdict."""
    values = json.loads(open(os.path.join(spec.STUDIES_DIR, "evidence.json")).read())
    values["encoder"] = os.path.join(spec.STUDIES_DIR, "encoders", "tiny3.json")
    values["corpus_data"].update(builtin_documents=60, eval_documents=10, vocab_size=600,
                                 dupe_factor=1, num_shards=1)  # fmt: skip
    values["pretrain"].update(train_steps=20, warmup_steps=2, eval_every=10, log_every=10,
                              checkpoint_every=20, jit_compile=False, long_seq_fraction=0.0)  # fmt: skip
    values["variants"] = [{"model": "bert"}, {"model": "without_nsp"}]
    values["downstream"].update(tasks=["squad2.0"], builtin_documents=24)
    values["downstream"]["settings"].update(train_steps=8, checkpoint_every=8, max_seq_length=48)
    values["downstream"]["task_settings"] = {"squad2.0": {"doc_stride": 32, "max_query_length": 16}}
    values["probing"] = {
        "tasks": ["sentence_length"],
        "settings": {"max_epochs": 1, "patience": 1, "hidden_units": 8, "max_seq_length": 32},
        "generate": {"train_size": 60, "dev_size": 20, "test_size": 20, "num_documents": 200,
                     "num_length_bins": 3},
    }  # fmt: skip
    path = tmp_path / "evidence_reduced.json"
    path.write_text(json.dumps(values))
    out = tmp_path / "out"
    result = run_study(f"--study={path}", f"--output_dir={out}", "--seeds=0,1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "note:" not in result.stdout  # 2 seeds: no "intervals need 2 or more" note
    records = json.loads((out / "records.json").read_text())
    qa = [r for r in records if r["task"] == "squad2.0" and r["model"] == "bert"]
    assert sorted(r["seed"] for r in qa) == [0, 1]
    assert all({"HasAns_f1", "NoAns_f1"} <= set(r["metrics"]) for r in qa)
    report = json.loads((out / "report.json").read_text())
    table1 = report["tables"]["table1"]
    bert = next(r for r in table1["rows"] if r["model"] == "bert")
    f1 = next(c for c in bert["cells"][0] if c["metric"] == "f1")
    assert f1["n"] == 2 and f1["ci_low"] <= f1["mean"] <= f1["ci_high"]
    pretrain = [r for r in records if r["task"] == "pretrain" and r["model"] == "bert"]
    assert all("nsp_majority_baseline" in r["metrics"] for r in pretrain)
    assert all("mlm_unigram_baseline" in r["metrics"] for r in pretrain)
    (without_nsp,) = [f for f in report["findings"] if f["claim"].startswith("Without NSP")]
    assert without_nsp["seeds"] == 2
    assert without_nsp["verdict"] in ("agrees", "disagrees", "inconclusive", "mixed")
    assert "paired over up to 2 seeds" in (out / "report.md").read_text()


def test_a_finished_unit_whose_outputs_are_gone_reruns_only_if_a_pending_unit_reads_them(
    tmp_path,
):
    """A study folder moved without its model dirs and data (to keep it small) resumes: the
    producers a pending unit reads run again, and finished readers are left alone."""
    out = str(tmp_path)
    data = units.Unit("data", "d", units.Chance("d"))
    pre = units.Unit("pretrain", "p", units.Chance("p"), (("data", data.key),))
    done_reader = units.Unit("finetune", "f1", units.Chance("f1"), (("model", pre.key),))
    later_reader = units.Unit("finetune", "f2", units.Chance("f2"), (("model", pre.key),))
    calls = []

    def job(unit, run_dir, inputs):
        calls.append(unit.name)
        for role, result in inputs.items():  # what a real job does: read its inputs' files
            assert os.path.isdir(result["outputs"]["dir"]), (unit.name, role)
        os.makedirs(os.path.join(run_dir, "out"), exist_ok=True)
        return {"dir": os.path.join(run_dir, "out")}, []

    run = lambda us: runner.run_locally(us, lambda u: runner.execute_unit(u, out, job))  # noqa: E731
    run([data, pre, done_reader])
    assert calls == ["d", "p", "f1"]
    for unit in (data, pre):  # the copy kept result.json and logs, not the big folders
        shutil.rmtree(os.path.join(runner.unit_dir(out, unit.key), "out"))
    everything = [data, pre, done_reader, later_reader]
    assert runner.rerun_lost_outputs(everything, out) == [pre.key, data.key]
    run(everything)
    assert calls == ["d", "p", "f1", "d", "p", "f2"]  # f1 is not rerun
    assert runner.rerun_lost_outputs(everything, out) == []  # all done: nothing is marked
    shutil.rmtree(os.path.join(runner.unit_dir(out, pre.key), "out"))
    assert runner.rerun_lost_outputs(everything, out) == []  # no pending reader: left alone
