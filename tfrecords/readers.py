"""Corpus readers: stream documents (lists of sentences) from the four input formats.

Formats (`--input_format`):
  bert      one sentence per line, a blank line between documents (BERT's own format).
  wikitext  WikiText raw files (`wiki.train.raw`): ` = Title = ` starts an article (a document),
            ` = = Section = = ` headings are dropped, each other line is a paragraph that is split
            into sentences; WikiText's ` @-@ `, ` @,@ `, ` @.@ ` are joined back.
  squad     SQuAD 1.1 / 2.0 JSON: each context paragraph is a document, split into sentences.
  builtin   our generated corpus (hbert_tf.text.builtin_corpus); a seed and a document count choose it.
  pydoc     the prose of Python's documentation topics (hbert_tf.text.pydoc_corpus): one document
            per topic, its paragraphs split into sentences; fixed (no input file, seed or size).

Files are read line by line in binary; a line that is not UTF-8 is skipped and counted, never
fatal; a file whose first 64 KiB look binary (a gzip, a wheel) is refused. Everything streams
except SQuAD, where one JSON file is parsed at a time.

Sentence splitting (wikitext, squad, pydoc) is rule-based: a sentence ends at `.`, `!` or `?` (plus
closing quotes or brackets) followed by white space and an upper-case letter, digit or opening
quote; a known abbreviation (Mr., Dr., St., e.g., ...) or a single capital initial (J.) before the
period does not end a sentence. Limits: a sentence that starts lower-case is not split off,
abbreviations outside the list are split after, and ellipses or decimal points followed by a
capitalised word ("3.5 Million") may split wrongly.
"""

import dataclasses
import json
import re
from collections.abc import Iterator

from hbert_tf import files
from hbert_tf.errors import DataError
from hbert_tf.text import builtin_corpus, pydoc_corpus

FORMATS = ("bert", "wikitext", "squad", "builtin", "pydoc")
BUILT_IN_FORMATS = ("builtin", "pydoc")  # corpora that need no --input_file
CHECKPOINT_EVERY = 256  # documents between recorded byte offsets (lets shards seek, not re-read)

_BOUNDARY_RE = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e no fig gen col lt sgt capt mt ft inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k a.m p.m approx est dept".split()
)
_WIKITEXT_JOINS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))
_ARTICLE_RE = re.compile(r"^ = [^=].* = $")
_HEADING_RE = re.compile(r"^ (= )+.* (= )+$")


def split_sentences(paragraph: str) -> list[str]:
    """Rule-based sentence split of one paragraph (see the module docstring for its limits)."""
    sentences, start = [], 0
    for match in _BOUNDARY_RE.finditer(paragraph):
        words = paragraph[start : match.start()].rsplit(None, 1)
        last = words[-1] if words else ""
        if match.group().startswith(".") and (
            last.lower() in _ABBREVIATIONS or (len(last) == 1 and last.isupper())
        ):
            continue
        end = match.end()
        sentence = paragraph[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = end
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


@dataclasses.dataclass
class ReadStats:
    """Per-file counts gathered while reading: documents, skipped (non-UTF-8) lines, documents
    of a single sentence (they can only give random-next instances), and the byte offsets of
    documents 0, 256, 512, ... (checkpoints)."""

    documents: dict = dataclasses.field(default_factory=dict)
    skipped_lines: dict = dataclasses.field(default_factory=dict)
    one_sentence_documents: dict = dataclasses.field(default_factory=dict)
    checkpoints: dict = dataclasses.field(default_factory=dict)  # path -> byte offsets

    def add(self, counts, path, n=1):
        counts[path] = counts.get(path, 0) + n


def expand_input_files(input_file) -> list[str]:
    """Comma-separated globs (or a list of them) -> sorted file paths; DataError if one matches
    nothing."""
    patterns = input_file.split(",") if isinstance(input_file, str) else list(input_file or ())
    patterns = [p.strip() for p in patterns if p and p.strip()]
    if not patterns:
        raise DataError("--input_file is empty; give a file, a glob or a comma list of them")
    paths = []
    for pattern in patterns:
        matches = sorted(p for p in files.glob(pattern) if files.isfile(p))
        if not matches:
            raise DataError(f"--input_file: no file matches {pattern!r}")
        paths.extend(matches)
    return paths


BINARY_SAMPLE_BYTES = 65536
BINARY_SHARE = 0.1  # text with some Latin-1 accents stays far below; compressed data is near 0.5


def check_text_file(path):
    """Raises DataError naming `path` when its first 64 KiB look binary: more than
    BINARY_SHARE of the characters are undecodable UTF-8 or control bytes (not tab/newline)."""
    with files.open(path, "rb") as f:
        sample = f.read(BINARY_SAMPLE_BYTES)
    text = sample.decode("utf-8", errors="replace")
    bad = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in "\t\n\r\f\v"))
    bad += text.count("\x7f")
    if text and bad / len(text) > BINARY_SHARE:
        raise DataError(
            f"{path}: not a text corpus ({bad / len(text):.0%} of its first {len(sample)} bytes are "
            "undecodable or control characters); expected UTF-8 text"
        )


def _lines(path, stats, offset=0):
    """(byte offset, decoded line) pairs from `offset` on; non-UTF-8 lines skipped and counted.
    A binary file is refused (`check_text_file`)."""
    check_text_file(path)
    with files.open(path, "rb") as f:
        f.seek(offset)
        for raw in f:
            try:
                yield offset, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                if stats is not None:
                    stats.add(stats.skipped_lines, path)
            offset += len(raw)


def _read_bert(path, stats, offset=0):
    document, start = [], offset
    for position, line in _lines(path, stats, offset):
        line = line.strip()
        if line:
            if not document:
                start = position
            document.append(line)
        elif document:
            yield start, document
            document = []
    if document:
        yield start, document


def _read_wikitext(path, stats, offset=0):
    document, start = [], offset
    for position, line in _lines(path, stats, offset):
        if _ARTICLE_RE.match(line):
            if document:
                yield start, document
            document, start = [], position
        elif line.strip() and not _HEADING_RE.match(line):
            for old, new in _WIKITEXT_JOINS:
                line = line.replace(old, new)
            document.extend(split_sentences(line))
    if document:
        yield start, document


def _read_squad(path, stats, offset=0):
    check_text_file(path)
    try:
        data = files.read_json(path)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: SQuAD JSON is not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid SQuAD JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: not SQuAD JSON (no top-level 'data' list)")
    for article in data["data"]:
        for paragraph in article.get("paragraphs", ()):
            sentences = split_sentences(paragraph.get("context", ""))
            if sentences:
                yield None, sentences  # no byte offset: a JSON file is parsed whole


_FILE_READERS = {"bert": _read_bert, "wikitext": _read_wikitext, "squad": _read_squad}


def read_file_documents(input_format, path, stats=None, offset=0) -> Iterator[list[str]]:
    """Documents of one file (from byte `offset`, a document start), each a non-empty list of
    sentences. With `stats`, every CHECKPOINT_EVERY-th document's byte offset is recorded."""
    for start, document in _FILE_READERS[input_format](path, stats, offset):
        if stats is not None:
            index = stats.documents.get(path, 0)
            if index % CHECKPOINT_EVERY == 0 and start is not None:
                stats.checkpoints.setdefault(path, []).append(start)
            stats.add(stats.documents, path)
            if len(document) == 1:
                stats.add(stats.one_sentence_documents, path)
        yield document


def read_documents(
    input_format,
    input_files=(),
    *,
    builtin_seed=0,
    builtin_documents=1000,
    start=0,
    stop=None,
    file_document_counts=None,
    file_checkpoints=None,
    stats=None,
) -> Iterator[list[str]]:
    """Streams documents (lists of sentence strings) number `start` to `stop` of a corpus.

    Args:
        input_format: str. One of FORMATS.
        input_files: list of str. Files in order (ignored for "builtin" and "pydoc").
        builtin_seed, builtin_documents: int. Choose the built-in corpus.
        start, stop: int. Document range [start, stop); stop None reads to the end.
        file_document_counts: list of int or None. Documents per file (from a first pass); lets
            whole files before `start` be skipped without reading them.
        file_checkpoints: list of (list of int) or None. Per file, byte offsets of documents
            0, CHECKPOINT_EVERY, ... (from ReadStats.checkpoints); lets reading seek near `start`.
        stats: ReadStats or None. Collects per-file counts.
    """
    if input_format not in FORMATS:
        raise DataError(f"--input_format={input_format!r}; expected one of {', '.join(FORMATS)}")
    stop = float("inf") if stop is None else stop
    if input_format == "builtin":
        end = min(builtin_documents, stop)
        for doc in builtin_corpus.generate_documents(builtin_seed, end, start=start):
            yield [s.text for s in doc.sentences]
        return
    if input_format == "pydoc":
        for _, paragraphs in pydoc_corpus.documents()[
            start : None if stop == float("inf") else stop
        ]:
            yield [sentence for p in paragraphs for sentence in split_sentences(p)]
        return
    index = 0
    for file_index, path in enumerate(input_files):
        if index >= stop:
            return
        if file_document_counts is not None and index + file_document_counts[file_index] <= start:
            index += file_document_counts[file_index]
            continue
        offset = 0
        checkpoints = file_checkpoints[file_index] if file_checkpoints else ()
        if checkpoints and start > index:
            hop = min((start - index) // CHECKPOINT_EVERY, len(checkpoints) - 1)
            offset, index = checkpoints[hop], index + hop * CHECKPOINT_EVERY
        for document in read_file_documents(input_format, path, stats, offset):
            if index >= stop:
                return
            if index >= start:
                yield document
            index += 1


def num_built_in_documents(input_format, builtin_documents, builtin_size_mb):
    """Documents of a built-in corpus: all topics for pydoc; for builtin `builtin_documents`,
    or as many as make `builtin_size_mb` MB of text."""
    if input_format == "pydoc":
        return len(pydoc_corpus.documents())
    return builtin_documents or builtin_corpus.num_documents_for_megabytes(builtin_size_mb)


def define_corpus_flags():
    """The corpus flags of both data binaries: --input_file, --input_format, --builtin_*."""
    from absl import flags

    flags.DEFINE_string(
        "input_file", None, "Comma list of input files or globs (ignored for builtin and pydoc)."
    )
    flags.DEFINE_enum("input_format", "bert", FORMATS, "Corpus format, see tfrecords/readers.py.")
    flags.DEFINE_integer("builtin_seed", 0, "Seed of the built-in corpus.")
    flags.DEFINE_float("builtin_size_mb", 5.0, "Size of the built-in corpus in MB of text.")
    flags.DEFINE_integer(
        "builtin_documents", None, "Documents of the built-in corpus (overrides MB)."
    )
