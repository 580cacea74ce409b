"""The baseline without BERT: fastText word vectors (`word_vectors`) under stacked BiLSTMs.

`BiLSTMEncoder` takes and returns what `HBertEncoder` does, so the read-outs of `downstream` work
on it unchanged; `bilstm_encoder` builds it for a fine-tuning run (`--model=bilstm`).
"""

import keras
import numpy as np
from keras import ops

from hbert_tf import names
from hbert_tf.modeling.downstream import encoder_inputs
from hbert_tf.text import word_vectors


def bilstm_encoder(config, vocab, tokenizer, train_texts):
    """The BiLSTM baseline of a `FinetuneConfig`: vectors from `--embeddings` or trained with
    fastText on `train_texts` (list of str, WordPiece-split by `tokenizer`).

    Returns: `(BiLSTMEncoder, sizes)`; sizes is the dict finetune_config.json keeps.
    """
    if config.embeddings:
        matrix = word_vectors.matrix_from_vec_file(config.embeddings, vocab, config.seed)
    else:
        pieces = [[vocab.tokens[i] for i in ids] for ids in tokenizer.tokenize_ids(train_texts)]
        matrix = word_vectors.train_fasttext_matrix(
            pieces, vocab, dim=config.embedding_dim, seed=config.seed
        )
    encoder = BiLSTMEncoder(
        matrix,
        lstm_units=config.lstm_units,
        num_layers=config.lstm_layers,
        dropout=0.1 if config.dropout is None else config.dropout,
        trainable_embeddings=config.train_embeddings,
        name="bilstm_encoder",
    )
    sizes = {"embedding_dim": int(matrix.shape[1]), "lstm_units": config.lstm_units}
    sizes["lstm_layers"] = config.lstm_layers
    return encoder, sizes


@keras.saving.register_keras_serializable(package="hbert_tf")
class BiLSTMEncoder(keras.Model):
    """Baseline encoder: word vectors (fastText) + segment embedding, then stacked BiLSTMs.

    It takes the inputs of `HBertEncoder` and returns the same dict, so the QA and NLI read-outs
    are the same: `layer_i` is the output of BiLSTM i; at [CLS] (position 0) its backward half
    has read the whole input.

    Args:
        embedding_matrix: float array `[vocab_size, dim]`, initial word vectors.
        lstm_units: int. Units per direction (`hidden_size` = 2 * lstm_units).
        num_layers: int. Stacked BiLSTMs.
        dropout: float. Dropout between layers.
        trainable_embeddings: bool. Fine-tune the word vectors too.

    Inputs: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]`.
    Outputs: dict with `embedding_output` `[batch, seq, dim]`, `hidden_states` (`layer_i`:
    `[batch, seq, 2 * lstm_units]`) and `sequence_output`.
    """

    def __init__(
        self,
        embedding_matrix,
        lstm_units=256,
        num_layers=2,
        dropout=0.1,
        trainable_embeddings=False,
        **kw,
    ):
        vocab_size, dim = embedding_matrix.shape
        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocab_size,
            dim,
            embeddings_initializer=keras.initializers.Constant(embedding_matrix),
            trainable=trainable_embeddings,
            name="word_vectors",
        )
        self.segment_embedding = keras.layers.Embedding(2, dim, name="segment_embedding")
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        self.lstms = [
            keras.layers.Bidirectional(
                keras.layers.LSTM(lstm_units, return_sequences=True), name=f"bilstm_{i}"
            )
            for i in range(num_layers)
        ]

        # === Functional model ===
        inputs = encoder_inputs()
        mask = ops.not_equal(inputs[names.INPUT_MASK], 0)
        x = self.token_embedding(inputs[names.INPUT_IDS]) + self.segment_embedding(
            inputs[names.SEGMENT_IDS]
        )
        embedding_output = x
        hidden = {}
        for i, lstm in enumerate(self.lstms):
            x = lstm(self.dropout_layer(x), mask=mask)
            hidden[names.layer_key(i)] = x
        outputs = {
            names.EMBEDDING_OUTPUT: embedding_output,
            names.HIDDEN_STATES: hidden,
            names.SEQUENCE_OUTPUT: x,
        }
        super().__init__(inputs=inputs, outputs=outputs, **kw)

        # === Config ===
        self.lstm_units = lstm_units
        self.num_hidden_layers = num_layers
        self.hidden_size = 2 * lstm_units
        self.dropout = dropout
        self.trainable_embeddings = trainable_embeddings
        self.vocab_size, self.embedding_dim = int(vocab_size), int(dim)

    def get_config(self):
        """The shapes, not the word vectors: those are weights (restored by `load_weights` or a
        `.keras` file); `from_config` starts from zeros of the same shape."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "lstm_units": self.lstm_units,
            "num_layers": self.num_hidden_layers,
            "dropout": self.dropout,
            "trainable_embeddings": self.trainable_embeddings,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        shape = (config.pop("vocab_size"), config.pop("embedding_dim"))
        return cls(np.zeros(shape, "float32"), **config)
