"""Bigram shift (the paper's new task): which tokens were swapped with a neighbour? Its swaps,
labels and head.

A word is a WordPiece token with the `##` pieces that follow it; swaps exchange two adjacent
whole words inside one segment (never across [SEP] or [CLS], which are added later), pairs never
overlap, and a pair of identical words is never chosen (its swap would be invisible), nor a
"word" that is a lone ## piece left at a segment's start by truncation. The tokens of
both swapped words get label 1, every other token 0. Swaps happen before masking.

Modes (`--bigram_shift_mode`, SPEC section 1):
  rate       (default) about `prob` of the words of an input take part in a swap: the number of
             pairs is prob * words / 2, rounded up or down at random so the mean is exact.
  per_input  with probability `prob` an input gets exactly one swapped pair (SentEval's scheme).
"""

from hbert_tf import names
from hbert_tf.tasks.base import INT64, SEQ, WORD_TOKENS, Option, PretrainingTask

MODES = ("rate", "per_input")


def word_spans(tokens, is_continuation):
    """[(start, end)] of the words of `tokens` (a ## piece at index 0 starts its own word)."""
    spans = []
    for i, token in enumerate(tokens):
        if i and is_continuation[token]:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    return spans


def num_pairs_to_swap(num_words, prob, mode, rng):
    """How many word pairs of an input of `num_words` words to swap."""
    if prob <= 0 or num_words < 2:
        return 0
    if mode == "per_input":
        return int(rng.random() < prob)
    expected = prob * num_words / 2
    whole = int(expected)
    return whole + int(rng.random() < expected - whole)


def swap_bigrams(segments, num_pairs, rng, is_continuation):
    """Swaps `num_pairs` random adjacent word pairs inside the given segments.

    Args:
        segments: list of list of int. Token ids per segment (segment A, segment B).
        num_pairs: int. Pairs to swap (fewer when the segments do not have enough).
        rng: random.Random.
        is_continuation: sequence of bool per vocabulary id (True for ## pieces).

    Returns:
        (segments, labels): new token lists of the same lengths, and per-token 0/1 labels.
    """
    spans = [word_spans(tokens, is_continuation) for tokens in segments]
    labels = [[0] * len(tokens) for tokens in segments]
    if num_pairs <= 0:
        return [list(t) for t in segments], labels
    candidates = []
    for s, (tokens, words) in enumerate(zip(segments, spans)):
        for w in range(len(words) - 1):
            (a0, a1), (b0, b1) = words[w], words[w + 1]
            if tokens[a0:a1] != tokens[b0:b1] and not is_continuation[tokens[a0]]:
                candidates.append((s, w))
    rng.shuffle(candidates)
    chosen = {s: set() for s in range(len(segments))}
    taken = set()
    for s, w in candidates:
        if len(taken) >= 2 * num_pairs:
            break
        if (s, w) in taken or (s, w + 1) in taken:
            continue
        taken.update(((s, w), (s, w + 1)))
        chosen[s].add(w)
    out = []
    for s, (tokens, words) in enumerate(zip(segments, spans)):
        if not chosen[s]:
            out.append(list(tokens))
            continue
        new_tokens, new_labels, w = [], [], 0
        while w < len(words):
            if w in chosen[s]:
                (a0, a1), (b0, b1) = words[w], words[w + 1]
                new_tokens += tokens[b0:b1] + tokens[a0:a1]
                new_labels += [1] * (b1 - b0 + a1 - a0)
                w += 2
            else:
                start, end = words[w]
                new_tokens += tokens[start:end]
                new_labels += [0] * (end - start)
                w += 1
        out.append(new_tokens)
        labels[s] = new_labels
    return out, labels


def unswap(tokens, labels, is_continuation):
    """Undoes swaps given the swapped tokens and labels of one segment (for tests and analysis).

    Consecutive labelled words come in pairs (pairs never overlap, so runs have even length).
    """
    words = word_spans(tokens, is_continuation)
    out, w = [], 0
    while w < len(words):
        start, end = words[w]
        if labels[start] and w + 1 < len(words):
            b0, b1 = words[w + 1]
            out += tokens[b0:b1] + tokens[start:end]
            w += 2
        else:
            out += tokens[start:end]
            w += 1
    return out


def make_labels(pair, options, rng, context, stats):
    """Swaps word pairs inside A and B (before masking); swapped tokens get label 1."""
    is_continuation = context.is_continuation
    num_words = sum(len(word_spans(tokens, is_continuation)) for tokens in pair.segments)
    pairs = num_pairs_to_swap(
        num_words, options["bigram_shift_prob"], options["bigram_shift_mode"], rng
    )
    pair.segments, labels = swap_bigrams(pair.segments, pairs, rng, is_continuation)
    pair.token_labels[names.BIGRAM_SHIFT_LABELS] = tuple(labels)
    stats["swapped"] += sum(map(sum, labels))


TASK = PretrainingTask(
    name="bigram_shift",
    title="bigram shift",
    features=((names.BIGRAM_SHIFT_LABELS, INT64, SEQ),),
    label_feature=names.BIGRAM_SHIFT_LABELS,
    weights=WORD_TOKENS,
    head="token",
    make_labels=make_labels,
    options=(
        Option("bigram_shift_prob", 0.0, "Bigram swap probability; 0 = no swaps, no labels."),
        Option("bigram_shift_mode", "rate", "rate or per_input (SPEC 1).", MODES),
    ),
    switch="bigram_shift_prob",
    stat_keys=("swapped",),
    statistics=(("swapped_fraction", "swapped", "word_tokens"),),
    balanced=True,
    layout_field="bigram_shift_layer",
    loss_weight_field="bigram_shift_loss_weight",
)
