"""WordPiece vocabulary (`Vocab`, `load_vocab`) and a fast WordPiece tokenizer to ids.

A vocabulary is BERT's `vocab.txt`: one token per line, the line number is the id, `##` marks a
piece that continues a word. Ours put [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4; any vocabulary
holding those five tokens somewhere (BERT's uncased one has them at 0 and 100-103) works.

The tokenizer follows BERT's two steps: a basic split (clean control characters, optional lower
case with accent stripping, CJK characters and punctuation split off as their own tokens) and
greedy longest-match-first WordPiece. Words repeat a lot, so each word's ids are cached.
"""

import functools
import hashlib
import re
import sys
import unicodedata

from hbert_tf import files, names
from hbert_tf.errors import DataError

_CJK_RE = re.compile(
    r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ceaf"
    r"\U0002f800-\U0002fa1f])"
)
# ASCII: control characters (BERT deletes them; tab and line ends are spaces), and a run of
# letters/digits or one punctuation character ("_" counts as punctuation, as in BERT).
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TOKEN_RE = re.compile(r"[^\W_]+|[^\w\s]|_")
_ASCII_PUNCTUATION = {*range(33, 48), *range(58, 65), *range(91, 97), *range(123, 127)}


def _char_class(code_points):
    """A regex character class `[...]` of sorted code points, as ranges."""
    parts, start = [], None
    for i, cp in enumerate(code_points):
        if start is None:
            start = cp
        if i + 1 == len(code_points) or code_points[i + 1] != cp + 1:
            parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(cp)) if cp > start else ""))
            start = None
    return "[" + "".join(parts) + "]"


@functools.cache
def _unicode_patterns():
    """(control regex, token regex) with BERT's character classes over all of Unicode.

    BERT (`tokenization.py`): control = categories Cc and Cf (plus U+0000 and U+FFFD), deleted;
    whitespace = space, tab, line ends, category Zs and the other `str.isspace` characters that
    are not control ones (U+2028, U+2029); punctuation = ASCII symbols and
    categories P*, each its own token. Everything else (letters, digits, marks, other symbols
    such as "€" or emoji) joins the word around it. Built once per process (about 0.3 s).
    """
    control, space, punctuation = [], [], []
    for cp in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(cp))
        if cp in (9, 10, 13, 32) or category == "Zs":
            space.append(cp)
        elif category in ("Cc", "Cf") or cp == 0xFFFD:
            control.append(cp)
        elif chr(cp).isspace():  # line and paragraph separators: BERT's str.split() splits there
            space.append(cp)
        elif category.startswith("P") or cp in _ASCII_PUNCTUATION:
            punctuation.append(cp)
    spaces, punct = _char_class(space), _char_class(punctuation)
    token = re.compile(f"{punct}|[^{spaces[1:-1]}{punct[1:-1]}]+")
    return re.compile(_char_class(control)), token


class Vocab:
    """Tokens, their ids and the ids of the special tokens.

    Args:
        tokens: list of str. Token per id.
        path: str or None. The file it came from, named in error messages.

    Raises:
        DataError: duplicate or empty tokens, or a special token missing.
    """

    def __init__(self, tokens, path=None):
        where = path or "vocabulary"
        self.tokens = list(tokens)
        self.token_to_id = {}
        for index, token in enumerate(self.tokens):
            if not token or token != token.strip():
                raise DataError(f"{where}: line {index + 1} is empty or has spaces: {token!r}")
            if token in self.token_to_id:
                raise DataError(f"{where}: line {index + 1} repeats token {token!r}")
            self.token_to_id[token] = index
        missing = [t for t in names.SPECIAL_TOKENS if t not in self.token_to_id]
        if missing:
            raise DataError(
                f"{where}: missing special token(s) {', '.join(missing)}; a vocabulary needs "
                f"{' '.join(names.SPECIAL_TOKENS)}"
            )
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self.token_to_id[t] for t in names.SPECIAL_TOKENS
        )
        self.path = path

    def __len__(self):
        return len(self.tokens)

    @property
    def special_ids(self):
        return {t: self.token_to_id[t] for t in names.SPECIAL_TOKENS}

    def continuation_flags(self):
        """list of bool per id: True for `##` pieces (they belong to the word before them)."""
        return [t.startswith("##") for t in self.tokens]

    def random_replacement_ids(self):
        """Ids a masked token may be replaced by: every token but bracketed ones ([PAD], [unused0])."""
        return [i for i, t in enumerate(self.tokens) if not (t.startswith("[") and t.endswith("]"))]

    def text(self):
        return "".join(t + "\n" for t in self.tokens)

    def sha256(self):
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()

    def write(self, path):
        with files.open(path, "w") as f:
            f.write(self.text())


def load_vocab(path) -> Vocab:
    """Reads a vocab.txt (one token per line); raises DataError naming the file when it is bad."""
    try:
        tokens = files.read_text(path).splitlines()
    except FileNotFoundError:
        raise DataError(f"vocabulary file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: vocabulary is not UTF-8 ({e.reason} at byte {e.start})") from None
    while tokens and not tokens[-1]:
        tokens.pop()
    if not tokens:
        raise DataError(f"{path}: vocabulary file is empty")
    return Vocab(tokens, path=str(path))


def basic_tokenize(text, do_lower_case=True):
    """BERT's basic split: words and single punctuation characters, optionally lower-cased with
    accents stripped (NFD, marks of category Mn dropped). Same tokens as BERT's BasicTokenizer."""
    if text.isascii():
        if not text.isprintable():  # tabs, line ends or control characters
            text = _ASCII_CONTROL_RE.sub("", text)
        return _TOKEN_RE.findall(text.lower() if do_lower_case else text)
    control, token = _unicode_patterns()
    text = _CJK_RE.sub(r" \1 ", control.sub("", text))
    if do_lower_case:
        text = "".join(
            c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn"
        )
    return token.findall(text)


class WordPieceTokenizer:
    """Text -> WordPiece ids, with a per-word cache.

    Args:
        vocab: Vocab.
        do_lower_case: bool. Must match the vocabulary (True for uncased ones).
        max_chars_per_word: int. Longer words become [UNK], as in BERT.
        cache_size: int. Cached words; the cache is emptied when full, so memory stays bounded.
    """

    def __init__(self, vocab, do_lower_case=True, max_chars_per_word=100, cache_size=200_000):
        self.vocab = vocab
        self.do_lower_case = do_lower_case
        self.max_chars_per_word = max_chars_per_word
        self.cache_size = cache_size
        self._cache = {}

    def word_ids(self, word):
        """Greedy longest-match-first pieces of one word; (unk_id,) when it cannot be split."""
        lookup = self.vocab.token_to_id
        if len(word) > self.max_chars_per_word:
            return (self.vocab.unk_id,)
        ids, start, n = [], 0, len(word)
        while start < n:
            end = n
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                piece_id = lookup.get(piece)
                if piece_id is not None:
                    break
                end -= 1
            else:
                return (self.vocab.unk_id,)
            ids.append(piece_id)
            start = end
        return tuple(ids)

    def tokenize_ids(self, text):
        """list of int: the ids of `text`."""
        cache, out = self._cache, []
        for word in basic_tokenize(text, self.do_lower_case):
            ids = cache.get(word)
            if ids is None:
                if len(cache) >= self.cache_size:
                    cache.clear()
                ids = cache[word] = self.word_ids(word)
            out.extend(ids)
        return out

    def tokenize(self, text):
        """list of str: the WordPiece tokens of `text`."""
        return [self.vocab.tokens[i] for i in self.tokenize_ids(text)]
