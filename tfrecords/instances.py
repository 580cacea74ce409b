"""Training instances in BERT's scheme (SPEC section 2): segment pairs, NSP, truncation, swaps,
masking. Documents are lists of sentences, each a list of WordPiece ids.

Random-next segments come from a bounded pool of documents (the pool the caller passes), not from
the whole corpus; see docs/data.md.
"""

import dataclasses

from hbert_tf import names
from hbert_tf.tasks import PRETRAINING_TASKS, generator_options
from hbert_tf.tasks.base import Pair

from . import masking

STAT_KEYS = (
    "instances",
    "tokens",  # every real token, [CLS]/[SEP] included
    "word_tokens",  # real tokens but [CLS]/[SEP]
    "masked",
    "masked_as_mask",
    "masked_kept",
    "masked_random",
) + tuple(key for task in PRETRAINING_TASKS for key in task.stat_keys)  # random_next, swapped, ...


def task_options(**given):
    """Every task's generator options ({name: value}), defaults filled in, values checked.

    Raises: ValueError naming the flag of an unknown option or a bad value.
    """
    known = {option.name for option in generator_options()}
    for name in given:
        if name not in known:
            raise ValueError(f"--{name}: no pre-training task has this data option")
    return {
        option.name: option.check(given.get(option.name, option.default))
        for option in generator_options()
    }


@dataclasses.dataclass
class Instance:
    """One unpadded instance: `input_ids` is [CLS] A [SEP] B [SEP] after swaps and masking."""

    input_ids: list
    segment_ids: list
    masked_lm_positions: list
    masked_lm_ids: list
    next_sentence_label: int  # 0 = real next, 1 = random
    bigram_shift_labels: list | None
    labels: dict = dataclasses.field(default_factory=dict)  # other tasks' features: {name: list}


def truncate_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Trims the longer segment, from the front or back with p = 0.5, until both fit."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def segment_pairs(pool, doc_index, rng, max_num_tokens, short_seq_prob):
    """Yields (tokens_a, tokens_b, is_random_next) from document `pool[doc_index]`.

    Sentences accumulate into a chunk up to a target length (max_num_tokens, or with
    `short_seq_prob` uniform in [2, max_num_tokens]); A is the first `a_end` sentences; B is the
    rest, or (p = 0.5, or when the chunk has one sentence) a run of sentences from another
    document of the pool, the chunk's unused sentences going back to be read again.
    """
    document = pool[doc_index]
    target = max_num_tokens
    if rng.random() < short_seq_prob:
        target = rng.randint(2, max_num_tokens)
    chunk, length, i = [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
            tokens_b = []
            is_random_next = len(chunk) == 1 or rng.random() < 0.5
            if is_random_next and len(pool) > 1:
                other = rng.randrange(len(pool) - 1)
                other = other + 1 if other >= doc_index else other  # any document but this one
                random_document = pool[other]
                for sentence in random_document[rng.randrange(len(random_document)) :]:
                    tokens_b.extend(sentence)
                    if len(tokens_b) >= target - len(tokens_a):
                        break
                i -= len(chunk) - a_end
            elif is_random_next:  # a pool of one document has no other document to draw from
                is_random_next = False
            else:
                tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
            truncate_pair(tokens_a, tokens_b, max_num_tokens, rng)
            if tokens_a and tokens_b:
                yield tokens_a, tokens_b, is_random_next
            chunk, length = [], 0
        i += 1


class InstanceMaker:
    """Turns pools of tokenized documents into instances.

    Args:
        vocab: hbert_tf.text.vocab.Vocab.
        max_seq_length, max_predictions: int. Sequence length and masked slots.
        masked_lm_prob, short_seq_prob: float.
        whole_word: bool. Whole-word masking.
        **options: the tasks' generator options (`task_options`), e.g. bigram_shift_prob (0
            turns swaps off and no bigram_shift_labels are made) and bigram_shift_mode.
    """

    def __init__(
        self,
        vocab,
        *,
        max_seq_length,
        max_predictions,
        masked_lm_prob=0.15,
        short_seq_prob=0.1,
        whole_word=False,
        **options,
    ):
        self.vocab = vocab
        self.max_num_tokens = max_seq_length - 3
        self.short_seq_prob = short_seq_prob
        self.options = task_options(**options)
        self.tasks = [task for task in PRETRAINING_TASKS if task.enabled(self.options)]
        self.masking = masking.MaskingConfig(vocab, masked_lm_prob, max_predictions, whole_word)
        self.is_continuation = self.masking.is_continuation

    def make_instance(self, tokens_a, tokens_b, is_random_next, rng, stats):
        """Each task makes its labels (swaps, if on), then [CLS] A [SEP] B [SEP] is laid out and
        masked; updates `stats` counters."""
        pair = Pair([tokens_a, tokens_b], is_random_next)
        for task in self.tasks:  # registry order: the order of their random draws
            task.make_labels(pair, self.options, rng, self, stats)
        tokens_a, tokens_b = pair.segments
        labels = {
            name: [0] + list(a) + [0] + list(b) + [0] for name, (a, b) in pair.token_labels.items()
        }
        labels.update(pair.labels)
        cls_id, sep_id = self.vocab.cls_id, self.vocab.sep_id
        tokens = [cls_id] + tokens_a + [sep_id] + tokens_b + [sep_id]
        segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
        special = {0, len(tokens_a) + 1, len(tokens) - 1}
        counts = [0, 0, 0]
        positions, ids = masking.mask_tokens(
            tokens, special, rng, config=self.masking, counts=counts
        )
        stats["instances"] += 1
        stats["tokens"] += len(tokens)
        stats["word_tokens"] += len(tokens) - 3
        stats["masked"] += len(positions)
        stats["masked_as_mask"] += counts[masking.MASK]
        stats["masked_kept"] += counts[masking.KEEP]
        stats["masked_random"] += counts[masking.RANDOM]
        (next_sentence_label,) = labels.pop(names.NEXT_SENTENCE_LABELS)
        bigram_shift_labels = labels.pop(names.BIGRAM_SHIFT_LABELS, None)
        return Instance(
            tokens, segment_ids, positions, ids, next_sentence_label, bigram_shift_labels, labels
        )

    def instances_from_pool(self, pool, rng, dupe_factor, stats, encode=None):
        """All instances of a pool: documents shuffled, `dupe_factor` passes, instances shuffled.

        Args:
            pool: list of documents; a document is a list of sentences (lists of ids).
            rng: random.Random. The only source of randomness.
            dupe_factor: int. Passes over the pool, each with fresh choices.
            stats: dict of STAT_KEYS -> int, updated.
            encode: callable or None. Applied to each instance as it is made (keeps bytes, not
                lists, in memory).

        Returns:
            list of Instance (or of what `encode` returns), shuffled.
        """
        rng.shuffle(pool)
        instances = []
        for _ in range(dupe_factor):
            for doc_index in range(len(pool)):
                for a, b, is_random in segment_pairs(
                    pool, doc_index, rng, self.max_num_tokens, self.short_seq_prob
                ):
                    instance = self.make_instance(a, b, is_random, rng, stats)
                    instances.append(encode(instance) if encode else instance)
        rng.shuffle(instances)
        return instances
