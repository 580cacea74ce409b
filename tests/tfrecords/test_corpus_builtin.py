"""The built-in corpus: deterministic, sized, grammatical, topic-coherent, with structure facts."""

from hbert_tf.text import builtin_corpus


def test_documents_depend_only_on_seed_and_index():
    a = [d.text for d in builtin_corpus.generate_documents(5, 6)]
    b = [d.text for d in builtin_corpus.generate_documents(5, 6)]
    assert a == b
    assert [d.text for d in builtin_corpus.generate_documents(5, 6, start=3)] == a[3:]
    assert [d.text for d in builtin_corpus.generate_documents(6, 6)] != a


def test_size_in_megabytes_is_close(tmp_path):
    n = builtin_corpus.num_documents_for_megabytes(0.2)
    size = builtin_corpus.write_bert_format(tmp_path / "c.txt", 1, n)
    assert 0.15e6 < size < 0.25e6


def test_vocabulary_is_modest():
    assert 400 <= len(builtin_corpus.lexicon()) <= 2000


def test_sentence_facts_match_text():
    lexicon = set(builtin_corpus.lexicon())
    for doc in builtin_corpus.generate_documents(0, 40):
        assert len(doc.sentences) >= 2
        for s in doc.sentences:
            assert s.text == " ".join(s.tokens) and s.tokens[-1] == "."
            assert set(s.tokens) <= lexicon
            assert s.is_coordination == (s.top_constituents == "S_CC_S_.")
            assert s.tree_depth >= 3
            main = s.clauses[0]
            subject, verb = s.span_text(main.subject), s.span_text(main.verb)
            assert subject and verb and s.subject == subject
            if s.object_number is not None:
                assert s.object
            if s.tense == "present":  # subject-verb agreement
                assert verb.endswith("s") == (s.subject_number == "singular")
            if s.time:
                assert s.tokens[0] == s.time.split()[0]


def test_documents_keep_their_topic_and_cast():
    for doc in builtin_corpus.generate_documents(3, 20):
        names = set(builtin_corpus._TOPICS[doc.topic]["names"].split())
        other_names = {
            n
            for t, spec in builtin_corpus._TOPICS.items()
            if t != doc.topic
            for n in spec["names"].split()
        } - names
        words = {w for s in doc.sentences for w in s.tokens}
        assert not words & other_names
        assert words & set(doc.characters)


def test_word_order_constraints():
    for doc in builtin_corpus.generate_documents(11, 30):
        for s in doc.sentences:
            for left, right in zip(s.tokens, s.tokens[1:]):
                if left == "a":
                    assert right[0] not in "aeiou"
                if left == "an":
                    assert right[0] in "aeiou"
                assert not (left in ("the", "a", "every") and right in (".", ",", "the", "a"))
