"""SQuAD 1.1 / 2.0: reading, sliding-window features with offsets, post-processing, metrics.

Reading validates every question and reports problems by file and question id: missing fields,
an `answer_start` that does not point at the answer text (the answer is dropped, never shifted),
empty contexts. A file read for evaluation (`evaluation=True`) keeps every question that has an
id, as the official scripts score every question: a bad offset only stops an answer from being
a training target, its text is still a gold answer. Features follow BERT's run_squad (`[CLS] question [SEP] context-window [SEP]`,
windows `doc_stride` tokens apart, answers outside a window and impossible questions point at
[CLS]), but tokenise with character offsets (`hbert_tf.text.tokenization`), so every predicted span is
an exact slice of the context. Metrics come from the official evaluation scripts shipped in
tf-models-official (`official.nlp.tools.squad_evaluate_v1_1` / `_v2_0`).
"""

import collections
import dataclasses
import json
import os

import numpy as np
from absl import logging

from hbert_tf import files, names
from hbert_tf.errors import DataError, UserError
from hbert_tf.finetuning import task as task_base
from hbert_tf.run_config import SquadConfig

VERSIONS = ("1.1", "2.0")
TFDS_NAMES = {"1.1": "squad/v1.1", "2.0": "squad/v2.0"}

# Features the span model is trained on (besides names.ENCODER_INPUTS).
START_POSITIONS = "start_positions"
END_POSITIONS = "end_positions"


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One question over one context.

    Attributes:
        qas_id: str. The question id.
        question: str.
        context: str.
        answers: tuple of `(text, start_char)`; every one checked: `context[start:start+len(text)]
            == text`.
        is_impossible: bool. SQuAD 2.0 unanswerable question (then `answers` is empty).
        gold_texts: tuple of str. Every answer text of the file, offsets checked or not: what the
            official scripts score against (None: the texts of `answers`).
    """

    qas_id: str
    question: str
    context: str
    answers: tuple = ()
    is_impossible: bool = False
    gold_texts: tuple | None = None

    @property
    def scored_texts(self):
        return self.gold_texts if self.gold_texts is not None else tuple(t for t, _ in self.answers)


class _Problems:
    """Counts skipped input by kind and logs one summary line per kind (with the first ids)."""

    def __init__(self, source):
        self.source = source
        self.ids = collections.defaultdict(list)

    def add(self, kind, example_id):
        self.ids[kind].append(str(example_id))

    def log(self):
        for kind, ids in self.ids.items():
            shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
            logging.warning("%s: skipped %d (%s): %s", self.source, len(ids), kind, shown)

    def counts(self):
        return {kind: len(ids) for kind, ids in self.ids.items()}


def _parse_question(qa, context, version, source, where, problems, evaluation=False):
    """A SquadExample from one `qas` entry, or None (the reason is recorded in `problems`).

    With `evaluation`, a question with an id and gold answer texts is always kept (an empty
    question or context gets no features and so the prediction "").
    """
    if not isinstance(qa, dict) or "id" not in qa:
        problems.add("question without an id", where)
        return None
    qid = str(qa["id"])
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.add("missing or empty question", qid)
        if not evaluation:
            return None
        question = question if isinstance(question, str) else ""
    if not context.strip():
        problems.add("empty context", qid)
        if not evaluation:
            return None
    is_impossible = version == "2.0" and bool(qa.get("is_impossible", False))
    if is_impossible:
        return SquadExample(qid, question, context, (), True)
    raw_answers = qa.get("answers")
    if not isinstance(raw_answers, list) or not raw_answers:
        problems.add("missing answers", qid)
        return None
    answers, gold_texts = [], []
    for answer in raw_answers:
        if isinstance(answer, dict) and isinstance(answer.get("text"), str):
            gold_texts.append(answer["text"])
        if not isinstance(answer, dict) or "text" not in answer or "answer_start" not in answer:
            problems.add("answer without text or answer_start", qid)
            continue
        text, start = str(answer["text"]), answer["answer_start"]
        if isinstance(start, bool) or not isinstance(start, int | np.integer):
            problems.add("answer_start is not an integer", qid)
            continue
        start = int(start)
        if not text.strip() or context[start : start + len(text)] != text:
            problems.add("answer_start does not match the answer text", qid)
            continue
        answers.append((text, start))
    if evaluation and gold_texts:
        return SquadExample(qid, question, context, tuple(answers), False, tuple(gold_texts))
    if not answers or not question.strip() or not context.strip():
        problems.add("no usable answer", qid)
        return None
    return SquadExample(qid, question, context, tuple(answers), False)


def parse_squad_data(data, version, source, evaluation=False):
    """SquadExamples from a SQuAD JSON `data` list; logs and counts what is skipped.

    `evaluation=True` keeps every question with an id and answer texts (see `_parse_question`).

    Returns: `(examples, problem_counts)`.
    Raises: DataError naming `source` when the structure is wrong or nothing usable is left.
    """
    if version not in VERSIONS:
        raise DataError(f"SQuAD version {version!r}: expected one of {VERSIONS}")
    if not isinstance(data, list):
        raise DataError(f"{source}: expected a top-level 'data' list (SQuAD JSON)")
    if version == "1.1":
        unanswerable = sum(
            bool(qa.get("is_impossible"))
            for article in data
            if isinstance(article, dict)
            for paragraph in article.get("paragraphs") or ()
            if isinstance(paragraph, dict)
            for qa in paragraph.get("qas") or ()
            if isinstance(qa, dict)
        )
        if unanswerable:
            raise DataError(
                f"{source}: {unanswerable} questions are unanswerable (is_impossible): this is a "
                "SQuAD 2.0 file; pass --version=2.0"
            )
    problems = _Problems(source)
    examples = []
    seen = set()
    for a, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            problems.add("article without paragraphs", f"data[{a}]")
            continue
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                problems.add("paragraph without context", where)
                continue
            if not isinstance(paragraph.get("qas"), list):
                problems.add("paragraph without qas", where)
                continue
            for qa in paragraph["qas"]:
                example = _parse_question(
                    qa, paragraph["context"], version, source, where, problems, evaluation
                )
                if example is None:
                    continue
                if example.qas_id in seen:
                    problems.add("duplicate question id", example.qas_id)
                    continue
                seen.add(example.qas_id)
                examples.append(example)
    problems.log()
    if not examples:
        raise DataError(f"{source}: no usable SQuAD {version} questions ({problems.counts()})")
    return examples, problems.counts()


def _load_json(path):
    """The parsed JSON of a SQuAD file; DataError naming the file if missing or not JSON."""
    try:
        values = files.read_json(path)
    except FileNotFoundError:
        raise DataError(f"SQuAD file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    return values


def read_squad_json(path, version, evaluation=False):
    """Reads a SQuAD JSON file. Returns `(examples, problem_counts)`; see `parse_squad_data`."""
    values = _load_json(path)
    if not isinstance(values, dict) or "data" not in values:
        raise DataError(f"{path}: expected a JSON object with a 'data' list (SQuAD format)")
    return parse_squad_data(values["data"], version, str(path), evaluation)


def read_squad_questions(path):
    """`[(id, question, context)]` of every question in a SQuAD JSON file, answers not needed.

    For prediction on unlabelled data. Raises DataError naming the file for a wrong structure.
    """
    values = _load_json(path)
    data = values.get("data") if isinstance(values, dict) else None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON object with a 'data' list (SQuAD format)")
    questions = []
    for a, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f"{path}: data[{a}] has no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise DataError(f"{path}: {where} has no 'qas' list")
            context = paragraph.get("context")
            for q, qa in enumerate(paragraph["qas"]):
                question = qa.get("question") if isinstance(qa, dict) else None
                if not isinstance(context, str) or not isinstance(question, str):
                    raise DataError(f"{path}: {where}.qas[{q}] lacks a context or question string")
                questions.append((str(qa.get("id", f"{where}.qas[{q}]")), question, context))
    if not questions:
        raise DataError(f"{path}: no questions")
    return questions


def read_squad_tfds(version, split, data_dir=None, evaluation=False):
    """Reads `squad/v1.1` or `squad/v2.0` from TFDS (downloads on first use)."""
    import tensorflow_datasets as tfds

    name = TFDS_NAMES[version]
    paragraphs = collections.defaultdict(list)
    for record in tfds.as_numpy(tfds.load(name, split=split, data_dir=data_dir)):
        context = record["context"].decode("utf-8")
        answers = record["answers"]
        paragraphs[context].append(
            {
                "id": record["id"].decode("utf-8"),
                "question": record["question"].decode("utf-8"),
                "is_impossible": bool(record.get("is_impossible", False)),
                "answers": [
                    {"text": t.decode("utf-8"), "answer_start": int(s)}
                    for t, s in zip(answers["text"], answers["answer_start"])
                ],
            }
        )
    data = [{"paragraphs": [{"context": c, "qas": q} for c, q in paragraphs.items()]}]
    return parse_squad_data(data, version, f"tfds:{name}/{split}", evaluation)


def to_squad_json(examples):
    """Examples as a SQuAD JSON object (one paragraph per example): the official scripts' input."""
    qas = [
        {
            "id": e.qas_id,
            "question": e.question,
            "is_impossible": e.is_impossible,
            "answers": [{"text": t} for t in e.scored_texts],
        }
        for e in examples
    ]
    return {
        "version": "hbert_tf",
        "data": [
            {"paragraphs": [{"context": e.context, "qas": [q]} for e, q in zip(examples, qas)]}
        ],
    }


# --- Features ---------------------------------------------------------------------------------
@dataclasses.dataclass
class SquadFeatures:
    """Windows of examples as arrays (N features, sequence length S).

    Attributes:
        input_ids, input_mask, segment_ids: int32 `[N, S]`.
        start_positions, end_positions: int32 `[N]`; 0 ([CLS]) when the window lacks the answer.
        example_index: int32 `[N]`, index into the examples list.
        token_starts, token_ends: int32 `[N, S]` character offsets into the context of each
            context token, -1 at question, special and padding positions.
        max_context: bool `[N, S]`, True where this window gives the token its most context.
        stats: dict of counts (features, truncated questions, skipped answers).
    """

    input_ids: np.ndarray
    input_mask: np.ndarray
    segment_ids: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    token_starts: np.ndarray
    token_ends: np.ndarray
    max_context: np.ndarray
    stats: dict

    def __len__(self):
        return len(self.input_ids)

    def inputs(self):
        """dict of the encoder inputs, keyed by `names.ENCODER_INPUTS`."""
        return {
            names.INPUT_IDS: self.input_ids,
            names.INPUT_MASK: self.input_mask,
            names.SEGMENT_IDS: self.segment_ids,
        }

    def labels(self):
        return {START_POSITIONS: self.start_positions, END_POSITIONS: self.end_positions}


def window_plan(num_tokens, max_tokens, doc_stride, minimum=min, maximum=max):
    """`(count, step)` of BERT run_squad's windows over `num_tokens` (> 0) tokens.

    Window w covers tokens `[w * step, min(num_tokens, w * step + max_tokens))`. The closed form
    of run_squad's loop, shared with the exported graph (`hbert_tf.serving.signatures` passes `tf.minimum`
    / `tf.maximum`).
    """
    step = minimum(max_tokens, doc_stride)
    return 1 + (maximum(num_tokens - max_tokens, 0) + step - 1) // step, step


def _windows(num_tokens, max_tokens, doc_stride):
    """`[(start, end)]` windows over `num_tokens` tokens, as in BERT's run_squad."""
    if num_tokens < 1:
        return []
    count, step = window_plan(num_tokens, max_tokens, doc_stride)
    return [(w * step, min(num_tokens, w * step + max_tokens)) for w in range(count)]


def max_context_score(token, start, end, minimum=np.minimum):
    """How much context window `[start, end)` gives `token` (the larger, the better).

    run_squad's score, shared with the exported graph (float64 tensors and `tf.minimum`).
    """
    return minimum(token - start, end - 1 - token) + 0.01 * (end - start)


def _max_context_owner(windows, num_tokens):
    """int `[num_tokens]`: the window giving each token the most context (first one on ties)."""
    best = np.full(num_tokens, -np.inf)
    owner = np.zeros(num_tokens, dtype=np.int32)
    for w, (a, b) in enumerate(windows):
        score = max_context_score(np.arange(a, b), a, b)
        better = score > best[a:b]
        best[a:b] = np.where(better, score, best[a:b])
        owner[a:b] = np.where(better, w, owner[a:b])
    return owner


def answer_token_span(context, starts, ends, answer_text, answer_start):
    """Token span `(first, last)` covering exactly `answer_text`, or None when no span does.

    The answer must begin and end on token boundaries (after stripping outer whitespace);
    otherwise the example cannot be trained on without changing its answer.
    """
    stripped = answer_text.strip()
    char_start = answer_start + (len(answer_text) - len(answer_text.lstrip()))
    char_end = char_start + len(stripped)
    first = int(np.searchsorted(ends, char_start, side="right"))
    last = int(np.searchsorted(starts, char_end, side="left")) - 1
    if first > last or last >= len(starts):
        return None
    if starts[first] != char_start or ends[last] != char_end:
        return None
    return first, last


def convert_examples_to_features(
    examples, tokenizer, max_seq_length=384, doc_stride=128, max_query_length=64, is_training=False
):
    """Sliding-window features of `examples` (contexts and questions tokenised in batches).

    Args:
        examples: list of SquadExample.
        tokenizer: `hbert_tf.text.tokenization.OffsetTokenizer`.
        max_seq_length: int. Tokens per feature, [CLS] and two [SEP] included.
        doc_stride: int. Tokens between the starts of consecutive windows.
        max_query_length: int. Questions are truncated to this many tokens (counted, logged).
        is_training: bool. Compute start/end labels; drop answers that do not fall on token
            boundaries (counted, logged with the question ids).

    Returns: SquadFeatures.
    """
    if max_query_length + 3 >= max_seq_length:
        raise ValueError(
            f"max_query_length={max_query_length} leaves no room for context in "
            f"max_seq_length={max_seq_length}"
        )
    if doc_stride < 1:
        raise ValueError(f"doc_stride={doc_stride} must be positive")
    context_index, unique_contexts = {}, []
    for example in examples:
        if example.context not in context_index:
            context_index[example.context] = len(unique_contexts)
            unique_contexts.append(example.context)
    contexts = tokenizer.tokenize_with_offsets(unique_contexts)
    questions = tokenizer.tokenize_ids([e.question for e in examples])

    problems = _Problems("SQuAD features")
    plan = []  # (example index, question ids, context entry, window, owner array, start, end)
    for i, example in enumerate(examples):
        question = questions[i]
        if len(question) > max_query_length:
            problems.add(
                f"question longer than max_query_length={max_query_length}, truncated",
                example.qas_id,
            )
            question = question[:max_query_length]
        if len(question) == 0:
            problems.add("question has no tokens", example.qas_id)
            continue
        ids, starts, ends = contexts[context_index[example.context]]
        if len(ids) == 0:
            problems.add("context has no tokens", example.qas_id)
            continue
        span = None
        if is_training and not example.is_impossible:
            if not example.answers:  # read for evaluation: no answer with a usable offset
                problems.add("no answer with a usable offset", example.qas_id)
                continue
            text, start = example.answers[0]
            span = answer_token_span(example.context, starts, ends, text, start)
            if span is None:
                problems.add("answer not on token boundaries", example.qas_id)
                continue
        windows = _windows(len(ids), max_seq_length - len(question) - 3, doc_stride)
        owner = _max_context_owner(windows, len(ids))
        for w, window in enumerate(windows):
            plan.append((i, question, context_index[example.context], window, owner == w, span))

    n = len(plan)
    shape = (n, max_seq_length)
    input_ids = np.zeros(shape, np.int32)
    segment_ids = np.zeros(shape, np.int32)
    input_mask = np.zeros(shape, np.int32)
    token_starts = np.full(shape, -1, np.int32)
    token_ends = np.full(shape, -1, np.int32)
    max_context = np.zeros(shape, bool)
    start_positions = np.zeros(n, np.int32)
    end_positions = np.zeros(n, np.int32)
    example_index = np.zeros(n, np.int32)
    cls_id, sep_id = tokenizer.cls_id, tokenizer.sep_id
    for f, (i, question, c, (a, b), owned, span) in enumerate(plan):
        ids, starts, ends = contexts[c]
        q = len(question)
        offset = q + 2  # position of the window's first token
        length = offset + (b - a) + 1
        row = input_ids[f]
        row[0] = cls_id
        row[1 : q + 1] = question
        row[q + 1] = sep_id
        row[offset : offset + b - a] = ids[a:b]
        row[length - 1] = sep_id
        segment_ids[f, offset:length] = 1
        input_mask[f, :length] = 1
        token_starts[f, offset : offset + b - a] = starts[a:b]
        token_ends[f, offset : offset + b - a] = ends[a:b]
        max_context[f, offset : offset + b - a] = owned[a:b]
        example_index[f] = i
        if span is not None and a <= span[0] and span[1] < b:
            start_positions[f] = span[0] - a + offset
            end_positions[f] = span[1] - a + offset
    problems.log()
    stats = {"examples": len(examples), "features": n, **problems.counts()}
    logging.info("SQuAD features: %s", stats)
    return SquadFeatures(
        input_ids,
        input_mask,
        segment_ids,
        start_positions,
        end_positions,
        example_index,
        token_starts,
        token_ends,
        max_context,
        stats,
    )


# --- Post-processing --------------------------------------------------------------------------
@dataclasses.dataclass
class SquadPredictions:
    """Post-processed answers, keyed by question id.

    Attributes:
        predictions: dict id -> answer text ("" = no answer), after the null threshold (2.0).
        best_non_null: dict id -> best non-empty span text (what the threshold sweep needs).
        null_odds: dict id -> null score minus best span score (2.0; empty for 1.1).
        nbest: dict id -> list of {"text", "probability", "start_logit", "end_logit"}.
        answers: dict id -> {"text", "start", "end", "score", "is_impossible"}: the predicted
            text with its character offsets (`context[start:end] == text`; -1 for ""), its
            start + end logit (the null score for a 2.0 "no answer"; -inf when nothing could be
            scored) and whether the 2.0 threshold chose "no answer". What an exported SQuAD
            SavedModel returns (`hbert_tf.serving.signatures`).
    """

    predictions: dict
    best_non_null: dict
    null_odds: dict
    nbest: dict
    answers: dict = dataclasses.field(default_factory=dict)


def _top(logits, valid, n):
    positions = np.flatnonzero(valid)
    return positions[np.argsort(-logits[positions], kind="stable")[:n]]


def _feature_candidates(start, end, valid_start, valid_end, n_best_size, max_answer_length):
    """Top `(score, start, end)` spans of one feature: valid start/end, end >= start, short."""
    top_start = _top(start, valid_start, n_best_size)
    top_end = _top(end, valid_end, n_best_size)
    s, e = np.meshgrid(top_start, top_end, indexing="ij")
    ok = (e >= s) & (e - s + 1 <= max_answer_length)
    scores = start[s] + end[e]
    return [(float(scores[k]), int(s[k]), int(e[k])) for k in zip(*np.nonzero(ok))]


def postprocess(
    examples,
    features,
    start_logits,
    end_logits,
    n_best_size=20,
    max_answer_length=30,
    version_2=False,
    null_score_diff_threshold=0.0,
):
    """Best answer text of every example from the span logits of its features.

    Args:
        examples: list of SquadExample (the ones `features` were made from).
        features: SquadFeatures.
        start_logits, end_logits: float `[N, S]`.
        n_best_size: int. Candidates kept per example.
        max_answer_length: int. Longest answer in tokens.
        version_2: bool. Compute null scores and apply `null_score_diff_threshold`.
        null_score_diff_threshold: float. Predict "" when null score - best span score exceeds it.

    Returns: SquadPredictions.
    """
    start_logits = np.asarray(start_logits, np.float32)
    end_logits = np.asarray(end_logits, np.float32)
    by_example = collections.defaultdict(list)
    for f, i in enumerate(features.example_index):
        by_example[int(i)].append(f)
    out = SquadPredictions({}, {}, {}, {})
    for i, example in enumerate(examples):
        candidates, null_score = [], np.inf
        for f in by_example.get(i, ()):
            start, end = start_logits[f], end_logits[f]
            null_score = min(null_score, float(start[0] + end[0]))
            in_context = features.token_starts[f] >= 0
            for score, s, e in _feature_candidates(
                start,
                end,
                in_context & features.max_context[f],
                in_context,
                n_best_size,
                max_answer_length,
            ):
                char_start, char_end = features.token_starts[f, s], features.token_ends[f, e]
                text = example.context[char_start:char_end]
                candidates.append(
                    (score, text, float(start[s]), float(end[e]), int(char_start), int(char_end))
                )
        candidates.sort(key=lambda c: -c[0])
        top = candidates[0] if candidates else None  # the best span (spans are never empty)
        nbest, seen = [], set()
        for score, text, s, e, _, _ in candidates:
            if text in seen:
                continue
            seen.add(text)
            nbest.append({"text": text, "score": score, "start_logit": s, "end_logit": e})
            if len(nbest) == n_best_size:
                break
        if version_2 and np.isfinite(null_score):
            nbest.append({"text": "", "score": null_score, "start_logit": 0.0, "end_logit": 0.0})
            nbest.sort(key=lambda c: -c["score"])
        if nbest:
            scores = np.array([c["score"] for c in nbest])
            probs = np.exp(scores - scores.max())
            probs /= probs.sum()
            for c, p in zip(nbest, probs):
                c["probability"] = float(p)
        best = next((c for c in nbest if c["text"]), None)
        best_text = best["text"] if best else ""
        out.best_non_null[example.qas_id] = best_text
        out.nbest[example.qas_id] = nbest
        if version_2:
            diff = null_score - best["score"] if best else np.inf
            diff = float(diff) if np.isfinite(diff) else 1e9
            out.null_odds[example.qas_id] = diff
            out.predictions[example.qas_id] = "" if diff > null_score_diff_threshold else best_text
            impossible = diff > null_score_diff_threshold
        else:
            out.predictions[example.qas_id] = best_text
            impossible = False
        if top is not None and not impossible:
            answer = dict(text=top[1], start=top[4], end=top[5], score=top[0])
        else:
            score = null_score if version_2 and np.isfinite(null_score) else -np.inf
            answer = dict(text="", start=-1, end=-1, score=score)
        out.answers[example.qas_id] = dict(answer, is_impossible=impossible)
    return out


# --- Metrics ----------------------------------------------------------------------------------
def evaluate(examples, predictions, version, null_odds=None, best_non_null=None):
    """EM and F1 (percent) from the official SQuAD evaluation of `version`.

    Args:
        examples: list of SquadExample (the gold answers).
        predictions: dict id -> text, as predicted (threshold applied).
        version: "1.1" or "2.0".
        null_odds, best_non_null: dicts (2.0) for the best-threshold sweep on this set.

    Returns: dict with `exact`, `f1`, `total`; for 2.0 also `HasAns_*`, `NoAns_*` and, given
    `null_odds`, `best_exact`, `best_exact_thresh`, `best_f1`, `best_f1_thresh`.
    """
    dataset = to_squad_json(examples)["data"]
    if version == "1.1":
        from official.nlp.tools import squad_evaluate_v1_1

        result = squad_evaluate_v1_1.evaluate(dataset, predictions)
        return {
            "exact": 100.0 * result["exact_match"],
            "f1": 100.0 * result["final_f1"],
            "total": len(examples),
        }
    from official.nlp.tools import squad_evaluate_v2_0

    result = squad_evaluate_v2_0.evaluate(dataset, predictions)
    metrics = {
        k: float(v)
        for k, v in result.items()
        if k in ("exact", "f1", "total") or k.startswith(("HasAns_", "NoAns_"))
    }
    if null_odds is not None:
        sweep = squad_evaluate_v2_0.evaluate(dataset, best_non_null or predictions, null_odds)
        metrics.update(
            best_exact=float(sweep["final_exact"]),
            best_exact_thresh=float(sweep["final_exact_thresh"]),
            best_f1=float(sweep["final_f1"]),
            best_f1_thresh=float(sweep["final_f1_thresh"]),
        )
    return metrics


# --- The task (hbert_tf.finetuning.task) --------------------------------------------------------
class SquadTask(task_base.DownstreamTask):
    """SQuAD 1.1 / 2.0: span read-out (Fig. 3b-d), EM / F1 (2.0: HasAns / NoAns F1 too)."""

    name = "squad"
    config_class = SquadConfig
    study_names = {"squad1.1": {"version": "1.1"}, "squad2.0": {"version": "2.0"}}
    titles = {"squad1.1": "SQuAD1.1", "squad2.0": "SQuAD2.0"}
    read_out = "span"
    serving_inputs = ("question", "context")
    data_splits = (("train", "train_file"), ("dev", "predict_file"))
    data_keys = {
        "squad1.1": (("train", "squad_v1_train"), ("dev", "squad_v1_dev")),
        "squad2.0": (("train", "squad_v2_train"), ("dev", "squad_v2_dev")),
    }
    metrics = ("exact_match", "f1")
    in_paper = True
    metric_labels = {"exact_match": "EM", "f1": "F1", "HasAns_f1": "HasAns F1",
                     "NoAns_f1": "NoAns F1"}  # fmt: skip
    primary_metrics = ("f1",)
    concat_cross = True

    def read(self, config):
        """`(train_examples or None, eval_examples or None)` of the run's data source."""
        from hbert_tf.finetuning import data

        version = config.version
        train = evaluation = None
        if config.data == "tfds":
            if config.do_train:
                train = read_squad_tfds(version, "train", config.tfds_data_dir)[0]
            if config.do_eval:
                evaluation = read_squad_tfds(
                    version, "validation", config.tfds_data_dir, evaluation=True
                )[0]
            return train, evaluation
        if config.data == "builtin":
            files = self.write_builtin(
                data.builtin_dir(config), config.builtin_seed, config.builtin_documents,
                f"squad{version}",
            )  # fmt: skip
            train_file, predict_file = files["train"], files["dev"]
        else:
            train_file = config.do_train and data.require(config, "train_file", "with --do_train")
            predict_file = config.do_eval and data.require(config, "predict_file", "with --do_eval")
        if config.do_train:
            train = read_squad_json(train_file, version)[0]
        if config.do_eval:
            evaluation = read_squad_json(predict_file, version, evaluation=True)[0]
        return train, evaluation

    def write_builtin(self, out_dir, seed, documents, study_name):
        from hbert_tf.finetuning import builtin_tasks

        version = self.study_names[study_name]["version"]
        train, dev = builtin_tasks.write_builtin_squad(
            out_dir, seed, documents, max(20, documents // 8), version
        )
        return {"train": train, "dev": dev}

    def train_texts(self, data):
        examples = data[0] or data[1] or []
        return sorted({e.context for e in examples}) + [e.question for e in examples]

    def build_model(self, backbone, read_out, dropout):
        from hbert_tf.modeling import downstream

        return downstream.SpanModel(
            backbone.encoder, read_out, backbone.nsp_head, dropout, name="span_model"
        )

    @staticmethod
    def _window(tokenizer, config):
        return dict(
            tokenizer=tokenizer,
            max_seq_length=config.max_seq_length,
            doc_stride=config.doc_stride,
            max_query_length=config.max_query_length,
        )

    def train_features(self, data, tokenizer, config):
        from hbert_tf.modeling import downstream

        if data[0] is None:
            return None
        window = self._window(tokenizer, config)
        features = convert_examples_to_features(data[0], is_training=True, **window)
        labels = {
            downstream.START_LOGITS: features.start_positions,
            downstream.END_LOGITS: features.end_positions,
        }
        return features.inputs(), labels, len(features), {"train_features": features.stats}

    def losses(self):
        import keras

        from hbert_tf.modeling import downstream

        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return {
            "losses": {downstream.START_LOGITS: loss, downstream.END_LOGITS: loss},
            "loss_weights": {downstream.START_LOGITS: 0.5, downstream.END_LOGITS: 0.5},
        }

    def metrics_task(self, config):
        return f"squad_v{config.version}"

    def evaluate(self, model, data, tokenizer, config, predict):
        from hbert_tf.modeling import downstream
        from hbert_tf.weights.model_dir import write_json_atomic

        eval_examples = data[1]
        if eval_examples is None:
            return {}
        window = self._window(tokenizer, config)
        features = convert_examples_to_features(eval_examples, is_training=False, **window)
        outputs = predict(features.inputs())
        version_2 = config.version == "2.0"
        answers = postprocess(
            eval_examples,
            features,
            outputs[downstream.START_LOGITS],
            outputs[downstream.END_LOGITS],
            n_best_size=config.n_best_size,
            max_answer_length=config.max_answer_length,
            version_2=version_2,
            null_score_diff_threshold=config.null_score_diff_threshold,
        )
        model_dir = config.model_dir
        write_json_atomic(os.path.join(model_dir, "predictions.json"), answers.predictions)
        write_json_atomic(os.path.join(model_dir, "nbest_predictions.json"), answers.nbest)
        if version_2:
            write_json_atomic(os.path.join(model_dir, "null_odds.json"), answers.null_odds)
        metrics = evaluate(
            eval_examples,
            answers.predictions,
            config.version,
            answers.null_odds if version_2 else None,
            answers.best_non_null,
        )
        if version_2:
            metrics["null_score_diff_threshold"] = config.null_score_diff_threshold
        metrics["eval_features"] = features.stats
        return metrics

    def record_values(self, metrics, study_name):
        """EM and F1 and, for 2.0, F1 on the answerable (HasAns_f1) and the unanswerable
        (NoAns_f1) questions apart (the official evaluation's values)."""
        values = {"exact_match": metrics["exact"], "f1": metrics["f1"]}
        values.update({k: metrics[k] for k in ("HasAns_f1", "NoAns_f1") if k in metrics})
        return values

    def chance_values(self, files, study_name):
        """The best of the trivial answers (all empty, the context's first word) by F1."""
        version = self.study_names[study_name]["version"]
        examples = read_squad_json(files["dev"], version, evaluation=True)[0]
        candidates = {
            "empty": {e.qas_id: "" for e in examples},
            "first word": {e.qas_id: (e.context.split() or [""])[0] for e in examples},
        }
        best = None
        for predictions in candidates.values():
            scores = self.record_values(evaluate(examples, predictions, version), study_name)
            if best is None or scores["f1"] > best["f1"]:
                best = scores
        return best

    def describe_file(self, study_name, split):
        kind = "training" if split == "train" else split
        return f"SQuAD {self.study_names[study_name]['version']} {kind} JSON"

    def check_file(self, path, study_name, split):
        version = self.study_names[study_name]["version"]
        if not read_squad_json(path, version, evaluation=split == "dev")[0]:
            raise UserError(f"{path}: no questions")

    def count_train_examples(self, path, documents, study_name):
        if path:
            data = files.read_json(path)["data"]
        else:
            from hbert_tf.finetuning import builtin_tasks

            version = self.study_names[study_name]["version"]
            data = builtin_tasks.make_squad(0, documents, 0, version)["data"]
        return sum(len(p["qas"]) for article in data for p in article["paragraphs"])


TASKS = (SquadTask(),)
