"""SQuAD reading, features with offsets, post-processing and metrics (files written here)."""

import json

import numpy as np
import pytest
from official.nlp.tools import squad_evaluate_v1_1, squad_evaluate_v2_0

from hbert_tf.errors import DataError
from hbert_tf.finetuning import squad
from hbert_tf.text.tokenization import OffsetTokenizer
from hbert_tf.text.vocab import Vocab

WORDS = (
    "the old lighthouse keeper named márta painted her boat green every spring . in 1987 a storm "
    "broke its mast , so she carved a new one from pine wood . who what which when did keeper's "
    "s colour was made of ? , storm-proof"
).split()
VOCAB = Vocab(
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##s", "'", "-", "proof", "marta"]
    + sorted(set(WORDS))
)

CONTEXT = (
    "The old lighthouse keeper, named Márta, painted her boat green every spring. In 1987 a "
    "storm broke its mast, so she carved a new one from pine wood."
)


def qa(qid, question, answer=None, start=None, **extra):
    entry = {"id": qid, "question": question, **extra}
    if answer is not None:
        entry["answers"] = [
            {"text": answer, "answer_start": CONTEXT.index(answer) if start is None else start}
        ]
    return entry


def write_squad(path, qas, context=CONTEXT, version="1.1"):
    data = {
        "version": version,
        "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.fixture
def tokenizer():
    return OffsetTokenizer(VOCAB)


def test_offsets_map_pieces_back_to_original_characters(tokenizer):
    [(ids, starts, ends)] = tokenizer.tokenize_with_offsets([CONTEXT])
    pieces = [CONTEXT[s:e] for s, e in zip(starts, ends)]
    assert pieces[:4] == ["The", "old", "lighthouse", "keeper"]
    assert "Márta" in pieces  # accent stripped for lookup, offsets still on the original
    assert VOCAB.tokens[ids[pieces.index("Márta")]] == "marta"


def test_every_training_answer_maps_back_to_exactly_its_text(tmp_path, tokenizer):
    answers = ["Márta", "green", "1987", "a new one", "pine wood", "storm broke its mast"]
    path = write_squad(
        tmp_path / "train.json", [qa(f"q{i}", "what was made ?", a) for i, a in enumerate(answers)]
    )
    examples, problems = squad.read_squad_json(path, "1.1")
    assert problems == {}
    features = squad.convert_examples_to_features(
        examples, tokenizer, max_seq_length=24, doc_stride=6, max_query_length=8, is_training=True
    )
    assert len(features) > len(examples)  # several windows per question
    found = set()
    for f in range(len(features)):
        s, e = features.start_positions[f], features.end_positions[f]
        example = examples[features.example_index[f]]
        if s == 0:
            assert e == 0
            continue
        text = example.context[features.token_starts[f, s] : features.token_ends[f, e]]
        assert text == example.answers[0][0]
        found.add(example.qas_id)
    assert found == {e.qas_id for e in examples}


def test_windows_cover_every_token_once_as_max_context(tmp_path, tokenizer):
    path = write_squad(tmp_path / "d.json", [qa("q", "who painted ?", "Márta")])
    examples, _ = squad.read_squad_json(path, "1.1")
    features = squad.convert_examples_to_features(examples, tokenizer, 20, 4, 8)
    owned = features.token_starts[features.max_context]
    num_tokens = len(tokenizer.tokenize_ids([CONTEXT])[0])
    assert len(owned) == num_tokens == len(set(owned.tolist()))
    assert features.segment_ids[0, 1] == 0 and features.segment_ids[0, -2] == 1


def test_bad_input_is_counted_and_skipped_never_shifted(tmp_path):
    qas = [
        qa("ok", "who painted ?", "Márta"),
        qa("shifted", "what colour ?", "green", start=CONTEXT.index("green") + 1),
        {"id": "no-answers", "question": "when ?"},
        {"question": "no id"},
        qa("empty-q", "", "green"),
    ]
    path = write_squad(tmp_path / "bad.json", qas)
    examples, problems = squad.read_squad_json(path, "1.1")
    assert [e.qas_id for e in examples] == ["ok"]
    assert problems["answer_start does not match the answer text"] == 1
    assert problems["missing answers"] == 1 and problems["question without an id"] == 1
    empty = write_squad(tmp_path / "empty.json", [qa("e", "who ?", "x", start=0)], context="  ")
    with pytest.raises(DataError, match=r"empty\.json: no usable .*empty context"):
        squad.read_squad_json(empty, "1.1")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match="broken.json: not valid JSON"):
        squad.read_squad_json(str(tmp_path / "broken.json"), "1.1")


def test_long_questions_are_truncated_and_counted(tmp_path, tokenizer):
    path = write_squad(tmp_path / "q.json", [qa("long", "who " * 30 + "?", "Márta")])
    examples, _ = squad.read_squad_json(path, "1.1")
    features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 10, is_training=True)
    assert features.stats["question longer than max_query_length=10, truncated"] == 1
    assert features.input_ids[0, 11] == VOCAB.sep_id  # [CLS] + 10 question tokens + [SEP]


def test_version_2_impossible_questions_point_at_cls(tmp_path, tokenizer):
    qas = [
        qa("yes", "who ?", "Márta"),
        {"id": "no", "question": "why ?", "answers": [], "is_impossible": True},
    ]
    examples, _ = squad.read_squad_json(write_squad(tmp_path / "v2.json", qas), "2.0")
    assert [e.is_impossible for e in examples] == [False, True]
    features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 8, is_training=True)
    assert features.start_positions[1] == features.end_positions[1] == 0
    assert features.start_positions[0] > 0


def _peaked_logits(features, f, start, end, value=10.0):
    shape = features.input_ids.shape
    starts, ends = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    starts[f, start], ends[f, end] = value, value
    return starts, ends


def test_postprocess_returns_the_exact_span_and_applies_the_null_threshold(tmp_path, tokenizer):
    qas = [qa("a", "who ?", "Márta")]
    examples, _ = squad.read_squad_json(write_squad(tmp_path / "p.json", qas), "2.0")
    features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 8)
    offsets = list(features.token_starts[0])
    start = offsets.index(CONTEXT.index("storm"))
    end = offsets.index(CONTEXT.index("mast"))
    starts, ends = _peaked_logits(features, 0, start, end)
    out = squad.postprocess(examples, features, starts, ends, version_2=True)
    assert out.predictions["a"] == "storm broke its mast"
    assert out.null_odds["a"] == pytest.approx(-20.0)
    starts[0, 0] = ends[0, 0] = 11.0  # null score 22 > span score 20
    out = squad.postprocess(examples, features, starts, ends, version_2=True)
    assert out.predictions["a"] == "" and out.best_non_null["a"] == "storm broke its mast"
    out = squad.postprocess(
        examples, features, starts, ends, version_2=True, null_score_diff_threshold=5.0
    )
    assert out.predictions["a"] == "storm broke its mast"


def test_postprocess_respects_max_answer_length(tmp_path, tokenizer):
    examples, _ = squad.read_squad_json(
        write_squad(tmp_path / "l.json", [qa("a", "who ?", "Márta")]), "1.1"
    )
    features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 8)
    offsets = list(features.token_starts[0])
    starts, ends = _peaked_logits(
        features, 0, offsets.index(0), offsets.index(CONTEXT.index("wood"))
    )
    out = squad.postprocess(examples, features, starts, ends, max_answer_length=3)
    assert len(out.predictions["a"].split()) <= 3


GOLD_QAS = [
    qa("q1", "who ?", "Márta"),
    qa("q2", "what colour ?", "green"),
    qa("q3", "what broke ?", "its mast"),
    {"id": "q4", "question": "why ?", "answers": [], "is_impossible": True},
]
PREDICTIONS = {"q1": "Marta", "q2": "boat green", "q3": "the mast", "q4": ""}


def test_metrics_equal_the_official_evaluation_v1(tmp_path):
    path = write_squad(tmp_path / "g.json", GOLD_QAS[:3])
    examples, _ = squad.read_squad_json(path, "1.1")
    ours = squad.evaluate(examples, PREDICTIONS, "1.1")
    official = squad_evaluate_v1_1.evaluate(json.load(open(path))["data"], PREDICTIONS)
    assert ours["exact"] == pytest.approx(100 * official["exact_match"])
    assert ours["f1"] == pytest.approx(100 * official["final_f1"])
    # By hand: "Marta" != "Márta" (accents count); "boat green" vs "green" and "mast" vs
    # "its mast" (only articles are dropped) have F1 2/3 each.
    assert ours["exact"] == pytest.approx(0.0)
    assert ours["f1"] == pytest.approx(100 * (0 + 2 / 3 + 2 / 3) / 3)


def test_metrics_equal_the_official_evaluation_v2(tmp_path):
    path = write_squad(tmp_path / "g2.json", GOLD_QAS, version="2.0")
    examples, _ = squad.read_squad_json(path, "2.0")
    null_odds = {"q1": -3.0, "q2": -1.0, "q3": 2.0, "q4": 4.0}
    ours = squad.evaluate(examples, PREDICTIONS, "2.0", null_odds, PREDICTIONS)
    official = squad_evaluate_v2_0.evaluate(json.load(open(path))["data"], PREDICTIONS)
    for key in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"):
        assert ours[key] == pytest.approx(official[key])
    assert ours["NoAns_exact"] == 100.0 and ours["HasAns_total"] == 3
    assert {"best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"} <= set(ours)


def test_evaluation_scores_every_question_as_the_official_script(tmp_path, tokenizer):
    qas = [
        qa("ok", "who painted ?", "Márta"),
        qa("shifted", "what colour ?", "green", start=CONTEXT.index("green") + 1),
        qa("empty-q", "", "its mast"),
    ]
    path = write_squad(tmp_path / "dev.json", qas)
    examples, problems = squad.read_squad_json(path, "1.1", evaluation=True)
    assert [e.qas_id for e in examples] == ["ok", "shifted", "empty-q"]
    assert problems["answer_start does not match the answer text"] == 1
    assert examples[1].answers == () and examples[1].scored_texts == ("green",)
    # A bad offset only stops the answer from being a training target.
    training = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 8, is_training=True)
    assert {examples[i].qas_id for i in training.example_index} == {"ok"}
    features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 8)
    starts = np.random.default_rng(0).normal(size=features.input_ids.shape)
    out = squad.postprocess(examples, features, starts, starts[:, ::-1])
    assert set(out.predictions) == {"ok", "shifted", "empty-q"}
    predictions = dict(out.predictions, shifted="green")  # right, though its offset is wrong
    ours = squad.evaluate(examples, predictions, "1.1")
    official = squad_evaluate_v1_1.evaluate(json.load(open(path))["data"], predictions)
    assert ours["total"] == 3
    assert ours["exact"] == pytest.approx(100 * official["exact_match"])
    assert ours["f1"] == pytest.approx(100 * official["final_f1"])
    assert ours["exact"] > 100 / 3 - 1e-6  # "shifted" counts as a correct answer
