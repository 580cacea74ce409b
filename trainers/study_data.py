"""The study's units that need the data tools (vocabulary, pre-training TFRecords, generated
probing tasks), and `run_unit`, the picklable callable that runs any unit of a study.

`hbert_tf` never imports the data tools (see BUILD_NOTES.md, package boundary), so the study's
binary supplies them here: `run_unit = functools.partial(study_data.run_unit, output_dir=...)`.
"""

import dataclasses
import importlib
import os

from hbert_tf import files
from hbert_tf.files import atomic_path


def _data_tool(name):
    """`tfrecords.<name>` in a checkout, `hbert_tf.tfrecords.<name>` once installed."""
    parent = (__package__ or "").rpartition(".")[0]  # "" for trainers, "hbert_tf" installed
    return importlib.import_module(f"{parent + '.' if parent else ''}tfrecords.{name}")


def corpus_job(unit, run_dir):
    """vocab.txt, then the clean (and bigram-swapped, and each task copy's) TFRecords at both
    lengths; resumable."""
    from hbert_tf.text.vocab import Vocab

    config = unit.config
    readers = _data_tool("readers")
    create_pretraining_data = _data_tool("create_pretraining_data").create_pretraining_data
    corpus = dict(
        input_format=config.input_format,
        builtin_seed=0,
        builtin_documents=config.builtin_documents,
    )
    vocab_file = os.path.join(run_dir, "vocab.txt")
    if not files.isfile(vocab_file):
        documents = readers.read_documents(input_files=config.input_files, **corpus)
        tokens = _data_tool("build_vocab").build_vocab(documents, vocab_size=config.vocab_size)
        with atomic_path(vocab_file) as tmp:
            Vocab(tokens).write(tmp)
    outputs = {"vocab": vocab_file}
    copies = [("clean", {})]
    if config.bigram_shift_prob > 0:
        copies.append(("swapped", {"bigram_shift_prob": config.bigram_shift_prob}))
    copies += [(task, dict(options)) for task, options in config.task_copies]
    for name, options in copies:
        outputs[name] = os.path.join(run_dir, name)
        create_pretraining_data(
            outputs[name],
            vocab_file=vocab_file,
            input_file=",".join(config.input_files) or None,
            max_seq_length=",".join(map(str, config.max_seq_length)),
            max_predictions_per_seq=",".join(map(str, config.max_predictions_per_seq)),
            dupe_factor=config.dupe_factor,
            num_shards=config.num_shards,
            num_workers=unit.num_cpus,
            eval_documents=config.eval_documents,
            **corpus,
            **options,
        )
    return outputs, []


def probing_job(unit, run_dir):
    """SentEval's folder as given, or the ten tasks generated from the built-in corpus."""
    config = unit.config
    if config.task_dir:
        return {"task_dir": config.task_dir, "tasks": list(config.tasks)}, []
    probing_tasks = _data_tool("probing_tasks")
    generation = probing_tasks.GenerationConfig(**dict(config.generate))
    generated, metadata = probing_tasks.generate_tasks("builtin", list(config.tasks), generation)
    task_dir = os.path.join(run_dir, "tasks")
    settings = dict(dataclasses.asdict(generation), source="builtin")
    probing_tasks.write_tasks(task_dir, generated, metadata, settings, overwrite=True)
    return {"task_dir": task_dir, "tasks": list(config.tasks)}, []


def job(unit, run_dir, inputs):
    from hbert_tf.study import jobs
    from hbert_tf.study.units import CorpusData, ProbingData

    if isinstance(unit.config, CorpusData):
        return corpus_job(unit, run_dir)
    if isinstance(unit.config, ProbingData):
        return probing_job(unit, run_dir)
    return jobs.run_job(unit, run_dir, inputs)


def run_unit(unit, output_dir, deterministic=True):
    """Runs one unit of a study in `output_dir` (skipped when its result exists). With
    `deterministic`, TensorFlow's ops and tf.data run deterministically (same numbers on a rerun
    or in a resumed study; slower on some GPU ops)."""
    from hbert_tf.study import runner

    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return runner.execute_unit(unit, output_dir, job)
