"""What a pre-training task is: everything that is its own, in one value (`PretrainingTask`).

A task says which TFRecord features carry its labels, how the data generator makes them for one
segment pair, which kind of head reads which encoder block, how its loss is weighted, and the
names of its flags. The library's general code (schema, generator, pretrainer, losses, data
pipeline, loop, study) reads these fields from `hbert_tf.tasks.PRETRAINING_TASKS`; no module
dispatches on a task's name.

Configuration layer: this package loads neither TensorFlow nor Keras. A task names its head by
kind (`HEAD_KINDS`); `hbert_tf.modeling.heads.build_head` makes the Keras layer of a kind.
"""

import dataclasses

INT64 = "int64"
FLOAT = "float"

# The kinds of head a task may place (the Keras layers: `hbert_tf.modeling.heads.build_head`):
#   masked_lm  reads the tokens at `masked_lm_positions` (+ the paper's concat), logits [B, P, V]
#   sentence   reads the block's [CLS] vector through its own pooler, logits [B, 2]
#   token      reads every token with its neighbours, logits [B, S, 2]
HEAD_KINDS = ("masked_lm", "sentence", "token")

# The sample weights a task's labels may take, besides a feature of its own (`weights=<name>`):
#   WORD_TOKENS  1 on the real tokens but [CLS] and both [SEP]s (per-token labels)
WORD_TOKENS = "word_tokens"

# Lengths a feature may have, besides a fixed int: the sequence or the masked-LM slots.
SEQ = "seq"
PREDICTIONS = "predictions"


@dataclasses.dataclass(frozen=True)
class Option:
    """A data-generator setting of a task (`--name` of tfrecords.create_pretraining_data).

    Args:
        name: str. Flag and manifest name, e.g. "sop_prob".
        default: float or str. A float option is a probability in [0, 1].
        help: str. The flag's help.
        choices: tuple of str, or () for a probability.
    """

    name: str
    default: object
    help: str
    choices: tuple = ()

    def check(self, value):
        """The value as stored (float or str); ValueError naming `--name` when out of range."""
        if self.choices:
            if value not in self.choices:
                raise ValueError(
                    f"--{self.name}={value!r}; expected one of {', '.join(self.choices)}"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"--{self.name}={value} must be in [0.0, 1.0]")
        return float(value)


@dataclasses.dataclass
class Pair:
    """One segment pair on its way to an instance; the tasks' `make_labels` edit it in turn.

    Fields:
        segments: [tokens_a, tokens_b], lists of WordPiece ids without [CLS]/[SEP].
        is_random_next: bool. B is a run of another document (NSP's label 1).
        labels: {feature: list}: per-instance label values (e.g. [1]).
        token_labels: {feature: (labels_a, labels_b)}: per-token labels of each segment; laid
            out as [0] + a + [0] + b + [0] beside [CLS] A [SEP] B [SEP].
    """

    segments: list
    is_random_next: bool
    labels: dict = dataclasses.field(default_factory=dict)
    token_labels: dict = dataclasses.field(default_factory=dict)


def _no_labels(pair, options, rng, context, stats):
    """`make_labels` of a task whose labels the generator makes elsewhere (MLM: masking)."""


@dataclasses.dataclass(frozen=True)
class PretrainingTask:
    """One pre-training task (see the module docstring).

    Args:
        name: str. Task and head name: `--heads=<name>:<block>`, output key `<name>_logits`,
            metrics `<name>_loss` / `<name>_accuracy`.
        title: str. For messages and reports ("sentence-order prediction").
        features: tuple of (feature, kind, length): its TFRecord features in writing order;
            kind INT64 or FLOAT, length SEQ, PREDICTIONS or an int.
        label_feature: str. The feature its head learns.
        weights: str or None. Sample weights of its labels: one of its features, WORD_TOKENS,
            or None (every label weighs 1).
        head: str. One of HEAD_KINDS.
        make_labels: callable(pair, options, rng, context, stats). Makes its labels (and may
            change the segments) before [CLS] A [SEP] B [SEP] is laid out; `options` are the
            generator options by name, `context` has `is_continuation` (per vocabulary id).
            Called in registry order, only when the task's labels are written.
        options: tuple of Option. Its data-generator flags.
        switch: str or None. The option (a probability) that turns its labels on when > 0;
            None: its features are in every file (BERT's own seven).
        stat_keys: tuple of str. Counters its `make_labels` adds to the generator's statistics.
        statistics: tuple of (manifest key, numerator, denominator): fractions of those counters.
        default_layer: int. Block its head reads when none is given (-1: the last).
        balanced: bool. Its loss is the mean of its two classes' losses (0/1 labels) unless the
            run turns balancing off, and it reports per-class recall and precision.
        layout_field: str or None. The `HeadLayout` field holding its block (the paper's three
            tasks); None: it is placed by `--heads` only.
        loss_weight_field: str or None. The `PretrainConfig` field of its loss weight (None:
            weight 1).
        study_model: str or None. A study variant it adds: model name in study files.
        study_heads: str or None. That variant's `--heads` placement.
        study_data: tuple of (option, value): that variant's data-generator options (its data
            copy, named after the task).
        study_label: str or None. That variant's row label in the study report.
    """

    name: str
    title: str
    features: tuple
    label_feature: str
    head: str
    make_labels: object = _no_labels
    weights: str | None = None
    options: tuple = ()
    switch: str | None = None
    stat_keys: tuple = ()
    statistics: tuple = ()
    default_layer: int = -1
    balanced: bool = False
    layout_field: str | None = None
    loss_weight_field: str | None = None
    study_model: str | None = None
    study_heads: str | None = None
    study_data: tuple = ()
    study_label: str | None = None

    def __post_init__(self):
        if self.head not in HEAD_KINDS:
            raise ValueError(f"task {self.name}: head={self.head!r}, expected one of {HEAD_KINDS}")
        if self.label_feature not in [f for f, _, _ in self.features]:
            raise ValueError(f"task {self.name}: label_feature is not one of its features")

    @property
    def output_key(self):
        """Its model output (and label, sample-weight, loss) key: "sop" -> "sop_logits"."""
        return f"{self.name}_logits"

    @property
    def optional(self):
        """True when its features are written only when `switch` > 0."""
        return self.switch is not None

    def enabled(self, options):
        """True when the generator writes its labels under these options ({name: value})."""
        return not self.optional or options.get(self.switch, 0) > 0

    def schema(self, max_seq_length, max_predictions_per_seq):
        """{feature: (kind, length)} of its features, in writing order."""
        sizes = {SEQ: int(max_seq_length), PREDICTIONS: int(max_predictions_per_seq)}
        return {name: (kind, sizes.get(size, size)) for name, kind, size in self.features}
