"""Released BERT weights into our encoder: keras-hub presets and Hugging Face BERT directories.

keras-hub reads both (`BertBackbone.from_preset` takes a preset name, which downloads, or a local
directory, including a Hugging Face one with config.json + model.safetensors). Our encoder carries
the same layer names, so weights are copied layer by layer. One difference is kept on purpose:
keras-hub always uses the tanh GELU, while a Hugging Face `"hidden_act": "gelu"` checkpoint was
trained with the exact one; our encoder uses the activation the checkpoint's config names.
"""

import os

import numpy as np

from hbert_tf import files
from hbert_tf.config import EncoderConfig
from hbert_tf.errors import UserError
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.text.vocab import load_vocab

ENCODER_LAYER_NAMES = (
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_layer_norm",
)


def is_huggingface_dir(path):
    """True for a local directory holding a Hugging Face `config.json` (it has `model_type`)."""
    config_path = os.path.join(str(path), "config.json")
    if not files.isfile(config_path):
        return False
    return "model_type" in files.read_json(config_path)


def check_weight_files(folder):
    """Opens every `*.safetensors` file of a Hugging Face folder (header and size only, not the
    tensors); UserError naming the first that is damaged or cut short."""
    import safetensors

    for name in sorted(files.listdir(folder)):
        if not name.endswith(".safetensors"):
            continue
        path = os.path.join(folder, name)
        try:
            with safetensors.safe_open(path, framework="np") as weights:
                weights.keys()
        except safetensors.SafetensorError as e:
            raise UserError(f"{path}: damaged safetensors weight file ({e})") from None


def load_backbone(preset):
    """A `keras_hub.models.BertBackbone` from a preset name (downloads) or a local directory."""
    import keras_hub

    if files.isdir(str(preset)) and not files.isfile(os.path.join(str(preset), "config.json")):
        raise ValueError(f"{preset}: directory has no config.json, so it is no BERT preset")
    if files.isdir(str(preset)):
        check_weight_files(str(preset))
    try:
        return keras_hub.models.BertBackbone.from_preset(str(preset))
    except (ValueError, FileNotFoundError, OSError) as e:
        raise ValueError(f"{preset}: cannot load a BERT backbone ({e})") from None


def encoder_config_from_backbone(backbone, hidden_act="gelu"):
    """The `EncoderConfig` of a keras-hub BertBackbone (which has no separate attention dropout)."""
    return EncoderConfig(
        vocab_size=backbone.vocabulary_size,
        hidden_size=backbone.hidden_dim,
        num_hidden_layers=backbone.num_layers,
        num_attention_heads=backbone.num_heads,
        intermediate_size=backbone.intermediate_dim,
        hidden_act=hidden_act,
        hidden_dropout_prob=backbone.dropout,
        attention_probs_dropout_prob=backbone.dropout,
        max_position_embeddings=backbone.max_sequence_length,
        type_vocab_size=backbone.num_segments,
    )


def copy_backbone_weights(backbone, encoder):
    """Copies a BertBackbone's embedding and block weights into `encoder` (same layer names)."""
    layer_names = list(ENCODER_LAYER_NAMES) + [
        f"transformer_layer_{i}" for i in range(encoder.num_hidden_layers)
    ]
    for name in layer_names:
        source = backbone.get_layer(name).get_weights()
        target = encoder.get_layer(name)
        expected = [tuple(w.shape) for w in target.weights]
        if [tuple(np.shape(w)) for w in source] != expected:
            raise ValueError(
                f"layer {name}: pre-trained weights have shapes "
                f"{[np.shape(w) for w in source]}, the encoder expects {expected}"
            )
        target.set_weights(source)


def encoder_from_pretrained(preset, **config_overrides):
    """Our encoder carrying a keras-hub preset's or a Hugging Face directory's weights.

    Args:
        preset: str. keras-hub preset name (e.g. "bert_base_en_uncased"; needs the network) or a
            local directory (keras-hub preset, or Hugging Face BERT: config.json,
            model.safetensors, vocab.txt).
        **config_overrides: e.g. dropout rates.

    Returns: `(encoder, pooler_weights, vocabulary)`: the pooler's `[kernel, bias]` (to start an
    NSP head from), and the vocabulary as a list of tokens.
    """
    backbone = load_backbone(preset)
    if is_huggingface_dir(preset):
        config = EncoderConfig.from_json_file(os.path.join(str(preset), "config.json"))
        vocabulary = load_vocab(os.path.join(str(preset), "vocab.txt")).tokens
    else:
        import keras_hub

        config = encoder_config_from_backbone(backbone)
        vocabulary = keras_hub.models.BertTokenizer.from_preset(str(preset)).get_vocabulary()
    config = config.replace(**config_overrides) if config_overrides else config
    encoder = HBertEncoder.from_config_object(config)
    copy_backbone_weights(backbone, encoder)
    pooler_weights = backbone.get_layer("pooled_dense").get_weights()
    return encoder, pooler_weights, vocabulary
