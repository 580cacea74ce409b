"""Masked-LM masking in BERT's scheme (SPEC section 2), with whole-word 80/10/10 per word.

Candidates are all tokens but [CLS] and [SEP]. `num_to_predict = min(max_predictions,
max(1, round(len(tokens) * masked_lm_prob)))`. Candidate groups (single pieces, or whole words
when `whole_word`) are shuffled and taken while they fit in `num_to_predict`. Each chosen group
becomes [MASK] with probability 0.8, stays with 0.1, or is replaced by random tokens with 0.1;
under whole-word masking the choice is made once per word (the original drew it per piece).
"""

MASK, KEEP, RANDOM = 0, 1, 2  # the three outcomes, counted for the manifest statistics


def num_to_predict(num_tokens, masked_lm_prob, max_predictions):
    return min(max_predictions, max(1, int(round(num_tokens * masked_lm_prob))))


def candidate_groups(tokens, special_positions, whole_word, is_continuation):
    """list of list of int: positions masked together (a ## piece joins its word)."""
    groups, previous_special = [], True
    for i, token in enumerate(tokens):
        if i in special_positions:
            previous_special = True
            continue
        if whole_word and not previous_special and is_continuation[token]:
            groups[-1].append(i)
        else:
            groups.append([i])
        previous_special = False
    return groups


def mask_tokens(tokens, special_positions, rng, *, config, counts=None):
    """Masks `tokens` in place.

    Args:
        tokens: list of int. [CLS] A [SEP] B [SEP] ids; replaced tokens are written in place.
        special_positions: set of int. Positions of [CLS] and [SEP].
        rng: random.Random.
        config: MaskingConfig.
        counts: list of 3 int or None. Incremented at [MASK, KEEP, RANDOM] per masked token.

    Returns:
        (positions, ids): sorted masked positions and the original ids there.
    """
    groups = candidate_groups(tokens, special_positions, config.whole_word, config.is_continuation)
    limit = num_to_predict(len(tokens), config.masked_lm_prob, config.max_predictions)
    chosen, random_float = [], rng.random
    for i in range(len(groups)):
        if len(chosen) >= limit:
            break
        # Fisher-Yates, one step at a time: groups[i] is a uniform pick among those left, so
        # only as many groups are drawn as are used.
        j = i + int(random_float() * (len(groups) - i))
        groups[i], groups[j] = groups[j], groups[i]
        group = groups[i]
        if len(chosen) + len(group) > limit:
            continue
        r = rng.random()
        outcome = MASK if r < 0.8 else KEEP if r < 0.9 else RANDOM
        for position in group:
            chosen.append((position, tokens[position]))
            if outcome == MASK:
                tokens[position] = config.mask_id
            elif outcome == RANDOM:
                tokens[position] = config.random_ids[rng.randrange(len(config.random_ids))]
        if counts is not None:
            counts[outcome] += len(group)
    chosen.sort()
    return [p for p, _ in chosen], [t for _, t in chosen]


class MaskingConfig:
    """What masking needs from the flags and the vocabulary."""

    def __init__(self, vocab, masked_lm_prob, max_predictions, whole_word):
        self.masked_lm_prob = masked_lm_prob
        self.max_predictions = max_predictions
        self.whole_word = whole_word
        self.mask_id = vocab.mask_id
        self.is_continuation = vocab.continuation_flags()
        self.random_ids = vocab.random_replacement_ids()
