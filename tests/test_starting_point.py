"""One starting point for every job: probing a released (Hugging Face) BERT and random weights."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hbert_tf.errors import UserError
from hbert_tf.probing import features as probing_features
from hbert_tf.probing import senteval_format
from hbert_tf.weights.starting_point import load_starting_point
from tests.test_pretrained import LAYERS, reference_bert, write_hf_bert_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINES = ["tr\tA\tw1 w2 w3", "tr\tB\tw4 w5", "va\tA\tw6 w7 w8 w9", "te\tB\tw10"]


def task_file(folder):
    folder.mkdir(exist_ok=True)
    path = folder / "bigram_shift.txt"
    path.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    return path


def test_probing_a_huggingface_bert_reads_its_top_block(tmp_path):
    tensors = write_hf_bert_dir(tmp_path / "hf_bert")
    model = probing_features.ProbingModel(str(tmp_path / "hf_bert"), max_seq_length=16)
    assert model.layout.sentence_layer == LAYERS - 1 and model.layout.has_nsp
    assert model.description.startswith("pre-trained BERT")
    choice = probing_features.resolve_probe_layer("nsp", model.layout)
    task = senteval_format.read_task(str(task_file(tmp_path / "tasks")))
    features = model.features(task, choice, "cls", verbose=0)
    for row, sentence in zip(features["tr"], task.sentences["tr"]):
        ids = np.array([[2] + [int(w[1:]) + 5 for w in sentence.split()] + [3]])  # wN -> N + 5
        expected = reference_bert(tensors, ids, np.ones_like(ids), np.zeros_like(ids))[-1][0, 0]
        np.testing.assert_allclose(row, expected, atol=2e-5)


def test_random_weights_are_seeded_and_need_a_vocabulary(tmp_path):
    write_hf_bert_dir(tmp_path / "hf_bert")
    vocab = str(tmp_path / "hf_bert" / "vocab.txt")
    task = senteval_format.read_task(str(task_file(tmp_path / "tasks")))
    features = {}
    for seed in (0, 0, 1):
        model = probing_features.ProbingModel(
            "none", 16, vocab_path=vocab, config="tiny", seed=seed
        )
        assert not model.layout.has_nsp and model.layout.sentence_layer == 1
        choice = probing_features.resolve_probe_layer("nsp", model.layout)
        assert choice.note == "no NSP head: using the last layer"
        features.setdefault(seed, []).append(model.features(task, choice, "cls", verbose=0)["tr"])
    np.testing.assert_array_equal(features[0][0], features[0][1])
    assert not np.allclose(features[0][0], features[1][0])
    with pytest.raises(UserError, match="needs a vocabulary: pass --vocab_file"):
        load_starting_point("none", config="tiny")


def test_starting_point_of_our_model_dir_is_the_runs(tmp_path):
    from tests.test_probing import make_model_dir

    model_dir = make_model_dir(tmp_path / "model", nsp_layer=0)
    start = load_starting_point(model_dir)
    assert start.kind == "model_dir" and start.layout.nsp_layer == 0
    assert start.nsp_head is start.pooler_head is not None
    assert start.checkpoint.endswith("ckpt-1") and len(start.vocab) == start.encoder.vocab_size


@pytest.mark.slow
def test_probe_binary_compares_a_released_bert_with_random_weights(tmp_path):
    write_hf_bert_dir(tmp_path / "hf_bert")
    task_file(tmp_path / "tasks")
    out = tmp_path / "out"
    args = [
        f"--model_dir={tmp_path / 'hf_bert'},none", f"--task_dir={tmp_path / 'tasks'}",
        f"--output_dir={out}", f"--vocab_file={tmp_path / 'hf_bert' / 'vocab.txt'}",
        "--config=tiny", "--max_epochs=2", "--max_seq_length=16", "--tasks=BS",
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "trainers.probe", *args],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "probing.json").read_text())["results"]
    assert {r["model"] for r in results} == {"hf_bert", "none"}
    assert len(results) == 2 and all(0.0 <= r["accuracy"] <= 1.0 for r in results)


def test_finetuning_starts_from_a_huggingface_bert_and_from_random_weights(tmp_path):
    from hbert_tf.finetuning.run import load_backbone
    from hbert_tf.run_config import MnliConfig
    from hbert_tf.text.vocab import load_vocab

    write_hf_bert_dir(tmp_path / "hf_bert")
    vocab = load_vocab(str(tmp_path / "hf_bert" / "vocab.txt"))
    released = load_backbone(
        MnliConfig.resolve(**dict(init_from=str(tmp_path / "hf_bert"), model="bert")), vocab
    )
    direct = load_starting_point(str(tmp_path / "hf_bert"))
    for a, b in zip(released.encoder.get_weights(), direct.encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert released.pooler_head is not None and released.nsp_head is None
    assert released.layout is None  # read-outs default to the top block

    random = load_backbone(
        MnliConfig.resolve(**dict(init_from="none", model="bert", config="tiny")), vocab
    )
    assert random.encoder.vocab_size == len(vocab) and random.pooler_head is None
    assert random.encoder.hidden_size == 32  # the tiny preset's, not the released model's 16


def test_mnli_fine_tunes_a_huggingface_bert(tmp_path):
    from hbert_tf.finetuning.run import run_mnli
    from hbert_tf.run_config import MnliConfig

    write_hf_bert_dir(tmp_path / "hf_bert")
    config = MnliConfig.resolve(
        model_dir=str(tmp_path / "run"), init_from=str(tmp_path / "hf_bert"), data="builtin",
        builtin_documents=24, max_seq_length=32, train_steps=2, batch_size=8, verbose=0,
    )  # fmt: skip
    metrics = run_mnli(config)
    assert metrics["read_out"] == {"token_layer": 1, "sentence_layer": 1, "concat": "none"}
    assert 0.0 <= metrics["dev_matched_accuracy"] <= 1.0 and metrics["dev_matched_pairs"] > 0
