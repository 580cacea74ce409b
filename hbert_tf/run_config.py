"""Typed run configurations: one frozen dataclass per job, validated when built.

A config is a value: `to_json` / `from_json` write and read it in the run directory, and
`content_hash` (sha256 of the canonical JSON) names it. Flags are generated from its fields
(`hbert_tf.run_flags`); presets are configs (`PretrainConfig.preset_config`). Bad values raise
`UserError("--field=value: expected ...")`, which the binaries print as one line.

Example:
    >>> config = PretrainConfig.resolve(preset="tiny", train_steps=10)
    >>> config.config, config.train_steps
    ('tiny', 10)
    >>> PretrainConfig.from_json(config.to_json()) == config
    True
"""

import dataclasses
import hashlib
import json
import math
import typing

from hbert_tf.errors import UserError
from hbert_tf.variants import CONCAT_MODES, VARIANTS, FreezePolicy, parse_heads

DECAYS = ("constant", "linear", "cosine")
MIXED_PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
WEIGHT_DECAY_TYPES = ("l2", "decoupled")  # see hbert_tf.optimization
POOLINGS = ("cls", "mean")  # sentence vectors of the probing features


CLASSIFIERS = ("mlp", "senteval_lr", "senteval_mlp")
SENTEVAL_L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """The probing classifier.

    Args:
        classifier: str. "mlp": the paper's probe, `hidden_layers` Dense(`hidden_units`,
            `activation`) layers, no weight decay. "senteval_lr": SentEval's logistic regression;
            "senteval_mlp": SentEval's one hidden layer of `senteval_hidden_units` sigmoid units;
            both search the L2 penalty over `l2_grid` on va.
        hidden_units: int. Width of the paper's hidden layers (128).
        hidden_layers: int. Hidden layers of the paper's probe (2).
        activation: str. Activation of the paper's hidden layers (the paper does not say; relu).
        senteval_hidden_units: int. Hidden width of "senteval_mlp" (SentEval's default 50).
        dropout: float. Dropout after each hidden layer (SentEval's default 0).
        learning_rate: float. Adam's learning rate (1e-3 in the paper and in SentEval).
        amsgrad: bool. Adam's AMSGrad option (the paper: on for every experiment; SentEval: off).
        batch_size: int or None. None: 32 for "mlp" (the paper), 64 for SentEval's classifiers.
        max_epochs: int. Upper bound on epochs; early stopping usually ends sooner.
        patience: int. Epochs without a better va accuracy before stopping (SentEval: 5).
        l2_grid: tuple of float. L2 penalties tried by the SentEval classifiers (PyTorch's
            weight_decay values; the Keras penalty is half of each, which gives the same gradient).
    """

    classifier: str = "mlp"
    hidden_units: int = 128
    hidden_layers: int = 2
    activation: str = "relu"
    senteval_hidden_units: int = 50
    dropout: float = 0.0
    learning_rate: float = 1e-3
    amsgrad: bool = True
    batch_size: int | None = None
    max_epochs: int = 100
    patience: int = 5
    l2_grid: tuple = SENTEVAL_L2_GRID

    def __post_init__(self):
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"--classifier={self.classifier!r}: expected one of {CLASSIFIERS}")
        for name in ("hidden_units", "hidden_layers", "senteval_hidden_units", "max_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProbeConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 0 or not 0.0 <= self.dropout < 1.0 or self.learning_rate <= 0:
            raise ValueError(
                f"ProbeConfig: need patience >= 0, 0 <= dropout < 1, learning_rate > 0; got "
                f"{self.patience}, {self.dropout}, {self.learning_rate}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"--probe_batch_size must be >= 1, got {self.batch_size}")
        if not self.l2_grid or any(v < 0 for v in self.l2_grid):
            raise ValueError(f"--l2_grid must hold non-negative values, got {self.l2_grid}")

    @property
    def effective_batch_size(self):
        return self.batch_size or (32 if self.classifier == "mlp" else 64)


def setting(default, help, choices=None, flag=True):
    """A config field with its flag help text (and allowed values, for enum flags); `flag=False`:
    no flag (a value the binary sets)."""
    metadata = {"help": help, "choices": choices, "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


def _expect(ok, name, value, expected):
    if not ok:
        shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        raise UserError(f"--{name}={shown}: expected {expected}")


class RunConfig:
    """JSON, hashing and presets shared by the run configs (a mixin for frozen dataclasses)."""

    PRESETS = {}  # name -> config; filled in by each subclass

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        """Canonical JSON: sorted keys, no spaces (what `content_hash` hashes)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, values):
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserError(f"unknown {cls.__name__} settings {unknown}; expected {sorted(names)}")
        values = dict(values)
        for field in dataclasses.fields(cls):  # JSON has lists where the config has tuples
            if isinstance(values.get(field.name), list):
                values[field.name] = tuple(values[field.name])
        return cls(**values)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def content_hash(self):
        """sha256 hex digest of the canonical JSON: equal configs, equal hashes."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def resolve(cls, **explicit):
        """The preset named by `explicit["preset"]` (default: the field's default), with the
        explicitly given settings over it."""
        preset = explicit.get("preset", cls.__dataclass_fields__["preset"].default)
        if preset not in cls.PRESETS:
            raise UserError(f"--preset={preset!r}: expected one of {sorted(cls.PRESETS)}")
        return dataclasses.replace(cls.PRESETS[preset], **explicit)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def changed_from_preset(self):
        """Names of the fields whose value is not the preset's (sorted)."""
        preset = self.PRESETS[self.preset]
        return sorted(
            field.name
            for field in dataclasses.fields(self)
            if getattr(self, field.name) != getattr(preset, field.name)
        )


def field_types(cls):
    """{field name: (base type, optional, item type)}: `int | None` -> (int, True, None),
    `tuple[int, int]` -> (tuple, False, int), `tuple[str, ...] | None` -> (tuple, True, str)."""
    hints = typing.get_type_hints(cls)
    types = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = type(None) in typing.get_args(hint)
        base = args[0] if optional else hint
        items = [a for a in typing.get_args(base) if a is not Ellipsis]
        types[field.name] = (typing.get_origin(base) or base, optional, items[0] if items else None)
    return types


def _check_choices(config):
    """UserError for a field whose value is not among its metadata's `choices`."""
    for field in dataclasses.fields(config):
        choices = field.metadata.get("choices")
        value = getattr(config, field.name)
        if choices is not None:
            _expect(value in choices, field.name, value, f"one of {', '.join(choices)}")


@dataclasses.dataclass(frozen=True)
class PretrainConfig(RunConfig):
    """One pre-training run (`trainers.pretrain`, `hbert_tf.pretraining.run.run_pretraining`).

    Defaults are the paper's BERT-base pre-training (Section 4.2); `PRESETS["tiny"]` is the same
    on the 2-layer test encoder. `model_dir` and `train_data_128` are required to run.
    """

    preset: str = setting("paper", "paper: the paper's pre-training (BERT-base, dropout 0.1, "
                          "batch 32 at 128 / 1 at 384, Adam + AMSGrad, lr 1e-4, L2 weight decay "
                          "1e-4, no warmup/decay/clipping); tiny: the same on the 2-layer test "
                          "encoder. Flags given explicitly override the preset.",
                          ("paper", "tiny"))  # fmt: skip
    # --- Model ---
    config: str = setting("base", "Preset (tiny, small, base) or a bert_config.json path.")
    variant: str = setting("bert", "Which of the paper's variants to pre-train.", VARIANTS)
    heads: str | None = setting(None, "A general placement instead of --variant and the per-head "
                                "layer flags: the heads that run and the block each reads, e.g. "
                                "mlm:11,nsp:5,bigram_shift:11 (0-based, negative from the top; "
                                "--concat and --freeze_nsp still apply).")  # fmt: skip
    mlm_layer: int | None = setting(None, "Block the MLM head reads (0-based, negative from top).")
    nsp_layer: int | None = setting(None, "Block whose [CLS] the NSP head reads (0-based).")
    concat: str = setting("none", "Extra MLM-classifier input: NSP-level [CLS] vector (cls) or "
                          "NSP classifier output (nsp). Needs an NSP head.", CONCAT_MODES)  # fmt: skip
    bigram_shift: bool | None = setting(None, "Add the bigram-shift head (default: only for "
                                        "--variant=bigram_shift). The data must carry "
                                        "bigram_shift_labels.")  # fmt: skip
    bigram_shift_layer: int | None = setting(
        None, "Block the bigram-shift head reads (default last)."
    )
    freeze_nsp: str = setting("never", "Lower NSP-Freeze: never, at_step:N or plateau:P (NSP eval "
                              "accuracy not improved for P evaluations; needs --eval_data and "
                              "--eval_every).")  # fmt: skip
    init_from: str | None = setting(None, "Start from our model_dir, a keras-hub preset or a local "
                                    "Hugging Face BERT directory (its vocabulary must be the "
                                    "data's).")  # fmt: skip
    dropout: float | None = setting(0.1, "Hidden and attention dropout (paper: 0.1).")
    mlm_loss_weight: float = setting(1.0, "Weight of the MLM loss.")
    nsp_loss_weight: float = setting(1.0, "Weight of the NSP loss.")
    bigram_shift_loss_weight: float = setting(1.0, "Weight of the bigram-shift loss.")
    bigram_shift_balanced: bool = setting(True, "Bigram-shift loss = mean of the in-place and "
                                          "swapped classes' losses (false: mean over tokens).")  # fmt: skip
    # --- Data ---
    train_data_128: str | None = setting(None, "Short-sequence TFRecords: a folder written by "
                                         "create_pretraining_data or a file pattern.")  # fmt: skip
    train_data_384: str | None = setting(None, "Long-sequence TFRecords (optional).")
    eval_data: str | None = setting(None, "Held-out TFRecords at the short length (optional).")
    max_seq_length: tuple[int, int] = setting((128, 384), "Lengths of the short and long data. "
                                              "Must match the values used to create the data.")  # fmt: skip
    max_predictions_per_seq: tuple[int, int] = setting((20, 58), "MLM slots per sequence of the "
                                                       "short and long data. Must match the "
                                                       "values used to create the data.")  # fmt: skip
    train_steps: int = setting(1000, "Total steps over both lengths.")
    long_seq_fraction: float = setting(0.1, "Fraction of steps on the long data, run after the "
                                       "short ones as in BERT (paper: 0.1).")  # fmt: skip
    batch_size_128: int = setting(32, "Global batch size at the short length (paper: 32).")
    batch_size_384: int = setting(1, "Global batch size at the long length (paper: 1).")
    eval_batch_size: int = setting(32, "Evaluation batch size.")
    eval_batches: int = setting(50, "Most batches per evaluation (0: the whole eval set).")
    seed: int = setting(12345, "Seed of initialisation and shuffling.")
    # --- Optimiser ---
    learning_rate: float = setting(1e-4, "Peak learning rate (paper: 1e-4).")
    weight_decay: float = setting(1e-4, "Weight decay (paper: 1e-4), not on biases/LayerNorm.")
    weight_decay_type: str = setting("l2", "l2: added to the gradient before the Adam moments "
                                     "(PyTorch's Adam, the paper); decoupled: AdamW's "
                                     "w -= lr * wd * w.", WEIGHT_DECAY_TYPES)  # fmt: skip
    amsgrad: bool = setting(True, "Adam's AMSGrad option (paper: on).")
    warmup_steps: int = setting(0, "Linear warmup steps.")
    decay: str = setting("constant", "Decay after warmup.", DECAYS)
    clip_norm: float | None = setting(None, "Clip gradients to this global norm.")
    # --- Execution ---
    strategy: str = setting("default", "tf.distribute strategy.", STRATEGIES)
    tpu: str = setting("", "TPU address for --strategy=tpu.")
    cpu_devices: int = setting(0, "Split the CPU into N logical devices (no GPU; testing).")
    mixed_precision: str = setting("none", "Keras dtype policy.", MIXED_PRECISIONS)
    jit_compile: bool = setting(False, "XLA-compile the forward and backward pass (pays on "
                                "GPU/TPU; slower on a small CPU).")  # fmt: skip
    steps_per_execution: int = setting(1, "Steps run inside one tf.function call.")
    # --- Output ---
    model_dir: str | None = setting(None, "Checkpoints, run_config.json, vocab.txt, TensorBoard "
                                    "logs and metrics.json.")  # fmt: skip
    checkpoint_every: int = setting(500, "Save a checkpoint every N steps.")
    eval_every: int = setting(0, "Evaluate every N steps (0: only at the end; "
                              "--freeze_nsp=plateau:P needs N > 0).")  # fmt: skip
    log_every: int = setting(50, "Log training metrics every N steps.")

    def __post_init__(self):
        _check_choices(self)
        for name in ("max_seq_length", "max_predictions_per_seq"):
            pair = tuple(getattr(self, name))
            if len(pair) == 1:  # one value: both lengths
                pair = pair * 2
            _expect(
                len(pair) == 2 and all(isinstance(n, int) and n >= 1 for n in pair),
                name,
                pair,
                "one or two positive integers",
            )
            object.__setattr__(self, name, pair)
        positive = ["learning_rate", "batch_size_128", "batch_size_384", "eval_batch_size"]
        at_least_zero = [
            "weight_decay", "warmup_steps", "eval_batches", "eval_every", "log_every",
            "mlm_loss_weight", "nsp_loss_weight", "bigram_shift_loss_weight", "cpu_devices",
        ]  # fmt: skip
        if self.clip_norm is not None:
            positive.append("clip_norm")
        for name in positive + at_least_zero:
            value = getattr(self, name)
            strict = name in positive
            _expect(
                isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
                and not (strict and value == 0),
                name,
                value,
                "a finite number > 0" if strict else "a finite number >= 0",
            )  # fmt: skip
        if self.dropout is not None:
            _expect(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a rate in [0, 1)")
        _expect(self.train_steps >= 1, "train_steps", self.train_steps, "at least 1")
        if self.heads is not None:
            try:
                parse_heads(self.heads)
            except ValueError as e:
                raise UserError(str(e)) from None
            per_head = ("mlm_layer", "nsp_layer", "bigram_shift", "bigram_shift_layer")
            given = [f"--{n}" for n in per_head if getattr(self, n) is not None]
            given += ["--variant"] if self.variant != "bert" else []
            if given:
                raise UserError(
                    f"--heads={self.heads} places every head; drop {', '.join(given)} (or --heads)"
                )
        _expect(
            0.0 <= self.long_seq_fraction < 1.0,
            "long_seq_fraction",
            self.long_seq_fraction,
            "a fraction in [0, 1)",
        )
        for name in ("steps_per_execution", "checkpoint_every"):
            _expect(getattr(self, name) >= 1, name, getattr(self, name), "at least 1")
        try:
            FreezePolicy.parse(self.freeze_nsp)
        except ValueError as e:
            raise UserError(f"--{e}") from None

    def require(self, *names):
        """Raises UserError for the first of `names` that is not set (needed to run)."""
        for name in names:
            if not getattr(self, name):
                raise UserError(f"--{name} is required")

    @property
    def short(self):
        """(seq_length, predictions) of the short-length data."""
        return self.max_seq_length[0], self.max_predictions_per_seq[0]

    @property
    def long(self):
        """(seq_length, predictions) of the long-length data."""
        return self.max_seq_length[1], self.max_predictions_per_seq[1]


# The paper's pre-training is the default; "tiny" is it on the 2-layer, 32-wide test encoder.
PretrainConfig.PRESETS = {
    "paper": PretrainConfig(),
    "tiny": PretrainConfig(preset="tiny", config="tiny"),
}


@dataclasses.dataclass(frozen=True)
class ProbeRunConfig(RunConfig):
    """One probing run (`trainers.probe`): models, tasks, layers, the probe and its training.

    Defaults are the paper's probe (Section 4.4); `PRESETS["senteval"]` is SentEval's.
    `model_dir`, `task_dir` and `output_dir` are required to run.
    """

    preset: str = setting("paper", "paper: the paper's probe (2x128 MLP, Adam + AMSGrad lr 1e-3, "
                          "batch 32, no weight decay, NSP-level [CLS]); senteval: SentEval's. "
                          "Flags given explicitly override the preset.", ("paper", "senteval"))  # fmt: skip
    model_dir: tuple[str, ...] | None = setting(None, "Model(s) to probe, comma-separated: our "
                                                "pre-training model dirs, keras-hub presets, "
                                                "Hugging Face BERT directories (a released "
                                                "BERT) or none (random weights); several are "
                                                "compared side by side.")  # fmt: skip
    task_dir: str | None = setting(None, "SentEval's data/probing folder, or one we generated.")
    tasks: str = setting("all", "'all' (every task file present) or names/codes (SL,WC,...).")
    layer: tuple[str, ...] = setting(("nsp",), "Layer(s) to probe: nsp (the NSP head's layer; the "
                                     "last for a model without NSP), mlm, embeddings, or a 0-based "
                                     "block index (negative from the top). Comma list compares.")  # fmt: skip
    pooling: tuple[str, ...] = setting(
        ("cls",), "cls (the [CLS] vector, as the paper) and/or mean."
    )
    output_dir: str | None = setting(None, "Where probing.json/.txt/.png and cache/ go.")
    classifier: str = setting("mlp", "mlp: the paper's (2x128, Adam 1e-3, batch 32, no weight "
                              "decay); senteval_lr / senteval_mlp: SentEval's, L2 searched on va.",
                              CLASSIFIERS)  # fmt: skip
    activation: str = setting("relu", "Activation of the paper's MLP (the paper is silent).")
    dropout: float = setting(0.0, "Dropout after each hidden layer of the probe.")
    max_epochs: int = setting(100, "Upper bound on probe epochs (early stopping on va).")
    patience: int = setting(5, "Epochs without better va accuracy before stopping.")
    probe_batch_size: int | None = setting(32, "Probe batch (paper 32, SentEval 64).")
    learning_rate: float = setting(1e-3, "Adam learning rate of the probe.")
    amsgrad: bool = setting(True, "Adam's AMSGrad option for the probe.")
    hidden_units: int = setting(128, "Width of each hidden layer of --classifier=mlp.")
    hidden_layers: int = setting(2, "Hidden layers of --classifier=mlp.")
    senteval_hidden_units: int = setting(50, "Hidden units of --classifier=senteval_mlp.")
    max_seq_length: int = setting(128, "Longer sentences are truncated (logged).")
    batch_size: int = setting(64, "Sentences per feature-extraction batch.")
    max_train_examples: int | None = setting(None, "Probe on a seeded subsample of tr (quick "
                                             "runs).")  # fmt: skip
    vocab_file: str | None = setting(None, "Overrides each model's vocab.txt; must match the "
                                     "models. Required for --model_dir=none.")  # fmt: skip
    config: str = setting("base", "Architecture of --model_dir=none (random weights seeded by "
                          "--seed): a preset (tiny, small, base), a bert_config.json or a "
                          "pre-training model_dir.")  # fmt: skip
    seed: int = setting(0, "Seed of the probe's initialisation and shuffling.")
    cache: bool = setting(True, "Reuse and store features under <output_dir>/cache/.")
    # --- Execution (feature extraction) ---
    mixed_precision: str = setting("none", "Keras dtype policy the encoder computes features in "
                                   "(features are kept as float32).", MIXED_PRECISIONS)  # fmt: skip
    jit_compile: bool = setting(False, "XLA-compile feature extraction (pays on GPU/TPU).")

    def __post_init__(self):
        _check_choices(self)
        for pooling in self.pooling:
            if pooling not in POOLINGS:
                raise UserError(f"--pooling={pooling!r}: expected one of {POOLINGS}")
        _expect(bool(self.layer), "layer", self.layer, "at least one layer")
        _expect(bool(self.pooling), "pooling", self.pooling, "at least one pooling")
        for name in ("max_seq_length", "batch_size", "max_epochs"):
            _expect(getattr(self, name) >= 1, name, getattr(self, name), "at least 1")
        _expect(self.patience >= 0, "patience", self.patience, "at least 0")
        for name in ("probe_batch_size", "max_train_examples"):
            value = getattr(self, name)
            _expect(value is None or value >= 1, name, value, "at least 1")
        _expect(
            math.isfinite(self.learning_rate) and self.learning_rate > 0,
            "learning_rate",
            self.learning_rate,
            "a finite number > 0",
        )
        _expect(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a rate in [0, 1)")
        self.probe()  # the classifier's own checks

    def require(self, *names):
        """Raises UserError for the first of `names` that is not set (needed to run)."""
        for name in names:
            if not getattr(self, name):
                raise UserError(f"--{name} is required")

    def probe(self):
        """The probing classifier's `probing_classifier.ProbeConfig`."""
        try:
            return ProbeConfig(
                classifier=self.classifier,
                hidden_units=self.hidden_units,
                hidden_layers=self.hidden_layers,
                activation=self.activation,
                dropout=self.dropout,
                learning_rate=self.learning_rate,
                amsgrad=self.amsgrad,
                max_epochs=self.max_epochs,
                patience=self.patience,
                batch_size=self.probe_batch_size,
                senteval_hidden_units=self.senteval_hidden_units,
            )
        except ValueError as e:
            raise UserError(str(e)) from None


ProbeRunConfig.PRESETS = {
    # The paper (Section 4.4): MLP with two hidden layers of 128 on the NSP level's [CLS],
    # Adam (default betas, AMSGrad) at lr 1e-3, batch 32, no weight decay.
    "paper": ProbeRunConfig(),
    # SentEval's own probe: one hidden layer of 50 sigmoid units, L2 searched on va, plain Adam.
    "senteval": ProbeRunConfig(
        preset="senteval", classifier="senteval_mlp", amsgrad=False, probe_batch_size=64
    ),
}


FINETUNE_MODELS = ("bert", "bilstm")
DATA_SOURCES = ("files", "tfds", "builtin")


@dataclasses.dataclass(frozen=True)
class FinetuneConfig(RunConfig):
    """One fine-tuning run: the settings both tasks share (`SquadConfig`, `MnliConfig` add theirs).

    Defaults are the paper's fine-tuning (Section 4.2); `PRESETS["bert"]` is BERT's usual recipe.
    `FinetuneConfig.resolve(task="squad" | "mnli", **explicit)` gives the task's config.
    `model_dir`, and `init_from` for --model=bert, are required to run (`check_runnable`).
    """

    TASK = None  # "squad" or "mnli" in the subclasses

    task: str = setting("squad", "Fine-tuning task.", ("squad", "mnli"), flag=False)
    # --- Starting point and read-out (Fig. 3) ---
    model_dir: str | None = setting(None, "Fine-tuning outputs: checkpoints, logs, predictions, "
                                    "metrics.json. Rerunning resumes; a finished run only "
                                    "evaluates.")  # fmt: skip
    init_from: str | None = setting(None, "A pre-training model_dir (read-outs from its layout), a "
                                    "keras-hub preset name (downloads), a local Hugging Face BERT "
                                    "directory, or 'none' (same architecture, random weights).")  # fmt: skip
    model: str = setting("bert", "bert: a BERT encoder; bilstm: the BiLSTM + fastText baseline "
                         "(same read-outs).", FINETUNE_MODELS)  # fmt: skip
    config: str = setting("base", "With --init_from=none: preset (tiny, small, base), a "
                          "bert_config.json or a pre-training model_dir whose architecture to "
                          "copy. vocab_size is set from the vocabulary.")  # fmt: skip
    vocab_file: str | None = setting(None, "Override the vocabulary stored with --init_from. Must "
                                     "have the model's vocab_size tokens.")  # fmt: skip
    do_lower_case: str = setting("auto", "Must match the vocabulary; auto: lower-case unless the "
                                 "vocabulary has upper-case tokens.", ("auto", "true", "false"))  # fmt: skip
    concat: str = setting("auto", "Extra input of every token classifier input: cls = NSP-level "
                          "[CLS] vector (Fig. 3c), nsp = the NSP classifier's output (Fig. 3d, "
                          "needs a pre-trained NSP head); auto = what pre-training used.",
                          ("auto", "none", "cls", "nsp"))  # fmt: skip
    token_layer: int | None = setting(None, "Block whose tokens the span head reads (default: the "
                                      "MLM level of --init_from, else the last).")  # fmt: skip
    sentence_layer: int | None = setting(None, "Block whose [CLS] is the sentence vector (default: "
                                         "the NSP level of --init_from, else the last).")  # fmt: skip
    dropout: float | None = setting(None, "Override the dropout rates of the encoder (default: its "
                                    "config's) and of the task head (default 0.1).")  # fmt: skip
    # --- Optimisation ---
    preset: str = setting("paper", "paper: the paper's fine-tuning (Adam + AMSGrad, lr 1e-5, no "
                          "weight decay, batch 1, no warmup/decay/clipping); bert: BERT's recipe "
                          "(lr 5e-5, batch 32, 10% warmup, linear decay, clipping at 1). Flags "
                          "given explicitly override the preset.", ("paper", "bert"))  # fmt: skip
    learning_rate: float = setting(1e-5, "Peak learning rate (paper: 1e-5).")
    batch_size: int = setting(1, "Global training batch size (paper: 1).")
    weight_decay: float = setting(0.0, "Weight decay, not on biases/LayerNorm (paper: none).")
    weight_decay_type: str = setting("l2", "l2 (added to the gradient, PyTorch's Adam) or "
                                     "decoupled (AdamW).", WEIGHT_DECAY_TYPES)  # fmt: skip
    amsgrad: bool = setting(True, "Adam's AMSGrad option (paper: on).")
    warmup_proportion: float = setting(0.0, "Fraction of the steps spent warming up.")
    decay: str = setting("constant", "Learning-rate decay after warmup.", DECAYS)
    clip_norm: float = setting(0.0, "Clip gradients to this global norm (0: no clipping).")
    train_steps: int | None = setting(None, "Training steps; overrides --num_train_epochs.")
    num_train_epochs: float = setting(2.0, "Passes over the training features.")
    checkpoint_every: int = setting(1000, "Steps between backups (resume points) and "
                                    "TensorBoard/progress summaries.")  # fmt: skip
    seed: int = setting(12345, "Seed of initialisation, dropout and shuffling.")
    # --- Data ---
    data: str = setting("files", "files: --train_file etc.; tfds: download from TensorFlow "
                        "Datasets; builtin: the built-in corpus' own set.", DATA_SOURCES)  # fmt: skip
    tfds_data_dir: str | None = setting(None, "TFDS data_dir for --data=tfds.")
    train_file: str | None = setting(None, "Training file (SQuAD JSON; MultiNLI TSV or JSONL).")
    builtin_seed: int = setting(0, "Corpus seed for --data=builtin.")
    builtin_documents: int = setting(400, "Training documents for --data=builtin (dev sets are "
                                     "made from further documents).")  # fmt: skip
    max_seq_length: int = setting(384, "Tokens per input; at most the model's "
                                  "max_position_embeddings.")  # fmt: skip
    eval_batch_size: int = setting(64, "Prediction batch size.")
    do_train: bool = setting(True, "Train (skipped when model_dir holds a finished run).")
    do_eval: bool = setting(True, "Predict and evaluate on the dev set(s).")
    verbose: str = setting("auto", "Keras progress output: auto, 0 (none), 1 (bar), 2 (a line "
                           "per interval).", ("auto", "0", "1", "2"))  # fmt: skip
    # --- BiLSTM baseline ---
    embeddings: str | None = setting(None, "--model=bilstm: fastText .vec (text) file; without it "
                                     "fastText subword vectors are trained on the task's "
                                     "training text (gensim).")  # fmt: skip
    embedding_dim: int = setting(100, "Size of vectors trained without --embeddings.")
    lstm_units: int = setting(128, "BiLSTM units per direction.")
    lstm_layers: int = setting(2, "Stacked BiLSTM layers.")
    train_embeddings: bool = setting(False, "Fine-tune the word vectors too.")
    # --- Execution ---
    strategy: str = setting("default", "tf.distribute strategy (multi_worker_mirrored reads "
                            "TF_CONFIG).", STRATEGIES)  # fmt: skip
    tpu: str = setting("", "TPU address for --strategy=tpu.")
    cpu_devices: int = setting(0, "Split the CPU into N logical devices (no GPU; testing).")
    mixed_precision: str = setting("none", "Keras dtype policy (mixed_float16 scales the loss).",
                                   MIXED_PRECISIONS)  # fmt: skip
    jit_compile: bool = setting(False, "XLA-compile the training step (pays on GPU/TPU).")
    steps_per_execution: int = setting(1, "Training steps run inside one tf.function call.")

    def __post_init__(self):
        if self.TASK is not None:  # the subclass fixes the task
            _expect(self.task == self.TASK, "task", self.task, self.TASK)
        object.__setattr__(self, "verbose", str(self.verbose))
        _check_choices(self)
        at_least_one = ["batch_size", "checkpoint_every", "eval_batch_size", "max_seq_length"]
        at_least_one += ["builtin_documents", "steps_per_execution"]
        at_least_one += ["embedding_dim", "lstm_units", "lstm_layers"]
        if self.train_steps is not None:
            at_least_one.append("train_steps")
        for name in at_least_one:
            value = getattr(self, name)
            _expect(isinstance(value, int) and value >= 1, name, value, "at least 1")
        for name in ("learning_rate", "weight_decay", "warmup_proportion", "clip_norm",
                     "num_train_epochs", "cpu_devices"):  # fmt: skip
            value = getattr(self, name)
            strict = name in ("learning_rate", "num_train_epochs")
            _expect(
                isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
                and not (strict and value == 0),
                name,
                value,
                "a finite number > 0" if strict else "a finite number >= 0",
            )  # fmt: skip
        _expect(
            self.warmup_proportion <= 1.0, "warmup_proportion", self.warmup_proportion, "[0, 1]"
        )
        if self.dropout is not None:
            _expect(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a rate in [0, 1)")

    @classmethod
    def resolve(cls, **explicit):
        """The task's config (`explicit["task"]` picks `SquadConfig` / `MnliConfig` when called
        on FinetuneConfig): the preset named by `explicit["preset"]` with `explicit` over it."""
        if cls is FinetuneConfig:
            task = explicit.get("task", "squad")
            _expect(task in FINETUNE_TASKS, "task", task, f"one of {', '.join(FINETUNE_TASKS)}")
            return FINETUNE_TASKS[task].resolve(**explicit)
        return super().resolve(**explicit)

    @classmethod
    def from_dict(cls, values):
        if cls is FinetuneConfig:  # the saved task names the class
            task = values.get("task")
            _expect(task in FINETUNE_TASKS, "task", task, f"one of {', '.join(FINETUNE_TASKS)}")
            return FINETUNE_TASKS[task].from_dict(values)
        return super().from_dict(values)

    def check_runnable(self):
        """UserError when a setting needed to run is missing."""
        if not self.model_dir:
            raise UserError("--model_dir is required")
        if self.model == "bert" and not self.init_from:
            raise UserError("--init_from is required: a model_dir, a preset, a directory or none")

    @property
    def keras_verbose(self):
        """`verbose` as Keras takes it ("auto" or 0, 1, 2)."""
        return self.verbose if self.verbose == "auto" else int(self.verbose)

    def optimisation(self):
        """{field: value} of the settings the presets set (logged at the start of a run)."""
        return {name: getattr(self, name) for name in _PRESET_FIELDS}


@dataclasses.dataclass(frozen=True)
class SquadConfig(FinetuneConfig):
    """One SQuAD 1.1 / 2.0 run (`trainers.finetune_squad`, `finetuning_run.run_squad`)."""

    TASK = "squad"

    task: str = setting("squad", "Fine-tuning task.", ("squad",), flag=False)
    max_seq_length: int = setting(384, "Tokens per input; at most the model's "
                                  "max_position_embeddings.")  # fmt: skip
    version: str = setting("1.1", "SQuAD version (2.0 adds unanswerable questions, null scores "
                           "and HasAns/NoAns metrics).", ("1.1", "2.0"))  # fmt: skip
    predict_file: str | None = setting(None, "SQuAD JSON evaluated after training "
                                       "(--data=files).")  # fmt: skip
    doc_stride: int = setting(128, "Tokens between the starts of consecutive context windows.")
    max_query_length: int = setting(64, "Questions are truncated to this many tokens (counted and "
                                    "logged). Must be < max_seq_length - 3.")  # fmt: skip
    n_best_size: int = setting(20, "Candidate spans kept per question.")
    max_answer_length: int = setting(30, "Longest answer, in tokens.")
    null_score_diff_threshold: float = setting(0.0, "2.0: answer '' when null score - best span "
                                               "score exceeds this; the best value on the "
                                               "evaluated set is reported beside it in "
                                               "metrics.json.")  # fmt: skip

    def __post_init__(self):
        super().__post_init__()
        for name in ("doc_stride", "max_query_length", "n_best_size", "max_answer_length"):
            value = getattr(self, name)
            _expect(isinstance(value, int) and value >= 1, name, value, "at least 1")
        _expect(
            math.isfinite(self.null_score_diff_threshold),
            "null_score_diff_threshold",
            self.null_score_diff_threshold,
            "a finite number",
        )


@dataclasses.dataclass(frozen=True)
class MnliConfig(FinetuneConfig):
    """One MultiNLI run (`trainers.finetune_mnli`, `finetuning_run.run_mnli`)."""

    TASK = "mnli"

    task: str = setting("mnli", "Fine-tuning task.", ("mnli",), flag=False)
    max_seq_length: int = setting(128, "Tokens per input; at most the model's "
                                  "max_position_embeddings.")  # fmt: skip
    num_train_epochs: float = setting(3.0, "Passes over the training pairs.")
    dev_matched_file: str | None = setting(None, "MultiNLI dev matched (TSV or JSONL).")
    dev_mismatched_file: str | None = setting(None, "MultiNLI dev mismatched (TSV or JSONL).")


FINETUNE_TASKS = {"squad": SquadConfig, "mnli": MnliConfig}
# BERT's usual, much faster recipe: AdamW-style, 10% warmup, linear decay, clipping at 1. The
# paper's (the field defaults) names only Adam + AMSGrad, lr 1e-5, no weight decay, batch 1.
_BERT_RECIPE = dict(
    preset="bert",
    learning_rate=5e-5,
    batch_size=32,
    weight_decay_type="decoupled",
    amsgrad=False,
    warmup_proportion=0.1,
    decay="linear",
    clip_norm=1.0,
)
_PRESET_FIELDS = ("weight_decay",) + tuple(k for k in _BERT_RECIPE if k != "preset")
for _cls in (SquadConfig, MnliConfig):
    _cls.PRESETS = {"paper": _cls(), "bert": _cls(**_BERT_RECIPE)}
