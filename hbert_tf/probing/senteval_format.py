"""SentEval's probing task files, free of TensorFlow and Keras (data tools write them).

A task file is SentEval's `probing/<task>.txt`: one example a line, `split<TAB>label<TAB>sentence`
with split in tr/va/te (train, validation, test); the label set comes from the training split.
`write_task` writes one atomically, `read_task` reads and checks one, `find_task_files` finds the
requested tasks in a folder.
"""

import dataclasses
import hashlib
import os

import numpy as np
from absl import logging

from hbert_tf import files
from hbert_tf.files import write_text_atomic


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A SentEval probing task: file stem, Table 4 column, SentEval's number of classes."""

    name: str
    code: str
    senteval_classes: int


# In Table 4's column order.
TASKS = (
    TaskSpec("sentence_length", "SL", 6),
    TaskSpec("word_content", "WC", 1000),
    TaskSpec("tree_depth", "TD", 8),
    TaskSpec("bigram_shift", "BS", 2),
    TaskSpec("top_constituents", "TC", 20),
    TaskSpec("past_present", "T", 2),
    TaskSpec("subj_number", "SN", 2),
    TaskSpec("obj_number", "ON", 2),
    TaskSpec("odd_man_out", "OM", 2),
    TaskSpec("coordination_inversion", "CI", 2),
)
TASK_NAMES = tuple(t.name for t in TASKS)
TASK_CODES = {t.name: t.code for t in TASKS}
SPLITS = ("tr", "va", "te")  # train, validation (early stopping, L2 grid), test (reported)


def parse_task_list(text):
    """ "all" or a comma list of task names or Table 4 codes (SL, WC, ...) -> task names in order."""
    text = (text or "all").strip()
    if text == "all":
        return list(TASK_NAMES)
    by_code = {t.code.lower(): t.name for t in TASKS}
    chosen = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        name = item if item in TASK_NAMES else by_code.get(item.lower())
        if name is None:
            raise ValueError(
                f"--tasks: unknown task {item!r}; expected 'all' or names/codes from "
                f"{', '.join(f'{t.name} ({t.code})' for t in TASKS)}"
            )
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ValueError("--tasks is empty")
    return chosen


@dataclasses.dataclass(frozen=True)
class ProbingTask:
    """One probing task read from its file.

    Attributes:
        name: str. Task name (the file stem).
        path: str. The file it came from.
        labels: tuple of str. Class names in order of first appearance in the training split; a
            class id is an index into it.
        sentences: dict split -> list of str.
        targets: dict split -> int32 array `[examples]` of class ids.
        fingerprint: str. sha256 of the file (and of any training subsample), for the cache.
    """

    name: str
    path: str
    labels: tuple
    sentences: dict
    targets: dict
    fingerprint: str

    @property
    def num_classes(self):
        return len(self.labels)

    def chance(self, split="te"):
        """Accuracy of always answering the most frequent class of `split` (0.5 when balanced)."""
        counts = np.bincount(self.targets[split], minlength=self.num_classes)
        return float(counts.max() / counts.sum())

    def limit_train(self, max_examples, seed=0):
        """The same task with at most `max_examples` training examples (a seeded subsample)."""
        if not max_examples or len(self.targets["tr"]) <= max_examples:
            return self
        keep = np.sort(
            np.random.default_rng(seed).permutation(len(self.targets["tr"]))[:max_examples]
        )
        sentences = dict(self.sentences, tr=[self.sentences["tr"][i] for i in keep])
        targets = dict(self.targets, tr=self.targets["tr"][keep])
        fingerprint = hashlib.sha256(f"{self.fingerprint}/tr<={max_examples}/{seed}".encode())
        return dataclasses.replace(
            self, sentences=sentences, targets=targets, fingerprint=fingerprint.hexdigest()
        )


def read_task(path, name=None):
    """Reads a SentEval probing file (`split<TAB>label<TAB>sentence`, no quoting).

    Raises:
        ValueError: naming the file and line: a line without three tab-separated fields or with
            an empty label or sentence, an unknown split, a va/te label absent from tr, a split
            with no examples, or a training split with a single class.
    """
    path = str(path)
    name = name or os.path.splitext(os.path.basename(path))[0]
    try:
        data = files.read_bytes(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: probing task file not found") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    rows = {split: [] for split in SPLITS}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].strip() or not fields[2].strip():
            raise ValueError(
                f"{path}:{number}: expected split<TAB>label<TAB>sentence, got {line[:80]!r}"
            )
        split, label, sentence = fields[0].strip(), fields[1].strip(), fields[2].strip()
        if split not in rows:
            raise ValueError(
                f"{path}:{number}: unknown split {split!r}; expected one of {', '.join(SPLITS)}"
            )
        rows[split].append((number, label, sentence))
    for split in SPLITS:
        if not rows[split]:
            raise ValueError(f"{path}: no examples in split {split!r}; every task needs tr, va, te")
    labels = list(dict.fromkeys(label for _, label, _ in rows["tr"]))
    if len(labels) < 2:
        raise ValueError(
            f"{path}: the training split has a single class {labels[0]!r}; a probing task needs "
            "at least two"
        )
    index = {label: i for i, label in enumerate(labels)}
    targets = {}
    for split in SPLITS:
        for number, label, _ in rows[split]:
            if label not in index:
                raise ValueError(
                    f"{path}:{number}: label {label!r} of split {split!r} never occurs in the "
                    "training split"
                )
        targets[split] = np.array([index[label] for _, label, _ in rows[split]], np.int32)
    return ProbingTask(
        name=name,
        path=path,
        labels=tuple(labels),
        sentences={split: [s for _, _, s in rows[split]] for split in SPLITS},
        targets=targets,
        fingerprint=hashlib.sha256(data).hexdigest(),
    )


def write_task(path, examples):
    """Writes `(split, label, sentence)` examples in SentEval's format, atomically.

    Raises:
        ValueError: an unknown split, or a tab or newline inside a label or sentence.
    """
    lines = []
    for split, label, sentence in examples:
        label, sentence = str(label), str(sentence)
        if split not in SPLITS:
            raise ValueError(f"{path}: unknown split {split!r}; expected one of {SPLITS}")
        if any(c in field for field in (label, sentence) for c in "\t\n\r"):
            raise ValueError(f"{path}: a label or sentence holds a tab or newline: {sentence!r}")
        lines.append(f"{split}\t{label}\t{sentence}\n")
    write_text_atomic(path, "".join(lines))


def find_task_files(task_dir, tasks="all", label=None):
    """[(task name, path)] of the requested tasks in `task_dir` (SentEval's `data/probing`).

    `label` names the folder in errors (default `--task_dir=<task_dir>`).

    Raises:
        ValueError: the folder or a requested task file is missing.
    """
    label = label or f"--task_dir={task_dir}"
    if not files.isdir(str(task_dir)):
        raise ValueError(f"{label}: not a directory")
    wanted = parse_task_list(tasks) if isinstance(tasks, str) else list(tasks)
    found, missing = [], []
    for name in wanted:
        path = os.path.join(str(task_dir), f"{name}.txt")
        (found if files.isfile(path) else missing).append((name, path))
    if missing and not (tasks == "all" and found):
        raise ValueError(
            f"{label}: missing {', '.join(os.path.basename(p) for _, p in missing)}"
            " (generate tasks with `python -m tfrecords.probing_tasks`)"
        )
    for name, _ in missing:
        logging.warning("%s: no %s.txt; skipping that task", task_dir, name)
    return found
