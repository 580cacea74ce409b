"""Loading released weights: a tiny Hugging Face BERT directory written by the test."""

import json
import math

import numpy as np
import pytest
from safetensors.numpy import save_file

from hbert_tf import names
from hbert_tf.weights.pretrained import encoder_from_pretrained, is_huggingface_dir, load_backbone
from tests.helpers import encoder_inputs, random_batch

H, LAYERS, HEADS, INTERMEDIATE, VOCAB, POSITIONS = 16, 2, 2, 32, 40, 32


def write_hf_bert_dir(path, seed=0):
    """config.json + model.safetensors (Hugging Face BertModel names) + vocab.txt."""
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=0.5):
        return rng.normal(0, scale, shape).astype("float32")

    tensors = {
        "embeddings.word_embeddings.weight": normal(VOCAB, H),
        "embeddings.position_embeddings.weight": normal(POSITIONS, H),
        "embeddings.token_type_embeddings.weight": normal(2, H),
        "embeddings.LayerNorm.weight": 1 + normal(H, scale=0.1),
        "embeddings.LayerNorm.bias": normal(H, scale=0.1),
        "pooler.dense.weight": normal(H, H),
        "pooler.dense.bias": normal(H),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            tensors[f"{p}attention.self.{name}.weight"] = normal(H, H)  # [out, in]
            tensors[f"{p}attention.self.{name}.bias"] = normal(H)
        tensors[f"{p}attention.output.dense.weight"] = normal(H, H)
        tensors[f"{p}attention.output.dense.bias"] = normal(H)
        tensors[f"{p}attention.output.LayerNorm.weight"] = 1 + normal(H, scale=0.1)
        tensors[f"{p}attention.output.LayerNorm.bias"] = normal(H, scale=0.1)
        tensors[f"{p}intermediate.dense.weight"] = normal(INTERMEDIATE, H)
        tensors[f"{p}intermediate.dense.bias"] = normal(INTERMEDIATE)
        tensors[f"{p}output.dense.weight"] = normal(H, INTERMEDIATE)
        tensors[f"{p}output.dense.bias"] = normal(H)
        tensors[f"{p}output.LayerNorm.weight"] = 1 + normal(H, scale=0.1)
        tensors[f"{p}output.LayerNorm.bias"] = normal(H, scale=0.1)
    path.mkdir()
    save_file(tensors, str(path / "model.safetensors"))
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",  # Hugging Face: the exact (erf) GELU
        "hidden_size": H,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "vocab_size": VOCAB,
        "max_position_embeddings": POSITIONS,
        "type_vocab_size": 2,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.02,
        "pad_token_id": 0,
    }
    (path / "config.json").write_text(json.dumps(config))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]
    (path / "vocab.txt").write_text("\n".join(tokens) + "\n")
    return tensors


def reference_bert(t, ids, mask, segments):
    """Independent NumPy BERT forward pass (post-LayerNorm, exact GELU). Returns block outputs."""
    erf = np.vectorize(math.erf)

    def layer_norm(x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * t[prefix + ".weight"] + t[prefix + ".bias"]

    def dense(x, prefix):
        return x @ t[prefix + ".weight"].T + t[prefix + ".bias"]

    seq = ids.shape[1]
    x = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:seq]
        + t["embeddings.token_type_embeddings.weight"][segments]
    )
    x = layer_norm(x, "embeddings.LayerNorm")
    outputs = []
    head = H // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."

        def split(y):
            return y.reshape(y.shape[0], seq, HEADS, head).transpose(0, 2, 1, 3)

        q, k, v = (split(dense(x, f"{p}attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head)
        scores = np.where(mask[:, None, None, :] > 0, scores, -1e9)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = layer_norm(
            x + dense(context, f"{p}attention.output.dense"), f"{p}attention.output.LayerNorm"
        )
        inner = dense(x, f"{p}intermediate.dense")
        inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))
        x = layer_norm(x + dense(inner, f"{p}output.dense"), f"{p}output.LayerNorm")
        outputs.append(x)
    return outputs


def test_huggingface_dir_gives_the_checkpoints_own_output(tmp_path):
    hf_dir = tmp_path / "hf_bert"
    tensors = write_hf_bert_dir(hf_dir)
    assert is_huggingface_dir(hf_dir)
    encoder, pooler_weights, vocabulary = encoder_from_pretrained(str(hf_dir))
    assert encoder.hidden_act == "gelu_exact"
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    np.testing.assert_array_equal(pooler_weights[0], tensors["pooler.dense.weight"].T)

    inputs, _, _ = random_batch(batch=3, seq=12, vocab_size=VOCAB, seed=4)
    ours = encoder(encoder_inputs(inputs))[names.HIDDEN_STATES]
    reference = reference_bert(
        tensors, inputs[names.INPUT_IDS], inputs[names.INPUT_MASK], inputs[names.SEGMENT_IDS]
    )
    for i, expected in enumerate(reference):
        np.testing.assert_allclose(ours[names.layer_key(i)], expected, atol=2e-5, rtol=0)

    # keras-hub's BertBackbone keeps the tanh GELU, so it drifts from the checkpoint's own output.
    theirs = load_backbone(str(hf_dir))(
        {
            "token_ids": inputs[names.INPUT_IDS],
            "segment_ids": inputs[names.SEGMENT_IDS],
            "padding_mask": inputs[names.INPUT_MASK],
        }
    )["sequence_output"]
    drift = np.abs(np.asarray(theirs) - reference[-1]).max()
    ours_error = np.abs(np.asarray(ours[names.layer_key(LAYERS - 1)]) - reference[-1]).max()
    assert drift > 10 * ours_error


def test_not_a_bert_directory(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        load_backbone(str(tmp_path))
