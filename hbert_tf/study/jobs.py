"""What each kind of unit does: pre-training, layer selection, fine-tuning, probing, chance, and
the downstream task files. (The corpus data and generated probing tasks need the data tools, so
`trainers/study_data.py` runs those.)

A job is `job(unit, run_dir, inputs) -> (outputs, records)`: `inputs` maps each of the unit's
input roles to that unit's result dict; `outputs` (paths, the chosen layer) go into the unit's
result for the units that read it; `records` follow the study's record contract (docs/study.md).
Fine-tuning and probing go through one adapter each (`run_finetune`, `run_probe`).
"""

import json
import os

import numpy as np

from hbert_tf import files
from hbert_tf.files import write_json_atomic
from hbert_tf.finetuning import tasks
from hbert_tf.study.spec import PRETRAIN_LOSS, TASK_MODELS
from hbert_tf.study.units import Chance, Selection, TaskData

RECORD_FIELDS = ("model", "corpus", "pt_concat", "ft_concat", "layer", "task", "seed")


def run_finetune(config):
    """Fine-tunes and evaluates one run of a downstream task's config; returns its metrics."""
    from hbert_tf.finetuning.run import run_finetune as run

    return run(config)


def run_probe(config):
    """Probes the models of a `ProbeRunConfig` on its tasks (`hbert_tf.probing.run.run_probe`);
    returns probing's records (one per model, layer, pooling and task; accuracy 0-1)."""
    from hbert_tf.probing.run import run_probe as probe

    return probe(config)


def record(unit, kind, metrics, **changes):
    """One record of the contract from the unit's tags (`changes` override them)."""
    tags = dict(unit.tags)
    values = {field: tags.get(field) for field in RECORD_FIELDS}
    values.update(changes)
    values["ft_concat"] = values["ft_concat"] or "none"
    values["pt_concat"] = values["pt_concat"] or "none"
    return {
        "unit": unit.key,
        "kind": kind,
        **values,
        "selected": unit.sweep is None,
        "metrics": {k: float(v) for k, v in metrics.items()},
    }


def run_job(unit, run_dir, inputs):
    """Runs a unit of kind pretrain, select, finetune, probe, chance, or a TaskData unit."""
    if unit.kind == "pretrain":
        return pretrain_job(unit, run_dir, inputs)
    if unit.kind == "select":
        return select_job(unit, run_dir, inputs)
    if unit.kind == "finetune":
        return finetune_job(unit, run_dir, inputs)
    if unit.kind == "probe":
        return probe_job(unit, run_dir, inputs)
    if unit.kind == "chance":
        return chance_job(unit, run_dir, inputs)
    if isinstance(unit.config, TaskData):
        return task_data_job(unit, run_dir)
    raise ValueError(f"{unit.key}: no job for this unit")


# --- data ---------------------------------------------------------------------------------------
def task_data_job(unit, run_dir):
    """The task's files: those given with --data, the built-in set for the splits not given."""
    config = unit.config
    task_files = dict(config.files)
    if config.task not in tasks.STUDY_NAMES:  # not a downstream task: a file read as it is
        return task_files, []  # (the fastText vectors)
    task = tasks.study_task(config.task)
    if len(task_files) < len(task.data_keys[config.task]):
        builtin = task.write_builtin(run_dir, config.builtin_seed, config.builtin_documents,
                                     config.task)  # fmt: skip
        task_files = {**builtin, **task_files}
    return task_files, []


# --- pre-training and selection -----------------------------------------------------------------
def pretraining_folder(config, data):
    """The corpus unit's data copy a pre-training config trains on: "swapped" for Bigram Shift,
    a task model's own copy (named after its task, e.g. "sop"), else "clean"."""
    for task in TASK_MODELS.values():
        if config.heads == task.study_heads:
            return data[task.name]
    return data["swapped"] if config.variant == "bigram_shift" else data["clean"]


def pretrain_job(unit, run_dir, inputs):
    from hbert_tf.pretraining.run import run_pretraining

    folder = pretraining_folder(unit.config, inputs["corpus"]["outputs"])
    short, long_ = (os.path.join(folder, f"seq{n}") for n in unit.config.max_seq_length)
    config = unit.config.replace(
        model_dir=os.path.join(run_dir, "model"),
        train_data_128=short,
        train_data_384=long_ if unit.config.long_seq_fraction > 0 else None,
        eval_data=short,
    )
    metrics = run_pretraining(config)
    losses = [v for k, v in metrics.items() if k.endswith("_loss") and "balanced" not in k]
    values = {"eval_loss": sum(losses)}
    values.update({k: v for k, v in metrics.items() if k.endswith(("accuracy", "_baseline"))})
    pretrain_record = record(unit, "pretrain", values, task="pretrain")
    pretrain_record["curve"] = read_curve(config.model_dir)
    return {"model_dir": config.model_dir}, [pretrain_record]


CURVE_SUFFIXES = ("_loss", "_accuracy")


def read_curve(model_dir):
    """The held-out learning curve of a pre-training run, from its train_log.jsonl.

    Returns:
        list of {"step": int, "<head>_loss": float, "<head>_accuracy": float, ...}, one per
        evaluation (`"split": "eval"` lines), by step; a step logged twice (a run resumed from
        an earlier checkpoint evaluates it again) keeps its last line.
    """
    path = os.path.join(model_dir, "train_log.jsonl")
    points = {}
    if files.isfile(path):
        with files.open(path) as f:
            for line in f:
                entry = json.loads(line)
                if entry.get("split") == "eval":
                    point = {k: float(v) for k, v in entry.items() if k.endswith(CURVE_SUFFIXES)}
                    points[int(entry["step"])] = {"step": int(entry["step"]), **point}
    return [points[step] for step in sorted(points)]


def select_job(unit, run_dir, inputs):
    """Scores each layer of the sweep (mean over seeds) and chooses; writes selection.json."""
    config = unit.config
    assert isinstance(config, Selection)
    by_loss = config.select_by == PRETRAIN_LOSS
    metric = "eval_loss" if by_loss else config.select_by.rsplit(".", 1)[1]
    source = "pretrain" if by_loss else "finetune"
    scores, model_dirs = {}, {}
    for layer in config.layers:
        values = []
        for seed in config.seeds:
            result = inputs[f"{source}/k{layer}/s{seed}"]
            values.append(result["records"][0]["metrics"][metric])
            model_dirs[layer, seed] = inputs[f"pretrain/k{layer}/s{seed}"]["outputs"]["model_dir"]
        scores[layer] = float(np.mean(values))
    best = min if by_loss else max
    chosen = best(sorted(scores), key=lambda k: scores[k])  # ties: the lower layer
    tags = dict(unit.tags)
    selection = {
        "model": tags["model"],
        "corpus": tags["corpus"],
        "pt_concat": tags["pt_concat"],
        "select_by": config.select_by,
        "scores": {str(k): v for k, v in scores.items()},
        "chosen": chosen,
    }
    write_json_atomic(os.path.join(run_dir, "selection.json"), selection)
    outputs = {
        "selection": selection,
        "chosen": chosen,
        "model_dirs": {str(seed): model_dirs[chosen, seed] for seed in config.seeds},
    }
    return outputs, []


def _model_source(unit, inputs):
    """(model dir or None, layer) of the model a downstream unit reads."""
    if "model" in inputs:
        return inputs["model"]["outputs"]["model_dir"], dict(unit.tags).get("layer")
    if "selection" in inputs:
        outputs = inputs["selection"]["outputs"]
        return outputs["model_dirs"][str(dict(unit.tags)["seed"])], outputs["chosen"]
    return None, None


# --- fine-tuning and probing --------------------------------------------------------------------
def finetune_job(unit, run_dir, inputs):
    fields = {}
    fields["model_dir"] = os.path.join(run_dir, "model")
    model_dir, layer = _model_source(unit, inputs)
    if model_dir:
        fields["init_from"] = model_dir
    if "vocab" in inputs:
        fields["vocab_file"] = inputs["vocab"]["outputs"]["vocab"]
    if "fasttext" in inputs:
        fields["embeddings"] = inputs["fasttext"]["outputs"]["vectors"]
    task_files = inputs["task_data"]["outputs"]
    task = dict(unit.tags)["task"]
    downstream_task = tasks.study_task(task)
    fields.update({field: task_files[split] for split, field in downstream_task.data_splits})
    metrics = run_finetune(unit.config.replace(**fields))
    values = downstream_task.record_values(metrics, task)
    return {"model_dir": fields["model_dir"]}, [record(unit, "finetune", values, layer=layer)]


def probe_job(unit, run_dir, inputs):
    model_dir, layer = _model_source(unit, inputs)
    model = dict(unit.tags)["model"]
    changes = {"output_dir": os.path.join(run_dir, "probe")}
    changes["task_dir"] = inputs["probing_data"]["outputs"]["task_dir"]
    if model == "no_pretraining":
        changes["model_dir"] = ("none",)
        changes["vocab_file"] = inputs["vocab"]["outputs"]["vocab"]
    elif model == "pretrained_bert":
        changes["model_dir"] = (unit.config.model_dir[0],)
    else:
        changes["model_dir"] = (model_dir,)
    results = run_probe(unit.config.replace(**changes))
    records = [
        record(unit, "probe", {"accuracy": 100 * r["accuracy"]}, task=r["task"], layer=layer)
        for r in results
    ]
    return {"probing_json": os.path.join(changes["output_dir"], "probing.json")}, records


# --- chance -------------------------------------------------------------------------------------
def chance_job(unit, run_dir, inputs):
    """Chance records: majority class (MultiNLI, probing), the best trivial SQuAD answer."""
    task = unit.config.task
    assert isinstance(unit.config, Chance)
    base = dict(model="chance", corpus=None, pt_concat="none", ft_concat="none", layer=None)
    task_files = inputs[f"{'probing' if task == 'probing' else 'task'}_data"]["outputs"]
    if task == "probing":
        from hbert_tf.probing import senteval_format

        records = []
        for name, path in senteval_format.find_task_files(
            task_files["task_dir"], task_files["tasks"]
        ):
            chance = senteval_format.read_task(path, name).chance("te")
            records.append(
                record(unit, "probe", {"accuracy": 100 * chance}, task=name, seed=0, **base)
            )
        return {}, records
    values = tasks.study_task(task).chance_values(task_files, task)
    return {}, [record(unit, "finetune", values, task=task, seed=0, **base)]
