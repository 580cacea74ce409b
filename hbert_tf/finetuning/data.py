"""Where fine-tuning examples come from: files, TensorFlow Datasets or the built-in sets.

`--data=files` reads `--train_file` and the dev file(s) (`squad.read_squad_json`,
`nli.read_nli_file`); `--data=tfds` downloads through TensorFlow Datasets; `--data=builtin`
writes the built-in QA / NLI sets (`builtin_tasks`) under `<model_dir>/data/` and reads them.
"""

import os

from hbert_tf.errors import UserError
from hbert_tf.finetuning import builtin_tasks, nli, squad

NLI_SPLITS = ("train", "dev_matched", "dev_mismatched")


def builtin_dir(config):
    """Folder of the built-in task files of a run."""
    return os.path.join(config.model_dir, "data")


def default_vocabulary(config):
    """The built-in sets' vocabulary (list of str) for `--data=builtin`, else None."""
    return builtin_tasks.task_vocabulary() if config.data == "builtin" else None


def _require(config, name, why):
    value = getattr(config, name)
    if not value:
        raise UserError(f"--{name} is required {why} (or pass --data=tfds or --data=builtin)")
    return value


def squad_examples(config):
    """`(train_examples or None, eval_examples or None)` of a `SquadConfig`'s data source."""
    version = config.version
    train = evaluation = None
    if config.data == "tfds":
        if config.do_train:
            train = squad.read_squad_tfds(version, "train", config.tfds_data_dir)[0]
        if config.do_eval:
            evaluation = squad.read_squad_tfds(
                version, "validation", config.tfds_data_dir, evaluation=True
            )[0]
        return train, evaluation
    if config.data == "builtin":
        docs = config.builtin_documents
        train_file, predict_file = builtin_tasks.write_builtin_squad(
            builtin_dir(config), config.builtin_seed, docs, max(20, docs // 8), version
        )
    else:
        train_file = config.do_train and _require(config, "train_file", "with --do_train")
        predict_file = config.do_eval and _require(config, "predict_file", "with --do_eval")
    if config.do_train:
        train = squad.read_squad_json(train_file, version)[0]
    if config.do_eval:
        evaluation = squad.read_squad_json(predict_file, version, evaluation=True)[0]
    return train, evaluation


def nli_examples(config):
    """dict split -> examples for the `NLI_SPLITS` an `MnliConfig` asks for and has."""
    wanted = (["train"] if config.do_train else []) + (
        ["dev_matched", "dev_mismatched"] if config.do_eval else []
    )
    if config.data == "tfds":
        return {s: nli.read_nli_tfds(s, config.tfds_data_dir)[0] for s in wanted}
    if config.data == "builtin":
        docs = config.builtin_documents
        paths = builtin_tasks.write_builtin_nli(
            builtin_dir(config), config.builtin_seed, docs, max(30, docs // 4)
        )
        files = dict(zip(NLI_SPLITS, paths))
    else:
        files = {
            "train": config.train_file,
            "dev_matched": config.dev_matched_file,
            "dev_mismatched": config.dev_mismatched_file,
        }
        if config.do_train:
            _require(config, "train_file", "with --do_train")
        if config.do_eval and not (files["dev_matched"] or files["dev_mismatched"]):
            raise UserError(
                "--do_eval needs --dev_matched_file and/or --dev_mismatched_file "
                "(or pass --data=tfds or --data=builtin)"
            )
    return {s: nli.read_nli_file(files[s])[0] for s in wanted if files.get(s)}
