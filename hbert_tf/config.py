"""Encoder architecture configuration, with the field names of BERT's `bert_config.json`."""

import dataclasses
import json

from absl import logging

from hbert_tf import files

# Activations the encoder understands. "gelu" follows the original BERT code and keras-hub (tanh
# approximation); "gelu_exact" is the erf form (what a Hugging Face config calls "gelu").
ACTIVATIONS = ("gelu", "gelu_exact", "relu")


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Architecture of a BERT encoder; field names match BERT's `bert_config.json`.

    Args:
        vocab_size: int. Number of WordPiece tokens.
        hidden_size: int. Width of every block; must be divisible by `num_attention_heads`.
        num_hidden_layers: int. Number of transformer blocks (layer_0 ... layer_{L-1}).
        num_attention_heads: int. Attention heads per block.
        intermediate_size: int. Width of each block's feed-forward layer.
        hidden_act: str. "gelu" (tanh approximation, as BERT and keras-hub), "gelu_exact", "relu".
        hidden_dropout_prob: float. Dropout of embeddings and block outputs.
        attention_probs_dropout_prob: float. Attention dropout. keras-hub's TransformerEncoder has
            one rate for both, so `hidden_dropout_prob` is used when the two differ (logged).
        max_position_embeddings: int. Longest sequence the position table covers.
        type_vocab_size: int. Number of segment ids.
        initializer_range: float. Stddev of the truncated-normal initialiser.
        layer_norm_eps: float. LayerNorm epsilon (BERT: 1e-12).
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"EncoderConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"EncoderConfig.hidden_size={self.hidden_size} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"EncoderConfig.hidden_act={self.hidden_act!r}; expected one of {ACTIVATIONS}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"EncoderConfig.{name} must be in [0, 1), got {value!r}")
        if self.initializer_range <= 0 or self.layer_norm_eps <= 0:
            raise ValueError(
                "EncoderConfig.initializer_range and layer_norm_eps must be positive, got "
                f"{self.initializer_range!r} and {self.layer_norm_eps!r}"
            )

    @property
    def head_size(self):
        return self.hidden_size // self.num_attention_heads

    def replace(self, **changes):
        """Returns a copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values, source="config"):
        """Builds a config from a bert_config.json-style dict; unknown keys are ignored (logged).

        Hugging Face `config.json` files work too: their "gelu" is the exact form, so a dict with
        `model_type` set maps "gelu" to "gelu_exact" and "gelu_new"/"gelu_pytorch_tanh" to "gelu".
        """
        if not isinstance(values, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(values).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in values.items() if k in fields}
        unknown = sorted(set(values) - fields)
        if unknown:
            logging.info("%s: ignoring keys %s", source, unknown)
        act = known.get("hidden_act")
        if "model_type" in values:  # a Hugging Face config.json
            known["hidden_act"] = {
                "gelu": "gelu_exact",
                "gelu_new": "gelu",
                "gelu_pytorch_tanh": "gelu",
            }.get(act, act)
        try:
            return cls(**known)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def from_json_file(cls, path):
        """Reads a `bert_config.json` (original BERT or Hugging Face) unchanged."""
        try:
            values = files.read_json(path)
        except FileNotFoundError:
            raise ValueError(f"{path}: config file not found") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(values, source=str(path))

    def to_json_file(self, path):
        with files.open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)


PRESETS = {
    # For tests and laptop demos: seconds per step on a CPU.
    "tiny": EncoderConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    ),
    "small": EncoderConfig(
        vocab_size=30522,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
    ),
    "base": EncoderConfig(),  # BERT-base: 12 layers, hidden 768, 12 heads, intermediate 3072.
}


def get_config(name_or_path, **overrides):
    """Returns a preset by name ("tiny", "small", "base") or reads a bert_config.json path."""
    if name_or_path in PRESETS:
        config = PRESETS[name_or_path]
    elif str(name_or_path).endswith(".json"):
        config = EncoderConfig.from_json_file(name_or_path)
    else:
        raise ValueError(
            f"config {name_or_path!r}: expected a preset name {sorted(PRESETS)} or a "
            "path to a bert_config.json"
        )
    return config.replace(**overrides) if overrides else config
