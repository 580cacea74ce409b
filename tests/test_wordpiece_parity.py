"""The two WordPiece tokenizers agree: pure Python (`hbert_tf.text.vocab`, data and probing) and
tensorflow-text (`hbert_tf.text.tokenization`, fine-tuning and exported graphs), and both follow BERT's
reference tokenizer (`official.nlp.tools.tokenization`, Google's `tokenization.py`)."""

import pytest

from hbert_tf import names
from hbert_tf.text.tokenization import OffsetTokenizer
from hbert_tf.text.vocab import Vocab, WordPieceTokenizer, basic_tokenize

LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORDS = (
    "the a an of to and in is was he she it his her they on at by for with from as this that "
    "un ##aff ##able affable hello world cafe café naive naïve resume résumé Résumé Hello World "
    "The Paris Zürich Zurich zurich Müller muller 1998 ##s ##ed ##ing 42 ##42 New York new york "
    "Université université universite é ##é É"
).split()
TOKENS = list(
    dict.fromkeys(
        list(names.SPECIAL_TOKENS)
        + WORDS
        + list(LETTERS + LETTERS.upper() + "0123456789")
        + ["##" + c for c in LETTERS + LETTERS.upper() + "0123456789"]
        + list(".,!?;:'\"()-_/&@#$%^*[]{}<>~`|\\+=€£—–’“”«»¿¡")
        + list("中文字北京東京日本語")
    )
)

# Varied real text: accents, CJK, punctuation (ASCII and Unicode), numbers, currency, long words
# (over 100 characters: [UNK]), words outside the vocabulary ([UNK] pieces), both casings.
TEXTS = [
    "Hello, world! The café's naïve résumé was in Zürich (not Paris).",
    "Résumé: RÉSUMÉ, résumé; Müller & Muller -- université/Université.",
    "Unaffable?! un-affable... (the) [a] {an} <it> 'he' \"she\"",
    "北京和東京 are cities; 日本語 and 中文字 here.",
    "He said “hello” — she said ‘no’ – fine. «Oui» ¿qué? ¡sí!",
    "In 1998, 42% of $42 was €42 or £42 & 3/4 @home #tag ^caret ~tilde `tick` |pipe| \\back",
    "x" * 101 + " short " + "ab" * 50 + " " + "New" * 40,
    "zzzqqq xylophone unknownword ωmega кириллица Ελληνικά עברית العربية",
    "e\u0301 combining accent, E\u0301 too, and cafe\u0301",
    "under_score snake_case_name a__b  tabs\tand\nnew lines\r\n  spaces   nbsp\u00a0here",
    "emoji 😀 and ☃ snowman, हिन्दी ไทย",
    "",
]


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    Vocab(TOKENS).write(str(path))
    return str(path)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_pure_python_tokenizer_matches_berts_reference(vocab_path, do_lower_case):
    reference = pytest.importorskip("official.nlp.tools.tokenization")
    ref = reference.FullTokenizer(vocab_path, do_lower_case=do_lower_case)
    ref.wordpiece_tokenizer.max_input_chars_per_word = 100  # ours and tensorflow-text's limit
    ours = WordPieceTokenizer(Vocab(TOKENS), do_lower_case=do_lower_case)
    extra = [  # control and format characters, line separators: BERT deletes or splits there
        "control\x00chars\x07 and \u200bzero-width\ufeff soft\u00adhyphen word\u2060joiner",
        "ASCII\x00ctrl\x0bvt\x1fus x\u2028y\u2029z \ufffdrepl",
    ]
    for text in TEXTS + extra:
        assert ours.tokenize(text) == ref.tokenize(text), text
        assert basic_tokenize(text, do_lower_case) == ref.basic_tokenizer.tokenize(text), text


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_data_and_fine_tuning_tokenizers_give_identical_ids(do_lower_case):
    ours = WordPieceTokenizer(Vocab(TOKENS), do_lower_case=do_lower_case)
    fast = OffsetTokenizer(Vocab(TOKENS), do_lower_case=do_lower_case)
    unk = Vocab(TOKENS).unk_id
    seen_unk = 0
    for text, fast_ids in zip(TEXTS, fast.tokenize_ids(TEXTS)):
        ids = ours.tokenize_ids(text)
        assert [int(i) for i in fast_ids] == ids, text
        seen_unk += ids.count(unk)
    assert seen_unk >= 10  # the cases above do exercise [UNK]


def test_known_tensorflow_text_deviations_from_bert():
    """tensorflow-text's FastBertTokenizer differs from BERT (and from our data tokenizer) on rare
    characters, pinned here so a change shows: it splits words at control characters, and when
    not lower-casing at format characters such as a soft hyphen (BERT deletes both), folds compatibility characters when lower-casing ("ß" -> "ss", "ﬁ" ->
    "fi", "…" -> "..."), and limits words to 100 UTF-8 bytes rather than 100 characters."""
    vocab = Vocab(TOKENS + ["ß", "##ß", "ﬁ", "…"])
    for do_lower_case, text in [
        (True, "control\x00chars"),
        (False, "soft\u00adhyphen"),
        (True, "straße ﬁne…"),
        (False, "é" * 60),
    ]:
        ours = WordPieceTokenizer(vocab, do_lower_case=do_lower_case).tokenize_ids(text)
        [fast] = OffsetTokenizer(vocab, do_lower_case=do_lower_case).tokenize_ids([text])
        assert [int(i) for i in fast] != ours, text
