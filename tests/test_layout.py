"""The head layout as one value: a new placement end to end, derived keys, validation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hbert_tf import names
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.pretraining import data
from hbert_tf.probing import features as probing_features
from hbert_tf.probing import senteval_format
from hbert_tf.serving.export import NSP_CLS_VECTOR, export_encoder
from hbert_tf.variants import FreezePolicy, HeadLayout, output_key, place_heads
from hbert_tf.weights.model_dir import checkpoint_dir, make_checkpoint, write_run_config
from tests.helpers import random_batch, tiny_config
from tests.test_data import PRED, SEQ, _write

# A placement no variant gives: MLM and bigram shift at block 0, NSP on top (block 1).
NEW_PLACEMENT = HeadLayout(num_layers=2, mlm_layer=0, nsp_layer=1, bigram_shift_layer=0)


def test_a_new_placement_trains_exports_and_probes_from_the_layout_alone(tmp_path):
    layout = NEW_PLACEMENT
    keras.utils.set_random_seed(0)
    tokens = list(names.SPECIAL_TOKENS) + [f"w{i}" for i in range(59)]  # ids < 64 in the data
    config = tiny_config(vocab_size=len(tokens))
    model = HBertPretrainer(HBertEncoder.from_config_object(config), layout)
    assert model.layout is layout
    assert model.heads == ("mlm_logits", "nsp_logits", "bigram_shift_logits")

    # Train one step on files: the labels the reader gives are those the layout names.
    pattern = _write(tmp_path / "data")
    dataset = data.pretraining_dataset(
        pattern, batch_size=4, max_seq_length=SEQ, max_predictions_per_seq=PRED, seed=0,
        heads=layout.heads,
    )  # fmt: skip
    _, labels, _ = next(iter(dataset))
    assert set(labels) == set(layout.output_keys)
    model.compile(optimizer="adam")
    before = model.bigram_shift_head.weights[0].numpy().copy()
    history = model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0).history
    assert {"mlm_loss", "nsp_loss", "bigram_shift_loss"} <= set(history)
    assert not np.array_equal(before, model.bigram_shift_head.weights[0].numpy())

    # Save as a model dir, export: the sentence-level vector is block 1's [CLS] (the NSP layer).
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    write_run_config(str(model_dir), config, layout, variant="new_placement")
    tf.train.CheckpointManager(make_checkpoint(model), checkpoint_dir(str(model_dir)), 1).save()
    export_encoder(model, str(tmp_path / "export"), str(model_dir / "vocab.txt"))
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    ids = np.array([[2, 7, 8, 3, 9, 3]], "int32")
    inputs = {
        names.INPUT_IDS: tf.constant(ids),
        names.INPUT_MASK: tf.ones_like(ids),
        names.SEGMENT_IDS: tf.constant([[0, 0, 0, 0, 1, 1]], "int32"),
    }
    served = serve(**inputs)
    hidden = model.encoder(inputs)[names.HIDDEN_STATES]
    np.testing.assert_allclose(served[NSP_CLS_VECTOR], hidden["layer_1"][:, 0], atol=1e-5)

    # Probe: --layer=nsp is block 1, --layer=mlm block 0; features come from the model dir.
    probe_model = probing_features.ProbingModel(str(model_dir), max_seq_length=16)
    assert probe_model.layout == layout
    assert "mlm=layer_0 nsp=layer_1 bigram_shift=layer_0" in probe_model.description
    nsp = probing_features.resolve_probe_layer("nsp", probe_model.layout)
    mlm = probing_features.resolve_probe_layer("mlm", probe_model.layout)
    assert (nsp.index, mlm.index) == (1, 0)
    lines = ["tr\tA\tw1 w2 .", "tr\tB\tw3 w4", "va\tA\tw5", "te\tB\tw6 w7"]
    task_file = tmp_path / "task.txt"
    task_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    task = senteval_format.read_task(str(task_file))
    features = probe_model.features(task, nsp, "cls", verbose=0)
    assert features["tr"].shape == (2, config.hidden_size)
    assert np.isfinite(features["tr"]).all()
    assert not np.allclose(features["tr"], probe_model.features(task, mlm, "cls", verbose=0)["tr"])


def test_the_layout_given_is_the_models_freeze_policy_included(tmp_path):
    layout = place_heads(2, nsp_layer=0, freeze="at_step:5")
    model = HBertPretrainer(HBertEncoder.from_config_object(tiny_config()), layout)
    assert model.layout.freeze == FreezePolicy("at_step", 5)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.layout == layout and str(loaded.layout.freeze) == "at_step:5"


def test_derived_keys_weights_and_sentence_layer():
    layout = NEW_PLACEMENT
    assert layout.heads == {"mlm": 0, "nsp": 1, "bigram_shift": 0}
    assert layout.output_keys == ("mlm_logits", "nsp_logits", "bigram_shift_logits")
    assert layout.sentence_layer == 1
    assert layout.loss_weights(nsp=0.5) == {
        "mlm_logits": 1.0,
        "nsp_logits": 0.5,
        "bigram_shift_logits": 1.0,
    }
    assert layout.layers_text() == "0 / 1 / 0"
    without_nsp = place_heads(3, nsp_layer=None)
    assert without_nsp.sentence_layer == 2 and without_nsp.output_keys == ("mlm_logits",)
    assert without_nsp.loss_weights(nsp=3.0) == {"mlm_logits": 1.0}
    assert without_nsp.describe() == "mlm=layer_2 nsp=-"
    assert output_key("bigram_shift") == names.BIGRAM_SHIFT_LOGITS
    assert HeadLayout.from_dict(layout.to_dict()) == layout


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(mlm_layer=2, nsp_layer=0), "mlm_layer=2 is out of range"),
        (dict(mlm_layer=0, nsp_layer=-1), "nsp_layer=-1 is out of range"),
        (dict(mlm_layer=0, nsp_layer=None, concat="cls"), "concat='cls' needs an NSP head"),
        (dict(mlm_layer=0, nsp_layer=0, concat="sum"), "concat='sum': expected one of"),
        (
            dict(mlm_layer=0, nsp_layer=None, freeze=FreezePolicy("plateau", 2)),
            "freeze_nsp=plateau:2 needs an NSP head",
        ),
    ],
)
def test_an_invalid_layout_names_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        HeadLayout(num_layers=2, **values)


def test_pretrainer_refuses_a_layout_of_another_depth():
    with pytest.raises(ValueError, match="layout.num_layers=3 but the encoder has 2 layers"):
        HBertPretrainer(HBertEncoder.from_config_object(tiny_config()), place_heads(3))


def test_models_saved_with_placement_keys_still_load():
    encoder = HBertEncoder.from_config_object(tiny_config())
    config = {"encoder": keras.saving.serialize_keras_object(encoder), "mlm_layer": 0,
              "nsp_layer": -1, "concat": "cls", "bigram_shift_layer": None}  # fmt: skip
    model = HBertPretrainer.from_config(config)
    assert model.layout == HeadLayout(num_layers=2, mlm_layer=0, nsp_layer=1, concat="cls")
    assert set(model(random_batch()[0])) == {names.MLM_LOGITS, names.NSP_LOGITS}


def test_the_papers_variants_are_shorthands_for_general_placements():
    from hbert_tf.variants import layout_from_heads, resolve_variant

    for heads, variant, options in [
        ("mlm:-1,nsp:-1", "bert", {}),
        ("mlm:3,nsp:1", "lower_nsp", {"nsp_layer": 1}),
        ("mlm:1,nsp:3", "lower_mask", {"mlm_layer": 1}),
        ("mlm:-1", "without_nsp", {}),
        ("mlm:-1,nsp:-1,bigram_shift:-1", "bigram_shift", {}),
    ]:
        assert layout_from_heads(heads, 4) == resolve_variant(variant, 4, **options), heads
    with_concat = layout_from_heads("nsp:1, mlm:3", 4, concat="cls", freeze="at_step:5")
    assert with_concat == resolve_variant("lower_nsp", 4, nsp_layer=1, concat="cls",
                                          freeze_nsp="at_step:5")  # fmt: skip
