"""`--data NAME=PATH`: the named data sets a study can read, parsed and checked before training.

Each check reuses the reader of that format (squad.py, nli.py, senteval_format.py,
word_vectors.py, pretrained.py), so a file that would fail mid-study fails here, first, with one
error naming the data set and the file.
"""

import os

from hbert_tf import files
from hbert_tf.errors import UserError
from hbert_tf.finetuning import tasks as downstream_tasks

# {--data name: (study task name, split)} of every downstream task's files
TASK_DATA = {
    name: (study_name, split)
    for task in downstream_tasks.TASKS
    for study_name, keys in task.data_keys.items()
    for split, name in keys
}
DATA_NAMES = {
    "wikitext": "WikiText raw: a folder holding wiki.train.raw, or a raw text file",
    **{
        name: downstream_tasks.study_task(study_name).describe_file(study_name, split)
        for name, (study_name, split) in TASK_DATA.items()
    },
    "senteval_probing": "SentEval's data/probing folder",
    "fasttext": "fastText vectors (.vec text file) for the BiLSTM baseline",
    "pretrained_bert": "keras-hub preset name or Hugging Face BERT directory",
}
VEC_CHECK_LIMIT = 200 * 2**20  # larger .vec files: only the first lines are checked


def parse_data_flags(values):
    """dict name -> path from `NAME=PATH` strings; UserError for a malformed or unknown one."""
    data = {}
    for value in values or ():
        name, sep, path = value.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not path:
            raise UserError(f"--data={value}: expected NAME=PATH")
        if name not in DATA_NAMES:
            raise UserError(f"--data={value}: unknown data set {name!r}; expected one of "
                            f"{', '.join(DATA_NAMES)}")  # fmt: skip
        if name in data:
            raise UserError(f"--data {name}: given twice")
        data[name] = path
    return data


def required_data(study):
    """{name: why} of the data sets the study cannot run without."""
    need = {}
    if "wikitext" in study.corpora:
        need["wikitext"] = "corpus wikitext"
    return need


def check_data(study, data, check_text_file=None):
    """Checks every given data set by reading it; UserError naming the set and the file.

    Args:
        study: `spec.Study`.
        data: dict name -> path.
        check_text_file: callable(path) or None. The corpus readers' check of raw text.
    """
    for name, why in required_data(study).items():
        if name not in data:
            raise UserError(f"--data {name}: required by the study's {why}; pass "
                            f"--data {name}=PATH ({DATA_NAMES[name]})")  # fmt: skip
    if "squad" in study.corpora and not ({"squad_v1_train", "squad_v2_train"} & set(data)):
        raise UserError("corpus squad needs --data squad_v1_train=PATH and/or squad_v2_train=PATH")
    for name, path in data.items():
        try:
            _check(name, path, check_text_file, study)
        except (UserError, ValueError, OSError) as e:
            message = str(e)
            if path not in message:
                message = f"{path}: {message}"
            raise UserError(f"--data {name}: {message}") from None


def _check(name, path, check_text_file, study):
    if name == "pretrained_bert":
        if files.isdir(path):
            if not files.isfile(os.path.join(path, "config.json")):
                raise UserError(f"{path}: no config.json; expected a Hugging Face BERT directory")
        elif os.sep in path or files.exists(path):
            raise UserError(f"{path}: not a directory (nor a keras-hub preset name)")
        return
    if name == "senteval_probing":
        from hbert_tf.probing import senteval_format

        tasks = list(study.probing_tasks) or "all"  # a study that probes needs all its tasks
        for task, task_path in senteval_format.find_task_files(path, tasks, label=path):
            senteval_format.read_task(task_path, task)
        return
    if name == "wikitext":
        if files.isdir(path):
            train = os.path.join(path, "wiki.train.raw")
            if not files.isfile(train):
                raise UserError(f"{path}: folder without wiki.train.raw")
            path = train
        _check_file(path)
        if check_text_file is not None:
            check_text_file(path)
        return
    _check_file(path)
    if name in TASK_DATA:
        study_name, split = TASK_DATA[name]
        downstream_tasks.study_task(study_name).check_file(path, study_name, split)
    elif name == "fasttext":
        from hbert_tf.text import word_vectors

        if files.size(path) <= VEC_CHECK_LIMIT:
            word_vectors.read_vec_file(path, set())
        else:
            with files.open(path, errors="replace") as f:
                head = [f.readline() for _ in range(3)]
            if len(head[1].split()) < 2:
                raise UserError(f"{path}: not a fastText .vec text file")


def _check_file(path):
    if not files.exists(path):
        raise UserError(f"{path}: file not found")
    if not files.isfile(path):
        raise UserError(f"{path}: not a file")
    if files.size(path) == 0:
        raise UserError(f"{path}: empty file")
