"""Probing: the SentEval reader, layer choice and features, the cache, the probe and the results."""

import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from hbert_tf import names
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.probing import classifier as probing_classifier
from hbert_tf.probing import features as probing_features
from hbert_tf.probing import report as probing_report
from hbert_tf.probing import run as probing
from hbert_tf.probing import senteval_format
from hbert_tf.text.builtin_corpus import lexicon
from hbert_tf.variants import resolve_variant
from hbert_tf.weights.model_dir import checkpoint_dir, make_checkpoint, write_run_config
from tests.helpers import count_train_step_traces, tiny_config
from tfrecords import probing_tasks


def make_model_dir(path, variant="lower_nsp", num_layers=2, seed=0, **layout_args):
    """A tiny pre-training model dir (run_config.json, vocab.txt, one checkpoint); returns it."""
    os.makedirs(path, exist_ok=True)
    tokens = list(names.SPECIAL_TOKENS) + lexicon()
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    tf.keras.utils.set_random_seed(seed)
    config = tiny_config(vocab_size=len(tokens), num_hidden_layers=num_layers)
    layout = resolve_variant(variant, num_layers, **layout_args)
    model = HBertPretrainer(HBertEncoder.from_config_object(config), layout)
    write_run_config(path, config, layout, variant=variant)
    tf.train.CheckpointManager(make_checkpoint(model), checkpoint_dir(path), 1).save()
    return str(path)


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


GOOD = ["tr\tA\tthe cat sat .", "tr\tB\ta dog ran .", "va\tB\ta cat ran .", "te\tA\tthe dog sat ."]


# === Reader =======================================================================================


def test_reader_takes_labels_from_training_split(tmp_path):
    task = senteval_format.read_task(
        write_lines(tmp_path / "past_present.txt", GOOD + ["", "tr\tB\tx y"])
    )
    assert task.name == "past_present"
    assert task.labels == ("A", "B")
    assert task.sentences["tr"] == ["the cat sat .", "a dog ran .", "x y"]
    np.testing.assert_array_equal(task.targets["tr"], [0, 1, 1])
    np.testing.assert_array_equal(task.targets["va"], [1])
    assert task.chance("te") == 1.0


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("tr\tA", ":5: expected split<TAB>label<TAB>sentence"),
        ("tr\tA\tone\ttwo", ":5: expected split<TAB>label<TAB>sentence"),
        ("tr\t\tno label", ":5: expected split<TAB>label<TAB>sentence"),
        ("dev\tA\tthe cat .", ":5: unknown split 'dev'"),
        ("te\tC\tthe cat .", ":5: label 'C' of split 'te' never occurs in the training split"),
    ],
)
def test_reader_names_file_and_line_of_bad_input(tmp_path, bad_line, message):
    path = write_lines(tmp_path / "t.txt", GOOD + [bad_line])
    with pytest.raises(ValueError, match=f"t.txt{message}"):
        senteval_format.read_task(path)


def test_reader_rejects_single_class_and_missing_split(tmp_path):
    one_class = [line.replace("\tB\t", "\tA\t") for line in GOOD]
    with pytest.raises(ValueError, match="single class 'A'"):
        senteval_format.read_task(write_lines(tmp_path / "one.txt", one_class))
    with pytest.raises(ValueError, match="no examples in split 'va'"):
        senteval_format.read_task(
            write_lines(tmp_path / "nova.txt", [g for g in GOOD if g[:2] != "va"])
        )
    with pytest.raises(ValueError, match="not found"):
        senteval_format.read_task(tmp_path / "missing.txt")


def test_write_then_read_round_trip_and_task_lists(tmp_path):
    path = str(tmp_path / "bigram_shift.txt")
    senteval_format.write_task(
        path, [(line.split("\t")[0], *line.split("\t")[1:]) for line in GOOD]
    )
    assert (
        senteval_format.read_task(path).sentences
        == senteval_format.read_task(write_lines(tmp_path / "same.txt", GOOD)).sentences
    )
    assert senteval_format.parse_task_list("SL,bigram_shift,ci") == [
        "sentence_length", "bigram_shift", "coordination_inversion",
    ]  # fmt: skip
    assert senteval_format.find_task_files(tmp_path, "BS") == [("bigram_shift", path)]
    with pytest.raises(ValueError, match="missing tree_depth.txt"):
        senteval_format.find_task_files(tmp_path, "bigram_shift,tree_depth")
    with pytest.raises(ValueError, match="unknown task 'XX'"):
        senteval_format.parse_task_list("SL,XX")


# === Layers and features ==========================================================================


def test_layer_choice_follows_the_head_layout():
    lower = resolve_variant("lower_nsp", 3, nsp_layer=0)
    assert probing_features.resolve_probe_layer("nsp", lower).index == 0
    assert probing_features.resolve_probe_layer("mlm", lower).index == 2
    assert probing_features.resolve_probe_layer("-1", lower).key == "layer_2"
    assert probing_features.resolve_probe_layer("embeddings", lower).key == names.EMBEDDING_OUTPUT
    no_nsp = probing_features.resolve_probe_layer("nsp", resolve_variant("without_nsp", 3))
    assert no_nsp.index == 2 and "no NSP head" in no_nsp.note
    for bad in ("3", "top"):
        with pytest.raises(ValueError, match="--layer"):
            probing_features.resolve_probe_layer(bad, lower)


def perturb(layer, seed=3):
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [w + rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in layer.get_weights()]
    )


def test_features_come_from_the_requested_layer():
    encoder = HBertEncoder.from_config_object(tiny_config(num_hidden_layers=3))
    choice = probing_features.LayerChoice("1", 1)
    model = probing_features.feature_model(encoder, choice, "cls")
    assert "transformer_layer_2" not in [layer.name for layer in model.layers]
    encoded = [[2, 7, 8, 9, 3], [2, 10, 3], [2, 11, 12, 13, 14, 15, 3]]
    before = probing_features.extract_features(model, encoded, batch_size=2, verbose=0)
    ids = np.array([encoded[1] + [0] * 4], np.int32)
    inputs = {names.INPUT_IDS: ids, names.INPUT_MASK: (ids > 0).astype("int32")}
    inputs[names.SEGMENT_IDS] = np.zeros_like(ids)
    expected = encoder(inputs)[names.HIDDEN_STATES]["layer_1"][:, 0, :]
    np.testing.assert_allclose(before[1:2], expected, atol=1e-5)

    perturb(encoder.transformer_layers[2])  # above the probed layer: no effect
    np.testing.assert_array_equal(
        before, probing_features.extract_features(model, encoded, 2, verbose=0)
    )
    perturb(encoder.transformer_layers[1])  # the probed layer itself: changes them
    assert not np.allclose(before, probing_features.extract_features(model, encoded, 2, verbose=0))


def test_mean_pooling_ignores_padding():
    encoder = HBertEncoder.from_config_object(tiny_config())
    model = probing_features.feature_model(encoder, probing_features.LayerChoice("0", 0), "mean")
    alone = probing_features.extract_features(model, [[2, 7, 3]], verbose=0)
    padded = probing_features.extract_features(
        model, [[2, 7, 3], [2, 7, 8, 9, 10, 11, 3]], verbose=0
    )
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)


@pytest.mark.parametrize(
    "flags, tolerance",
    [(dict(jit_compile=True), 1e-4), (dict(mixed_precision="mixed_bfloat16"), 0.1)],
    ids=["jit_compile", "bf16"],
)
def test_execution_flags_give_features_close_to_float32(tmp_path, flags, tolerance):
    import keras

    model_dir = make_model_dir(tmp_path / "model", nsp_layer=0)
    task = senteval_format.read_task(write_lines(tmp_path / "bigram_shift.txt", GOOD))
    reference = probing_features.ProbingModel(model_dir, max_seq_length=16)
    model = probing_features.ProbingModel(model_dir, max_seq_length=16, **flags)
    assert keras.config.dtype_policy().name == "float32"  # restored after building
    if "mixed_precision" in flags:
        assert model.encoder.dtype_policy.name == "mixed_bfloat16"
    choice = probing_features.resolve_probe_layer("nsp", model.layout)
    cache = probing_features.FeatureCache(tmp_path / "cache")
    expected = reference.features(task, choice, "cls", cache, verbose=0)
    got = model.features(task, choice, "cls", cache, verbose=0)
    for split in ("tr", "va", "te"):
        assert got[split].dtype == np.float32
        np.testing.assert_allclose(got[split], expected[split], atol=tolerance, rtol=0)
    if "mixed_precision" in flags:  # computed, not the float32 features from the cache
        assert not np.array_equal(got["tr"], expected["tr"])


def test_model_dir_features_are_cached_and_keyed(tmp_path):
    model_dir = make_model_dir(tmp_path / "model", nsp_layer=0)
    model = probing_features.ProbingModel(model_dir, max_seq_length=16)
    assert "lower_nsp" in model.description and "nsp=layer_0" in model.description
    task = senteval_format.read_task(write_lines(tmp_path / "bigram_shift.txt", GOOD))
    cache = probing_features.FeatureCache(tmp_path / "cache")
    choice = probing_features.resolve_probe_layer("nsp", model.layout)
    first = model.features(task, choice, "cls", cache, verbose=0)
    assert first["tr"].shape == (2, 32)
    assert os.path.isfile(cache.path(model, task.name, choice, "cls"))

    perturb(model.encoder.transformer_layers[0])  # the cache, not the encoder, answers now
    again = model.features(task, choice, "cls", cache, verbose=0)
    np.testing.assert_array_equal(first["tr"], again["tr"])
    smaller = task.limit_train(1)  # another task content: another key, recomputed
    assert smaller.fingerprint != task.fingerprint
    fresh = model.features(smaller, choice, "cls", cache, verbose=0)
    assert not np.allclose(first["te"], fresh["te"])


def test_model_dir_without_checkpoint_is_a_clear_error(tmp_path):
    model_dir = make_model_dir(tmp_path / "model")
    for name in os.listdir(checkpoint_dir(model_dir)):
        os.remove(os.path.join(checkpoint_dir(model_dir), name))
    with pytest.raises(ValueError, match="no checkpoint found"):
        probing_features.ProbingModel(model_dir)


# === The probe ====================================================================================


def bag_of_words(task):
    """Word-count features: a fixed, non-neural featuriser for testing the probe alone."""
    words = sorted(
        {w for split in senteval_format.SPLITS for s in task.sentences[split] for w in s.split()}
    )
    index = {w: i for i, w in enumerate(words)}
    features = {}
    for split in senteval_format.SPLITS:
        x = np.zeros((len(task.sentences[split]), len(words)), np.float32)
        for row, sentence in enumerate(task.sentences[split]):
            for word in sentence.split():
                x[row, index[word]] += 1
        features[split] = x
    return features


@pytest.fixture(scope="module")
def word_task(tmp_path_factory):
    """A generated word_content task (balanced, 5 classes): learnable from the words alone."""
    out = tmp_path_factory.mktemp("tasks")
    config = probing_tasks.GenerationConfig(
        train_size=400, dev_size=100, test_size=200, num_documents=1200, word_content_words=5
    )
    generated, meta = probing_tasks.generate_tasks("builtin", ["word_content"], config)
    probing_tasks.write_tasks(str(out), generated, meta, {})
    return senteval_format.read_task(out / "word_content.txt")


def test_probe_learns_a_learnable_task(word_task):
    config = probing_classifier.ProbeConfig(max_epochs=40, patience=5)
    result = probing_classifier.train_probe(
        bag_of_words(word_task), word_task.targets, 5, config, seed=0
    )
    assert result["accuracy"] > 0.95 and result["val_accuracy"] > 0.95
    assert 1 <= result["best_epoch"] <= result["epochs"] <= 40


def test_probe_stays_near_chance_on_shuffled_labels(word_task):
    rng = np.random.default_rng(0)
    shuffled = {split: rng.permutation(t) for split, t in word_task.targets.items()}
    config = probing_classifier.ProbeConfig(max_epochs=40, patience=5)
    result = probing_classifier.train_probe(bag_of_words(word_task), shuffled, 5, config, seed=0)
    chance = word_task.chance("te")
    assert chance == 0.2  # the generated task is balanced
    assert abs(result["accuracy"] - chance) < 0.1  # 200 test examples: 3.5 standard deviations


def test_senteval_classifier_searches_l2_on_validation(word_task):
    config = probing_classifier.ProbeConfig(
        classifier="senteval_lr", learning_rate=0.01, max_epochs=30, l2_grid=(1e-5, 10.0)
    )
    result = probing_classifier.train_probe(
        bag_of_words(word_task), word_task.targets, 5, config, seed=0
    )
    assert result["l2"] == 1e-5  # a huge penalty cannot fit; va picks the small one
    assert result["accuracy"] > 0.9
    model = probing_classifier.build_probe(
        10, 3, probing_classifier.ProbeConfig(classifier="senteval_mlp"), l2=1e-3
    )
    assert [layer.units for layer in model.layers] == [50, 3]
    paper = probing_classifier.build_probe(10, 3, probing_classifier.ProbeConfig())
    assert [layer.units for layer in paper.layers] == [128, 128, 3]


def test_senteval_l2_grid_picks_by_validation_not_test_accuracy(monkeypatch):
    """Where the best validation accuracy and the best test accuracy come from different
    penalties, the probe keeps the validation winner (choosing by te would leak the test set)."""
    accuracies = {1e-5: (0.60, 0.95), 1e-3: (0.90, 0.50), 1e-1: (0.70, 0.80)}  # l2: (va, te)

    def fit_once(features, targets, num_classes, config, seed, l2):
        va, te = accuracies[l2]
        return {"val_accuracy": va, "accuracy": te, "epochs": 1, "best_epoch": 1, "l2": l2}

    monkeypatch.setattr(probing_classifier, "_fit_once", fit_once)
    config = probing_classifier.ProbeConfig(classifier="senteval_lr", l2_grid=tuple(accuracies))
    result = probing_classifier.train_probe({}, {}, 2, config)
    assert (result["l2"], result["val_accuracy"], result["accuracy"]) == (1e-3, 0.90, 0.50)


def test_probe_config_rejects_bad_values():
    with pytest.raises(ValueError, match="--classifier"):
        probing_classifier.ProbeConfig(classifier="svm")
    with pytest.raises(ValueError, match="dropout"):
        probing_classifier.ProbeConfig(dropout=1.5)


# === Results ======================================================================================


def record(model, task, accuracy, layer="nsp=layer_0"):
    return {
        "model": model, "variant": "lower_nsp", "layer": layer, "pooling": "cls", "task": task,
        "accuracy": accuracy, "chance": 0.5,
    }  # fmt: skip


def test_table_and_chart_follow_table_4(tmp_path):
    records = [
        record("a", "coordination_inversion", 0.6),
        record("a", "sentence_length", 0.9),
        record("b", "sentence_length", 0.8, layer="embeddings"),
    ]
    lines = probing_report.format_table(records).splitlines()
    assert lines[0].split() == ["Models", "SL", "CI"]  # Table 4's column order
    assert lines[1].split()[-2:] == ["90.0", "60.0"]
    assert lines[2].split()[-2:] == ["80.0", "-"]
    assert lines[3].split() == ["chance", "50.0", "50.0"]
    probing_report.plot_results(str(tmp_path / "chart.png"), records)
    with open(tmp_path / "chart.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_probe_models_writes_json_per_probe(tmp_path, word_task):
    model = probing_features.ProbingModel(
        make_model_dir(tmp_path / "m", "without_nsp"), max_seq_length=32
    )
    task = word_task.limit_train(100)
    config = probing_classifier.ProbeConfig(max_epochs=2, patience=1)
    records = probing.probe_models(
        [model], [task], ["nsp", "embeddings"], ["cls"], config, str(tmp_path), batch_size=64
    )
    with open(tmp_path / "probing.json") as f:
        saved = json.load(f)
    assert [r["layer"] for r in saved["results"]] == ["nsp=layer_1", "embeddings"]
    assert "no NSP head" in saved["results"][0]["layer_note"]
    assert saved["results"] == json.loads(json.dumps(records))
    assert collections.Counter(r["code"] for r in records) == {"WC": 2}


def test_the_papers_probe_uses_adam_with_amsgrad_and_default_betas():
    optimizer = probing_classifier.probe_optimizer(probing_classifier.ProbeConfig())
    assert optimizer.amsgrad and (optimizer.beta_1, optimizer.beta_2) == (0.9, 0.999)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3) and not optimizer.weight_decay
    assert not probing_classifier.probe_optimizer(
        probing_classifier.ProbeConfig(amsgrad=False)
    ).amsgrad


def test_each_probe_fit_traces_its_step_once(monkeypatch):
    """training.build_for_fit in the probe classifier: one trace per fit (one fit per L2 value)."""
    from hbert_tf.probing.classifier import ProbeConfig, train_probe

    rng = np.random.default_rng(0)
    features = {split: rng.normal(size=(40, 8)).astype("float32") for split in ("tr", "va", "te")}
    targets = {split: rng.integers(0, 2, size=40) for split in ("tr", "va", "te")}
    traces = count_train_step_traces(monkeypatch)
    config = ProbeConfig(classifier="senteval_lr", l2_grid=(0.0, 0.1), max_epochs=2)
    train_probe(features, targets, 2, config)
    assert len(traces) == 2, traces
