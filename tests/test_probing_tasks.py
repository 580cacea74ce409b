"""Generated probing tasks: SentEval's format, the documented class balance, determinism."""

import collections
import random

import pytest

from hbert_tf.errors import DataError
from hbert_tf.probing import senteval_format
from tfrecords import probing_tasks

SMALL = probing_tasks.GenerationConfig(
    train_size=300, dev_size=60, test_size=60, num_documents=700, word_content_words=10
)


@pytest.fixture(scope="module")
def builtin_tasks():
    return probing_tasks.generate_tasks("builtin", list(senteval_format.TASK_NAMES), SMALL)


def test_every_builtin_task_is_balanced_and_uses_each_sentence_once(builtin_tasks):
    generated, metadata = builtin_tasks
    assert set(generated) == set(senteval_format.TASK_NAMES)
    for task, examples in generated.items():
        counts = collections.Counter((split, label) for split, label, _ in examples)
        labels = {label for _, label, _ in examples}
        per_class = metadata[task]["examples_per_class"]
        for split in senteval_format.SPLITS:  # every class has the same count in each split
            assert {counts[split, label] for label in labels} == {per_class[split]}, task
            assert per_class[split] * len(labels) <= SMALL.sizes[split]
        assert metadata[task]["classes"] == len(labels) >= 2
        sentences = [s for _, _, s in examples]
        assert len(sentences) == len(set(sentences)), task
    binary = {"bigram_shift", "past_present", "subj_number", "obj_number", "odd_man_out"}
    for task in binary | {"coordination_inversion"}:
        assert metadata[task]["examples_per_class"] == {"tr": 150, "va": 30, "te": 30}, task
    assert metadata["sentence_length"]["classes"] == 6
    assert metadata["word_content"]["classes"] == 10


def test_labels_match_their_definitions(builtin_tasks):
    generated, _ = builtin_tasks
    by_label = collections.defaultdict(list)
    for task, examples in generated.items():
        for _, label, sentence in examples:
            by_label[task, label].append(sentence.split())
    assert {label for task, label in by_label if task == "past_present"} == {"PAST", "PRES"}
    assert {label for task, label in by_label if task == "subj_number"} == {"NN", "NNS"}
    for words in by_label["bigram_shift", "I"] + by_label["coordination_inversion", "I"]:
        assert words[-1] == "."  # final punctuation never moves
    for task, label in by_label:
        if task == "word_content":
            assert all(label in words for words in by_label[task, label])
        if task == "sentence_length":
            lengths = [len(words) for words in by_label[task, label]]
            assert max(lengths) - min(lengths) < 20


def test_generation_is_deterministic_by_seed():
    config = probing_tasks.GenerationConfig(
        train_size=40, dev_size=10, test_size=10, num_documents=60
    )
    first, _ = probing_tasks.generate_tasks("builtin", ["bigram_shift", "odd_man_out"], config)
    again, _ = probing_tasks.generate_tasks("builtin", ["bigram_shift", "odd_man_out"], config)
    assert first == again
    other = probing_tasks.GenerationConfig(**{**config.__dict__, "seed": 1})
    changed, _ = probing_tasks.generate_tasks("builtin", ["bigram_shift"], other)
    assert changed["bigram_shift"] != first["bigram_shift"]


def test_raw_text_gives_the_three_surface_tasks(tmp_path):
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    lines = [
        " ".join(words[(i * 7 + j) % len(words)] for j in range(3 + i % 10)).capitalize() + "."
        for i in range(600)
    ]
    path = tmp_path / "raw.txt"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    config = probing_tasks.GenerationConfig(
        train_size=120, dev_size=30, test_size=30, word_content_words=3, word_content_skip=0.0
    )
    generated, metadata = probing_tasks.generate_tasks(
        [str(path)], ["sentence_length", "bigram_shift"], config
    )
    written = probing_tasks.write_tasks(
        str(tmp_path / "out"), generated, metadata, {"source": "raw"}
    )
    task = senteval_format.read_task(written["bigram_shift"])
    assert task.labels in (("O", "I"), ("I", "O")) and task.chance() == 0.5
    assert all(s == s.lower() for s in task.sentences["tr"])
    with pytest.raises(DataError, match="only the built-in corpus"):
        probing_tasks.generate_tasks([str(path)], ["tree_depth"], config)
    with pytest.raises(DataError, match="exists; pass --overwrite"):
        probing_tasks.write_tasks(str(tmp_path / "out"), generated, metadata, {})
    with pytest.raises(DataError, match="file not found"):
        probing_tasks.generate_tasks([str(tmp_path / "nope.txt")], ["bigram_shift"], config)


def test_length_bins_and_too_little_data():
    explicit = probing_tasks.GenerationConfig(length_bins="5-8,9-12")
    assert probing_tasks.length_bins([], explicit) == [(5, 8), (9, 12)]
    with pytest.raises(DataError, match="bad range '9-'"):
        probing_tasks.length_bins([], probing_tasks.GenerationConfig(length_bins="5-8,9-"))
    few = [("A", f"a {i}") for i in range(3)] + [("B", f"b {i}") for i in range(100)]
    with pytest.raises(DataError, match="class 'A' has only 3 examples"):
        probing_tasks.balanced_splits("t", few, SMALL, random.Random(0))
    with pytest.raises(DataError, match="--train_size"):
        probing_tasks.GenerationConfig(train_size=0)
