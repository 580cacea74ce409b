"""A probing run with SentEval's 10 probing tasks (Conneau et al. 2018; Table 4).

Every model x layer x pooling x task: features (`probing_features`), a probe trained on them
(`probing_classifier`), a record in `probing.json`; tables and charts: `probing_report`. The task
files' format is `senteval_format`; the run's settings `run_config.ProbeRunConfig`.
"""

import dataclasses
import os
import time

from absl import logging

from hbert_tf import console
from hbert_tf.probing.classifier import train_probe
from hbert_tf.probing.features import resolve_probe_layer
from hbert_tf.probing.senteval_format import SPLITS, TASK_CODES
from hbert_tf.weights.model_dir import write_json_atomic


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
