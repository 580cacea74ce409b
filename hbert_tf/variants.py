"""The paper's variants, resolved into where each pre-training head reads (one place for it).

| variant       | MLM reads  | NSP reads  | notes                                              |
|---------------|------------|------------|----------------------------------------------------|
| bert          | last layer | last layer | the replica                                        |
| lower_nsp     | last layer | layer k    | k = `nsp_layer` (default: the middle block)        |
| lower_mask    | layer k    | last layer | k = `mlm_layer` (default: the middle block)        |
| without_nsp   | last layer | -          | no NSP head, no NSP loss (RoBERTa-style)           |
| bigram_shift  | last layer | last layer | plus the per-token bigram-shift head               |

Any variant takes `concat` ("none", "cls": the NSP-level [CLS] vector, "nsp": the NSP classifier's
output, concatenated to every MLM-classifier input), `bigram_shift=True` (adds the bigram-shift
head to any variant, reading `bigram_shift_layer`, default last) and a Freeze policy (Lower
NSP-Freeze). Layer indices are 0-based block indices; negative ones count from the top (-1 = last).
"""

import dataclasses

from hbert_tf import names
from hbert_tf.tasks import PRETRAINING_TASKS, TASK_NAMES, get_task

VARIANTS = ("bert", "lower_nsp", "lower_mask", "without_nsp", "bigram_shift")
CONCAT_MODES = ("none", "cls", "nsp")


@dataclasses.dataclass(frozen=True)
class FreezePolicy:
    """When to freeze everything that feeds the NSP classifier (Lower NSP-Freeze).

    Args:
        kind: str. "never", "at_step" (freeze once `value` steps are done) or "plateau" (freeze
            once NSP eval accuracy has not improved for `value` evaluations).
        value: int. The step or the patience.
    """

    kind: str = "never"
    value: int = 0

    @classmethod
    def parse(cls, text):
        """Parses "never", "at_step:N" or "plateau:P"."""
        text = (text or "never").strip()
        if text == "never":
            return cls()
        kind, _, value = text.partition(":")
        if kind not in ("at_step", "plateau") or not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"freeze_nsp={text!r}: expected never, at_step:N or plateau:P with N, P >= 1"
            )
        return cls(kind, int(value))

    def __str__(self):
        return "never" if self.kind == "never" else f"{self.kind}:{self.value}"


# The head types = the pre-training tasks (`hbert_tf.tasks.PRETRAINING_TASKS`), in reporting
# order ("mlm_loss" before "nsp_loss" ...). A new head type is a new task module there.
HEADS = TASK_NAMES
# The paper's three have a `HeadLayout` field each; any other task is placed through `more`.
FIELD_OF = {task.name: task.layout_field for task in PRETRAINING_TASKS if task.layout_field}


def output_key(head):
    """The model output (and label, sample-weight, loss) key of a head: "mlm" -> "mlm_logits"."""
    if head not in HEADS:
        raise ValueError(f"head={head!r}: expected one of {HEADS}")
    return get_task(head).output_key


def head_of(key):
    """Inverse of `output_key`: "nsp_logits" -> "nsp"."""
    head = key.removesuffix("_logits")
    if head not in HEADS or key == head:
        raise ValueError(f"{key!r} is not a head output key (expected one of {OUTPUT_KEYS})")
    return head


OUTPUT_KEYS = tuple(f"{head}_logits" for head in HEADS)


@dataclasses.dataclass(frozen=True)
class HeadLayout:
    """Where each head reads, as resolved 0-based block indices: the one description of a model's
    heads. The pretrainer is built from it; labels, losses, metrics, loss weights, export
    signatures, probing layers and fine-tuning read-outs are derived from it.

    Args:
        num_layers: int. Blocks in the encoder.
        mlm_layer: int. Block whose token vectors the MLM head reads.
        nsp_layer: int or None. Block whose [CLS] vector the NSP head reads; None: no NSP head.
        concat: str. "none", "cls" or "nsp" (extra MLM-classifier input).
        bigram_shift_layer: int or None. Block the bigram-shift head reads; None: no such head.
        freeze: FreezePolicy. Lower NSP-Freeze policy.
        more: tuple of (task name, block): the heads of the other registered tasks
            (`hbert_tf.tasks`), e.g. (("sop", 3),).

    Raises: ValueError naming the field when a block is out of 0..num_layers-1, `concat` is
    unknown, or `concat`/`freeze` is set without an NSP head. Use `place_heads` for negative
    (from the top) indices.
    """

    num_layers: int
    mlm_layer: int
    nsp_layer: int | None
    concat: str = "none"
    bigram_shift_layer: int | None = None
    freeze: FreezePolicy = FreezePolicy()
    more: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "more", tuple(tuple(item) for item in self.more))
        for item in self.more:
            if len(item) != 2 or item[0] not in HEADS or item[0] in FIELD_OF:
                others = tuple(h for h in HEADS if h not in FIELD_OF)
                raise ValueError(f"more={self.more!r}: expected (task, block) pairs of {others}")
        if len({name for name, _ in self.more}) != len(self.more):
            raise ValueError(f"more={self.more!r}: a task is placed twice")
        object.__setattr__(self, "more", tuple(sorted(self.more, key=lambda i: HEADS.index(i[0]))))
        if isinstance(self.num_layers, bool) or not isinstance(self.num_layers, int):
            raise ValueError(f"num_layers={self.num_layers!r}: expected a positive integer")
        if self.num_layers < 1:
            raise ValueError(f"num_layers={self.num_layers}: expected a positive integer")
        for head, layer in self.heads.items():
            field = f"{head}_layer"
            if isinstance(layer, bool) or not isinstance(layer, int):
                raise ValueError(f"{field}={layer!r}: expected an integer block index")
            if not 0 <= layer < self.num_layers:
                raise ValueError(
                    f"{field}={layer} is out of range for an encoder with {self.num_layers} "
                    f"layers (expected 0..{self.num_layers - 1}, or use place_heads)"
                )
        if self.concat not in CONCAT_MODES:
            raise ValueError(f"concat={self.concat!r}: expected one of {CONCAT_MODES}")
        if not isinstance(self.freeze, FreezePolicy):
            raise ValueError(f"freeze={self.freeze!r}: expected a FreezePolicy")
        if not self.has_nsp and self.concat != "none":
            raise ValueError(f"concat={self.concat!r} needs an NSP head (nsp_layer is None)")
        if not self.has_nsp and self.freeze.kind != "never":
            raise ValueError(f"freeze_nsp={self.freeze} needs an NSP head (nsp_layer is None)")

    @property
    def has_nsp(self):
        return self.nsp_layer is not None

    @property
    def has_bigram_shift(self):
        return self.bigram_shift_layer is not None

    @property
    def heads(self):
        """{head type: block it reads} of the heads present, in reporting order."""
        layers = {head: getattr(self, field) for head, field in FIELD_OF.items()}
        layers.update(self.more)
        return {head: layers[head] for head in HEADS if layers.get(head) is not None}

    @property
    def output_keys(self):
        """Output keys of the heads present, e.g. ("mlm_logits", "nsp_logits")."""
        return tuple(output_key(head) for head in self.heads)

    @property
    def sentence_layer(self):
        """The sentence-level block: the NSP head's, or the last block without NSP. Export,
        fine-tuning read-outs and probing's `--layer=nsp` all read this one."""
        return self.nsp_layer if self.has_nsp else self.num_layers - 1

    def loss_weights(self, **weights):
        """{output key: weight} for the heads present, from `mlm=`, `nsp=`, `bigram_shift=` ...
        (a task name each; default 1.0); a weight for an absent head is ignored."""
        unknown = set(weights) - set(HEADS)
        if unknown:
            raise ValueError(f"loss weights for unknown heads {sorted(unknown)}: expected {HEADS}")
        return {output_key(head): float(weights.get(head, 1.0)) for head in self.heads}

    def describe(self):
        """ "mlm=layer_1 nsp=layer_0" (absent NSP: "nsp=-"), for reports."""
        parts = [f"{head}={names.layer_key(layer)}" for head, layer in self.heads.items()]
        if not self.has_nsp:
            parts.insert(1, "nsp=-")
        return " ".join(parts)

    def layers_text(self):
        """ "1 / 0 / -, concat cls": the MLM / NSP / bigram-shift blocks (then ", sop 3" for
        any other task's head), for tables."""
        heads = self.heads
        cells = " / ".join(str(heads[h]) if h in heads else "-" for h in FIELD_OF)
        cells += "".join(f", {name} {layer}" for name, layer in self.more)
        return cells + ("" if self.concat == "none" else f", concat {self.concat}")

    def to_dict(self):
        values = dataclasses.asdict(self)
        values["freeze"] = str(self.freeze)
        values["more"] = [list(item) for item in self.more]
        if not self.more:  # a layout of the paper's heads is saved as before `more` existed
            del values["more"]
        return values

    @classmethod
    def from_dict(cls, values):
        values = dict(values)
        values["freeze"] = FreezePolicy.parse(values.get("freeze", "never"))
        return cls(**values)


def place_heads(
    num_layers,
    mlm_layer=-1,
    nsp_layer=-1,
    concat="none",
    bigram_shift_layer=None,
    freeze="never",
    more=(),
):
    """A `HeadLayout` from block indices that may count from the top (-1 = last).

    Example: `place_heads(2, mlm_layer=0, nsp_layer=1, bigram_shift_layer=0)`; any other
    task's head by `more=(("sop", -1),)`.
    """

    def resolve(index, field):
        return None if index is None else resolve_layer(index, num_layers, field)

    return HeadLayout(
        num_layers=num_layers,
        mlm_layer=resolve(mlm_layer, "mlm_layer"),
        nsp_layer=resolve(nsp_layer, "nsp_layer"),
        concat=concat,
        bigram_shift_layer=resolve(bigram_shift_layer, "bigram_shift_layer"),
        freeze=freeze if isinstance(freeze, FreezePolicy) else FreezePolicy.parse(freeze),
        more=tuple((name, resolve(layer, f"{name}_layer")) for name, layer in more),
    )


def resolve_layer(index, num_layers, field):
    """Maps a possibly negative block index to 0..num_layers-1, or raises naming `field`."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"{field}={index!r}: expected an integer block index")
    if not -num_layers <= index < num_layers:
        raise ValueError(
            f"{field}={index} is out of range for an encoder with {num_layers} layers "
            f"(expected {-num_layers}..{num_layers - 1})"
        )
    return index % num_layers


def parse_heads(text):
    """A general placement, `--heads=mlm:11,nsp:5,bigram_shift:11`: which heads run and the block
    each reads (0-based; negative counts from the top).

    Returns: {head: block index as written}, in the order given.
    Raises: ValueError naming `--heads` for an unknown head, a head placed twice, a missing or
    non-integer block, or no MLM head (every model has one).
    """
    placement = {}
    for item in (text or "").split(","):
        head, sep, layer = (part.strip() for part in item.partition(":"))
        if head not in HEADS:
            raise ValueError(f"--heads={text}: unknown head {head!r} (expected one of {HEADS})")
        if head in placement:
            raise ValueError(f"--heads={text}: {head} is placed twice")
        try:
            placement[head] = int(layer) if sep else None
        except ValueError:
            placement[head] = None
        if placement[head] is None:
            raise ValueError(f"--heads={text}: expected {head}:<block>, got {item.strip()!r}")
    if "mlm" not in placement:
        raise ValueError(f"--heads={text}: needs mlm:<block> (every model has an MLM head)")
    return placement


def layout_from_heads(text, num_layers, concat="none", freeze="never"):
    """A `HeadLayout` from `--heads` (see `parse_heads`); a block the encoder lacks is refused
    naming `--heads`. Example: `layout_from_heads("mlm:-1,nsp:5", 12)` is Lower NSP at block 5."""
    placement = parse_heads(text)
    blocks = {
        head: resolve_layer(layer, num_layers, f"--heads {head}")
        for head, layer in placement.items()
    }
    return place_heads(
        num_layers,
        concat=concat,
        freeze=freeze,
        **{field: blocks.get(head) for head, field in FIELD_OF.items()},
        more=tuple((head, block) for head, block in blocks.items() if head not in FIELD_OF),
    )


def default_lower_layer(num_layers):
    """The block a Lower NSP / Lower Mask head reads when none is given: the middle one.

    The paper swept every intermediate layer and does not say which won; the middle block is our
    documented assumption (layer 5 of BERT-base's 0..11, layer 0 of a 2-layer model).
    """
    return max(0, num_layers // 2 - 1)


def resolve_variant(
    variant,
    num_layers,
    *,
    mlm_layer=None,
    nsp_layer=None,
    concat="none",
    bigram_shift=None,
    bigram_shift_layer=None,
    freeze_nsp="never",
):
    """Resolves a variant name and per-head options into a `HeadLayout`.

    Args:
        variant: str. One of VARIANTS.
        num_layers: int. Blocks in the encoder.
        mlm_layer, nsp_layer: int or None. Override the block a head reads (None: the variant's
            default). `bert`, `without_nsp` and `bigram_shift` keep both heads on top unless told.
        concat: str. One of CONCAT_MODES; needs an NSP head.
        bigram_shift: bool or None. Add the bigram-shift head (None: only for `bigram_shift`).
        bigram_shift_layer: int or None. Block the bigram-shift head reads (default last).
        freeze_nsp: str or FreezePolicy. Lower NSP-Freeze policy; needs an NSP head.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: expected one of {VARIANTS}")
    if concat not in CONCAT_MODES:
        raise ValueError(f"concat={concat!r}: expected one of {CONCAT_MODES}")
    last = num_layers - 1
    lower = default_lower_layer(num_layers)
    mlm_default = lower if variant == "lower_mask" else last
    nsp_default = lower if variant == "lower_nsp" else last
    mlm = resolve_layer(mlm_default if mlm_layer is None else mlm_layer, num_layers, "mlm_layer")
    nsp = resolve_layer(nsp_default if nsp_layer is None else nsp_layer, num_layers, "nsp_layer")
    if variant == "without_nsp":
        if nsp_layer is not None:
            raise ValueError("nsp_layer is set but variant=without_nsp has no NSP head")
        nsp = None
    if bigram_shift is None:
        bigram_shift = variant == "bigram_shift"
    if variant == "bigram_shift" and not bigram_shift:
        raise ValueError("variant=bigram_shift needs bigram_shift=true")
    bigram = None
    if bigram_shift:
        bigram = resolve_layer(
            last if bigram_shift_layer is None else bigram_shift_layer,
            num_layers,
            "bigram_shift_layer",
        )
    elif bigram_shift_layer is not None:
        raise ValueError("bigram_shift_layer is set but the bigram-shift head is off")
    freeze = freeze_nsp if isinstance(freeze_nsp, FreezePolicy) else FreezePolicy.parse(freeze_nsp)
    if nsp is None and concat != "none":
        raise ValueError(f"concat={concat!r} needs an NSP head, but variant={variant}")
    if nsp is None and freeze.kind != "never":
        raise ValueError(f"freeze_nsp={freeze} needs an NSP head, but variant={variant}")
    return HeadLayout(
        num_layers=num_layers,
        mlm_layer=mlm,
        nsp_layer=nsp,
        concat=concat,
        bigram_shift_layer=bigram,
        freeze=freeze,
    )
