"""The built-in corpus: deterministic, synthetic English-like documents written by our own grammar.

No third-party text. Each document is about one topic (farm, harbour, school, ...) and keeps a small
cast of characters, objects and places, so consecutive sentences share vocabulary (NSP is
learnable). Every sentence is generated from a small phrase-structure grammar with real word-order
constraints (determiner before adjective before noun, "a"/"an" before vowels, subject-verb
agreement, verbs that only take fitting objects, time adverbs that agree with the tense), so MLM
and bigram shift are learnable. The grammar keeps the parse tree, so each `Sentence` knows its
structure (tense, subject/object number, tree depth, top constituents, coordination) and the
spans of its roles (subject, verb, object, location, time) for probing, QA and NLI generators.

Example:
    >>> doc = next(generate_documents(seed=0, num_documents=1))
    >>> doc.topic, doc.sentences[0].text, doc.sentences[0].tense   # doctest: +SKIP
    ('farm', 'yesterday the old farmer fed the hens in the barn .', 'past')

Document `i` of seed `s` depends only on (s, i), so any slice of the corpus can be generated
without generating what comes before it.
"""

import dataclasses
import functools
import random
from collections.abc import Iterator

from hbert_tf import files

# --- Lexicon ----------------------------------------------------------------------------------
# Per topic: people (nouns), names, places, adjectives, transitive verbs with the objects they
# take ("verb: object object ..."; "verb>past" gives an irregular or doubled past form), and
# intransitive verbs.
_TOPICS = {
    "farm": dict(
        people="farmer shepherd farmhand vet neighbour",
        names="anna tom rosa jack ella",
        places="barn field yard stable orchard",
        adjectives="muddy old quiet busy tired green",
        verbs=[
            "feed>fed: cow hen goat horse pig",
            "milk: cow goat",
            "plant: seed tree potato carrot",
            "harvest: wheat potato apple carrot",
            "sell>sold: egg apple wheat milk",
            "mend: fence gate roof tractor",
        ],
        intransitive="work rest sing wait",
    ),
    "harbour": dict(
        people="sailor fisherman captain diver merchant",
        names="marco lena piet oskar ines",
        places="harbour dock pier beach lighthouse",
        adjectives="salty windy grey loud wet strong",
        verbs=[
            "catch>caught: fish crab lobster eel",
            "load: crate barrel net box",
            "paint: boat hull mast door",
            "pull: rope net anchor boat",
            "steer: boat ship ferry yacht",
            "repair: sail net engine boat",
        ],
        intransitive="swim row shout wait",
    ),
    "school": dict(
        people="teacher pupil student headmaster librarian",
        names="lucy omar nina paul sara",
        places="classroom library hall playground garden",
        adjectives="clever young patient noisy curious careful",
        verbs=[
            "read>read: book poem story letter",
            "write>wrote: essay letter poem story",
            "solve: puzzle problem riddle sum",
            "draw>drew: map picture circle tree",
            "borrow: book pencil ruler atlas",
            "explain: rule problem lesson answer",
        ],
        intransitive="study laugh listen whisper",
    ),
    "kitchen": dict(
        people="cook baker waiter chef butcher",
        names="maria hugo clara ivan julia",
        places="kitchen bakery restaurant pantry cellar",
        adjectives="hungry warm busy quick neat proud",
        verbs=[
            "bake: bread cake pie loaf",
            "cut>cut: onion bread cake carrot",
            "stir>stirred: soup sauce stew batter",
            "taste: soup sauce stew cake",
            "wash: dish pot pan cup",
            "serve: soup cake tea stew",
        ],
        intransitive="cook hurry smile wait",
    ),
    "forest": dict(
        people="hunter ranger hiker woodcutter painter",
        names="erik maya lars hanna finn",
        places="forest valley clearing river cave",
        adjectives="brave silent lonely wild tall dark",
        verbs=[
            "follow: deer fox trail wolf",
            "chop>chopped: tree log branch trunk",
            "gather: mushroom berry nut leaf",
            "track: deer fox bear wolf",
            "climb>climbed: tree rock hill cliff",
            "build>built: hut fire shelter bridge",
        ],
        intransitive="hike camp rest listen",
    ),
    "music": dict(
        people="singer drummer pianist violinist conductor",
        names="sofia leo mila theo vera",
        places="theatre studio concert church club",
        adjectives="famous nervous gifted calm young proud",
        verbs=[
            "play: piano drum violin song",
            "tune: piano violin guitar harp",
            "record: song album melody concert",
            "practise: song scale piece melody",
            "compose: song melody piece symphony",
            "carry: drum guitar violin case",
        ],
        intransitive="sing dance bow rehearse",
    ),
    "sport": dict(
        people="runner player coach referee goalkeeper",
        names="kai lisa tomas amy rafael",
        places="stadium pitch track gym court",
        adjectives="fast fit strong tired young proud",
        verbs=[
            "kick: ball goal post door",
            "throw>threw: ball javelin disc stone",
            "win>won: match race cup medal",
            "lose>lost: match race game bet",
            "train: team player runner squad",
            "score: goal point try basket",
        ],
        intransitive="run jump cheer train",
    ),
    "space": dict(
        people="astronaut pilot engineer scientist commander",
        names="yuri nadia alex mei oliver",
        places="station rocket capsule laboratory hangar",
        adjectives="calm brave clever silent focused careful",
        verbs=[
            "launch: rocket probe satellite capsule",
            "observe: star planet comet moon",
            "repair: panel antenna engine radio",
            "measure: signal distance orbit speed",
            "control: rocket probe robot drone",
            "study>studied: sample rock star signal",
        ],
        intransitive="float sleep wait count",
    ),
    "hospital": dict(
        people="doctor nurse patient surgeon porter",
        names="helen samir ruth karl irene",
        places="hospital ward clinic pharmacy corridor",
        adjectives="kind tired worried careful busy gentle",
        verbs=[
            "treat: patient wound fever injury",
            "examine: patient wound chart scan",
            "clean: wound bed tray floor",
            "prescribe: pill medicine cream drop",
            "bandage: arm leg wound hand",
            "carry: tray bed chart patient",
        ],
        intransitive="rest sleep cough recover",
    ),
    "market": dict(
        people="trader customer farmer baker tailor",
        names="fatima jonas greta ali nora",
        places="market square shop stall street",
        adjectives="cheerful busy loud old clever patient",
        verbs=[
            "buy>bought: apple cheese shirt basket",
            "sell>sold: apple cheese shirt basket",
            "weigh: apple cheese potato flour",
            "wrap: cheese fish gift shirt",
            "count: coin apple egg basket",
            "carry: basket bag crate sack",
        ],
        intransitive="shout bargain wait smile",
    ),
    "castle": dict(
        people="king queen knight guard servant",
        names="arthur edith roland gwen percy",
        places="castle tower courtyard hall dungeon",
        adjectives="royal proud brave loyal ancient angry",
        verbs=[
            "guard: gate tower treasure crown",
            "open: gate door chest window",
            "polish: sword shield crown helmet",
            "lift: sword shield banner chest",
            "defend: castle wall tower gate",
            "hide>hid: treasure crown key letter",
        ],
        intransitive="kneel march bow rule",
    ),
    "garden": dict(
        people="gardener florist child grandmother beekeeper",
        names="iris felix daisy bruno lily",
        places="garden greenhouse meadow pond hedge",
        adjectives="happy gentle patient small sleepy old",
        verbs=[
            "water: rose tulip tomato lettuce",
            "pick: rose tulip tomato cherry",
            "prune: hedge rose tree bush",
            "dig>dug: hole bed pond ditch",
            "watch: bee bird butterfly frog",
            "sow>sowed: seed lettuce bean pea",
        ],
        intransitive="hum rest kneel wait",
    ),
}

_GENERAL_VERBS = ["see>saw", "find>found", "like", "want"]  # take any object of the topic
_THING_ADJECTIVES = "small big old new red clean heavy broken".split()  # for objects and places
_MANNER = "quickly slowly carefully quietly happily proudly".split()
_TIME = {
    "past": ["yesterday", "last week", "last night", "once", "earlier"],
    "present": ["today", "now", "every day", "often", "usually"],
}
_PREPOSITIONS = "in near behind beside".split()
_CONJUNCTIONS = "and but while".split()
_SUBORDINATORS = "when because after".split()
_NUMERALS = "two three four many some these".split()  # plural-only determiners
_SINGULAR_DETS = "the a this every".split()
_IRREGULAR_PLURALS = {
    "child": "children",
    "fish": "fish",
    "sheep": "sheep",
    "deer": "deer",
    "leaf": "leaves",
    "loaf": "loaves",
    "wolf": "wolves",
    "knife": "knives",
    "shelf": "shelves",
    "potato": "potatoes",
    "tomato": "tomatoes",
    "hero": "heroes",
}
_IRREGULAR_THIRD = {"have": "has", "go": "goes", "do": "does"}


def _plural(noun):
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _third_person(verb):
    if verb in _IRREGULAR_THIRD:
        return _IRREGULAR_THIRD[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _regular_past(verb):
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


@dataclasses.dataclass(frozen=True)
class _Verb:
    base: str
    third: str
    past: str
    objects: tuple  # nouns it takes; empty for intransitive

    def form(self, tense, number):
        if tense == "past":
            return self.past
        return self.third if number == "singular" else self.base


def _parse_verb(spec, objects=()):
    head, _, object_text = spec.partition(":")
    base, _, past = head.strip().partition(">")
    objects = tuple(object_text.split()) or tuple(objects)
    return _Verb(base, _third_person(base), past or _regular_past(base), objects)


@dataclasses.dataclass(frozen=True)
class _Topic:
    name: str
    people: tuple
    names: tuple
    places: tuple
    adjectives: tuple
    verbs: tuple
    intransitive: tuple


@functools.lru_cache(maxsize=1)
def _topics():
    topics = []
    for name, spec in _TOPICS.items():
        verbs = [_parse_verb(v) for v in spec["verbs"]]
        objects = sorted({o for v in verbs for o in v.objects})
        verbs += [_parse_verb(v, objects) for v in _GENERAL_VERBS]
        topics.append(
            _Topic(
                name=name,
                people=tuple(spec["people"].split()),
                names=tuple(spec["names"].split()),
                places=tuple(spec["places"].split()),
                adjectives=tuple(spec["adjectives"].split()),
                verbs=tuple(verbs),
                intransitive=tuple(_parse_verb(v) for v in spec["intransitive"].split()),
            )
        )
    return tuple(topics)


TOPICS = tuple(_TOPICS)


def lexicon():
    """Every word form the grammar can produce (sorted), for vocabulary checks."""
    words = {".", ","}
    words.update(w for t in _TIME.values() for phrase in t for w in phrase.split())
    words.update(
        _MANNER + _THING_ADJECTIVES + _PREPOSITIONS + _CONJUNCTIONS + _SUBORDINATORS + _NUMERALS
    )
    words.update(_SINGULAR_DETS + ["an", "who", "that"])
    for topic in _topics():
        for noun in topic.people + topic.places + tuple(o for v in topic.verbs for o in v.objects):
            words.update((noun, _plural(noun)))
        words.update(topic.names + topic.adjectives)
        for verb in topic.verbs + topic.intransitive:
            words.update((verb.base, verb.third, verb.past))
    return sorted(words)


# --- Parse trees ------------------------------------------------------------------------------
@dataclasses.dataclass
class _Node:
    label: str
    children: list  # of _Node or str (a word)

    def words(self):
        out = []
        for child in self.children:
            out.extend(child.words() if isinstance(child, _Node) else [child])
        return out

    def depth(self):
        """Nodes on the longest path from this node down to a part-of-speech node."""
        subtrees = [c for c in self.children if isinstance(c, _Node)]
        return 1 + max((c.depth() for c in subtrees), default=0)


def _leaf(label, word):
    return _Node(label, word.split())


@dataclasses.dataclass(frozen=True)
class Clause:
    """Roles of one clause; spans are [start, end) token indices into `Sentence.tokens`."""

    subject: tuple
    verb: tuple
    object: tuple | None
    location: tuple | None
    time: tuple | None
    tense: str
    subject_number: str
    object_number: str | None


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One generated sentence with its structure and role spans.

    Attributes:
        text: str. Space-separated lower-case words ending with " .".
        tokens: tuple of str. `text.split()`.
        tense: str. "past" or "present" (main clause verb).
        subject_number, object_number: str. "singular"/"plural"; object_number None if no object.
        tree_depth: int. Longest root-to-part-of-speech path of the parse tree.
        top_constituents: str. Labels under the root, e.g. "NP_VP_." or "S_CC_S_.".
        is_coordination: bool. Two main clauses joined by a conjunction ("S_CC_S_.").
        clauses: tuple of Clause. Main clause first, then a coordinated or subordinate clause.
    """

    tokens: tuple
    tense: str
    subject_number: str
    object_number: str | None
    tree_depth: int
    top_constituents: str
    is_coordination: bool
    clauses: tuple

    @property
    def text(self):
        return " ".join(self.tokens)

    def span_text(self, span):
        """The words of a (start, end) span as a string, or None."""
        return None if span is None else " ".join(self.tokens[span[0] : span[1]])

    @property
    def subject(self):
        return self.span_text(self.clauses[0].subject)

    @property
    def verb(self):
        return self.span_text(self.clauses[0].verb)

    @property
    def object(self):
        return self.span_text(self.clauses[0].object)

    @property
    def location(self):
        return self.span_text(self.clauses[0].location)

    @property
    def time(self):
        return self.span_text(self.clauses[0].time)


@dataclasses.dataclass(frozen=True)
class Document:
    """A topic and its sentences; `characters` are the document's recurring names/people."""

    index: int
    topic: str
    characters: tuple
    sentences: tuple

    @property
    def text(self):
        return "\n".join(s.text for s in self.sentences)


# --- Grammar ----------------------------------------------------------------------------------
class _SentenceBuilder:
    """Builds one sentence tree while recording role spans by token offset."""

    def __init__(self, rng, topic, cast, tense):
        self.rng, self.topic, self.cast, self.tense = rng, topic, cast, tense

    def determiner(self, number, first_word):
        dets = _SINGULAR_DETS if number == "singular" else ["the"] + _NUMERALS
        det = self.rng.choice(dets)
        if det == "a" and first_word[0] in "aeiou":
            det = "an"
        return _leaf("DT", det)

    def noun_phrase(self, noun, number, adjective_p=0.4, allow_pp=False, adjectives=None):
        """Det (JJ) N (PP); `adjectives` default to generic ones for things."""
        rng = self.rng
        head = noun if number == "singular" else _plural(noun)
        parts = []
        if rng.random() < adjective_p:
            parts.append(_leaf("JJ", rng.choice(adjectives or _THING_ADJECTIVES)))
        parts.append(_leaf("NN" if number == "singular" else "NNS", head))
        first = parts[0].children[0]
        np = _Node("NP", [self.determiner(number, first)] + parts)
        if allow_pp and rng.random() < 0.25:
            place = rng.choice(self.cast["places"])
            pp = _Node(
                "PP",
                [_leaf("IN", rng.choice(_PREPOSITIONS)), self.noun_phrase(place, "singular", 0.2)],
            )
            np = _Node("NP", [np, pp])
        return np

    def agent(self, allow_relative=True):
        """Subject noun phrase (a name or a person of the cast) and its number."""
        rng = self.rng
        if rng.random() < 0.35:
            return _Node("NP", [_leaf("NNP", rng.choice(self.cast["names"]))]), "singular"
        number = "plural" if rng.random() < 0.4 else "singular"
        np = self.noun_phrase(
            rng.choice(self.cast["people"]), number, adjectives=self.topic.adjectives
        )
        if allow_relative and rng.random() < 0.15:
            verb = rng.choice(self.topic.intransitive)
            rel = _Node(
                "SBAR",
                [_leaf("WP", "who"), _Node("VP", [_leaf("VB", verb.form(self.tense, number))])],
            )
            np = _Node("NP", [np, rel])
        return np, number

    def verb_phrase(self, number, allow_object=True):
        rng = self.rng
        roles = {}
        children = []
        transitive = allow_object and rng.random() < 0.8
        verb = rng.choice(self.topic.verbs if transitive else self.topic.intransitive)
        children.append(
            _leaf("VBD" if self.tense == "past" else "VBP", verb.form(self.tense, number))
        )
        roles["verb"] = children[-1]
        if transitive:
            preferred = [o for o in verb.objects if o in self.cast["objects"]]
            noun = rng.choice(preferred if preferred and rng.random() < 0.7 else verb.objects)
            obj_number = "plural" if rng.random() < 0.45 else "singular"
            children.append(self.noun_phrase(noun, obj_number, allow_pp=True))
            roles["object"], roles["object_number"] = children[-1], obj_number
        if rng.random() < 0.5:
            place = rng.choice(self.cast["places"])
            np = self.noun_phrase(place, "singular", 0.2)
            children.append(_Node("PP", [_leaf("IN", rng.choice(_PREPOSITIONS)), np]))
            roles["location"] = np
        if rng.random() < 0.2:
            children.append(_Node("ADVP", [_leaf("RB", rng.choice(_MANNER))]))
        return _Node("VP", children), roles

    def clause(self, allow_object=True):
        subject, number = self.agent()
        vp, roles = self.verb_phrase(number, allow_object)
        return _Node("S", [subject, vp]), dict(roles, subject=subject, subject_number=number)

    def time_phrase(self):
        return _Node("ADVP", [_leaf("RB", self.rng.choice(_TIME[self.tense]))])


def _spans(root, clause_roles):
    """Token spans of the nodes named in each clause's roles, found by identity in the tree."""
    offsets = {}

    def walk(node, start):
        pos = start
        for child in node.children:
            if isinstance(child, _Node):
                pos = walk(child, pos)
            else:
                pos += 1
        offsets[id(node)] = (start, pos)
        return pos

    walk(root, 0)
    clauses = []
    for roles in clause_roles:

        def span(key, roles=roles):
            return offsets[id(roles[key])] if key in roles else None

        clauses.append(
            Clause(
                subject=span("subject"),
                verb=span("verb"),
                object=span("object"),
                location=span("location"),
                time=span("time"),
                tense=roles["tense"],
                subject_number=roles["subject_number"],
                object_number=roles.get("object_number"),
            )
        )
    return tuple(clauses)


def _make_sentence(rng, topic, cast, tense):
    builder = _SentenceBuilder(rng, topic, cast, tense)
    kind = rng.choices(["simple", "time", "place", "coordination", "subordinate"], [4, 2, 1, 2, 1])[
        0
    ]
    main, roles = builder.clause()
    roles["tense"] = tense
    clause_roles = [roles]
    if kind == "simple":
        children = main.children
    elif kind == "time":
        time = builder.time_phrase()
        roles["time"] = time
        children = [time] + main.children
    elif kind == "place":
        place = builder.noun_phrase(rng.choice(cast["places"]), "singular", 0.2)
        pp = _Node("PP", [_leaf("IN", rng.choice(_PREPOSITIONS)), place])
        roles.setdefault("location", place)
        children = [pp, _leaf(",", ",")] + main.children
    elif kind == "coordination":
        second, second_roles = builder.clause()
        second_roles["tense"] = tense
        clause_roles.append(second_roles)
        children = [main, _leaf("CC", rng.choice(_CONJUNCTIONS)), second]
    else:
        sub, sub_roles = builder.clause(allow_object=rng.random() < 0.5)
        sub_roles["tense"] = tense
        clause_roles.append(sub_roles)
        sbar = _Node("SBAR", [_leaf("IN", rng.choice(_SUBORDINATORS)), sub])
        children = [sbar, _leaf(",", ",")] + main.children
    root = _Node("S", children + [_leaf(".", ".")])
    clauses = _spans(root, clause_roles)
    return Sentence(
        tokens=tuple(root.words()),
        tense=tense,
        subject_number=clauses[0].subject_number,
        object_number=clauses[0].object_number,
        tree_depth=root.depth(),
        top_constituents="_".join(c.label for c in root.children),
        is_coordination=kind == "coordination",
        clauses=clauses,
    )


def make_document(seed, index):
    """Document `index` of the corpus `seed` (depends on nothing else)."""
    rng = random.Random(f"hbert-builtin/{seed}/{index}")
    topic = rng.choice(_topics())
    cast = {
        "names": rng.sample(topic.names, 2),
        "people": rng.sample(topic.people, 2),
        "places": rng.sample(topic.places, 2),
        "objects": rng.sample(sorted({o for v in topic.verbs for o in v.objects}), 4),
    }
    doc_tense = rng.choice(["past", "present"])
    sentences = []
    for _ in range(rng.randint(5, 20)):
        tense = doc_tense if rng.random() < 0.85 else ("present" if doc_tense == "past" else "past")
        sentences.append(_make_sentence(rng, topic, cast, tense))
    characters = tuple(cast["names"]) + tuple(cast["people"])
    return Document(
        index=index, topic=topic.name, characters=characters, sentences=tuple(sentences)
    )


def generate_documents(seed: int, num_documents: int, start: int = 0) -> Iterator[Document]:
    """Yields documents `start` .. `num_documents - 1` of corpus `seed`, deterministically."""
    for index in range(start, num_documents):
        yield make_document(seed, index)


@functools.cache
def _mean_document_bytes():
    sample = [make_document(-1, i) for i in range(200)]
    return sum(len(d.text.encode()) + 2 for d in sample) / len(sample)


def num_documents_for_megabytes(megabytes: float) -> int:
    """Number of documents whose text (BERT format) is about `megabytes` MB (10**6 bytes)."""
    return max(2, round(megabytes * 1e6 / _mean_document_bytes()))


def write_bert_format(path, seed: int, num_documents: int) -> int:
    """Writes the corpus in BERT's format (sentence per line, blank line between documents).

    Returns the number of bytes written.
    """
    size = 0
    with files.open(path, "w") as f:
        for doc in generate_documents(seed, num_documents):
            chunk = doc.text + "\n\n"
            size += len(chunk.encode())
            f.write(chunk)
    return size
