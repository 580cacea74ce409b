"""GLUE's sentence and sentence-pair classification tasks, each a downstream task on one module.

| task  | inputs                    | labels (index order)                 | metric                      |
|-------|---------------------------|--------------------------------------|-----------------------------|
| sst2  | sentence                  | negative, positive                   | accuracy                    |
| cola  | sentence                  | unacceptable, acceptable             | Matthews corr. (+ accuracy) |
| mrpc  | sentence1, sentence2      | not_equivalent, equivalent           | F1 of class 1 and accuracy  |
| qqp   | question1, question2      | not_duplicate, duplicate             | F1 of class 1 and accuracy  |
| qnli  | question, sentence        | entailment, not_entailment           | accuracy                    |
| rte   | sentence1, sentence2      | entailment, not_entailment           | accuracy                    |

Data (`--data`): `files` reads the GLUE release's `train.tsv` / `dev.tsv` (`--train_file`,
`--dev_file`; each task's column layout in `TSV_LAYOUTS`, CoLA's files have no header); `tfds`
reads TensorFlow Datasets `glue/<task>` (train, validation; downloads on first use); `builtin`
writes a learnable set made from the built-in corpus (`make_builtin`). Read-out: the sentence
classifier of MultiNLI (Fig. 3a); a single sentence is `[CLS] sentence [SEP]`.
Predictions go to `predictions_dev.jsonl`; the export is a text-in SavedModel whose inputs are the
task's columns (`hbert_tf.serving.export`). STS-B (regression) and WNLI are not included.
"""

import collections
import csv
import dataclasses
import json
import os
import random

import numpy as np

from hbert_tf import files
from hbert_tf.errors import DataError
from hbert_tf.finetuning import nli
from hbert_tf.finetuning import task as task_base
from hbert_tf.run_config import _BERT_RECIPE, FinetuneConfig, setting

NAMES = ("sst2", "cola", "mrpc", "qqp", "qnli", "rte")
# task -> (has a header, text column(s), label column, label values in index order)
TSV_LAYOUTS = {
    "sst2": (True, ("sentence",), "label", ("0", "1")),
    "cola": (False, (3,), 1, ("0", "1")),
    "mrpc": (True, ("#1 String", "#2 String"), "Quality", ("0", "1")),
    "qqp": (True, ("question1", "question2"), "is_duplicate", ("0", "1")),
    "qnli": (True, ("question", "sentence"), "label", ("entailment", "not_entailment")),
    "rte": (True, ("sentence1", "sentence2"), "label", ("entailment", "not_entailment")),
}
# Positive and negative words of the built-in corpus' lexicon (the built-in SST-2's cue).
POSITIVE = ("happy", "cheerful", "kind", "gentle", "brave", "calm", "patient", "clever", "loyal")
NEGATIVE = ("angry", "worried", "nervous", "lonely", "tired", "noisy", "sleepy", "hungry", "wet")


@dataclasses.dataclass(frozen=True)
class GlueConfig(FinetuneConfig):
    """One GLUE classification run (`trainers.finetune_glue`, `run.run_finetune`)."""

    task: str = setting("sst2", "GLUE task.", NAMES)
    max_seq_length: int = setting(128, "Tokens per input; at most the model's "
                                  "max_position_embeddings.")  # fmt: skip
    num_train_epochs: float = setting(3.0, "Passes over the training examples.")
    train_file: str | None = setting(None, "GLUE train.tsv of the task (--data=files).")
    dev_file: str | None = setting(None, "GLUE dev.tsv of the task (--data=files).")


GlueConfig.PRESETS = {"paper": GlueConfig(), "bert": GlueConfig(**_BERT_RECIPE)}


@dataclasses.dataclass(frozen=True)
class GlueExample:
    """One example: `texts` (one or two strings) and `label` (an index, -1 unlabelled)."""

    idx: str
    texts: tuple
    label: int


# --- Reading --------------------------------------------------------------------------------------
def read_tsv(path, name, labelled=True):
    """Examples of a GLUE TSV of task `name` (its `TSV_LAYOUTS` columns).

    Lines with too few columns or an unknown label are skipped and counted (QQP's train.tsv has
    a few); DataError names the file when nothing usable is left.
    """
    has_header, text_columns, label_column, values = TSV_LAYOUTS[name]
    if not files.isfile(path):
        raise DataError(f"{name} file not found: {path}")
    with files.open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = None
    if has_header:
        header, rows = rows[0] if rows else [], rows[1:]
        missing = [c for c in (*text_columns, label_column) if c not in header]
        if labelled and missing:
            raise DataError(f"{path}: not a GLUE {name} TSV (no column {', '.join(missing)})")
        if not labelled and any(c not in header for c in text_columns):
            raise DataError(f"{path}: not a GLUE {name} TSV (columns {', '.join(text_columns)})")

    def column(key):
        return header.index(key) if header is not None else key

    text_at = [column(c) for c in text_columns]
    label_at = column(label_column) if labelled else None
    examples, skipped = [], 0
    for n, row in enumerate(rows, 2 if has_header else 1):
        wanted = max(text_at + ([label_at] if labelled else []))
        if len(row) <= wanted or (labelled and row[label_at].strip() not in values):
            skipped += 1
            continue
        label = values.index(row[label_at].strip()) if labelled else -1
        idx = row[header.index("index")] if header and "index" in header else str(n)
        examples.append(GlueExample(idx, tuple(row[i].strip() for i in text_at), label))
    if skipped:
        from absl import logging

        logging.warning("%s: skipped %d malformed lines", path, skipped)
    if not examples:
        raise DataError(f"{path}: no usable {name} examples")
    return examples


def read_tfds(name, split, data_dir=None):
    """Examples of TFDS `glue/<name>` (`split`: "train" or "dev"; downloads on first use)."""
    import tensorflow_datasets as tfds

    features = {"sst2": ("sentence",), "cola": ("sentence",)}.get(name)
    features = features or tuple(c for c in TSV_LAYOUTS[name][1])
    if name == "mrpc":
        features = ("sentence1", "sentence2")
    dataset = tfds.load(
        f"glue/{name}", split="validation" if split == "dev" else "train", data_dir=data_dir
    )
    examples = []
    for record in tfds.as_numpy(dataset):
        texts = tuple(record[k].decode("utf-8") for k in features)
        examples.append(GlueExample(str(record["idx"]), texts, int(record["label"])))
    return examples


# --- Metrics --------------------------------------------------------------------------------------
def f1_score(labels, predicted):
    """F1 of class 1 (MRPC / QQP's official F1)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    tp = float(np.sum((predicted == 1) & (labels == 1)))
    precision = tp / max(float(np.sum(predicted == 1)), 1.0)
    recall = tp / max(float(np.sum(labels == 1)), 1.0)
    return 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)


def matthews_corrcoef(labels, predicted):
    """Matthews correlation of two binary label arrays (CoLA's metric); 0 when undefined."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    tp = float(np.sum((predicted == 1) & (labels == 1)))
    tn = float(np.sum((predicted == 0) & (labels == 0)))
    fp = float(np.sum((predicted == 1) & (labels == 0)))
    fn = float(np.sum((predicted == 0) & (labels == 1)))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else (tp * tn - fp * fn) / denominator


METRICS = {
    "sst2": ("accuracy",),
    "cola": ("matthews_corr", "accuracy"),
    "mrpc": ("f1", "accuracy"),
    "qqp": ("f1", "accuracy"),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
}


def glue_metrics(name, labels, predicted):
    """{metric: value in [0, 1] (Matthews in [-1, 1])} of task `name`'s official metrics."""
    functions = {
        "accuracy": lambda a, b: float(np.mean(np.asarray(a) == np.asarray(b))),
        "f1": f1_score,
        "matthews_corr": matthews_corrcoef,
    }
    return {metric: float(functions[metric](labels, predicted)) for metric in METRICS[name]}


# --- Built-in sets ----------------------------------------------------------------------------------
def make_builtin(name, seed, num_documents, start=0):
    """Learnable examples of task `name` from built-in documents `start..num_documents-1`.

    SST-2: sentences holding words of one of `POSITIVE` / `NEGATIVE` (label = which), balanced.
    CoLA: a sentence (acceptable) or the same with two neighbouring words swapped. Pair tasks:
    the built-in NLI pairs (`builtin_tasks.make_nli`), entailment = the positive class.
    """
    from hbert_tf.finetuning import builtin_tasks
    from hbert_tf.text.builtin_corpus import generate_documents

    rng = random.Random(f"hbert-builtin-glue/{name}/{seed}/{start}")
    examples = []
    if name in ("sst2", "cola"):
        by_label = collections.defaultdict(list)
        for doc in generate_documents(seed, num_documents, start):
            for k, sentence in enumerate(doc.sentences):
                words, idx = list(sentence.tokens), f"builtin-{doc.index}-{k}"
                if name == "sst2":
                    sides = {w in POSITIVE for w in words if w in POSITIVE + NEGATIVE}
                    if len(sides) == 1:
                        by_label[int(sides.pop())].append(GlueExample(idx, (" ".join(words),), 0))
                    continue
                label = rng.random() < 0.5
                if not label:
                    i = rng.randrange(len(words) - 2)  # never the final "."
                    words[i], words[i + 1] = words[i + 1], words[i]
                by_label[int(label)].append(GlueExample(idx, (" ".join(words),), 0))
        size = min(len(v) for v in by_label.values()) if len(by_label) == 2 else 0
        for label, items in sorted(by_label.items()):
            examples += [dataclasses.replace(e, label=label) for e in items[:size]]
        rng.shuffle(examples)
        return examples
    positive = 1 if TSV_LAYOUTS[name][3][0] == "0" else 0  # entailment's index
    for record in builtin_tasks.make_nli(seed, num_documents, start):
        entailed = record["gold_label"] == "entailment"
        texts = (record["sentence1"], record["sentence2"])
        label = positive if entailed else 1 - positive
        examples.append(GlueExample(record["pairID"], texts, label))
    return examples


def write_builtin(name, out_dir, seed=0, num_train_documents=400, num_dev_documents=100):
    """Writes `builtin_<name>_{train,dev}.tsv` in the GLUE layout; returns {split: path}."""
    has_header, text_columns, label_column, values = TSV_LAYOUTS[name]
    files.makedirs(out_dir)
    total = num_train_documents + num_dev_documents
    paths = {}
    for split, (lo, hi) in (("train", (0, num_train_documents)), ("dev", (num_train_documents, total))):  # fmt: skip
        width = max([c for c in (*text_columns, label_column) if isinstance(c, int)], default=0)
        lines = []
        if has_header:
            header = [*text_columns, label_column]
            lines.append("\t".join(["index", *header] if "index" not in header else header))
        for e in make_builtin(name, seed, hi, lo):
            if has_header:
                lines.append("\t".join([e.idx, *e.texts, values[e.label]]))
            else:  # CoLA: source, label, original label, sentence
                row = ["builtin"] * (width + 1)
                row[label_column], row[text_columns[0]] = values[e.label], e.texts[0]
                lines.append("\t".join(row))
        path = os.path.join(out_dir, f"builtin_{name}_{split}.tsv")
        from hbert_tf.files import write_text_atomic

        write_text_atomic(path, "".join(line + "\n" for line in lines))
        paths[split] = path
    return paths


# --- The tasks --------------------------------------------------------------------------------------
LABELS = {
    "sst2": ("negative", "positive"),
    "cola": ("unacceptable", "acceptable"),
    "mrpc": ("not_equivalent", "equivalent"),
    "qqp": ("not_duplicate", "duplicate"),
    "qnli": ("entailment", "not_entailment"),
    "rte": ("entailment", "not_entailment"),
}
TITLES = {"sst2": "SST-2", "cola": "CoLA", "mrpc": "MRPC", "qqp": "QQP", "qnli": "QNLI",
          "rte": "RTE"}  # fmt: skip
INPUTS = {"sst2": ("sentence",), "cola": ("sentence",), "mrpc": ("sentence1", "sentence2"),
          "qqp": ("question1", "question2"), "qnli": ("question", "sentence"),
          "rte": ("sentence1", "sentence2")}  # fmt: skip
REPORT = task_base.ReportTable(
    "glue",
    "GLUE (dev): accuracy; MRPC and QQP F1 / accuracy; CoLA Matthews corr. / accuracy",
    tuple((name, METRICS[name]) for name in NAMES),
)


def _encode(examples, tokenizer, max_seq_length):
    """Encoder inputs and labels of examples (one text: `[CLS] a [SEP]`)."""
    pairs = [
        nli.NliExample(e.idx, e.texts[0], e.texts[1] if len(e.texts) > 1 else "", e.label)
        for e in examples
    ]
    return nli.encode_pairs(pairs, tokenizer, max_seq_length)


class GlueTask(task_base.DownstreamTask):
    """One GLUE classification task (`name` in NAMES)."""

    config_class = GlueConfig
    read_out = "classifier"
    data_splits = (("train", "train_file"), ("dev", "dev_file"))
    metric_labels = {"matthews_corr": "MCC", "accuracy": "acc", "f1": "F1"}
    report = REPORT

    def __init__(self, name):
        self.name = name
        self.study_names = {name: {}}
        self.titles = {name: TITLES[name]}
        self.labels = LABELS[name]
        self.serving_inputs = INPUTS[name]
        self.data_keys = {name: (("train", f"{name}_train"), ("dev", f"{name}_dev"))}
        self.metrics = METRICS[name]
        self.primary_metrics = METRICS[name][:1]

    def read(self, config):
        """{split: examples} of "train" (with --do_train) and "dev" (with --do_eval)."""
        from hbert_tf.finetuning import data

        wanted = (["train"] if config.do_train else []) + (["dev"] if config.do_eval else [])
        if config.data == "tfds":
            return {s: read_tfds(self.name, s, config.tfds_data_dir) for s in wanted}
        if config.data == "builtin":
            files = self.write_builtin(
                data.builtin_dir(config), config.builtin_seed, config.builtin_documents, self.name
            )
        else:
            files = {"train": config.train_file, "dev": config.dev_file}
            for split in wanted:
                why = "with --do_train" if split == "train" else "with --do_eval"
                data.require(config, f"{split}_file", why)
        return {s: read_tsv(files[s], self.name) for s in wanted}

    def write_builtin(self, out_dir, seed, documents, study_name):
        return write_builtin(self.name, out_dir, seed, documents, max(30, documents // 4))

    def train_texts(self, data):
        examples = data.get("train") or next(iter(data.values()))
        return [text for e in examples for text in e.texts]

    def build_model(self, backbone, read_out, dropout):
        return self.sentence_classifier(backbone, read_out, dropout, f"{self.name}_classifier")

    def train_features(self, data, tokenizer, config):
        from hbert_tf.modeling import downstream

        if "train" not in data:
            return None
        inputs, labels, stats = _encode(data["train"], tokenizer, config.max_seq_length)
        return inputs, {downstream.LOGITS: labels}, len(labels), {"train_examples": stats}

    def losses(self):
        return nli.MnliTask().losses()

    def evaluate(self, model, data, tokenizer, config, predict):
        from hbert_tf.files import write_text_atomic
        from hbert_tf.modeling import downstream

        if "dev" not in data:
            return {}
        inputs, labels, stats = _encode(data["dev"], tokenizer, config.max_seq_length)
        predicted = np.argmax(predict(inputs)[downstream.LOGITS], axis=-1)
        metrics = {f"dev_{k}": v for k, v in glue_metrics(self.name, labels, predicted).items()}
        metrics["dev_examples"] = stats["pairs"]
        lines = "".join(
            json.dumps({"idx": e.idx, "prediction": self.labels[p]}) + "\n"
            for e, p in zip(data["dev"], predicted)
        )
        write_text_atomic(os.path.join(config.model_dir, "predictions_dev.jsonl"), lines)
        return metrics

    def predict_rows(self, path):
        examples = read_tsv(path, self.name, labelled=False)
        columns = {k: [e.texts[i] for e in examples] for i, k in enumerate(self.serving_inputs)}
        return "idx", [e.idx for e in examples], columns

    def record_values(self, metrics, study_name):
        return {m: 100 * metrics[f"dev_{m}"] for m in self.metrics}

    def chance_values(self, files, study_name):
        """The majority class of the dev set, scored with the task's metrics."""
        labels = [e.label for e in read_tsv(files["dev"], self.name)]
        majority = collections.Counter(labels).most_common(1)[0][0]
        values = glue_metrics(self.name, labels, [majority] * len(labels))
        return {k: 100 * v for k, v in values.items()}

    def describe_file(self, study_name, split):
        return f"GLUE {TITLES[self.name]} {split}.tsv"

    def check_file(self, path, study_name, split):
        read_tsv(path, self.name)

    def count_train_examples(self, path, documents, study_name):
        if path:
            return len(read_tsv(path, self.name))
        return len(make_builtin(self.name, 0, documents))


TASKS = tuple(GlueTask(name) for name in NAMES)
