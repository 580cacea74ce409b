"""Probes frozen encoders on SentEval's probing tasks and compares them as in the paper's Table 4.

```
python -m trainers.probe --model_dir=runs/bert,runs/lower_nsp --task_dir=SentEval/data/probing \
    --output_dir=runs/probing [--tasks=all] [--layer=nsp] [--pooling=cls] [--classifier=mlp]
```
For every model, layer, pooling and task: features of the frozen encoder (cached under
`<output_dir>/cache/`), then a probe trained on tr with early stopping on va, accuracy on te.
Writes `<output_dir>/probing.json` (after every probe, so a long run keeps what it finished),
`probing.txt` (the table) and `probing.png` (a bar chart). No SentEval files? Generate tasks with
`python -m tfrecords.probing_tasks --output_dir=<task_dir>`.
"""

import dataclasses
import json
import os
import sys

from absl import app, flags, logging

from hbert_tf import console
from hbert_tf.errors import check_output_dir, main_entry
from hbert_tf.files import write_json_atomic, write_text_atomic
from hbert_tf.probing import features as probing_features
from hbert_tf.probing import report as probing_report
from hbert_tf.probing import run as probing
from hbert_tf.probing import senteval_format
from hbert_tf.run_config import ProbeRunConfig
from hbert_tf.run_flags import config_from_flags, define_flags

FLAGS = flags.FLAGS
define_flags(ProbeRunConfig)  # one flag per field, help from the field


def load(config):
    """The tasks and models of a probing run; every --layer value is checked on every model."""
    tasks = [
        senteval_format.read_task(path, name).limit_train(config.max_train_examples, config.seed)
        for name, path in senteval_format.find_task_files(config.task_dir, config.tasks)
    ]
    models = [
        probing_features.ProbingModel(
            d,
            config.max_seq_length,
            vocab_path=config.vocab_file,
            config=config.config,
            seed=config.seed,
            mixed_precision=config.mixed_precision,
            jit_compile=config.jit_compile,
        )  # fmt: skip
        for d in config.model_dir
    ]
    duplicate_names = len({m.name for m in models}) < len(models)
    for model in models:
        if duplicate_names:
            model.name = model.model_dir
        for spec in config.layer:  # all layer values checked before any work
            probing_features.resolve_probe_layer(spec, model.layout)
    return tasks, models


def report(config, records):
    """probing.txt (the table) and probing.png next to probing.json; prints the table."""
    table = probing_report.format_table(records)
    write_text_atomic(os.path.join(config.output_dir, "probing.txt"), table + "\n")
    probing_report.plot_results(os.path.join(config.output_dir, "probing.png"), records)
    print(table)
    console.say(f"wrote {config.output_dir}/probing.{{json,txt,png}}")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    config = config_from_flags(ProbeRunConfig)  # parse and validate
    config.require("model_dir", "task_dir", "output_dir")
    check_output_dir(config.output_dir, "output_dir")
    tasks, models = load(config)  # build
    os.makedirs(config.output_dir, exist_ok=True)
    settings = {**config.to_dict(), "probe": dataclasses.asdict(config.probe())}
    logging.info("probe settings: %s", json.dumps(settings, sort_keys=True))
    write_json_atomic(os.path.join(config.output_dir, "probe_settings.json"), settings)
    cache_dir = os.path.join(config.output_dir, "cache")
    records = probing.probe_models(  # run
        models, tasks, config.layer, config.pooling, config.probe(), config.output_dir,
        config.seed, config.batch_size, probing_features.FeatureCache(cache_dir) if config.cache else None,
        verbose=int(sys.stdout.isatty()),
    )  # fmt: skip
    report(config, records)


def run():
    app.run(main_entry(main, outputs=("output_dir",)))


if __name__ == "__main__":
    run()
