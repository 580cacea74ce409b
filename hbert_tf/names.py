"""Every feature, input and output name used across hbert_tf, in one place.

TFRecord keys, `keras.Input` names and dataset keys are the same strings (BERT's own names), so a
batch read from disk feeds the model without renaming. Output keys of the pre-training model and the
per-layer keys of the encoder are built here too.
"""

# Model inputs (= TFRecord features = dataset keys).
INPUT_IDS = "input_ids"
INPUT_MASK = "input_mask"
SEGMENT_IDS = "segment_ids"
MASKED_LM_POSITIONS = "masked_lm_positions"
ENCODER_INPUTS = (INPUT_IDS, INPUT_MASK, SEGMENT_IDS)
PRETRAINING_INPUTS = ENCODER_INPUTS + (MASKED_LM_POSITIONS,)

# Labels and weights (TFRecord features).
MASKED_LM_IDS = "masked_lm_ids"
MASKED_LM_WEIGHTS = "masked_lm_weights"
NEXT_SENTENCE_LABELS = "next_sentence_labels"
BIGRAM_SHIFT_LABELS = "bigram_shift_labels"  # our addition to the seven original features
ORIGINAL_BERT_FEATURES = (
    INPUT_IDS,
    INPUT_MASK,
    SEGMENT_IDS,
    MASKED_LM_POSITIONS,
    MASKED_LM_IDS,
    MASKED_LM_WEIGHTS,
    NEXT_SENTENCE_LABELS,
)

# Encoder outputs.
SEQUENCE_OUTPUT = "sequence_output"
EMBEDDING_OUTPUT = "embedding_output"
HIDDEN_STATES = "hidden_states"

# Pre-training model outputs (one per head), also the keys of labels and sample weights. They are
# `hbert_tf.variants.output_key(head)`; the layout (`HeadLayout.output_keys`) says which exist.
MLM_LOGITS = "mlm_logits"
NSP_LOGITS = "nsp_logits"
BIGRAM_SHIFT_LOGITS = "bigram_shift_logits"

# The subfolder of an encoder export holding its string-to-ids SavedModel (needs tensorflow-text;
# the encoder beside it loads with TensorFlow alone).
ENCODER_PREPROCESSOR = "preprocessor"

# Special tokens, at fixed ids in vocabularies we build ([PAD]=0 as in BERT's own vocab.txt).
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)


def layer_key(index):
    """Key of block `index`'s output in `hidden_states`: 0 -> "layer_0" (0-based blocks)."""
    return f"layer_{int(index)}"
