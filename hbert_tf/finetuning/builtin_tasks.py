"""Downstream sets made from the built-in corpus: SQuAD-format QA and MultiNLI-format NLI.

Built on `hbert_tf.text.builtin_corpus` (its sentences know their role spans), so tests and the demo
fine-tune without downloads, and the answers are learnable from the text:

- QA: a context is up to `sentences_per_context` consecutive sentences of a document. For every
  main clause whose (subject, verb) pair occurs once in the context we ask
  "<subject> <verb> what ?" (answer: the object) and "<subject> <verb> where ?" (answer: the
  location). Objects are a determiner, an optional adjective and a noun; clauses whose object
  carries a prepositional phrase are not asked about (it could be read as the location). With
  version "2.0", "where" questions about clauses without a location, and questions
  pairing a subject with a verb it does not take in the context, are unanswerable.
- NLI: the premise is a sentence with an object; the hypothesis restates its subject, verb and
  object (entailment; with its location when it has one), swaps in another object of the document
  (contradiction), or adds a location the premise does not give (neutral). Labels use MultiNLI's
  names. Documents of the last `HELD_OUT_TOPICS` topics only appear in the mismatched dev set,
  the way MultiNLI's mismatched genres are absent from training.
"""

import json
import os
import random

from hbert_tf import files, names
from hbert_tf.files import write_text_atomic
from hbert_tf.finetuning import nli
from hbert_tf.text.builtin_corpus import TOPICS, generate_documents, lexicon

QUESTION_WORDS = ("what", "where", "?")
HELD_OUT_TOPICS = TOPICS[-3:]


def task_vocabulary():
    """A WordPiece vocabulary (one token per entry) covering every QA and NLI set made here."""
    words = set(lexicon()) | set(QUESTION_WORDS)
    return list(names.SPECIAL_TOKENS) + sorted(words - set(names.SPECIAL_TOKENS))


def _char_starts(tokens):
    """Character offset of every token of `" ".join(tokens)`."""
    starts, pos = [], 0
    for token in tokens:
        starts.append(pos)
        pos += len(token) + 1
    return starts


def _context_qas(doc_index, chunk_index, sentences, version, rng):
    """(context, qas) of one chunk of sentences."""
    tokens, clauses = [], []
    for sentence in sentences:
        offset = len(tokens)
        tokens.extend(sentence.tokens)
        for k, clause in enumerate(sentence.clauses):
            clauses.append((offset, sentence, clause, k == 0))
    context = " ".join(tokens)
    starts = _char_starts(tokens)

    def text(offset, span):
        return " ".join(tokens[offset + span[0] : offset + span[1]])

    def answer(offset, span):
        return {"text": text(offset, span), "answer_start": starts[offset + span[0]]}

    keys = [(text(o, c.subject), text(o, c.verb)) for o, _, c, _ in clauses]
    qas = []
    for (offset, _, clause, is_main), key in zip(clauses, keys):
        if not is_main or keys.count(key) != 1:
            continue
        subject, verb = key
        if clause.object is not None and clause.object[1] - clause.object[0] > 3:
            # The object carries a prepositional phrase, which could as well be read as the
            # clause's location: no question about this clause, so every answer is unambiguous.
            continue
        for word, span in (("what", clause.object), ("where", clause.location)):
            qid = f"builtin-{doc_index}-{chunk_index}-{len(qas)}"
            question = f"{subject} {verb} {word} ?"
            if span is not None:
                qas.append({"id": qid, "question": question, "answers": [answer(offset, span)]})
            elif version == "2.0" and word == "where":
                qas.append({"id": qid, "question": question, "answers": [], "is_impossible": True})
    if version == "2.0":
        subjects = sorted({k[0] for k in keys})
        verbs = sorted({k[1] for k in keys})
        unseen = [(s, v) for s in subjects for v in verbs if (s, v) not in keys]
        for subject, verb in rng.sample(unseen, min(2, len(unseen))):
            qid = f"builtin-{doc_index}-{chunk_index}-{len(qas)}"
            question = f"{subject} {verb} {rng.choice(['what', 'where'])} ?"
            qas.append({"id": qid, "question": question, "answers": [], "is_impossible": True})
    return context, qas


def make_squad(seed, num_documents, start=0, version="1.1", sentences_per_context=3):
    """A SQuAD-format dict (`{"version", "data"}`) from documents `start..num_documents-1`."""
    rng = random.Random(f"hbert-builtin-squad/{seed}/{start}/{version}")
    data = []
    for doc in generate_documents(seed, num_documents, start):
        paragraphs = []
        for c in range(0, len(doc.sentences), sentences_per_context):
            chunk = doc.sentences[c : c + sentences_per_context]
            context, qas = _context_qas(doc.index, c, chunk, version, rng)
            if qas:
                paragraphs.append({"context": context, "qas": qas})
        if paragraphs:
            data.append({"title": f"{doc.topic}-{doc.index}", "paragraphs": paragraphs})
    return {"version": f"builtin-{version}", "data": data}


def _nli_pairs(doc, rng):
    with_object = [s for s in doc.sentences if s.object is not None]
    objects = sorted({s.object for s in with_object})
    places = sorted({s.location for s in doc.sentences if s.location is not None})
    pairs = []
    for k, sentence in enumerate(with_object):
        base = f"{sentence.subject} {sentence.verb}"
        location = sentence.clauses[0].location
        # The preposition before a location noun phrase belongs to the statement.
        where = None if location is None else sentence.span_text((location[0] - 1, location[1]))
        label = nli.LABELS[(doc.index + k) % 3]
        other_objects = [o for o in objects if o.split()[-1] != sentence.object.split()[-1]]
        other_places = [p for p in places if where is None or p != sentence.location]
        if label == "neutral" and (where is not None or not other_places):
            label = "contradiction"
        if label == "contradiction" and not other_objects:
            label = "entailment"
        if label == "entailment":
            tail = f" {where}" if where is not None and rng.random() < 0.5 else ""
            hypothesis = f"{base} {sentence.object}{tail} ."
        elif label == "contradiction":
            hypothesis = f"{base} {rng.choice(other_objects)} ."
        else:
            hypothesis = f"{base} {sentence.object} near {rng.choice(other_places)} ."
        pairs.append(
            {
                "pairID": f"builtin-{doc.index}-{k}",
                "genre": doc.topic,
                "sentence1": sentence.text,
                "sentence2": hypothesis,
                "gold_label": label,
            }
        )
    return pairs


def make_nli(seed, num_documents, start=0, held_out=None):
    """MultiNLI-style records from documents `start..num_documents-1`.

    Args:
        held_out: None (every topic), False (skip `HELD_OUT_TOPICS`) or True (only those).
    """
    rng = random.Random(f"hbert-builtin-nli/{seed}/{start}")
    records = []
    for doc in generate_documents(seed, num_documents, start):
        if held_out is not None and (doc.topic in HELD_OUT_TOPICS) != held_out:
            continue
        records.extend(_nli_pairs(doc, rng))
    return records


def write_builtin_squad(
    out_dir, seed=0, num_train_documents=400, num_dev_documents=60, version="1.1"
):
    """Writes `builtin_squad_v<version>_{train,dev}.json` to `out_dir`; returns both paths."""
    files.makedirs(out_dir)
    total = num_train_documents + num_dev_documents
    paths = []
    for split, (lo, hi) in (
        ("train", (0, num_train_documents)),
        ("dev", (num_train_documents, total)),
    ):
        path = os.path.join(out_dir, f"builtin_squad_v{version}_{split}.json")
        write_text_atomic(path, json.dumps(make_squad(seed, hi, lo, version)))
        paths.append(path)
    return tuple(paths)


def write_builtin_nli(out_dir, seed=0, num_train_documents=400, num_dev_documents=100):
    """Writes `builtin_nli_{train,dev_matched,dev_mismatched}.jsonl`; returns the three paths."""
    files.makedirs(out_dir)
    total = num_train_documents + num_dev_documents
    splits = (
        ("train", make_nli(seed, num_train_documents, 0, held_out=False)),
        ("dev_matched", make_nli(seed, total, num_train_documents, held_out=False)),
        ("dev_mismatched", make_nli(seed, total, num_train_documents, held_out=True)),
    )
    paths = []
    for split, records in splits:
        path = os.path.join(out_dir, f"builtin_nli_{split}.jsonl")
        write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))
        paths.append(path)
    return tuple(paths)
