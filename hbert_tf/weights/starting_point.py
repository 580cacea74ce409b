"""One loader for every starting point: our model dir, a keras-hub preset, a Hugging Face BERT
directory, or "none" (random weights).

| source                 | encoder weights  | NSP head              | layout                          |
|------------------------|------------------|-----------------------|---------------------------------|
| our model dir          | its checkpoint   | ours (pooler + clf)   | the run's (run_config.json)     |
| keras-hub preset / HF  | released BERT    | pooler only           | BERT's: MLM and NSP on the top  |
| "none"                 | random (seeded)  | -                     | no NSP: sentence level = top    |

Pre-training (`--init_from`), fine-tuning (`--init_from`) and probing (`--model_dir`) use it, so a
released BERT can be probed (the paper's "Pre-trained BERT" row).
"""

import dataclasses
import os

import keras

from hbert_tf import files
from hbert_tf.config import EncoderConfig, get_config
from hbert_tf.errors import UserError
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.heads import NextSentenceHead
from hbert_tf.text.vocab import Vocab, load_vocab
from hbert_tf.variants import place_heads
from hbert_tf.weights.model_dir import (
    RUN_CONFIG,
    latest_checkpoint,
    load_pretrainer,
    read_run_config,
)

NONE = "none"


@dataclasses.dataclass
class StartingPoint:
    """What a job starts from.

    Attributes:
        kind: str. "model_dir", "pretrained" (keras-hub preset or Hugging Face dir) or "none".
        encoder: `HBertEncoder`.
        nsp_head: `NextSentenceHead` trained with the encoder (our model dirs), or None.
        pooler_head: `NextSentenceHead` whose pooler holds the source's pooler weights (ours, or
            a released BERT's), or None (random weights).
        layout: `HeadLayout`. Where the source's heads read (see the module table).
        vocab: `Vocab`, or None for "none" without a vocabulary given.
        encoder_config: `EncoderConfig`.
        run_config: dict. Our run_config.json, or {"variant": ...} naming the source.
        identity: list. JSON-able facts that change when the weights change (cache keys).
        checkpoint: str or None. The checkpoint restored (our model dirs).
    """

    kind: str
    encoder: HBertEncoder
    nsp_head: NextSentenceHead | None
    pooler_head: NextSentenceHead | None
    layout: object
    vocab: Vocab | None
    encoder_config: EncoderConfig
    run_config: dict
    identity: list
    checkpoint: str | None = None


def is_model_dir(path):
    """True for a pre-training model dir of ours (it has run_config.json)."""
    return files.isfile(os.path.join(str(path), RUN_CONFIG))


def _file_identity(path):
    """`[real path, mtime in ns, size]`, both None for a missing file."""
    real = path if files.is_remote(path) else os.path.realpath(path)
    if not files.exists(path):
        return [real, None, None]
    _, size, mtime = files.identity(path)
    return [real, mtime, size]


def load_starting_point(
    source,
    *,
    vocab_path=None,
    vocab=None,
    config="base",
    checkpoint=None,
    seed=None,
    **encoder_overrides,
):
    """Loads `source` (see the module table).

    Args:
        source: str. Our model dir, a keras-hub preset name or directory, a Hugging Face BERT
            directory, or "none".
        vocab_path: str or None. Overrides the source's vocabulary (for "none", this or `vocab`
            is required).
        vocab: `Vocab` or None. The vocabulary itself, instead of `vocab_path`.
        config: str. For "none": a preset name, a bert_config.json or our model dir whose
            architecture to copy (vocab_size is set from the vocabulary).
        checkpoint: str or None. For our model dir: a checkpoint path (default: the latest).
        seed: int or None. For "none": the initialisation seed.
        **encoder_overrides: EncoderConfig fields to change (dropout rates, say).

    Returns: `StartingPoint`.
    """
    source = str(source or NONE)
    if vocab is None and vocab_path:
        vocab = load_vocab(vocab_path)
    if source == NONE:
        return _random(vocab, config, seed, encoder_overrides)
    if is_model_dir(source):
        checkpoint = checkpoint or latest_checkpoint(source)
        pretrainer, run_config = load_pretrainer(source, checkpoint=checkpoint, **encoder_overrides)
        if vocab is None:
            vocab = load_vocab(os.path.join(source, "vocab.txt"))
        head = pretrainer.nsp_head
        return StartingPoint(
            "model_dir", pretrainer.encoder, head, head, pretrainer.layout, vocab,
            pretrainer.encoder.config, run_config, _file_identity(f"{checkpoint}.index"), checkpoint,
        )  # fmt: skip
    from hbert_tf.weights.pretrained import encoder_from_pretrained

    encoder, pooler_weights, tokens = encoder_from_pretrained(source, **encoder_overrides)
    pooler_head = NextSentenceHead(encoder.hidden_size, name="nsp_head")
    pooler_head.build((None, encoder.hidden_size))
    pooler_head.pooler.set_weights(pooler_weights)
    if vocab is None:
        vocab = Vocab(tokens, path=f"preset:{source}")
    if files.isdir(source):
        weights = sorted(files.listdir(source))
        identity = [_file_identity(os.path.join(source, name)) for name in weights]
    else:
        identity = [source]  # a named keras-hub preset: its name is its version
    layout = place_heads(encoder.num_hidden_layers)  # BERT: MLM and NSP read the top block
    return StartingPoint(
        "pretrained", encoder, None, pooler_head, layout, vocab, encoder.config,
        {"variant": "pre-trained BERT", "source": source}, identity,
    )  # fmt: skip


def _random(vocab, config, seed, encoder_overrides):
    if vocab is None:
        raise UserError("a random-weights start (none) needs a vocabulary: pass --vocab_file")
    if is_model_dir(config):
        encoder_config = read_run_config(config)[0]
        if encoder_config.vocab_size != len(vocab):
            raise UserError(
                f"--config={config}: vocab_size {encoder_config.vocab_size} but the vocabulary "
                f"{vocab.path} has {len(vocab)} tokens"
            )
    else:
        encoder_config = get_config(config, vocab_size=len(vocab))
    if encoder_overrides:
        encoder_config = encoder_config.replace(**encoder_overrides)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    encoder = HBertEncoder.from_config_object(encoder_config)
    layout = place_heads(encoder_config.num_hidden_layers, nsp_layer=None)
    # Unseeded weights are new each time: never the same cache key.
    identity = [NONE, encoder_config.to_dict(), seed if seed is not None else os.urandom(8).hex()]
    return StartingPoint(
        NONE, encoder, None, None, layout, vocab, encoder_config,
        {"variant": "random weights"}, identity,
    )  # fmt: skip
