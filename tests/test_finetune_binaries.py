"""End-to-end fine-tuning runs on the built-in QA / NLI sets (no downloads), and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from hbert_tf.finetuning import builtin_tasks, squad
from hbert_tf.finetuning.run import run_mnli, run_squad
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.run_config import MnliConfig, SquadConfig
from hbert_tf.text.vocab import Vocab
from hbert_tf.variants import resolve_variant
from hbert_tf.weights.model_dir import checkpoint_dir, make_checkpoint, write_run_config
from tests.helpers import on_train_step_trace, tiny_config

SMALL_SQUAD = dict(
    data="builtin",
    builtin_documents=24,
    max_seq_length=64,
    max_query_length=12,
    doc_stride=32,
    train_steps=3,
    batch_size=8,
    verbose=0,
)


@pytest.fixture(scope="module")
def pretraining_dir(tmp_path_factory):
    """A tiny Lower NSP model dir (NSP on block 0, MLM on block 1) over the built-in vocabulary."""
    path = tmp_path_factory.mktemp("pretrained")
    tokens = builtin_tasks.task_vocabulary()
    config = tiny_config(vocab_size=len(tokens))
    layout = resolve_variant("lower_nsp", 2, nsp_layer=0, concat="cls")
    model = HBertPretrainer(HBertEncoder.from_config_object(config), layout)
    write_run_config(str(path), config, layout)
    tf.train.CheckpointManager(make_checkpoint(model), checkpoint_dir(str(path)), 1).save()
    Vocab(tokens).write(str(path / "vocab.txt"))
    return str(path)


def test_squad_v2_from_a_pretraining_dir_writes_outputs_and_resumes(tmp_path, pretraining_dir):
    settings = dict(
        SMALL_SQUAD, model_dir=str(tmp_path), init_from=pretraining_dir, version="2.0", concat="nsp"
    )
    metrics = run_squad(SquadConfig.resolve(**settings))
    assert metrics["read_out"] == {"token_layer": 1, "sentence_layer": 0, "concat": "nsp"}
    for key in ("exact", "f1", "HasAns_exact", "NoAns_exact", "best_f1", "best_f1_thresh"):
        assert key in metrics
    for name in ("predictions.json", "null_odds.json", "nbest_predictions.json", "metrics.json"):
        assert os.path.isfile(tmp_path / name)
    predictions = json.load(open(tmp_path / "predictions.json"))
    examples, _ = squad.read_squad_json(tmp_path / "data/builtin_squad_v2.0_dev.json", "2.0")
    assert set(predictions) == {e.qas_id for e in examples}
    for example in examples:  # every answer is an exact slice of its context
        assert predictions[example.qas_id] in example.context
    again = run_squad(SquadConfig.resolve(**settings))  # a finished run only evaluates
    assert again["training"]["resumed_finished_run"]
    assert json.load(open(tmp_path / "predictions.json")) == predictions
    with pytest.raises(ValueError, match="holds another fine-tuning run"):
        run_squad(SquadConfig.resolve(**dict(settings, concat="cls")))


def test_mnli_reads_the_nsp_level_and_reports_matched_and_mismatched(tmp_path, pretraining_dir):
    metrics = run_mnli(
        MnliConfig.resolve(
            **dict(
                model_dir=str(tmp_path),
                init_from=pretraining_dir,
                data="builtin",
                builtin_documents=24,
                max_seq_length=48,
                train_steps=3,
                batch_size=8,
                verbose=0,
            )
        )
    )
    assert metrics["read_out"]["sentence_layer"] == 0
    for split in ("dev_matched", "dev_mismatched"):
        assert 0.0 <= metrics[f"{split}_accuracy"] <= 1.0 and metrics[f"{split}_pairs"] > 0
        assert os.path.isfile(tmp_path / f"predictions_{split}.jsonl")


@pytest.mark.parametrize("preset, amsgrad", [("paper", True), ("bert", False)])
def test_amsgrad_reaches_the_optimizer_that_trains(tmp_path, monkeypatch, preset, amsgrad):
    """The optimizer `fit_or_restore` trains with follows `amsgrad` (on under the paper preset,
    off under bert's): its flag, and the AMSGrad maxima it keeps only when on."""
    optimizers = []
    on_train_step_trace(monkeypatch, lambda model: optimizers.append(model.optimizer))
    config = MnliConfig.resolve(
        model_dir=str(tmp_path), init_from="none", config="tiny", data="builtin",
        builtin_documents=24, max_seq_length=32, train_steps=2, batch_size=4, preset=preset,
        verbose=0,
    )  # fmt: skip
    assert config.amsgrad is amsgrad
    run_mnli(config)
    (optimizer,) = set(optimizers)
    assert int(optimizer.iterations) == 2 and optimizer.amsgrad is amsgrad
    maxima = [v for v in optimizer.variables if "velocity_hat" in v.path]
    assert bool(maxima) is amsgrad and (not amsgrad or any(np.any(v.numpy() > 0) for v in maxima))


def test_bilstm_baseline_trains_fasttext_vectors_on_the_task(tmp_path):
    metrics = run_squad(
        SquadConfig.resolve(
            **dict(
                SMALL_SQUAD,
                model_dir=str(tmp_path),
                model="bilstm",
                embedding_dim=8,
                lstm_units=8,
                concat="cls",
            )
        )
    )
    assert metrics["read_out"] == {"token_layer": 1, "sentence_layer": 1, "concat": "cls"}
    config = json.load(open(tmp_path / "finetune_config.json"))
    assert config["encoder"]["embedding_dim"] == 8


def test_vocabulary_that_does_not_match_the_model_is_refused(tmp_path, pretraining_dir):
    vocab = tmp_path / "other_vocab.txt"
    Vocab(builtin_tasks.task_vocabulary()[:-3]).write(str(vocab))
    with pytest.raises(ValueError, match=r"other_vocab.txt has \d+ tokens but model .* vocab_size"):
        run_squad(
            SquadConfig.resolve(
                **dict(
                    SMALL_SQUAD,
                    model_dir=str(tmp_path / "m"),
                    init_from=pretraining_dir,
                    vocab_file=str(vocab),
                )
            )
        )


def _run_binary(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_binaries_report_bad_input_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    context = "the keeper painted the boat ."
    qa = {"id": "q7", "question": "what ?", "answers": [{"text": "boat", "answer_start": 3}]}
    bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": [qa]}]}]}))
    result = _run_binary(
        "trainers.finetune_squad",
        f"--model_dir={tmp_path / 's'}",
        "--init_from=none",
        "--config=tiny",
        f"--train_file={bad}",
        f"--predict_file={bad}",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: no usable SQuAD")
    assert "answer_start does not match the answer text): q7" in result.stderr

    tsv = tmp_path / "train.tsv"
    tsv.write_text("gold_label\tsentence1\tsentence2\tpairID\nyes\ta .\tb .\tp42\n")
    result = _run_binary(
        "trainers.finetune_mnli",
        f"--model_dir={tmp_path / 'n'}",
        "--init_from=none",
        f"--train_file={tsv}",
        f"--dev_matched_file={tsv}",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "train.tsv: line 2 (pairID p42): unknown label 'yes'" in result.stderr


def _chance_exact_match(features, max_answer_length):
    """Expected EM of a uniformly random span (<= max_answer_length tokens) of the context."""
    per_example = {}
    for f in range(len(features)):
        n = int((features.token_starts[f] >= 0).sum())
        spans = sum(min(max_answer_length, n - i) for i in range(n))
        per_example[features.example_index[f]] = max(
            per_example.get(features.example_index[f], 0), spans
        )
    return float(np.mean([1.0 / s for s in per_example.values()]))


@pytest.mark.slow
def test_short_run_on_the_builtin_qa_set_is_well_above_chance(tmp_path):
    settings = dict(
        SMALL_SQUAD,
        model_dir=str(tmp_path),
        init_from="none",
        config="tiny",
        builtin_documents=200,
        train_steps=1200,
        preset="bert",
        batch_size=32,
        learning_rate=5e-3,
        checkpoint_every=400,
        seed=1,
    )
    metrics = run_squad(SquadConfig.resolve(**settings))
    examples, _ = squad.read_squad_json(tmp_path / "data/builtin_squad_v1.1_dev.json", "1.1")
    from hbert_tf.text.tokenization import OffsetTokenizer

    features = squad.convert_examples_to_features(
        examples, OffsetTokenizer.from_file(str(tmp_path / "vocab.txt")), 64, 32, 12
    )
    chance = 100 * _chance_exact_match(features, 30)
    assert chance < 2.0
    assert metrics["exact"] > max(10 * chance, 10.0), (metrics, chance)


@pytest.mark.slow
def test_short_run_on_the_builtin_nli_set_is_well_above_the_majority_class(tmp_path):
    metrics = run_mnli(
        MnliConfig.resolve(
            **dict(
                model_dir=str(tmp_path),
                init_from="none",
                config="tiny",
                data="builtin",
                builtin_documents=400,
                max_seq_length=64,
                train_steps=1500,
                preset="bert",
                batch_size=32,
                learning_rate=1e-3,
                checkpoint_every=1500,
                seed=1,
                verbose=0,
            )
        )
    )
    from hbert_tf.finetuning import nli

    for split, margin in (("dev_matched", 0.1), ("dev_mismatched", 0.07)):  # measured +0.15, +0.13
        examples, _ = nli.read_nli_file(str(tmp_path / f"data/builtin_nli_{split}.jsonl"))
        counts = np.bincount([e.label for e in examples], minlength=3)
        majority = counts.max() / counts.sum()
        assert metrics[f"{split}_pairs"] == len(examples)
        assert metrics[f"{split}_accuracy"] > majority + margin, (split, metrics, majority)
