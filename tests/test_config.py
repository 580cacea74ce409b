import json

import pytest

from hbert_tf.config import PRESETS, EncoderConfig, get_config
from hbert_tf.variants import FreezePolicy, resolve_layer, resolve_variant

ORIGINAL_BERT_BASE_CONFIG = {  # the uncased_L-12_H-768_A-12/bert_config.json field set
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}


def test_loads_original_bert_config_unchanged(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(ORIGINAL_BERT_BASE_CONFIG))
    config = EncoderConfig.from_json_file(path)
    assert config == PRESETS["base"]
    for key, value in ORIGINAL_BERT_BASE_CONFIG.items():
        assert getattr(config, key) == value
    assert get_config(str(path)) == config


def test_huggingface_gelu_means_exact():
    hf = dict(ORIGINAL_BERT_BASE_CONFIG, model_type="bert", layer_norm_eps=1e-12)
    assert EncoderConfig.from_dict(hf).hidden_act == "gelu_exact"
    assert EncoderConfig.from_dict(dict(hf, hidden_act="gelu_new")).hidden_act == "gelu"
    assert EncoderConfig.from_dict(ORIGINAL_BERT_BASE_CONFIG).hidden_act == "gelu"


def test_presets():
    assert (PRESETS["tiny"].num_hidden_layers, PRESETS["tiny"].hidden_size) == (2, 32)
    assert (PRESETS["small"].num_hidden_layers, PRESETS["small"].hidden_size) == (4, 256)
    assert (PRESETS["base"].num_hidden_layers, PRESETS["base"].hidden_size) == (12, 768)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hidden_size": 33}, "hidden_size=33 is not divisible by num_attention_heads=2"),
        ({"num_hidden_layers": 0}, "num_hidden_layers"),
        ({"hidden_act": "swish"}, "hidden_act='swish'"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
    ],
)
def test_invalid_values_name_field(change, message):
    with pytest.raises(ValueError, match=message):
        PRESETS["tiny"].replace(**change)


def test_bad_config_files(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        EncoderConfig.from_json_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        EncoderConfig.from_json_file(bad)
    with pytest.raises(ValueError, match="preset name"):
        get_config("huge")


def test_variant_resolution():
    bert = resolve_variant("bert", 12)
    assert (bert.mlm_layer, bert.nsp_layer, bert.bigram_shift_layer) == (11, 11, None)
    lower_nsp = resolve_variant("lower_nsp", 12, nsp_layer=3, concat="nsp")
    assert (lower_nsp.mlm_layer, lower_nsp.nsp_layer, lower_nsp.concat) == (11, 3, "nsp")
    lower_mask = resolve_variant("lower_mask", 12, mlm_layer=-4)
    assert (lower_mask.mlm_layer, lower_mask.nsp_layer) == (8, 11)
    assert resolve_variant("lower_nsp", 12).nsp_layer == 5  # documented default: middle block
    assert resolve_variant("without_nsp", 12).nsp_layer is None
    assert resolve_variant("bigram_shift", 12).bigram_shift_layer == 11
    assert resolve_variant("lower_nsp", 4, bigram_shift=True, bigram_shift_layer=1).has_bigram_shift
    frozen = resolve_variant("lower_nsp", 12, freeze_nsp="at_step:100")
    assert frozen.freeze == FreezePolicy("at_step", 100)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "lower_nsp", "nsp_layer": 12}, "nsp_layer=12 is out of range"),
        ({"variant": "lower_mask", "mlm_layer": -13}, "mlm_layer=-13 is out of range"),
        ({"variant": "without_nsp", "concat": "cls"}, "needs an NSP head"),
        ({"variant": "without_nsp", "freeze_nsp": "plateau:3"}, "needs an NSP head"),
        ({"variant": "bert", "concat": "both"}, "concat='both'"),
        ({"variant": "roberta"}, "variant='roberta'"),
        ({"variant": "lower_nsp", "freeze_nsp": "at_step:x"}, "freeze_nsp='at_step:x'"),
        ({"variant": "bert", "bigram_shift_layer": 2}, "bigram-shift head is off"),
    ],
)
def test_variant_errors(kwargs, message):
    variant = kwargs.pop("variant")
    with pytest.raises(ValueError, match=message):
        resolve_variant(variant, 12, **kwargs)


def test_resolve_layer_counts_from_top():
    assert resolve_layer(-1, 12, "k") == 11
    assert resolve_layer(0, 12, "k") == 0
    with pytest.raises(ValueError, match="k=True"):
        resolve_layer(True, 12, "k")
