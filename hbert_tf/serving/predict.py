"""Runs an exported SavedModel (`hbert_tf.serving.export`) on files of raw text; see trainers/predict.py.

| SavedModel (signature inputs)      | input file                        | output                    |
|------------------------------------|-----------------------------------|---------------------------|
| SQuAD (`question`, `context`)      | SQuAD JSON (answers not needed)   | `{id: text}` JSON         |
| MultiNLI (`premise`, `hypothesis`) | MultiNLI TSV / JSONL (no labels)  | JSONL: label, probs       |
| any classifier task                | the task's file (`predict_rows`)  | JSONL: label, probs       |
| encoder (+ `preprocessor/`)        | text lines (a tab splits a pair)  | JSONL: chosen outputs     |
"""

import json
import os
import sys
import time

from hbert_tf import files, names
from hbert_tf.files import write_text_atomic


class PredictError(ValueError):
    """Bad flag or input; printed as one line, exit non-zero."""


class EncoderOnText:
    """An encoder export run on strings: its preprocessor's ids, then the encoder's outputs.

    Called with string `text_a`, `text_b` `[batch]`; returns the encoder's outputs and the ids.
    `structured_outputs` names them (as a signature's does).
    """

    def __init__(self, preprocessor, encoder):
        self.preprocessor, self.encoder = preprocessor, encoder
        self.structured_outputs = {**encoder.structured_outputs, **preprocessor.structured_outputs}

    def __call__(self, text_a, text_b):
        ids = self.preprocessor(text_a=text_a, text_b=text_b)
        return {**self.encoder(**ids), **ids}


def load_signature(path):
    """`(kind, fn)`: "encoder" or the fine-tuned task's name ("squad", "mnli", ...) and a
    callable on strings for a SavedModel."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer ops)

    if not files.isfile(os.path.join(str(path), "saved_model.pb")):
        raise PredictError(f"--saved_model={path}: no saved_model.pb (export with trainers.export)")
    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures["serving_default"]
    preprocessor = os.path.join(str(path), names.ENCODER_PREPROCESSOR)
    if files.isdir(preprocessor):
        text_fn = tf.saved_model.load(preprocessor).signatures["serving_default"]
        return "encoder", EncoderOnText(text_fn, fn)
    task = _exported_task(path, set(fn.structured_input_signature[1]))
    return task.name, fn


def _exported_task(path, inputs):
    """The downstream task of a fine-tuned export: its finetune_config.json, else the task whose
    `serving_inputs` the signature takes."""
    from hbert_tf.finetuning import tasks

    config = os.path.join(str(path), "assets.extra", "finetune_config.json")
    if files.isfile(config):
        name = files.read_json(config).get("settings", {}).get("task")
        if name in tasks.BY_NAME:
            return tasks.BY_NAME[name]
    for task in tasks.TASKS:
        if set(task.serving_inputs) == inputs:
            return task
    raise PredictError(f"--saved_model={path}: unknown signature inputs {sorted(inputs)}")


class Progress:
    """Prints `done/total` to stderr about every 5% (and at the end)."""

    def __init__(self, total, what, enabled=True):
        self.total, self.what, self.enabled = total, what, enabled
        self.start, self.shown = time.time(), -1

    def update(self, done):
        step = done * 20 // max(self.total, 1)
        if not self.enabled or (step == self.shown and done < self.total):
            return
        self.shown = step
        rate = done / max(time.time() - self.start, 1e-9)
        print(
            f"predict: {done}/{self.total} {self.what} ({100 * done / max(self.total, 1):.0f}%,"
            f" {rate:.1f}/s)",
            file=sys.stderr,
            flush=True,
        )


def batched_calls(fn, columns, batch_size, what, progress=True):
    """Calls `fn` on batches of string columns; yields `(rows, numpy outputs)` per batch."""
    import tensorflow as tf

    total = len(next(iter(columns.values())))
    bar = Progress(total, what, progress)
    for lo in range(0, total, batch_size):
        hi = min(total, lo + batch_size)
        batch = {key: tf.constant(values[lo:hi], tf.string) for key, values in columns.items()}
        yield range(lo, hi), {key: value.numpy() for key, value in fn(**batch).items()}
        bar.update(hi)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def predict_squad(fn, path, batch_size=32, progress=True):
    """`(predictions {id: text}, details [dict])` for a SQuAD JSON file."""
    from hbert_tf.finetuning.squad import read_squad_questions

    questions = read_squad_questions(path)
    columns = {"question": [q for _, q, _ in questions], "context": [c for _, _, c in questions]}
    predictions, details = {}, []
    for rows, out in batched_calls(fn, columns, batch_size, "questions", progress):
        for j, i in enumerate(rows):
            qid = questions[i][0]
            predictions[qid] = _text(out["answer_text"][j])
            detail = {
                "id": qid,
                "text": predictions[qid],
                "start": int(out["answer_start"][j]),
                "end": int(out["answer_end"][j]),
                "score": float(out["score"][j]),
            }
            if "is_impossible" in out:
                detail["is_impossible"] = bool(out["is_impossible"][j])
                detail["null_score_diff"] = float(out["null_score_diff"][j])
            details.append(detail)
    return predictions, details


def predict_classifier(fn, task, path, batch_size=32, progress=True):
    """JSONL records `{id_key, "prediction", "probabilities"}` for a file of the classifier
    task's inputs (MultiNLI: `pairID`; the task's `predict_rows` reads it, labels not needed)."""
    id_key, ids, columns = task.predict_rows(path)
    records = []
    for rows, out in batched_calls(fn, columns, batch_size, "inputs", progress):
        for j, i in enumerate(rows):
            records.append(
                {
                    id_key: ids[i],
                    "prediction": _text(out["label"][j]),
                    "probabilities": [float(p) for p in out["probabilities"][j]],
                }
            )
    return records


# The model each recognisable task file needs, for a file given to a model of another kind.
TASK_FILE_MODELS = {
    "squad": "a SQuAD model (trainers.export of a trainers.finetune_squad run)",
    "mnli": "a MultiNLI model (trainers.export of a trainers.finetune_mnli run)",
}


def recognise_task_file(path, head_bytes=1 << 16):
    """ "squad" (a SQuAD JSON file), "mnli" (a MultiNLI / GLUE TSV or JSONL file) or None (any
    other text), from the first `head_bytes` of the file."""
    try:
        with files.open(path, "rb") as f:
            head = f.read(head_bytes).decode("utf-8", errors="replace").lstrip("\ufeff")
    except OSError:
        return None  # the reader names the path
    first_line = head.split("\n", 1)[0]
    if head.lstrip().startswith("{") and '"data"' in head and '"paragraphs"' in head:
        return "squad"
    if {"sentence1", "sentence2"} <= set(first_line.rstrip("\r").split("\t")):
        return "mnli"  # a TSV header
    if first_line.lstrip().startswith("{"):
        try:
            record = json.loads(first_line)
        except json.JSONDecodeError:
            return None
        if isinstance(record, dict) and {"sentence1", "sentence2"} <= set(record):
            return "mnli"
    return None


def predict_text(fn, path, outputs, batch_size=32, progress=True):
    """JSONL records `{"line", output: values}` for a text file (tab = sentence pair)."""
    if not files.isfile(path):
        raise PredictError(f"--input={path}: file not found")
    task = recognise_task_file(path)
    if task is not None:
        raise PredictError(
            f"--input={path}: a {'SQuAD' if task == 'squad' else 'MultiNLI'} file, but "
            f"--saved_model is an encoder, which reads text lines; predict on it with "
            f"{TASK_FILE_MODELS[task]}"
        )
    with files.open(path) as f:
        lines = [line.rstrip("\n") for line in f]
    kept = [(n, line.split("\t", 1)) for n, line in enumerate(lines, 1) if line.strip()]
    if not kept:
        raise PredictError(f"--input={path}: no text lines")
    known = set(fn.structured_outputs)
    unknown = [name for name in outputs if name not in known]
    if unknown:
        raise PredictError(f"--outputs: {unknown} not among the SavedModel's {sorted(known)}")
    columns = {
        "text_a": [parts[0] for _, parts in kept],
        "text_b": [parts[1] if len(parts) > 1 else "" for _, parts in kept],
    }
    records = []
    for rows, out in batched_calls(fn, columns, batch_size, "lines", progress):
        for j, i in enumerate(rows):
            length = int(out["input_mask"][j].sum())
            record = {"line": kept[i][0]}
            for name in outputs:
                value = out[name][j]
                record[name] = (value[:length] if value.ndim >= 2 else value).tolist()
            records.append(record)
    return records


def jsonl(records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def predict(
    saved_model, input_path, output, batch_size=32, details=False, outputs=(), progress=True
):
    """Runs the SavedModel on `input_path` and writes `output`; returns the kind of model."""
    if batch_size < 1:
        raise PredictError(f"--batch_size={batch_size} must be >= 1")
    parent = os.path.dirname(output if files.is_remote(output) else os.path.abspath(output))
    if not files.isdir(parent):
        raise PredictError(f"--output={output}: folder {parent} does not exist")
    kind, fn = load_signature(saved_model)
    if kind == "encoder":
        text = jsonl(predict_text(fn, input_path, list(outputs), batch_size, progress))
    else:
        from hbert_tf.finetuning import tasks

        task = tasks.BY_NAME[kind]
        if task.read_out == "span":
            predictions, rows = predict_squad(fn, input_path, batch_size, progress)
            text = json.dumps(predictions, indent=2, ensure_ascii=False)
            if details:
                write_text_atomic(f"{output}.details.jsonl", jsonl(rows))
        else:
            text = jsonl(predict_classifier(fn, task, input_path, batch_size, progress))
    write_text_atomic(output, text)
    return kind
