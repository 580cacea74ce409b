"""A probing run with SentEval's 10 probing tasks (Conneau et al. 2018; Table 4).

`run_probe(config)` is the one entry point (`trainers.probe` and the study's probe units call
it): every model x layer x pooling x task gets features (`features`), a probe trained on them
(`classifier`) and a record in `probing.json`; then the table and chart (`report`). The task
files' format is `senteval_format`; the run's settings `run_config.ProbeRunConfig`.
"""

import dataclasses
import json
import os
import time

from absl import logging

from hbert_tf import console, files
from hbert_tf.errors import check_output_dir
from hbert_tf.files import write_json_atomic, write_text_atomic
from hbert_tf.probing import report as probing_report
from hbert_tf.probing import senteval_format
from hbert_tf.probing.classifier import train_probe
from hbert_tf.probing.features import FeatureCache, ProbingModel, resolve_probe_layer
from hbert_tf.probing.senteval_format import SPLITS, TASK_CODES

SETTINGS_FILE = "probe_settings.json"


def run_probe(config, verbose=0):
    """Runs the probing run of `config` (a `ProbeRunConfig`): checks everything first (tasks,
    models, every `--layer` on every model), then probes.

    Writes into `config.output_dir`: probe_settings.json (the resolved config), probing.json
    (after every probe), probing.txt (the table) and probing.png (the chart); features are cached
    under cache/ when `config.cache`.

    Args:
        config: ProbeRunConfig with model_dir, task_dir and output_dir set.
        verbose: int. 1: a progress bar per feature extraction; 0: none.

    Returns: list of dict, probing.json's records (one per model, layer, pooling and task;
    accuracies 0-1).
    """
    config.require("model_dir", "task_dir", "output_dir")
    check_output_dir(config.output_dir, "output_dir")
    tasks, models = load(config)
    files.makedirs(config.output_dir)
    settings = {**config.to_dict(), "probe": dataclasses.asdict(config.probe())}
    logging.info("probe settings: %s", json.dumps(settings, sort_keys=True))
    write_json_atomic(os.path.join(config.output_dir, SETTINGS_FILE), settings)
    cache = FeatureCache(os.path.join(config.output_dir, "cache")) if config.cache else None
    records = probe_models(
        models, tasks, config.layer, config.pooling, config.probe(), config.output_dir,
        config.seed, config.batch_size, cache, verbose,
    )  # fmt: skip
    table = probing_report.format_table(records)
    write_text_atomic(os.path.join(config.output_dir, "probing.txt"), table + "\n")
    probing_report.plot_results(os.path.join(config.output_dir, "probing.png"), records)
    console.say(f"wrote {config.output_dir}/probing.{{json,txt,png}}")
    return records


def load(config):
    """The tasks and models (`ProbingModel`s) of a `ProbeRunConfig`; every `--layer` value is
    checked on every model before any work (ValueError naming the flag)."""
    tasks = [
        senteval_format.read_task(path, name).limit_train(config.max_train_examples, config.seed)
        for name, path in senteval_format.find_task_files(config.task_dir, config.tasks)
    ]
    models = [
        ProbingModel(
            model_dir,
            config.max_seq_length,
            vocab_path=config.vocab_file,
            config=config.config,
            seed=config.seed,
            mixed_precision=config.mixed_precision,
            jit_compile=config.jit_compile,
        )  # fmt: skip
        for model_dir in config.model_dir
    ]
    duplicate_names = len({m.name for m in models}) < len(models)
    for model in models:
        if duplicate_names:
            model.name = model.model_dir
        for spec in config.layer:
            resolve_probe_layer(spec, model.layout)
    return tasks, models


def probe_models(
    models, tasks, layers, poolings, config, output_dir, seed=0, batch_size=64, cache=None,
    verbose=1,
):  # fmt: skip
    """Probes every model x layer x pooling x task.

    Args:
        models: list of ProbingModel.
        tasks: list of ProbingTask.
        layers: list of `--layer` values ("nsp", "mlm", "embeddings", block indices).
        poolings: list of "cls" / "mean".
        config: ProbeConfig.
        output_dir: str. probing.json is rewritten there after every probe, so a long run keeps
            what it finished.
        seed: int. Seed of every probe.
        batch_size: int. Sentences per feature-extraction batch.
        cache: FeatureCache or None.
        verbose: int. 1: a progress bar per feature extraction; 0: none.

    Returns: list of dict, one record per probe (probing.json's "results").
    """
    records = []
    settings = {
        "probe": dataclasses.asdict(config),
        "batch_size": config.effective_batch_size,
        "seed": seed,
        "tasks": [t.path for t in tasks],
    }
    json_path = os.path.join(output_dir, "probing.json")
    for model in models:
        for spec in layers:
            choice = resolve_probe_layer(spec, model.layout)
            if choice.note:
                logging.warning("%s: --layer=%s: %s", model.name, spec, choice.note)
            for pooling in poolings:
                for task in tasks:
                    start = time.time()
                    features = model.features(task, choice, pooling, cache, batch_size, verbose)
                    result = train_probe(features, task.targets, task.num_classes, config, seed)
                    record = {
                        "model": model.name,
                        "model_dir": model.model_dir,
                        "checkpoint": model.checkpoint,
                        "variant": model.description,
                        "layer": choice.label,
                        "layer_spec": choice.spec,
                        "layer_key": choice.key,
                        "layer_note": choice.note,
                        "pooling": pooling,
                        "task": task.name,
                        "code": TASK_CODES.get(task.name, task.name),
                        "num_classes": task.num_classes,
                        "chance": task.chance("te"),
                        "num_examples": {s: len(task.targets[s]) for s in SPLITS},
                        "seconds": round(time.time() - start, 2),
                        **result,
                    }
                    records.append(record)
                    console.say(
                        f"{model.name} {choice.label} {pooling} {task.name}: te "
                        f"{100 * result['accuracy']:.1f}% (va {100 * result['val_accuracy']:.1f}%, "
                        f"chance {100 * record['chance']:.1f}%, {result['epochs']} epochs)"
                    )
                    write_json_atomic(json_path, {"settings": settings, "results": records})
    return records
