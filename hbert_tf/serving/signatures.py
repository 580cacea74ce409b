"""Raw text in, answers out: the span (SQuAD), classifier and encoder pipelines as TensorFlow graphs.

Everything here runs on string tensors inside one `tf.function`, so an exported SavedModel needs
only TensorFlow and tensorflow-text: WordPiece with byte offsets (the tokenizer of
`hbert_tf.text.tokenization`), BERT's sliding windows over long contexts, the max-context rule and
span decoding (n-best, maximum answer length, SQuAD 2.0 null threshold). The arithmetic the
Python pipeline also does comes from the same functions (`squad.window_plan`,
`squad.max_context_score`, `nli.truncated_lengths`), called with TensorFlow's min / max.

Shapes: B questions (or pairs) in a batch, R windows over all of them, S = `max_seq_length`.
"""

import tensorflow as tf

from hbert_tf import names
from hbert_tf.finetuning import nli, squad
from hbert_tf.modeling import downstream

NEG_INF = float("-inf")
NO_ANSWER_DIFF = 1e9  # null odds of a question that has no span at all (as squad.postprocess)


def _gather_ragged(ragged, rows, index, valid):
    """`ragged[rows[r], index[r, s]]` where `valid`, 0 elsewhere.

    Args:
        ragged: RaggedTensor `[B, (n)]`.
        rows: int64 `[R]`, the ragged row of each output row.
        index: int64 `[R, S]`, positions inside that row.
        valid: bool `[R, S]`.
    """
    flat = ragged.flat_values
    padded = tf.concat([flat, tf.zeros([1], flat.dtype)], 0)  # one slot for the invalid ones
    position = tf.gather(ragged.row_starts(), rows)[:, None] + index
    return tf.gather(padded, tf.where(valid, position, tf.size(flat, out_type=tf.int64)))


def _first_max(values, valid):
    """`(max, first index of it, any valid)` along the last axis of `[B, M]` (-inf if none)."""
    masked = tf.where(valid, values, NEG_INF)
    found = tf.reduce_any(valid, axis=-1)
    best = tf.where(found, tf.reduce_max(masked, axis=-1), NEG_INF)
    size = tf.shape(values, out_type=tf.int64)[-1]
    positions = tf.range(size)[None, :]
    hit = valid & tf.equal(masked, best[:, None])
    first = tf.reduce_min(tf.where(hit, positions, size), axis=-1)
    return best, tf.minimum(first, tf.maximum(size - 1, 0)), found


def pack_pairs(tokenizer, first, second, cls_id, sep_id, max_seq_length, pad_to=None):
    """`[CLS] first [SEP] second [SEP]` id rows, as `nli.encode_pairs` builds them.

    Args:
        tokenizer: `tensorflow_text.FastBertTokenizer`.
        first, second: string `[B]`. An empty `second` gives the single segment
            `[CLS] first [SEP]`.
        max_seq_length: int. Longest row; the longer side is trimmed first.
        pad_to: int or None. Row width (`max_seq_length` for MNLI, as the Python pipeline pads);
            None pads to the longest row of the batch.

    Returns: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[B, width]`.
    """
    a, b = tokenizer.tokenize(first), tokenizer.tokenize(second)
    la, lb = nli.truncated_lengths(
        a.row_lengths(), b.row_lengths(), max_seq_length - 3, tf.minimum, tf.maximum
    )
    second_sep = lb > 0
    length = la + lb + 2 + tf.cast(second_sep, tf.int64)
    width = pad_to if pad_to is not None else tf.maximum(tf.reduce_max(length), 1)
    p = tf.range(width, dtype=tf.int64)[None, :]
    la, lb, length, second_sep = la[:, None], lb[:, None], length[:, None], second_sep[:, None]
    rows = tf.range(tf.size(la, out_type=tf.int64))
    in_a = (p >= 1) & (p <= la)
    in_b = (p >= la + 2) & (p < la + 2 + lb)
    last_sep = second_sep & tf.equal(p, la + 2 + lb)
    ids = tf.where(in_a, _gather_ragged(a, rows, p - 1, in_a), 0)
    ids = tf.where(in_b, _gather_ragged(b, rows, p - la - 2, in_b), ids)
    ids = tf.where(tf.equal(p, 0), cls_id, ids)
    ids = tf.where(tf.equal(p, la + 1) | last_sep, sep_id, ids)
    return {
        names.INPUT_IDS: tf.cast(ids, tf.int32),
        names.INPUT_MASK: tf.cast(p < length, tf.int32),
        names.SEGMENT_IDS: tf.cast(in_b | last_sep, tf.int32),
    }


def squad_windows(tokenizer, questions, contexts, cls_id, sep_id, settings):
    """Windows of `[CLS] question [SEP] context-window [SEP]`, as `squad.convert_examples_to_features`.

    Args:
        tokenizer: `tensorflow_text.FastBertTokenizer`.
        questions, contexts: string `[B]`.
        settings: dict with `max_seq_length`, `doc_stride`, `max_query_length`.

    Returns: dict with the encoder inputs (int32 `[R, S]`), `example` (int64 `[R]`),
    `num_windows` (int64 `[B]`, 0 when the question or context has no tokens), `byte_start`,
    `byte_end` (int64 `[R, S]` byte offsets of each context token, -1 elsewhere) and
    `max_context` (bool `[R, S]`).
    """
    seq = settings["max_seq_length"]
    question = tokenizer.tokenize(questions)[:, : settings["max_query_length"]]
    context, starts, ends = tokenizer.tokenize_with_offsets(contexts)
    lq, n = question.row_lengths(), context.row_lengths()
    max_tokens = seq - lq - 3
    count, step = squad.window_plan(n, max_tokens, settings["doc_stride"], tf.minimum, tf.maximum)
    num_windows = tf.where((lq > 0) & (n > 0), count, 0)

    example = tf.repeat(tf.range(tf.size(n, out_type=tf.int64)), num_windows)  # [R]
    first_row = tf.cumsum(num_windows, exclusive=True)
    window = tf.range(tf.size(example, out_type=tf.int64)) - tf.gather(first_row, example)
    row_step, row_max = tf.gather(step, example), tf.gather(max_tokens, example)
    row_n, row_lq = tf.gather(n, example), tf.gather(lq, example)
    a = window * row_step
    b = tf.minimum(row_n, a + row_max)

    p = tf.range(seq, dtype=tf.int64)[None, :]
    offset = (row_lq + 2)[:, None]
    in_question = (p >= 1) & (p <= row_lq[:, None])
    in_context = (p >= offset) & (p < offset + (b - a)[:, None])
    end_sep = tf.equal(p, offset + (b - a)[:, None])
    token = a[:, None] + p - offset  # context token at each position
    ids = tf.where(in_question, _gather_ragged(question, example, p - 1, in_question), 0)
    ids = tf.where(in_context, _gather_ragged(context, example, token, in_context), ids)
    ids = tf.where(tf.equal(p, 0), cls_id, ids)
    ids = tf.where(tf.equal(p, offset - 1) | end_sep, sep_id, ids)
    byte_start = tf.where(in_context, _gather_ragged(starts, example, token, in_context), -1)
    byte_end = tf.where(in_context, _gather_ragged(ends, example, token, in_context), -1)

    # Max context: the window of this example that scores the token highest (first on ties).
    most = tf.reduce_max(tf.concat([num_windows, [0]], 0))
    other = tf.range(most)[None, None, :]  # [1, 1, W]
    other_a = other * row_step[:, None, None]
    other_b = tf.minimum(row_n[:, None, None], other_a + row_max[:, None, None])
    j = token[:, :, None]
    inside = (other < tf.gather(num_windows, example)[:, None, None]) & (j >= other_a)
    inside &= j < other_b
    j, other_a, other_b = (tf.cast(x, tf.float64) for x in (j, other_a, other_b))
    score = squad.max_context_score(j, other_a, other_b, tf.minimum)
    flat_shape = tf.stack([tf.size(token, out_type=tf.int64), most])
    _, owner, _ = _first_max(tf.reshape(score, flat_shape), tf.reshape(inside, flat_shape))
    owner = tf.reshape(owner, tf.shape(token, out_type=tf.int64))
    return {
        names.INPUT_IDS: tf.cast(ids, tf.int32),
        names.INPUT_MASK: tf.cast(p <= offset + (b - a)[:, None], tf.int32),
        names.SEGMENT_IDS: tf.cast(in_context | end_sep, tf.int32),
        "example": example,
        "num_windows": num_windows,
        "byte_start": byte_start,
        "byte_end": byte_end,
        "max_context": in_context & tf.equal(owner, window[:, None]),
    }


def decode_spans(contexts, windows, start_logits, end_logits, settings, version_2):
    """Best answer of every question from its windows' logits, as `squad.postprocess`.

    Args:
        contexts: string `[B]`.
        windows: the dict of `squad_windows`.
        start_logits, end_logits: float32 `[R, S]`.
        settings: dict with `max_seq_length`, `n_best_size`, `max_answer_length`,
            `null_score_diff_threshold`.
        version_2: bool. Apply the null threshold.

    Returns: dict of `[B]` tensors: `answer_text` (string), `answer_start`, `answer_end` (int64
    character offsets, `context[start:end] == text`; -1 for ""), `score` (float32), and for 2.0
    `is_impossible` (bool) and `null_score_diff` (float64).
    """
    seq = settings["max_seq_length"]
    k = min(settings["n_best_size"], seq)
    in_context = windows["byte_start"] >= 0
    s_val, s_pos = tf.math.top_k(
        tf.where(in_context & windows["max_context"], start_logits, NEG_INF), k
    )
    e_val, e_pos = tf.math.top_k(tf.where(in_context, end_logits, NEG_INF), k)
    s_pos, e_pos = tf.cast(s_pos, tf.int64)[:, :, None], tf.cast(e_pos, tf.int64)[:, None, :]
    ok = (s_val > NEG_INF)[:, :, None] & (e_val > NEG_INF)[:, None, :] & (e_pos >= s_pos)
    ok &= e_pos - s_pos + 1 <= settings["max_answer_length"]
    scores = s_val[:, :, None] + e_val[:, None, :]  # [R, k, k]: candidates in postprocess order

    num_windows = windows["num_windows"]

    def per_question(x, fill):  # [R, k, k] -> [B, windows * k * k], candidates in order
        flat = tf.reshape(x, [-1])
        return tf.RaggedTensor.from_row_lengths(flat, num_windows * k * k).to_tensor(fill)

    def flat(x):  # flattened, with a -1 appended for the questions without a candidate
        return tf.concat([tf.reshape(x, [-1]), [-1]], 0)

    best, first, found = _first_max(per_question(scores, NEG_INF), per_question(ok, False))
    row = tf.cumsum(num_windows, exclusive=True) + first // (k * k)
    rank = first % (k * k)
    last = tf.size(s_pos, out_type=tf.int64)  # index of the -1 appended by `flat`
    s = tf.gather(flat(s_pos), tf.where(found, row * k + rank // k, last))
    e = tf.gather(flat(e_pos), tf.where(found, row * k + rank % k, last))
    seq64 = tf.cast(seq, tf.int64)
    last = tf.size(windows["byte_start"], out_type=tf.int64)
    byte_start = tf.gather(flat(windows["byte_start"]), tf.where(found, row * seq64 + s, last))
    byte_end = tf.gather(flat(windows["byte_end"]), tf.where(found, row * seq64 + e, last))
    byte_start, byte_end = tf.maximum(byte_start, 0), tf.maximum(byte_end, 0)

    answer = found
    score = best
    out = {}
    if version_2:
        null = tf.math.unsorted_segment_min(
            start_logits[:, 0] + end_logits[:, 0], windows["example"], tf.size(num_windows)
        )
        scored = num_windows > 0
        diff = tf.cast(null, tf.float64) - tf.cast(best, tf.float64)
        diff = tf.where(found, diff, NO_ANSWER_DIFF)
        impossible = diff > settings["null_score_diff_threshold"]
        answer = found & ~impossible
        score = tf.where(answer, best, tf.where(scored, null, NEG_INF))
        out.update(is_impossible=impossible, null_score_diff=diff)
    else:
        score = tf.where(answer, best, NEG_INF)
    text = tf.strings.substr(contexts, byte_start, byte_end - byte_start, unit="BYTE")

    def chars(byte_offset):  # characters before a byte offset
        prefix = tf.strings.substr(contexts, tf.zeros_like(byte_offset), byte_offset, unit="BYTE")
        return tf.cast(tf.strings.length(prefix, unit="UTF8_CHAR"), tf.int64)

    out.update(
        answer_text=tf.where(answer, text, ""),
        answer_start=tf.where(answer, chars(byte_start), -1),
        answer_end=tf.where(answer, chars(byte_end), -1),
        score=score,
    )
    return out


def squad_function(model, tokenizer, cls_id, sep_id, settings, version_2):
    """`fn(question, context)` -> `decode_spans` outputs, for string `[B]` inputs."""

    def answer(question, context):
        windows = squad_windows(tokenizer, question, context, cls_id, sep_id, settings)
        inputs = {key: windows[key] for key in names.ENCODER_INPUTS}
        outputs = model(inputs, training=False)
        return decode_spans(
            context,
            windows,
            outputs[downstream.START_LOGITS],
            outputs[downstream.END_LOGITS],
            settings,
            version_2,
        )

    return answer


def classifier_function(model, tokenizer, cls_id, sep_id, max_seq_length, task):
    """`fn(text_a[, text_b])` (string `[B]`, the task's `serving_inputs` in order; one input:
    single sentences) -> `label` (string `[B]`, from `task.labels`), `probabilities`
    (`[B, classes]`)."""
    labels = list(task.labels)

    def classify(text_a, text_b):
        inputs = pack_pairs(
            tokenizer, text_a, text_b, cls_id, sep_id, max_seq_length, pad_to=max_seq_length
        )
        logits = model(inputs, training=False)[downstream.LOGITS]
        return {
            "label": tf.gather(tf.constant(labels), tf.argmax(logits, axis=-1)),
            "probabilities": tf.nn.softmax(logits, axis=-1),
        }

    if len(task.serving_inputs) == 2:
        return classify

    def classify_single(text_a):
        return classify(text_a, tf.fill(tf.shape(text_a), ""))

    return classify_single
