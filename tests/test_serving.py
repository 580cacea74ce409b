"""Exports (SavedModels from raw text to answers, Hugging Face) and the predict binary.

Tiny runs with a few training steps; the exported SavedModels are loaded in a fresh process that
imports only TensorFlow and tensorflow-text, and must give the Python pipeline's predictions.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from hbert_tf.finetuning import builtin_tasks, nli, squad
from hbert_tf.finetuning.run import run_mnli, run_squad
from hbert_tf.modeling import downstream
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.run_config import MnliConfig, SquadConfig
from hbert_tf.serving.export import (
    export_run,
    huggingface_config,
    load_finetuned,
    run_kind,
    serving_outputs,
)
from hbert_tf.text.tokenization import OffsetTokenizer
from hbert_tf.text.vocab import Vocab
from hbert_tf.variants import resolve_variant
from hbert_tf.weights.model_dir import (
    checkpoint_dir,
    load_pretrainer,
    make_checkpoint,
    write_run_config,
)
from hbert_tf.weights.pretrained import encoder_from_pretrained
from tests.helpers import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The exported models are an expensive module fixture: keep this file on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("serving")
SMALL = dict(data="builtin", builtin_documents=24, train_steps=3, batch_size=8, verbose=0, seed=3)
SQUAD_WINDOWS = dict(max_seq_length=64, max_query_length=12, doc_stride=16, max_answer_length=10)
# Contexts that are not in the built-in set: non-ASCII text and more than one window.
EXTRA_CONTEXT = "Ünïcode café — the keeper's naïve boat was painted green in 1987 , said Märta . "


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def pretrained(root):
    """A tiny Lower NSP pre-training dir (NSP on block 0, random weights), built-in vocabulary."""
    path = root / "pretrained"
    path.mkdir()
    tokens = builtin_tasks.task_vocabulary()
    config = tiny_config(vocab_size=len(tokens))
    layout = resolve_variant("lower_nsp", 2, nsp_layer=0, concat="cls")
    model = HBertPretrainer(HBertEncoder.from_config_object(config), layout)
    write_run_config(str(path), config, layout)
    tf.train.CheckpointManager(make_checkpoint(model), checkpoint_dir(str(path)), 1).save()
    Vocab(tokens).write(str(path / "vocab.txt"))
    return str(path)


@pytest.fixture(scope="module")
def squad1(root, pretrained):
    path = str(root / "squad1")
    run_squad(
        SquadConfig.resolve(
            **dict(SMALL, **SQUAD_WINDOWS, init_from=pretrained, model_dir=path, version="1.1")
        )
    )
    return path


@pytest.fixture(scope="module")
def squad2(root, pretrained):
    path = str(root / "squad2")
    settings = dict(SMALL, **SQUAD_WINDOWS, init_from=pretrained, model_dir=path)
    run_squad(SquadConfig.resolve(**dict(settings, version="2.0", concat="nsp")))
    return path


@pytest.fixture(scope="module")
def mnli(root, pretrained):
    path = str(root / "mnli")
    run_mnli(
        MnliConfig.resolve(**dict(SMALL, init_from=pretrained, model_dir=path, max_seq_length=32))
    )
    return path


@pytest.fixture
def runs(pretrained, squad1, squad2, mnli):
    return {"pretrained": pretrained, "squad1": squad1, "squad2": squad2, "mnli": mnli}


def python_answers(model_dir, examples, threshold=None):
    """The Python pipeline's answers (squad.postprocess) of a restored SQuAD run."""
    model, values = load_finetuned(model_dir)
    s = values["settings"]
    tokenizer = OffsetTokenizer.from_file(os.path.join(model_dir, "vocab.txt"))
    features = squad.convert_examples_to_features(
        examples, tokenizer, s["max_seq_length"], s["doc_stride"], s["max_query_length"]
    )
    out = model.predict(features.inputs(), verbose=0)
    answers = squad.postprocess(
        examples,
        features,
        out[downstream.START_LOGITS],
        out[downstream.END_LOGITS],
        s["n_best_size"],
        s["max_answer_length"],
        s["version"] == "2.0",
        s["null_score_diff_threshold"] if threshold is None else threshold,
    )
    return answers, features


FRESH_PROCESS = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
jobs = json.load(open(sys.argv[1]))
results = {}
for name, job in jobs.items():
    loaded = tf.saved_model.load(job["path"])
    fn = loaded.signatures[job["signature"]]
    out = fn(**{k: tf.constant(v, tf.string) for k, v in job["inputs"].items()})
    if "then" in job:  # a second SavedModel run on the first one's outputs (its inputs too)
        out = {**tf.saved_model.load(job["then"]).signatures["serving_default"](**out), **out}
    results[name] = {
        k: [x.decode() if isinstance(x, bytes) else x for x in v.numpy().tolist()]
        for k, v in out.items()
    }
    results[name]["_extra_assets"] = sorted(tf.io.gfile.listdir(job["path"] + "/assets.extra"))
assert not [m for m in sys.modules if m.startswith(("hbert_tf", "keras_hub", "trainers"))]
json.dump(results, open(sys.argv[2], "w"))
"""


def run_fresh_process(tmp_path, jobs):
    """Runs `jobs` ({name: path, signature, inputs}) in a new interpreter outside the repo."""
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "fresh.py").write_text(FRESH_PROCESS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, str(tmp_path / "fresh.py"), "jobs.json", "results.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((tmp_path / "results.json").read_text())


def squad_examples(model_dir, version):
    dev = os.path.join(model_dir, f"data/builtin_squad_v{version}_dev.json")
    examples, _ = squad.read_squad_json(dev, version)
    long_context = " ".join(sorted({e.context for e in examples})[:4])
    extra = [
        squad.SquadExample("long", examples[0].question, long_context),
        squad.SquadExample("unicode", "who painted the boat ?", EXTRA_CONTEXT),
        squad.SquadExample("no-question-tokens", "\u200b", EXTRA_CONTEXT),
    ]
    return examples, examples + extra


@pytest.mark.slow
def test_exported_savedmodels_match_the_python_pipeline_in_a_fresh_process(runs, tmp_path):
    jobs, expected = {}, {}
    # SQuAD 1.1 and 2.0 (2.0 with a threshold amid the null odds: both outcomes occur).
    for name, version in (("squad1", "1.1"), ("squad2", "2.0")):
        dev, examples = squad_examples(runs[name], version)
        threshold = None
        if version == "2.0":
            odds = python_answers(runs[name], examples)[0].null_odds
            # In the widest gap between the middle half of the null odds: far from every one
            # of them (the two sides' logits differ by ~1e-7).
            v = np.sort([x for x in odds.values() if x < 1e9])
            i = len(v) // 4 + int(np.argmax(np.diff(v[len(v) // 4 : 3 * len(v) // 4 + 1])))
            assert v[i + 1] - v[i] > 1e-4, v
            threshold = float((v[i] + v[i + 1]) / 2)
        answers, features = python_answers(runs[name], examples, threshold)
        # More than one window for some questions, and the run's own predictions.json.
        windows = np.bincount(features.example_index, minlength=len(examples))
        assert windows.max() > 1 and windows[len(dev)] > 2, windows
        assert windows[-1] == 0  # a question without tokens has no window
        run_predictions = json.load(open(os.path.join(runs[name], "predictions.json")))
        if version == "1.1":
            assert {e.qas_id: answers.predictions[e.qas_id] for e in dev} == run_predictions
        else:
            assert any(e.is_impossible for e in dev)
            flags = [answers.answers[e.qas_id]["is_impossible"] for e in examples]
            assert any(flags) and not all(flags)
        export_run(runs[name], str(tmp_path / name), null_score_diff_threshold=threshold)
        jobs[name] = {
            "path": str(tmp_path / name),
            "signature": "serving_default",
            "inputs": {
                "question": [e.question for e in examples],
                "context": [e.context for e in examples],
            },
        }
        expected[name] = (examples, answers)

    # MultiNLI, with pairs longer than the run's 32 tokens.
    pairs, _ = nli.read_nli_file(os.path.join(runs["mnli"], "data/builtin_nli_dev_matched.jsonl"))
    pairs = pairs[:20] + [nli.NliExample("long", pairs[0].premise * 6, pairs[1].hypothesis, 0)]
    export_run(runs["mnli"], str(tmp_path / "mnli"))
    jobs["mnli"] = {
        "path": str(tmp_path / "mnli"),
        "signature": "serving_default",
        "inputs": {
            "premise": [p.premise for p in pairs],
            "hypothesis": [p.hypothesis for p in pairs],
        },
    }

    # The encoder's preprocessor, then the encoder; mixed lengths, pairs and single texts.
    texts = ["the keeper painted the boat .", EXTRA_CONTEXT * 3, "a", "who ?"]
    seconds = ["she carved a mast .", "", "", "what did she carve ?"]
    export_run(runs["pretrained"], str(tmp_path / "encoder"))
    jobs["encoder"] = {
        "path": str(tmp_path / "encoder" / "preprocessor"),
        "signature": "serving_default",
        "inputs": {"text_a": texts, "text_b": seconds},
        "then": str(tmp_path / "encoder"),
    }

    results = run_fresh_process(tmp_path, jobs)

    for name, (examples, answers) in expected.items():
        got = results[name]
        assert got["_extra_assets"] == ["finetune_config.json", "vocab.txt"]
        for i, e in enumerate(examples):
            want = answers.answers[e.qas_id]
            assert got["answer_text"][i] == want["text"], e.qas_id
            assert (got["answer_start"][i], got["answer_end"][i]) == (want["start"], want["end"])
            if want["start"] >= 0:
                assert e.context[want["start"] : want["end"]] == want["text"]
            np.testing.assert_allclose(got["score"][i], want["score"], rtol=1e-5, atol=1e-5)
            if name == "squad2":
                assert got["is_impossible"][i] == want["is_impossible"], e.qas_id
                want_diff = answers.null_odds[e.qas_id]
                np.testing.assert_allclose(
                    got["null_score_diff"][i], want_diff, rtol=1e-5, atol=1e-5
                )
        assert "is_impossible" not in got or name == "squad2"

    model, values = load_finetuned(runs["mnli"])
    tokenizer = OffsetTokenizer.from_file(os.path.join(runs["mnli"], "vocab.txt"))
    inputs, _, stats = nli.encode_pairs(pairs, tokenizer, values["settings"]["max_seq_length"])
    assert stats["truncated"] >= 1
    logits = model.predict(inputs, verbose=0)[downstream.LOGITS]
    assert results["mnli"]["label"] == [nli.LABELS[i] for i in np.argmax(logits, axis=-1)]
    np.testing.assert_allclose(
        results["mnli"]["probabilities"], tf.nn.softmax(logits).numpy(), atol=1e-5
    )
    run_labels = [
        json.loads(line)["prediction"]
        for line in open(os.path.join(runs["mnli"], "predictions_dev_matched.jsonl"))
    ][:20]
    assert results["mnli"]["label"][:20] == run_labels

    pretrainer, _ = load_pretrainer(runs["pretrained"])
    vocab = tokenizer.vocab
    got = results["encoder"]
    assert got["_extra_assets"] == ["vocab.txt"]  # the preprocessor's
    ids = np.array(got["input_ids"])
    assert ids.shape[1] == max(int(np.sum(m)) for m in got["input_mask"])  # longest row
    for i, (a, b) in enumerate(zip(texts, seconds)):
        ta, tb = tokenizer.tokenize_ids([a, b])
        row = [vocab.cls_id, *ta, vocab.sep_id] + ([*tb, vocab.sep_id] if b else [])
        assert ids[i][: len(row)].tolist() == row and not ids[i][len(row) :].any()
    inputs = {k: np.array(got[k], np.int32) for k in ("input_ids", "input_mask", "segment_ids")}
    reference = serving_outputs(pretrainer, inputs)
    mask = inputs["input_mask"].astype(bool)
    for key in ("layer_0", "layer_1", "embedding_output"):
        np.testing.assert_allclose(
            np.array(got[key])[mask], reference[key].numpy()[mask], atol=1e-5
        )
    np.testing.assert_allclose(got["nsp_pooled_output"], reference["nsp_pooled_output"], atol=1e-5)


# Only TensorFlow: no tensorflow_text or hbert_tf in the process.
PLAIN_TENSORFLOW = r"""
import json, sys
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
ids = tf.constant([[2, 7, 8, 3, 9, 3]], tf.int32)
out = serve(input_ids=ids, input_mask=tf.ones_like(ids), segment_ids=tf.constant([[0] * 4 + [1] * 2]))
loaded = [m for m in sys.modules if m.startswith(("tensorflow_text", "hbert_tf"))]
assert not loaded, loaded
assert sorted(tf.io.gfile.listdir(sys.argv[1] + "/assets.extra")) == ["run_config.json", "vocab.txt"]
json.dump({k: v.numpy().tolist() for k, v in out.items()}, open(sys.argv[2], "w"))
"""


def test_the_encoder_export_loads_and_runs_with_tensorflow_alone(pretrained, tmp_path):
    export_run(pretrained, str(tmp_path / "encoder"))
    (tmp_path / "plain.py").write_text(PLAIN_TENSORFLOW)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, "plain.py", str(tmp_path / "encoder"), "out.json"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads((tmp_path / "out.json").read_text())
    pretrainer, _ = load_pretrainer(pretrained)
    ids = np.array([[2, 7, 8, 3, 9, 3]], np.int32)
    inputs = {
        "input_ids": ids,
        "input_mask": np.ones_like(ids),
        "segment_ids": (ids * 0) + [[0] * 4 + [1] * 2],
    }
    reference = serving_outputs(pretrainer, inputs)
    for key in ("layer_0", "layer_1", "nsp_pooled_output"):
        np.testing.assert_allclose(got[key], reference[key].numpy(), atol=1e-5)


def test_huggingface_export_round_trips_through_keras_hub(pretrained, tmp_path):
    pretrainer, _ = load_pretrainer(pretrained)
    out = tmp_path / "hf"
    export_run(pretrained, str(out), format="huggingface")
    assert sorted(os.listdir(out)) == [
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    config = json.load(open(out / "config.json"))
    assert config["hidden_act"] == "gelu_new" and config["model_type"] == "bert"
    assert config["hbert_nsp_layer"] == 0
    assert json.load(open(out / "tokenizer_config.json"))["do_lower_case"] is True
    encoder, pooler_weights, vocabulary = encoder_from_pretrained(str(out))
    assert encoder.hidden_act == "gelu" and list(vocabulary) == builtin_tasks.task_vocabulary()
    rng = np.random.default_rng(0)
    inputs = {
        "input_ids": rng.integers(5, len(vocabulary), (3, 11)).astype("int32"),
        "input_mask": np.array([[1] * 11, [1] * 7 + [0] * 4, [1] * 3 + [0] * 8], "int32"),
        "segment_ids": np.array([[0] * 6 + [1] * 5] * 3, "int32"),
    }
    want = pretrainer.encoder(inputs, training=False)
    got = encoder(inputs, training=False)
    for key in ("layer_0", "layer_1"):
        np.testing.assert_array_equal(got["hidden_states"][key], want["hidden_states"][key])
    np.testing.assert_array_equal(got["embedding_output"], want["embedding_output"])
    for w, v in zip(pooler_weights, pretrainer.nsp_head.pooler.get_weights()):
        np.testing.assert_array_equal(w, v)
    # The exact GELU keeps its name the other way round.
    exact = huggingface_config(tiny_config(hidden_act="gelu_exact"))
    assert exact["hidden_act"] == "gelu"


def test_export_refuses_non_empty_folders_and_is_atomic(pretrained, mnli, tmp_path):
    runs = {"pretrained": pretrained, "mnli": mnli}
    assert [run_kind(runs[n]) for n in ("pretrained", "mnli")] == ["pretraining", "mnli"]
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="is not empty; choose a new folder or pass --overwrite"):
        export_run(runs["mnli"], str(target))
    assert os.listdir(target) == ["keep.txt"]
    with pytest.raises(ValueError, match="fine-tuning run"):
        export_run(runs["mnli"], str(tmp_path / "hf"), format="huggingface")
    with pytest.raises(ValueError, match="SQuAD 2.0 runs only"):
        export_run(runs["mnli"], str(tmp_path / "t"), null_score_diff_threshold=1.0)
    assert not os.path.exists(tmp_path / "hf") and not os.path.exists(tmp_path / "t")
    export_run(runs["mnli"], str(target), overwrite=True)
    assert "saved_model.pb" in os.listdir(target) and "keep.txt" not in os.listdir(target)
    assert [p for p in os.listdir(tmp_path) if ".tmp-" in p or ".old-" in p] == []
    with pytest.raises(ValueError, match="neither run_config.json"):
        run_kind(str(tmp_path))


def _run_binary(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.slow
def test_export_and_predict_binaries(runs, tmp_path):
    exported = tmp_path / "squad2"
    result = _run_binary(
        "trainers.export", f"--model_dir={runs['squad2']}", f"--export_dir={exported}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    again = _run_binary(
        "trainers.export", f"--model_dir={runs['squad2']}", f"--export_dir={exported}"
    )
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.strip().splitlines()[-1].startswith(f"error: --export_dir={exported}")

    dev = os.path.join(runs["squad2"], "data/builtin_squad_v2.0_dev.json")
    output = tmp_path / "predictions.json"
    result = _run_binary(
        "trainers.predict",
        f"--saved_model={exported}",
        f"--input={dev}",
        f"--output={output}",
        "--batch_size=7",
        "--details",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "predict: " in result.stderr and "100%" in result.stderr
    # The run's threshold was exported, so the run's own predictions come back.
    assert json.load(open(output)) == json.load(
        open(os.path.join(runs["squad2"], "predictions.json"))
    )
    details = [json.loads(line) for line in open(f"{output}.details.jsonl")]
    assert {"id", "text", "start", "end", "score", "is_impossible"} <= set(details[0])

    bad = _run_binary(
        "trainers.predict",
        f"--saved_model={exported}",
        f"--input={tmp_path / 'missing.json'}",
        f"--output={tmp_path / 'p.json'}",
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "SQuAD file not found" in bad.stderr and not os.path.exists(tmp_path / "p.json")


def test_predict_on_mnli_files_and_text_lines(pretrained, mnli, tmp_path):
    from hbert_tf.serving.predict import predict

    runs = {"pretrained": pretrained, "mnli": mnli}
    export_run(runs["mnli"], str(tmp_path / "mnli"))
    tsv = tmp_path / "test.tsv"
    tsv.write_text(
        "pairID\tsentence1\tsentence2\n"
        "a1\tthe keeper painted the boat .\tthe boat is green .\n"
        "a2\tshe carved a mast .\tnobody carved anything .\n"
    )
    output = tmp_path / "mnli.jsonl"
    assert predict(str(tmp_path / "mnli"), str(tsv), str(output), progress=False) == "mnli"
    records = [json.loads(line) for line in open(output)]
    assert [r["pairID"] for r in records] == ["a1", "a2"]
    serve = tf.saved_model.load(str(tmp_path / "mnli")).signatures["serving_default"]
    empty = serve(premise=tf.constant([], tf.string), hypothesis=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 3)
    assert all(r["prediction"] in nli.LABELS for r in records)
    np.testing.assert_allclose([sum(r["probabilities"]) for r in records], 1.0, rtol=1e-5)

    export_run(runs["pretrained"], str(tmp_path / "encoder"))
    lines = tmp_path / "lines.txt"
    lines.write_text("the keeper painted the boat .\n\nwho ?\tshe did .\n")
    output = tmp_path / "vectors.jsonl"
    kind = predict(
        str(tmp_path / "encoder"),
        str(lines),
        str(output),
        outputs=["nsp_pooled_output", "layer_1"],
        progress=False,
    )
    records = [json.loads(line) for line in open(output)]
    assert kind == "encoder" and [r["line"] for r in records] == [1, 3]
    assert len(records[0]["nsp_pooled_output"]) == 32
    assert len(records[0]["layer_1"]) == 8  # [CLS] + 6 pieces + [SEP]
    assert len(records[1]["layer_1"]) == 8  # [CLS] who ? [SEP] she did . [SEP]


@pytest.mark.slow
def test_bilstm_baseline_exports_and_answers_like_the_python_pipeline(tmp_path):
    run = str(tmp_path / "bilstm")
    settings = dict(SMALL, **SQUAD_WINDOWS, model_dir=run, model="bilstm", concat="cls")
    run_squad(SquadConfig.resolve(**dict(settings, embedding_dim=8, lstm_units=8)))
    assert run_kind(run) == "squad"
    export_run(run, str(tmp_path / "exported"))
    _, examples = squad_examples(run, "1.1")
    answers, _ = python_answers(run, examples)
    serve = tf.saved_model.load(str(tmp_path / "exported")).signatures["serving_default"]
    order = np.random.default_rng(0).permutation(len(examples))  # mixed lengths in each batch
    for batch in np.array_split(order, 3):
        out = serve(
            question=tf.constant([examples[i].question for i in batch]),
            context=tf.constant([examples[i].context for i in batch]),
        )
        for j, i in enumerate(batch):
            want = answers.answers[examples[i].qas_id]
            assert out["answer_text"][j].numpy().decode() == want["text"]
            assert int(out["answer_start"][j]) == want["start"]


def test_closed_forms_equal_berts_loops():
    """The shared closed forms (used in the graph too) against BERT's own loops."""
    for budget in range(1, 14):
        for la in range(0, 16):
            for lb in range(0, 16):
                a, b = la, lb
                while a + b > budget:  # run_classifier's _truncate_seq_pair
                    if a >= b:
                        a -= 1
                    else:
                        b -= 1
                assert nli.truncated_lengths(la, lb, budget) == (a, b), (la, lb, budget)
    for n in range(1, 40):
        for max_tokens in range(1, 12):
            for stride in range(1, 14):
                windows, start = [], 0
                while start < n:  # run_squad's doc spans
                    length = min(n - start, max_tokens)
                    windows.append((start, start + length))
                    if start + length == n:
                        break
                    start += min(length, stride)
                assert squad._windows(n, max_tokens, stride) == windows


def test_predict_reads_unlabelled_files_and_names_bad_ones(tmp_path):
    from hbert_tf.errors import DataError

    path = tmp_path / "test.json"
    qas = [{"id": "q1", "question": "who ?"}, {"id": "q2", "question": "what ?"}]
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "she did .", "qas": qas}]}]}))
    assert squad.read_squad_questions(str(path)) == [
        ("q1", "who ?", "she did ."),
        ("q2", "what ?", "she did ."),
    ]
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "x", "qas": [{"id": 3}]}]}]}))
    with pytest.raises(DataError, match=r"test.json: data\[0\].paragraphs\[0\].qas\[0\] lacks"):
        squad.read_squad_questions(str(path))
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("pairID\tsentence1\tsentence2\np1\ta .\tb .\n")
    assert nli.read_nli_pairs(str(tsv)) == [("p1", "a .", "b .")]
    tsv.write_text("pairID\tsentence1\np1\ta .\n")
    with pytest.raises(DataError, match="pairs.tsv: expected a MultiNLI TSV"):
        nli.read_nli_pairs(str(tsv))
