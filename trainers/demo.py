r"""The end-to-end demo on the built-in corpus: no downloads, about 6 minutes on 2 CPU cores.

  python -m trainers.demo [--output_dir=demo_output]

1. Learns a WordPiece vocabulary from the built-in corpus.
2. Writes the paper's two data sets (length 128 with 20 predictions, length 384 with 58), once
   clean and once with bigram swaps, each with a held-out eval shard.
3. Pre-trains BERT, Lower NSP, Lower Mask + CLS concatenation and Bigram Shift on the tiny preset
   with the 90/10 two-length schedule.
4. Prints a table of held-out metrics per variant beside computed chance levels, and writes
   report.md, report.json and training_curves.png.

Every stage resumes: running the command again after a crash skips finished work.
"""

import glob
import importlib
import json
import os
import sys
import time

import numpy as np
from absl import app, flags, logging

from hbert_tf.errors import main_entry
from hbert_tf.files import atomic_path

flags.DEFINE_string("output_dir", "demo_output", "Where the vocabulary, data, runs and report go.")
flags.DEFINE_integer("train_steps", 2000, "Pre-training steps per variant (both lengths).")
flags.DEFINE_float("corpus_mb", 1.5, "Size of the built-in corpus, in MB of text.")
flags.DEFINE_integer("corpus_seed", 0, "Seed of the built-in corpus.")
flags.DEFINE_string("variants", "bert,lower_nsp,lower_mask_cls,bigram_shift",
                    "Comma list of demo variants: " + ", ".join(
                        ["bert", "lower_nsp", "lower_nsp_cls", "lower_mask", "lower_mask_cls",
                         "lower_nsp_freeze", "without_nsp", "bigram_shift"]))  # fmt: skip
FLAGS = flags.FLAGS

LENGTHS, PREDICTIONS = (128, 384), (20, 58)

# Demo variants on the 2-layer tiny preset: "lower" means block 0, the top is block 1.
DEMO_VARIANTS = {
    "bert": dict(variant="bert"),
    "lower_nsp": dict(variant="lower_nsp", nsp_layer=0),
    "lower_nsp_cls": dict(variant="lower_nsp", nsp_layer=0, concat="cls"),
    "lower_mask": dict(variant="lower_mask", mlm_layer=0),
    "lower_mask_cls": dict(variant="lower_mask", mlm_layer=0, concat="cls"),
    "lower_nsp_freeze": dict(variant="lower_nsp", nsp_layer=0, freeze_nsp="at_step:1200"),
    "without_nsp": dict(variant="without_nsp"),
    "bigram_shift": dict(variant="bigram_shift"),
}


def pretraining_config(name, data_dir, model_dir, train_steps):
    """The `PretrainConfig` of one demo variant: the tiny preset, tuned for a fast, visible
    result (the defaults are the paper's settings)."""
    from hbert_tf.run_config import PretrainConfig

    return PretrainConfig.resolve(
        preset="tiny",
        dropout=0.0,
        train_data_128=os.path.join(data_dir, "seq128"),
        train_data_384=os.path.join(data_dir, "seq384"),
        eval_data=os.path.join(data_dir, "seq128"),
        max_seq_length=LENGTHS,
        max_predictions_per_seq=PREDICTIONS,
        train_steps=train_steps,
        batch_size_384=4,
        eval_batches=0,
        learning_rate=5e-3,
        warmup_steps=min(100, train_steps // 10),
        decay="linear",
        clip_norm=1.0,
        steps_per_execution=20,
        model_dir=model_dir,
        log_every=200,
        **DEMO_VARIANTS[name],
    )


def _data_tool(name):
    """A module of the data tools: `tfrecords.<name>` in a checkout, `hbert_tf.tfrecords.<name>`
    once installed (setup.py installs both folders under hbert_tf; see BUILD_NOTES.md)."""
    parent = (__package__ or "").rpartition(".")[0]  # "" for trainers, "hbert_tf" installed
    return importlib.import_module(f"{parent + '.' if parent else ''}tfrecords.{name}")


def make_vocab_and_data(output_dir, corpus_mb, corpus_seed):
    """Vocabulary, then clean and bigram-swapped data at both lengths. Skips what exists."""
    from hbert_tf import builtin_corpus
    from hbert_tf.vocab import Vocab

    readers = _data_tool("readers")
    build_vocab = _data_tool("build_vocab").build_vocab
    create_pretraining_data = _data_tool("create_pretraining_data").create_pretraining_data

    vocab_file = os.path.join(output_dir, "vocab.txt")
    documents = builtin_corpus.num_documents_for_megabytes(corpus_mb)
    if not os.path.isfile(vocab_file):
        logging.info("[1/4] learning a WordPiece vocabulary from the built-in corpus")
        corpus = readers.read_documents(
            "builtin", builtin_seed=corpus_seed, builtin_documents=documents
        )
        with atomic_path(vocab_file) as tmp:
            Vocab(build_vocab(corpus, vocab_size=1200)).write(tmp)
    data_dirs = {}
    for kind, swap in (("clean", 0.0), ("bigram_shift", 0.15)):
        data_dir = os.path.join(output_dir, f"data_{kind}")
        logging.info("[2/4] writing %s TFRecords at lengths %s into %s", kind, LENGTHS, data_dir)
        create_pretraining_data(
            data_dir,
            vocab_file=vocab_file,
            input_format="builtin",
            builtin_seed=corpus_seed,
            builtin_documents=documents,
            max_seq_length=",".join(map(str, LENGTHS)),
            max_predictions_per_seq=",".join(map(str, PREDICTIONS)),
            dupe_factor=3,
            bigram_shift_prob=swap,
            num_shards=2,
            num_workers=2,
            eval_documents=max(50, documents // 10),
        )
        data_dirs[kind] = data_dir
    return data_dirs


def chance_levels(eval_pattern):
    """Majority-class accuracies on the held-out data: what a model without learning gets.

    MLM: always predicting the most frequent masked token; NSP: the majority label; bigram
    shift: always "in place" over the scored tokens (balanced accuracy 0.5, swapped recall 0).
    """
    import tensorflow as tf

    from hbert_tf import features, names
    from hbert_tf.data import bigram_shift_weights

    schema = features.pretraining_schema(LENGTHS[0], PREDICTIONS[0], with_bigram_shift=True)
    spec = features.parsing_spec(
        schema,
        only=[
            names.MASKED_LM_IDS,
            names.MASKED_LM_WEIGHTS,
            names.NEXT_SENTENCE_LABELS,
            names.INPUT_MASK,
            names.SEGMENT_IDS,
        ],
    )
    masked, nsp, swapped = [], [], []
    has_swaps = True
    dataset = tf.data.TFRecordDataset(sorted(glob.glob(eval_pattern))).batch(512)
    bigram_spec = features.parsing_spec(schema, only=[names.BIGRAM_SHIFT_LABELS])
    for records in dataset:
        batch = tf.io.parse_example(records, spec)
        weights = batch[names.MASKED_LM_WEIGHTS].numpy() > 0
        masked.append(batch[names.MASKED_LM_IDS].numpy()[weights])
        nsp.append(batch[names.NEXT_SENTENCE_LABELS].numpy().ravel())
        try:
            labels = tf.io.parse_example(records, bigram_spec)[names.BIGRAM_SHIFT_LABELS].numpy()
        except tf.errors.InvalidArgumentError:
            has_swaps = False
            continue
        scored = bigram_shift_weights(batch[names.INPUT_MASK], batch[names.SEGMENT_IDS]).numpy()
        swapped.append(labels[scored > 0])
    masked, nsp = np.concatenate(masked), np.concatenate(nsp)
    levels = {
        "mlm_accuracy": np.bincount(masked).max() / len(masked),
        "nsp_accuracy": max(nsp.mean(), 1 - nsp.mean()),
    }
    if has_swaps:
        swapped = np.concatenate(swapped)
        levels["bigram_shift_accuracy"] = 1 - swapped.mean()
        levels["bigram_shift_balanced_accuracy"] = 0.5
        levels["bigram_shift_swapped_recall"] = 0.0
    return {k: float(v) for k, v in levels.items()}


COLUMNS = (
    ("mlm_accuracy", "MLM acc"),
    ("mlm_loss", "MLM loss"),
    ("nsp_accuracy", "NSP acc"),
    ("bigram_shift_accuracy", "BS acc"),
    ("bigram_shift_balanced_accuracy", "BS bal. acc"),
    ("bigram_shift_swapped_recall", "BS swap recall"),
    ("bigram_shift_swapped_precision", "BS swap prec."),
)


def format_table(rows):
    """Markdown table: one row per variant plus the chance rows."""
    header = "| variant | heads (MLM / NSP / BS layer) | " + " | ".join(c for _, c in COLUMNS)
    lines = [header + " |", "|" + "---|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = [
            "-" if row["metrics"].get(key) is None else f"{row['metrics'][key]:.3f}"
            for key, _ in COLUMNS
        ]
        lines.append(f"| {row['name']} | {row['heads']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(path, runs):
    """Training MLM loss and NSP accuracy per variant against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, model_dir in runs.items():
        with open(os.path.join(model_dir, "train_log.jsonl"), encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        records = [r for r in records if "split" not in r]
        steps = [r["step"] for r in records]
        for axis, key in zip(axes, ("mlm_loss", "mlm_accuracy", "nsp_accuracy")):
            values = [r.get(key) for r in records]
            if any(v is not None for v in values):
                axis.plot(steps, values, label=name)
    for axis, title in zip(axes, ("MLM loss (train)", "MLM accuracy (train)", "NSP accuracy")):
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=90, format="png")


def heads_description(layout):
    """ "1 / 0 / -, concat cls" from a run_config.json layout dict (MLM / NSP / bigram blocks)."""
    from hbert_tf.variants import HeadLayout

    return HeadLayout.from_dict(layout).layers_text()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    names = [n.strip() for n in FLAGS.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEMO_VARIANTS]
    if unknown or not names:
        sys.exit(f"error: --variants: unknown {unknown}; expected some of {sorted(DEMO_VARIANTS)}")
    if FLAGS.train_steps < 20:
        sys.exit(f"error: --train_steps={FLAGS.train_steps}: expected at least 20")
    from hbert_tf.files import write_json_atomic, write_text_atomic
    from hbert_tf.pretraining_run import run_pretraining

    start = time.time()
    output_dir = FLAGS.output_dir
    os.makedirs(output_dir, exist_ok=True)
    data_dirs = make_vocab_and_data(output_dir, FLAGS.corpus_mb, FLAGS.corpus_seed)

    rows, runs = [], {}
    for index, name in enumerate(names, 1):
        kind = "bigram_shift" if name == "bigram_shift" else "clean"
        model_dir = os.path.join(output_dir, "runs", name)
        config = pretraining_config(name, data_dirs[kind], model_dir, FLAGS.train_steps)
        metrics_path = os.path.join(model_dir, "metrics.json")
        done = os.path.isfile(metrics_path)
        if done:
            with open(metrics_path, encoding="utf-8") as f:
                metrics = json.load(f)
            done = metrics.get("step") == FLAGS.train_steps
        logging.info("[3/4] pre-training %s (%d/%d)%s", name, index, len(names), " (done)" * done)
        if not done:
            metrics = run_pretraining(config)
        with open(os.path.join(model_dir, "run_config.json"), encoding="utf-8") as f:
            layout = json.load(f)["layout"]
        rows.append({"name": name, "heads": heads_description(layout), "metrics": metrics})
        runs[name] = model_dir

    logging.info("[4/4] writing the report")
    for kind, data_dir in data_dirs.items():
        chance = chance_levels(os.path.join(data_dir, "seq128", "eval-*.tfrecord"))
        rows.append({"name": f"chance ({kind} data)", "heads": "majority class", "metrics": chance})
    table = format_table(rows)
    plot_curves(os.path.join(output_dir, "training_curves.png"), runs)
    report = {
        "train_steps": FLAGS.train_steps,
        "corpus_mb": FLAGS.corpus_mb,
        "lengths": list(LENGTHS),
        "predictions": list(PREDICTIONS),
        "rows": rows,
        "seconds": round(time.time() - start, 1),
    }
    write_json_atomic(os.path.join(output_dir, "report.json"), report)
    markdown = (
        "# hbert_tf demo: hierarchical pre-training on the built-in corpus\n\n"
        f"Tiny preset (2 blocks: layer 0 is 'lower', layer 1 the top), {FLAGS.train_steps} steps "
        "per variant, 90% at length 128 (batch 32) and 10% at 384 (batch 4). Metrics are on "
        "held-out documents; chance rows are majority-class accuracies of the same data.\n\n"
        f"{table}\n\n![training curves](training_curves.png)\n"
    )
    write_text_atomic(os.path.join(output_dir, "report.md"), markdown)
    print(table)
    print(f"\nreport: {os.path.join(output_dir, 'report.md')} ({time.time() - start:.0f} s)")


def run():
    app.run(main_entry(main))


if __name__ == "__main__":
    run()
