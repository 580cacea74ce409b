"""The `pydoc` corpus: the prose of Python's own documentation topics, real English on every machine.

Python ships the text of its language-reference topics (`help("for")`, ...) as
`pydoc_data.topics.topics` (Python 3.11: 79 topics, about 465k characters), rendered from reST
to plain text. Each topic is one document, in topic-name order, and its prose paragraphs (in
order) are what the corpus readers split into sentences, so consecutive sentences are
consecutive text of one topic (NSP pairs).

What is kept: the paragraphs (blocks of lines between blank lines) that read as English. Dropped:
- headings (a line underlined with `*`, `=`, `-`, `^` or `~`);
- tables (lines starting with `+-`, `+=` or `|`), grammar rules (`::=`) and interactive sessions
  (`>>>`, `...`);
- code blocks and signatures: a paragraph that does not end like a sentence (`.`, `?`, `!`, `:`,
  before any closing quotes or brackets)
  or whose words are less than 80% plain words (letters, with quotes, brackets and punctuation
  around them; a literal in double quotes, as the rendering marks inline code, counts as one). Code is dropped because the corpus is for learning English: code lines are not
  sentences, would make nonsense NSP pairs and would fill the vocabulary with identifiers.
Kept paragraphs lose their emphasis asterisks (`*iterable*` -> `iterable`), footnote marks
(`[1]`) and list bullets or numbers, and their lines are joined with single spaces.
"""

import hashlib
import re
import sys

_UNDERLINE_RE = re.compile(r"^([*=\-^~])\1{2,}$")
_CODE_LINE_RE = re.compile(r"^(\+[-=]|\||>>>|\.\.\.)")
_PLAIN_WORD_RE = re.compile(r"^[\"'(\[]*[A-Za-z][A-Za-z'’-]*[\"')\]]*[.,;:!?]*[\"')\]]*$")
_EMPHASIS_RE = re.compile(r"\*{1,2}([^*\s\"](?:[^*\"]*[^*\s\"])?)\*{1,2}")
_FOOTNOTE_RE = re.compile(r"\s*\[\d+\]")
_QUOTED_RE = re.compile(r'"[^"]*"')
_BULLET_RE = re.compile(r"^(\d+\.|[*\-•])\s+")
PLAIN_WORD_SHARE = 0.8


def _topics():
    from pydoc_data.topics import topics

    return topics


def identity():
    """What the corpus is made of: the Python version and a hash of the topics' text."""
    topics = _topics()
    digest = hashlib.sha256()
    for name in sorted(topics):
        digest.update(f"{name}\0{topics[name]}\0".encode())
    version = ".".join(map(str, sys.version_info[:3]))
    return ("pydoc_data.topics", version, digest.hexdigest()[:16])


def _blocks(text):
    """Blocks of consecutive non-blank lines (right-stripped)."""
    block = []
    for line in text.splitlines():
        if line.strip():
            block.append(line.rstrip())
        elif block:
            yield block
            block = []
    if block:
        yield block


def prose_paragraph(lines):
    """One block of lines -> its cleaned prose as one line, or None when it is not prose."""
    stripped = [line.strip() for line in lines]
    if _UNDERLINE_RE.match(stripped[-1]):
        return None  # a heading
    if any(_CODE_LINE_RE.match(line) or "::=" in line for line in stripped):
        return None  # a table, a grammar rule or an interactive session
    text = " ".join(stripped)
    text = _FOOTNOTE_RE.sub("", _EMPHASIS_RE.sub(r"\1", _BULLET_RE.sub("", text)))
    words = _QUOTED_RE.sub("code", text).split()  # a quoted literal ("len(s)") counts as a word
    if not words or text.rstrip("\"')]")[-1:] not in tuple(".?!:"):
        return None
    plain = sum(1 for word in words if _PLAIN_WORD_RE.match(word))
    return text if plain >= PLAIN_WORD_SHARE * len(words) else None


def topic_paragraphs(text):
    """The prose paragraphs of one topic's text, in order."""
    paragraphs = (prose_paragraph(block) for block in _blocks(text))
    return [p for p in paragraphs if p]


def documents():
    """list of (topic name, list of prose paragraphs), one per topic with prose, by name."""
    topics = _topics()
    pairs = ((name, topic_paragraphs(topics[name])) for name in sorted(topics))
    return [(name, paragraphs) for name, paragraphs in pairs if paragraphs]
