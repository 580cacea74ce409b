"""Probing tasks in SentEval's file format, generated where SentEval's own files are not at hand.

```
python -m tfrecords.probing_tasks --output_dir=/tmp/probing --source=builtin
python -m tfrecords.probing_tasks --output_dir=/tmp/probing --source=wiki.train.raw,more.txt
```
writes `<output_dir>/<task>.txt` (`split<TAB>label<TAB>sentence`, tr/va/te, as SentEval's
`data/probing`) and `<output_dir>/tasks.json` (how each task was made: source, seed, sizes, class
counts per split, length bins, word list).

From raw text (one sentence per line; blank lines ignored; words split as BERT's basic tokenizer
does, then joined by spaces):
  sentence_length   label = length bin 0..5; bins hold about equally many sentences ("auto") or
                    are given, e.g. SentEval's 5-8,9-12,13-16,17-20,21-25,26-28.
  word_content      label = the one word of a mid-frequency word list the sentence contains (skip
                    the most frequent `word_content_skip` fraction of word types, take the next
                    `word_content_words`); sentences holding none or several are not used.
  bigram_shift      label O (original) or I (two adjacent words inverted; never the final
                    punctuation, never two identical words; swaps made by tfrecords.bigram_shift).
From the built-in corpus, whose grammar records each sentence's structure, also:
  tree_depth        label = parse-tree depth (depths with under half their share are dropped).
  top_constituents  label = the sequence of constituents under the root, e.g. NP_VP_. .
  past_present      label PAST or PRES (main-clause verb).
  subj_number       label NN or NNS (main-clause subject); obj_number likewise (direct object).
  odd_man_out       label O or C: C replaces the main verb by a verb of another topic with the
                    same form (tense, agreement, transitivity), so the sentence stays grammatical
                    but the verb no longer fits its topic and object.
  coordination_inversion  label O or I: I swaps the two clauses of "S and/but/while S ." . The
                    grammar draws both clauses from the same distribution, so on the built-in
                    corpus this task is at chance by construction: a control, not a measurement.

Every class gets the same number of examples in each split (balanced: chance = 1 / classes); a
sentence is used at most once per task; everything follows one seed; files are written only after
every task was generated, each through a temporary name.
"""

import collections
import dataclasses
import os
import random
import sys

from absl import app, flags, logging

from hbert_tf import console, files
from hbert_tf.errors import DataError, check_output_dir, main_entry
from hbert_tf.files import write_json_atomic
from hbert_tf.probing.senteval_format import SPLITS, TASK_NAMES, parse_task_list, write_task
from hbert_tf.text import builtin_corpus
from hbert_tf.text.vocab import basic_tokenize

from .bigram_shift import swap_bigrams

RAW_TEXT_TASKS = ("sentence_length", "word_content", "bigram_shift")
BUILTIN_TASKS = TASK_NAMES  # all ten
METADATA = "tasks.json"


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Sizes and choices of generated probing tasks.

    Args:
        train_size, dev_size, test_size: int. Examples per split (rounded down to a multiple of
            the number of classes; fewer, logged, when the source cannot fill every class).
        seed: int. Seeds every choice; same seed and source, same bytes.
        num_length_bins: int. Bins of sentence_length when `length_bins` is "auto".
        length_bins: str. "auto" or ranges of word counts, e.g. "5-8,9-12".
        word_content_words: int. Target words (classes) of word_content (SentEval: 1000).
        word_content_skip: float. Fraction of the most frequent word types skipped first.
        min_words, max_words: int. Raw-text sentences outside this length are not used.
        num_documents: int. Documents of the built-in corpus read.
        do_lower_case: bool. Lower-case raw text (built-in text is lower case already).
    """

    train_size: int = 4000
    dev_size: int = 500
    test_size: int = 500
    seed: int = 0
    num_length_bins: int = 6
    length_bins: str = "auto"
    word_content_words: int = 50
    word_content_skip: float = 0.1
    min_words: int = 3
    max_words: int = 64
    num_documents: int = 6000
    do_lower_case: bool = True

    def __post_init__(self):
        for name in ("train_size", "dev_size", "test_size", "num_documents", "min_words"):
            if getattr(self, name) < 1:
                raise DataError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.num_length_bins < 2 or self.word_content_words < 2:
            raise DataError("--num_length_bins and --word_content_words must be >= 2")
        if not 0.0 <= self.word_content_skip < 1.0:
            raise DataError(f"--word_content_skip must be in [0, 1), got {self.word_content_skip}")
        if self.max_words < self.min_words:
            raise DataError(f"--max_words={self.max_words} is below --min_words={self.min_words}")

    @property
    def sizes(self):
        return {"tr": self.train_size, "va": self.dev_size, "te": self.test_size}


# === Sources ======================================================================================


@dataclasses.dataclass(frozen=True)
class SourceSentence:
    """A sentence of the source: its words, and (built-in corpus only) its parse facts and topic."""

    words: tuple
    topic: str | None = None
    parsed: builtin_corpus.Sentence | None = None

    @property
    def text(self):
        return " ".join(self.words)


def builtin_sentences(config):
    """Distinct sentences of the built-in corpus, in corpus order."""
    seen, out = set(), []
    for doc in builtin_corpus.generate_documents(config.seed, config.num_documents):
        for sentence in doc.sentences:
            if sentence.text not in seen:
                seen.add(sentence.text)
                out.append(SourceSentence(tuple(sentence.tokens), doc.topic, sentence))
    return out


def text_sentences(paths, config):
    """Distinct sentences of raw-text files (one a line), within min_words..max_words."""
    found = []
    for pattern in paths:
        matches = sorted(files.glob(pattern)) or [pattern]
        found.extend(matches)
    seen, out = set(), []
    for path in found:
        try:
            with files.open(path) as f:
                for line in f:
                    words = tuple(basic_tokenize(line.strip(), config.do_lower_case))
                    text = " ".join(words)
                    if config.min_words <= len(words) <= config.max_words and text not in seen:
                        seen.add(text)
                        out.append(SourceSentence(words))
        except FileNotFoundError:
            raise DataError(f"--source: file not found: {path}") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    if not out:
        raise DataError(
            f"--source={','.join(paths)}: no sentences of {config.min_words}..{config.max_words} words"
        )
    return out


# === Balanced splits ==============================================================================


def balanced_splits(task, labelled, config, rng, drop_rare=False):
    """Chooses the same number of examples per class for each split; returns examples and counts.

    Args:
        task: str. Named in messages.
        labelled: list of (label, sentence text). Repeated sentences are used once.
        config: GenerationConfig.
        rng: random.Random.
        drop_rare: bool. Drop classes (rarest first) with fewer than half the examples their share
            needs; then, if the rarest class still falls short, every split shrinks to fit it.

    Returns: (list of (split, label, sentence), dict split -> examples per class).
    """
    groups = collections.defaultdict(list)
    seen = set()
    for label, text in labelled:
        if text not in seen:
            seen.add(text)
            groups[str(label)].append(text)
    sizes = config.sizes
    labels = sorted(groups, key=lambda lab: (-len(groups[lab]), lab))
    while True:
        if len(labels) < 2:
            raise DataError(f"{task}: the source yields fewer than two classes; use more data")
        per_class = {split: sizes[split] // len(labels) for split in SPLITS}
        need, rarest = sum(per_class.values()), len(groups[labels[-1]])
        if rarest >= need:
            break
        if drop_rare and len(labels) > 2 and rarest < need / 2:
            logging.info("%s: dropping class %r (%d examples < %d)", task, labels[-1], rarest, need)
            labels.pop()
            continue
        scale = rarest / need
        per_class = {split: int(n * scale) for split, n in per_class.items()}
        if min(per_class.values()) < 1:
            raise DataError(
                f"{task}: class {labels[-1]!r} has only {rarest} examples; not enough for tr, va "
                "and te (use more data or smaller sizes)"
            )
        logging.warning(
            "%s: the source fills only %s examples per class and split", task, per_class
        )
        break
    examples = {split: [] for split in SPLITS}
    for label in sorted(labels):
        texts = list(groups[label])
        rng.shuffle(texts)
        start = 0
        for split in SPLITS:
            examples[split] += [(split, label, t) for t in texts[start : start + per_class[split]]]
            start += per_class[split]
    out = []
    for split in SPLITS:
        rng.shuffle(examples[split])
        out += examples[split]
    return out, per_class


# === Tasks ========================================================================================


class _NoContinuations:
    """Every word is whole: the `is_continuation` lookup of tfrecords.bigram_shift for words."""

    def __getitem__(self, token):
        return False


def length_bins(sentences, config):
    """[(low, high)] word-count ranges: given, or "auto" bins holding about equal numbers."""
    if config.length_bins != "auto":
        bins = []
        for item in config.length_bins.split(","):
            low, _, high = item.strip().partition("-")
            if not (low.isdigit() and high.isdigit()) or int(low) > int(high):
                raise DataError(f"--length_bins: bad range {item!r}; expected e.g. 5-8,9-12")
            bins.append((int(low), int(high)))
        return bins
    counts = collections.Counter(len(s.words) for s in sentences)
    lengths = sorted(counts)
    n = config.num_length_bins
    if len(lengths) < n:
        raise DataError(f"sentence_length: only {len(lengths)} distinct lengths for {n} bins")
    total, bins, low, cumulative = sum(counts.values()), [], lengths[0], 0
    for i, length in enumerate(lengths):
        cumulative += counts[length]
        left = len(lengths) - i - 1  # lengths after this one
        if cumulative >= total * (len(bins) + 1) / n or left == n - len(bins) - 1:
            bins.append((low, length))
            if len(bins) == n:
                break
            low = lengths[i + 1]
    bins[-1] = (bins[-1][0], lengths[-1])
    return bins


def _sentence_length(sentences, config, rng, meta):
    bins = length_bins(sentences, config)
    meta["bins"] = {str(i): f"{low}-{high}" for i, (low, high) in enumerate(bins)}
    labelled = []
    for s in sentences:
        for i, (low, high) in enumerate(bins):
            if low <= len(s.words) <= high:
                labelled.append((i, s.text))
    return labelled, False


def _word_content(sentences, config, rng, meta):
    counts = collections.Counter(w for s in sentences for w in s.words if w.isalpha())
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    skip = int(len(ranked) * config.word_content_skip)
    targets = set(ranked[skip : skip + config.word_content_words])
    meta["words_ranked"] = f"{skip}..{skip + len(targets) - 1} of {len(ranked)} word types"
    labelled = []
    for s in sentences:
        hits = [w for w in s.words if w in targets]
        if len(hits) == 1:
            labelled.append((hits[0], s.text))
    return labelled, True


def _bigram_shift(sentences, config, rng, meta):
    labelled = []
    for i, s in enumerate(sentences):
        if i % 2 == 0:
            labelled.append(("O", s.text))
            continue
        words = list(s.words)
        tail = [words.pop()] if words and not words[-1].isalnum() else []
        (swapped,), (labels,) = swap_bigrams([words], 1, rng, _NoContinuations())
        if any(labels):
            labelled.append(("I", " ".join(swapped + tail)))
    return labelled, False


def _tree_depth(sentences, config, rng, meta):
    return [(s.parsed.tree_depth, s.text) for s in sentences], True


def _top_constituents(sentences, config, rng, meta):
    return [(s.parsed.top_constituents, s.text) for s in sentences], True


def _past_present(sentences, config, rng, meta):
    return [("PAST" if s.parsed.tense == "past" else "PRES", s.text) for s in sentences], False


def _number_label(number):
    return "NN" if number == "singular" else "NNS"


def _subj_number(sentences, config, rng, meta):
    return [(_number_label(s.parsed.subject_number), s.text) for s in sentences], False


def _obj_number(sentences, config, rng, meta):
    labelled = [
        (_number_label(s.parsed.object_number), s.text)
        for s in sentences
        if s.parsed.object_number is not None
    ]
    return labelled, False


def _verb_slot(s):
    """(index of the main verb, its form key) where the key says what may replace it."""
    clause = s.parsed.clauses[0]
    start, end = clause.verb
    number = clause.subject_number if clause.tense == "present" else None
    return start, (clause.tense, number, clause.object is not None) if end == start + 1 else None


def _odd_man_out(sentences, config, rng, meta):
    forms = collections.defaultdict(lambda: collections.defaultdict(set))  # key -> topic -> verbs
    topic_words = collections.defaultdict(set)
    for s in sentences:
        index, key = _verb_slot(s)
        topic_words[s.topic].update(s.words)
        if key is not None:
            forms[key][s.topic].add(s.words[index])
    meta["replacement"] = "main verb <- same-form verb never seen in the sentence's topic"
    labelled = []
    for i, s in enumerate(sentences):
        if i % 2 == 0:
            labelled.append(("O", s.text))
            continue
        index, key = _verb_slot(s)
        if key is None:
            continue
        others = {v for topic, verbs in forms[key].items() if topic != s.topic for v in verbs}
        candidates = sorted(others - topic_words[s.topic])
        if candidates:
            words = list(s.words)
            words[index] = rng.choice(candidates)
            labelled.append(("C", " ".join(words)))
    return labelled, False


def _coordination_inversion(sentences, config, rng, meta):
    meta["note"] = "both clauses come from one distribution: at chance by construction"
    labelled = []
    coordinated = [s for s in sentences if s.parsed.is_coordination]
    for i, s in enumerate(coordinated):
        if i % 2 == 0:
            labelled.append(("O", s.text))
            continue
        words = list(s.words)
        cc = s.parsed.clauses[1].subject[0] - 1  # "S CC S ." : the second clause starts after CC
        inverted = words[cc + 1 : -1] + [words[cc]] + words[:cc] + words[-1:]
        if inverted != words:
            labelled.append(("I", " ".join(inverted)))
    return labelled, False


_BUILDERS = {
    "sentence_length": _sentence_length,
    "word_content": _word_content,
    "tree_depth": _tree_depth,
    "bigram_shift": _bigram_shift,
    "top_constituents": _top_constituents,
    "past_present": _past_present,
    "subj_number": _subj_number,
    "obj_number": _obj_number,
    "odd_man_out": _odd_man_out,
    "coordination_inversion": _coordination_inversion,
}


def generate_tasks(source, tasks, config):
    """Generates probing tasks in memory.

    Args:
        source: "builtin" or a list of raw-text paths/globs.
        tasks: list of task names (structural ones need the built-in corpus).
        config: GenerationConfig.

    Returns: (dict task -> list of (split, label, sentence), dict task -> metadata).
    """
    builtin = source == "builtin"
    available = BUILTIN_TASKS if builtin else RAW_TEXT_TASKS
    unavailable = [t for t in tasks if t not in available]
    if unavailable:
        raise DataError(
            f"--tasks: {', '.join(unavailable)} need parse facts only the built-in corpus has; "
            f"from raw text: {', '.join(RAW_TEXT_TASKS)}"
        )
    sentences = builtin_sentences(config) if builtin else text_sentences(source, config)
    logging.info("%d distinct source sentences", len(sentences))
    generated, metadata = {}, {}
    for task in tasks:
        rng = random.Random(f"hbert-probing/{config.seed}/{task}")
        pool = list(sentences)
        rng.shuffle(pool)
        meta = {}
        labelled, drop_rare = _BUILDERS[task](pool, config, rng, meta)
        examples, per_class = balanced_splits(task, labelled, config, rng, drop_rare)
        classes = sorted({label for _, label, _ in examples})
        meta.update(classes=len(classes), examples_per_class=per_class, labels=classes[:50])
        generated[task], metadata[task] = examples, meta
        logging.info("%s: %d classes, %s per class", task, len(classes), per_class)
    return generated, metadata


def write_tasks(output_dir, generated, metadata, settings, overwrite=False):
    """Writes `<task>.txt` files and tasks.json; refuses to replace files unless `overwrite`."""
    files.makedirs(output_dir)
    paths = {task: os.path.join(output_dir, f"{task}.txt") for task in generated}
    existing = [p for p in paths.values() if files.exists(p)]
    if existing and not overwrite:
        raise DataError(f"--output_dir: {existing[0]} exists; pass --overwrite to replace it")
    for task, examples in generated.items():
        write_task(paths[task], examples)
    values = {"settings": settings, "tasks": metadata}
    write_json_atomic(os.path.join(output_dir, METADATA), values)
    return paths


# === Binary =======================================================================================

FLAGS = flags.FLAGS


def define_flags():
    """The binary's flags (defined on first use: importing this module defines none)."""
    flags.DEFINE_string(
        "output_dir", None, "Folder for <task>.txt files (a --task_dir for probing)."
    )
    flags.DEFINE_string(
        "source", "builtin", "'builtin' (all 10 tasks) or a comma list of raw-text files/globs, one "
        "sentence a line (sentence_length, word_content, bigram_shift only)."
    )  # fmt: skip
    flags.DEFINE_string("tasks", "all", "'all' (every task the source allows) or a comma list.")
    flags.DEFINE_integer("seed", 0, "Seed of every choice (and of the built-in corpus).")
    flags.DEFINE_integer("train_size", 4000, "Examples in tr; a multiple of the classes is used.")
    flags.DEFINE_integer("dev_size", 500, "Examples in va (early stopping and model selection).")
    flags.DEFINE_integer("test_size", 500, "Examples in te (reported accuracy).")
    flags.DEFINE_string(
        "length_bins", "auto", "'auto' (equal-frequency bins) or ranges, e.g. 5-8,9-12."
    )
    flags.DEFINE_integer("num_length_bins", 6, "Bins of sentence_length when --length_bins=auto.")
    flags.DEFINE_integer("word_content_words", 50, "Target words (= classes) of word_content.")
    flags.DEFINE_float("word_content_skip", 0.1, "Fraction of most frequent word types skipped.")
    flags.DEFINE_integer("min_words", 3, "Raw text: shortest sentence used, in words.")
    flags.DEFINE_integer("max_words", 64, "Raw text: longest sentence used, in words.")
    flags.DEFINE_integer(
        "num_documents", 6000, "Built-in corpus: documents read (about 7 sentences each)."
    )
    flags.DEFINE_bool(
        "do_lower_case", True, "Lower-case raw text; must match the models' vocabulary."
    )
    flags.DEFINE_bool("overwrite", False, "Replace task files already in --output_dir.")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    if not FLAGS.output_dir:
        sys.exit("error: --output_dir is required")
    check_output_dir(FLAGS.output_dir, "output_dir")
    config = GenerationConfig(
        train_size=FLAGS.train_size,
        dev_size=FLAGS.dev_size,
        test_size=FLAGS.test_size,
        seed=FLAGS.seed,
        num_length_bins=FLAGS.num_length_bins,
        length_bins=FLAGS.length_bins,
        word_content_words=FLAGS.word_content_words,
        word_content_skip=FLAGS.word_content_skip,
        min_words=FLAGS.min_words,
        max_words=FLAGS.max_words,
        num_documents=FLAGS.num_documents,
        do_lower_case=FLAGS.do_lower_case,
    )
    builtin = FLAGS.source.strip() == "builtin"
    source = "builtin" if builtin else [p for p in FLAGS.source.split(",") if p.strip()]
    if FLAGS.tasks.strip() == "all":
        tasks = list(BUILTIN_TASKS if builtin else RAW_TEXT_TASKS)
    else:
        tasks = parse_task_list(FLAGS.tasks)
    generated, metadata = generate_tasks(source, tasks, config)
    settings = dict(dataclasses.asdict(config), source=FLAGS.source)
    paths = write_tasks(FLAGS.output_dir, generated, metadata, settings, FLAGS.overwrite)
    for task, path in paths.items():
        console.say(f"wrote {path} ({len(generated[task])} examples)")


def run():
    define_flags()
    app.run(main_entry(main, outputs=("output_dir",), lock="output_dir"))


if __name__ == "__main__":
    run()
