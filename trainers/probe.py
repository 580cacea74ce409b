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

from hbert_tf import probing, senteval_format
from hbert_tf.errors import check_output_dir, main_entry
from hbert_tf.files import write_json_atomic, write_text_atomic

FLAGS = flags.FLAGS

# Probe presets; flags given explicitly override them.
PRESETS = {
    # The paper (Section 4.4): MLP with two hidden layers of 128 on the NSP level's [CLS],
    # Adam (default betas, AMSGrad) at lr 1e-3, batch 32, no weight decay.
    "paper": dict(
        classifier="mlp", hidden_units=128, hidden_layers=2, learning_rate=1e-3, amsgrad=True,
        probe_batch_size=32, layer=["nsp"], pooling=["cls"],
    ),
    # SentEval's own probe: one hidden layer of 50 sigmoid units, L2 searched on va, plain Adam.
    "senteval": dict(
        classifier="senteval_mlp", senteval_hidden_units=50, learning_rate=1e-3, amsgrad=False,
        probe_batch_size=64, layer=["nsp"], pooling=["cls"],
    ),
}  # fmt: skip
flags.DEFINE_enum("preset", "paper", sorted(PRESETS), "paper: the paper's probe (2x128 MLP, "
                  "Adam + AMSGrad lr 1e-3, batch 32, no weight decay, NSP-level [CLS]); senteval: "
                  "SentEval's. Flags given explicitly override the preset.")  # fmt: skip
flags.DEFINE_list(
    "model_dir", None, "Pre-training model dir(s), comma-separated (run_config.json, vocab.txt and "
    "checkpoints/ each); several are compared side by side."
)  # fmt: skip
flags.DEFINE_string("task_dir", None, "SentEval's data/probing folder, or one we generated.")
flags.DEFINE_string("tasks", "all", "'all' (every task file present) or names/codes (SL,WC,...).")
flags.DEFINE_list(
    "layer", ["nsp"], "Layer(s) to probe: nsp (the NSP head's layer; the last for a model without "
    "NSP), mlm, embeddings, or a 0-based block index (negative from the top). Comma list compares."
)  # fmt: skip
flags.DEFINE_list("pooling", ["cls"], "cls (the [CLS] vector, as the paper) and/or mean.")
flags.DEFINE_string("output_dir", None, "Where probing.json/.txt/.png and cache/ go.")
flags.DEFINE_enum(
    "classifier", "mlp", probing.CLASSIFIERS, "mlp: the paper's (2x128, Adam 1e-3, batch 32, no "
    "weight decay); senteval_lr / senteval_mlp: SentEval's, L2 searched on va."
)  # fmt: skip
flags.DEFINE_string("activation", "relu", "Activation of the paper's MLP (the paper is silent).")
flags.DEFINE_float("dropout", 0.0, "Dropout after each hidden layer of the probe.")
flags.DEFINE_integer("max_epochs", 100, "Upper bound on probe epochs (early stopping on va).")
flags.DEFINE_integer("patience", 5, "Epochs without better va accuracy before stopping.")
flags.DEFINE_integer("probe_batch_size", None, "Probe batch (default 32 mlp, 64 SentEval).")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of the probe.")
flags.DEFINE_boolean("amsgrad", True, "Adam's AMSGrad option for the probe.")
flags.DEFINE_integer("hidden_units", 128, "Width of each hidden layer of --classifier=mlp.")
flags.DEFINE_integer("hidden_layers", 2, "Hidden layers of --classifier=mlp.")
flags.DEFINE_integer("senteval_hidden_units", 50, "Hidden units of --classifier=senteval_mlp.")
flags.DEFINE_integer("max_seq_length", 128, "Longer sentences are truncated (logged).")
flags.DEFINE_integer("batch_size", 64, "Sentences per feature-extraction batch.")
flags.DEFINE_integer("max_train_examples", None, "Probe on a seeded subsample of tr (quick runs).")
flags.DEFINE_string("vocab_file", None, "Overrides each model's vocab.txt; must match the models.")
flags.DEFINE_integer("seed", 0, "Seed of the probe's initialisation and shuffling.")
flags.DEFINE_bool("cache", True, "Reuse and store features under <output_dir>/cache/.")


def resolve_flags():
    """Flag values after the preset: explicitly given flags win. Returns a dict by flag name."""
    names = {name for preset in PRESETS.values() for name in preset}
    settings = {name: FLAGS[name].value for name in names}
    for name, value in PRESETS[FLAGS.preset].items():
        if not FLAGS[name].present:
            settings[name] = value
    return settings


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    for name in ("model_dir", "task_dir", "output_dir"):
        if not getattr(FLAGS, name):
            sys.exit(f"error: --{name} is required")
    check_output_dir(FLAGS.output_dir, "output_dir")
    resolved = resolve_flags()
    for name, value in resolved.items():  # the rest of the binary reads FLAGS
        setattr(FLAGS, name, value)
    for pooling in FLAGS.pooling:
        if pooling not in probing.POOLINGS:
            raise ValueError(f"--pooling={pooling!r}: expected one of {probing.POOLINGS}")
    config = probing.ProbeConfig(
        classifier=FLAGS.classifier,
        hidden_units=FLAGS.hidden_units,
        hidden_layers=FLAGS.hidden_layers,
        activation=FLAGS.activation,
        dropout=FLAGS.dropout,
        learning_rate=FLAGS.learning_rate,
        amsgrad=FLAGS.amsgrad,
        max_epochs=FLAGS.max_epochs,
        patience=FLAGS.patience,
        batch_size=FLAGS.probe_batch_size,
        senteval_hidden_units=FLAGS.senteval_hidden_units,
    )
    tasks = [
        senteval_format.read_task(path, name).limit_train(FLAGS.max_train_examples, FLAGS.seed)
        for name, path in senteval_format.find_task_files(FLAGS.task_dir, FLAGS.tasks)
    ]
    models = [
        probing.ProbingModel(d, FLAGS.max_seq_length, vocab_path=FLAGS.vocab_file)
        for d in FLAGS.model_dir
    ]
    duplicate_names = len({m.name for m in models}) < len(models)
    for model in models:
        if duplicate_names:
            model.name = model.model_dir
        for spec in FLAGS.layer:  # all layer values checked before any work
            probing.resolve_probe_layer(spec, model.layout)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    settings = {"preset": FLAGS.preset, **resolved, "probe": dataclasses.asdict(config)}
    logging.info("probe settings: %s", json.dumps(settings, sort_keys=True))
    write_json_atomic(os.path.join(FLAGS.output_dir, "probe_settings.json"), settings)
    cache = probing.FeatureCache(os.path.join(FLAGS.output_dir, "cache")) if FLAGS.cache else None
    records = probing.probe_models(
        models, tasks, FLAGS.layer, FLAGS.pooling, config, FLAGS.output_dir, FLAGS.seed,
        FLAGS.batch_size, cache, verbose=int(sys.stdout.isatty()),
    )  # fmt: skip
    table = probing.format_table(records)
    table_path = os.path.join(FLAGS.output_dir, "probing.txt")
    write_text_atomic(table_path, table + "\n")
    probing.plot_results(os.path.join(FLAGS.output_dir, "probing.png"), records)
    print(table)
    logging.info("wrote %s/probing.{json,txt,png}", FLAGS.output_dir)


def run():
    app.run(main_entry(main, outputs=("output_dir",)))


if __name__ == "__main__":
    run()
