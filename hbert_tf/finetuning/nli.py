"""MultiNLI: reading the original TSV, JSONL or TFDS `multi_nli`, and pair encoding.

Labels are MultiNLI's names in TFDS' order (entailment 0, neutral 1, contradiction 2). Pairs
without annotator consensus (gold label "-") are skipped and counted; any other unknown label is an
error naming the file, line and pairID.
"""

import collections
import csv
import dataclasses
import json
import os

import numpy as np
from absl import logging

from hbert_tf import files, names
from hbert_tf.errors import DataError, UserError
from hbert_tf.finetuning import task as task_base
from hbert_tf.run_config import MnliConfig

LABELS = ("entailment", "neutral", "contradiction")
NO_CONSENSUS = "-"
TFDS_NAME = "multi_nli"
TFDS_SPLITS = {
    "train": "train",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
}
_FIELDS = ("gold_label", "sentence1", "sentence2")


@dataclasses.dataclass(frozen=True)
class NliExample:
    """A premise/hypothesis pair; `label` indexes LABELS."""

    pair_id: str
    premise: str
    hypothesis: str
    label: int


def _records(path, fields=_FIELDS):
    """Yields `(line_number, dict)` from a JSONL file or a MultiNLI TSV (header line first)."""
    with files.open(path, newline="") as f:
        if str(path).endswith((".jsonl", ".json")):
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}: line {n} is not valid JSON ({e})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: line {n} is not a JSON object")
                yield n, record
            return
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or not set(fields) <= set(header):
            raise DataError(
                f"{path}: expected a MultiNLI TSV whose header names {', '.join(fields)}"
                " (or a .jsonl file)"
            )
        for n, row in enumerate(reader, 2):
            if len(row) != len(header):
                raise DataError(
                    f"{path}: line {n} has {len(row)} columns, the header {len(header)}"
                )
            yield n, dict(zip(header, row))


def read_nli_file(path):
    """Reads MultiNLI examples from a TSV (the original release) or JSONL file.

    Returns: `(examples, counts)`; counts of skipped no-consensus and empty pairs.
    Raises: DataError naming the file, line and pairID for missing fields or unknown labels.
    """
    if not files.isfile(path):
        raise DataError(f"NLI file not found: {path}")
    examples, skipped = [], collections.Counter()
    for n, record in _records(path):
        pair_id = str(record.get("pairID", f"line-{n}"))
        missing = [k for k in _FIELDS if not isinstance(record.get(k), str)]
        if missing:
            raise DataError(f"{path}: line {n} (pairID {pair_id}) lacks {', '.join(missing)}")
        label = record["gold_label"].strip()
        if label == NO_CONSENSUS:
            skipped["no consensus label"] += 1
            continue
        if label not in LABELS:
            raise DataError(
                f"{path}: line {n} (pairID {pair_id}): unknown label {label!r}; expected one of "
                f"{', '.join(LABELS)} (or '-', skipped)"
            )
        premise, hypothesis = record["sentence1"].strip(), record["sentence2"].strip()
        if not premise or not hypothesis:
            skipped["empty premise or hypothesis"] += 1
            continue
        examples.append(NliExample(pair_id, premise, hypothesis, LABELS.index(label)))
    for kind, count in skipped.items():
        logging.warning("%s: skipped %d pairs (%s)", path, count, kind)
    if not examples:
        raise DataError(f"{path}: no usable NLI pairs")
    return examples, dict(skipped)


def read_nli_pairs(path):
    """`[(pair_id, premise, hypothesis)]` of a MultiNLI TSV or JSONL file, gold labels not needed.

    For prediction on unlabelled data; raises DataError naming the file and line for a record
    without sentence1 / sentence2.
    """
    if not files.isfile(path):
        raise DataError(f"NLI file not found: {path}")
    pairs = []
    for n, record in _records(path, fields=_FIELDS[1:]):
        pair_id = str(record.get("pairID", f"line-{n}"))
        missing = [k for k in _FIELDS[1:] if not isinstance(record.get(k), str)]
        if missing:
            raise DataError(f"{path}: line {n} (pairID {pair_id}) lacks {', '.join(missing)}")
        pairs.append((pair_id, record["sentence1"].strip(), record["sentence2"].strip()))
    if not pairs:
        raise DataError(f"{path}: no sentence pairs")
    return pairs


def read_nli_tfds(split, data_dir=None):
    """Reads `multi_nli` from TFDS (downloads on first use); `split` is a key of TFDS_SPLITS."""
    import tensorflow_datasets as tfds

    records = tfds.as_numpy(tfds.load(TFDS_NAME, split=TFDS_SPLITS[split], data_dir=data_dir))
    return examples_from_records(
        ((f"{split}-{i}", r["premise"].decode(), r["hypothesis"].decode(), int(r["label"]))
         for i, r in enumerate(records)),
        f"tfds:{TFDS_NAME}/{split}",
    )  # fmt: skip


def examples_from_records(records, source):
    """NliExamples from `(pair_id, premise, hypothesis, label id)`; a label outside LABELS
    (TFDS' -1: no consensus, GLUE's "-") is skipped and counted. Returns `(examples, counts)`."""
    examples, skipped = [], collections.Counter()
    for pair_id, premise, hypothesis, label in records:
        if not 0 <= label < len(LABELS):
            skipped["no consensus label"] += 1
            continue
        examples.append(NliExample(pair_id, premise, hypothesis, label))
    for kind, count in skipped.items():
        logging.warning("%s: skipped %d pairs (%s)", source, count, kind)
    if not examples:
        raise DataError(f"{source}: no usable NLI pairs")
    return examples, dict(skipped)


def truncated_lengths(len_a, len_b, budget, minimum=min, maximum=max):
    """Lengths after trimming the longer side first, one token at a time, to `budget` in all.

    The closed form of BERT's loop (`while la + lb > budget: trim the longer, the first on ties`),
    shared by `encode_pairs` and the exported graph (`hbert_tf.serving.signatures`, which passes
    `tf.minimum` / `tf.maximum`).
    """
    len_a = minimum(len_a, maximum(budget - len_b, budget // 2))
    return len_a, minimum(len_b, budget - len_a)


def encode_pairs(examples, tokenizer, max_seq_length=128):
    """`[CLS] premise [SEP] hypothesis [SEP]` arrays (`[CLS] premise [SEP]` for an empty
    hypothesis: single sentences); the longer side is trimmed first.

    Returns: `(inputs, labels, stats)`: dict of int32 `[N, max_seq_length]` keyed by
    `names.ENCODER_INPUTS`, int32 `[N]` labels, and counts (pairs, truncated).
    """
    premises = tokenizer.tokenize_ids([e.premise for e in examples])
    hypotheses = tokenizer.tokenize_ids([e.hypothesis for e in examples])
    n = len(examples)
    input_ids = np.zeros((n, max_seq_length), np.int32)
    input_mask = np.zeros((n, max_seq_length), np.int32)
    segment_ids = np.zeros((n, max_seq_length), np.int32)
    budget = max_seq_length - 3
    truncated = 0
    for i, (a, b) in enumerate(zip(premises, hypotheses)):
        la, lb = truncated_lengths(len(a), len(b), budget)
        truncated += la + lb < len(a) + len(b)
        row = input_ids[i]
        row[0] = tokenizer.cls_id
        row[1 : la + 1] = a[:la]
        row[la + 1] = tokenizer.sep_id
        if lb:  # an empty second text: the single segment [CLS] a [SEP]
            row[la + 2 : la + 2 + lb] = b[:lb]
            row[la + 2 + lb] = tokenizer.sep_id
            segment_ids[i, la + 2 : la + lb + 3] = 1
        input_mask[i, : la + lb + 2 + bool(lb)] = 1
    labels = np.array([e.label for e in examples], np.int32)
    inputs = {
        names.INPUT_IDS: input_ids,
        names.INPUT_MASK: input_mask,
        names.SEGMENT_IDS: segment_ids,
    }
    return inputs, labels, {"pairs": n, "truncated": truncated}


# --- The task (hbert_tf.finetuning.task) --------------------------------------------------------
NLI_SPLITS = ("train", "dev_matched", "dev_mismatched")


class MnliTask(task_base.DownstreamTask):
    """MultiNLI: the sentence read-out (Fig. 3a), accuracy on dev matched / mismatched."""

    name = "mnli"
    config_class = MnliConfig
    study_names = {"mnli": {}}
    titles = {"mnli": "MNLI"}
    read_out = "classifier"
    serving_inputs = ("premise", "hypothesis")
    labels = LABELS
    data_splits = (
        ("train", "train_file"),
        ("dev_matched", "dev_matched_file"),
        ("dev_mismatched", "dev_mismatched_file"),
    )
    data_keys = {"mnli": tuple((s, f"mnli_{s}") for s in NLI_SPLITS)}
    metrics = ("matched_accuracy", "mismatched_accuracy")
    in_paper = True
    metric_labels = {"matched_accuracy": "matched", "mismatched_accuracy": "mismatched"}
    primary_metrics = ("matched_accuracy", "mismatched_accuracy")

    def read(self, config):
        """dict split -> examples for the `NLI_SPLITS` the config asks for and has."""
        from hbert_tf.finetuning import data

        wanted = (["train"] if config.do_train else []) + (
            ["dev_matched", "dev_mismatched"] if config.do_eval else []
        )
        if config.data == "tfds":
            return {s: read_nli_tfds(s, config.tfds_data_dir)[0] for s in wanted}
        if config.data == "builtin":
            files = self.write_builtin(
                data.builtin_dir(config), config.builtin_seed, config.builtin_documents, "mnli"
            )
        else:
            files = {
                "train": config.train_file,
                "dev_matched": config.dev_matched_file,
                "dev_mismatched": config.dev_mismatched_file,
            }
            if config.do_train:
                data.require(config, "train_file", "with --do_train")
            if config.do_eval and not (files["dev_matched"] or files["dev_mismatched"]):
                raise UserError(
                    "--do_eval needs --dev_matched_file and/or --dev_mismatched_file "
                    "(or pass --data=tfds or --data=builtin)"
                )
        return {s: read_nli_file(files[s])[0] for s in wanted if files.get(s)}

    def write_builtin(self, out_dir, seed, documents, study_name):
        from hbert_tf.finetuning import builtin_tasks

        paths = builtin_tasks.write_builtin_nli(out_dir, seed, documents, max(30, documents // 4))
        return dict(zip(NLI_SPLITS, paths))

    def train_texts(self, data):
        examples = data.get("train") or next(iter(data.values()))
        return [e.premise for e in examples] + [e.hypothesis for e in examples]

    def build_model(self, backbone, read_out, dropout):
        return self.sentence_classifier(backbone, read_out, dropout, "nli_classifier")

    def train_features(self, data, tokenizer, config):
        from hbert_tf.modeling import downstream

        if "train" not in data:
            return None
        inputs, labels, stats = encode_pairs(data["train"], tokenizer, config.max_seq_length)
        return inputs, {downstream.LOGITS: labels}, len(labels), {"train_pairs": stats}

    def losses(self):
        import keras

        from hbert_tf.modeling import downstream

        return {
            "losses": {
                downstream.LOGITS: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            },
            "metrics": {downstream.LOGITS: ["sparse_categorical_accuracy"]},
        }

    def evaluate(self, model, data, tokenizer, config, predict):
        from hbert_tf.files import write_text_atomic
        from hbert_tf.modeling import downstream

        metrics = {}
        for split in ("dev_matched", "dev_mismatched"):
            if split not in data:
                continue
            inputs, labels, stats = encode_pairs(data[split], tokenizer, config.max_seq_length)
            predicted = np.argmax(predict(inputs)[downstream.LOGITS], axis=-1)
            metrics[f"{split}_accuracy"] = float(np.mean(predicted == labels))
            metrics[f"{split}_pairs"] = stats["pairs"]
            lines = "".join(
                json.dumps({"pairID": e.pair_id, "prediction": LABELS[p]}) + "\n"
                for e, p in zip(data[split], predicted)
            )
            path = os.path.join(config.model_dir, f"predictions_{split}.jsonl")
            write_text_atomic(path, lines)
        return metrics

    def predict_rows(self, path):
        pairs = read_nli_pairs(path)
        columns = {"premise": [p for _, p, _ in pairs], "hypothesis": [h for _, _, h in pairs]}
        return "pairID", [i for i, _, _ in pairs], columns

    def record_values(self, metrics, study_name):
        return {
            "matched_accuracy": 100 * metrics["dev_matched_accuracy"],
            "mismatched_accuracy": 100 * metrics["dev_mismatched_accuracy"],
        }

    def chance_values(self, files, study_name):
        """Majority class of each dev set."""
        values = {}
        for split, key in (("dev_matched", "matched"), ("dev_mismatched", "mismatched")):
            labels = [e.label for e in read_nli_file(files[split])[0]]
            counts = collections.Counter(labels)
            values[f"{key}_accuracy"] = 100 * counts.most_common(1)[0][1] / len(labels)
        return values

    def describe_file(self, study_name, split):
        what = "training set" if split == "train" else split.replace("_", " ")
        return f"MultiNLI {what} (GLUE TSV or JSONL)"

    def check_file(self, path, study_name, split):
        if not read_nli_file(path)[0]:
            raise UserError(f"{path}: no sentence pairs")

    def count_train_examples(self, path, documents, study_name):
        if path:
            with files.open(path) as f:
                lines = sum(1 for line in f if line.strip())
            return lines - (not path.endswith(".jsonl"))  # a TSV's header
        from hbert_tf.finetuning import builtin_tasks

        return len(builtin_tasks.make_nli(0, documents, 0, held_out=False))


TASKS = (MnliTask(),)
