"""Study files: the JSON that declares a whole study, read and validated into a `Study`.

The schema is documented in docs/study.md. Every error names the file and the key path:
`study paper.json: variants[2].layers: expected a list of ints or "all", got "x"`.
Built-in studies live in `hbert_tf/study/studies/<name>.json`; `load_study` takes a name or a path.
"""

import dataclasses
import json
import os

from hbert_tf import files
from hbert_tf.errors import UserError
from hbert_tf.finetuning import tasks as downstream_tasks
from hbert_tf.probing.senteval_format import TASK_NAMES
from hbert_tf.run_config import PretrainConfig, ProbeRunConfig, field_types
from hbert_tf.tasks import PRETRAINING_TASKS

STUDIES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "studies")
CORPORA = ("builtin", "pydoc", "wikitext", "squad")
PAPER_MODELS = (
    "bert",
    "lower_nsp",
    "lower_mask",
    "lower_nsp_freeze",
    "without_nsp",
    "bigram_shift",
)
# A pre-training task may add a model of its own (`PretrainingTask.study_model`, e.g. "sop"):
# trained with its `--heads` placement on its own data copy.
TASK_MODELS = {t.study_model: t for t in PRETRAINING_TASKS if t.study_model}
MODELS = PAPER_MODELS + tuple(TASK_MODELS)
SWEPT = ("lower_nsp", "lower_mask", "lower_nsp_freeze")  # models with a layer k
CONCATS = ("none", "cls", "nsp")
TASKS = downstream_tasks.STUDY_NAMES  # every registered downstream task
PAPER_TASKS = tuple(t for t in TASKS if downstream_tasks.study_task(t).in_paper)  # the default
TASK_METRICS = {t: downstream_tasks.study_task(t).metrics for t in TASKS}
BASELINES = ("pretrained_bert", "no_pretraining", "bilstm")
PRETRAIN_LOSS = "pretrain_eval_loss"
TOP_KEYS = {
    "description", "encoder", "seeds", "corpora", "corpus_data", "pretrain",
    "variants", "select_by", "downstream", "probing", "baselines", "pretrained_bert",
    "compare_with",
}  # fmt: skip
PAPER_CORPORA = ("squad", "wikitext")
REQUIRED = ("encoder", "corpora", "variants", "select_by")
VARIANT_KEYS = {"model", "layers", "concat", "freeze_nsp", "pretrain"}
DOWNSTREAM_KEYS = {"tasks", "concat_cross", "settings", "task_settings", "builtin_documents"}
PROBING_KEYS = {"tasks", "settings", "generate"}
# {key: (type, optional, item type)} of the values a study file may set, as `field_types` gives
# them for the run configs. corpus_data feeds `units.CorpusData`; generate feeds
# `tfrecords.probing_tasks.GenerationConfig` (tests/test_hardening.py checks both tables).
CORPUS_DATA_TYPES = {
    "builtin_documents": (int, False, None), "vocab_size": (int, False, None),
    "max_seq_length": (tuple, False, int), "max_predictions_per_seq": (tuple, False, int),
    "dupe_factor": (int, False, None), "eval_documents": (int, False, None),
    "bigram_shift_prob": (float, False, None), "num_shards": (int, False, None),
}  # fmt: skip
GENERATE_TYPES = {
    "train_size": (int, False, None), "dev_size": (int, False, None),
    "test_size": (int, False, None), "seed": (int, False, None),
    "num_length_bins": (int, False, None), "length_bins": (str, False, None),
    "word_content_words": (int, False, None), "word_content_skip": (float, False, None),
    "min_words": (int, False, None), "max_words": (int, False, None),
    "num_documents": (int, False, None), "do_lower_case": (bool, False, None),
}  # fmt: skip
_PRETRAIN_TYPES = field_types(PretrainConfig)
_FINETUNE_TYPES = {t: field_types(downstream_tasks.study_task(t).config_class) for t in TASKS}
_FINETUNE_TYPES["any"] = {k: v for t in TASKS for k, v in _FINETUNE_TYPES[t].items()}  # settings
_TYPE_NAMES = {int: "an int", float: "a number", bool: "true or false", str: "a string"}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One pre-trained model family: its layer sweep (empty: unswept) and concat modes."""

    model: str
    layers: tuple = ()
    concat: tuple = ("none",)
    freeze_nsp: str = "never"
    pretrain: tuple = ()  # sorted (field, value) pairs: PretrainConfig overrides of this variant


@dataclasses.dataclass(frozen=True)
class Study:
    """A validated study. Dict-valued settings are kept as sorted (key, value) tuples (hashable)."""

    name: str
    source: str
    description: str
    encoder: str
    num_layers: int
    seeds: tuple
    corpora: tuple
    corpus_data: tuple
    pretrain: tuple
    variants: tuple
    select_by: str
    tasks: tuple
    concat_cross: tuple
    finetune: tuple
    task_settings: tuple  # ((task, ((field, value), ...)), ...)
    downstream_documents: int
    probing_tasks: tuple
    probe: tuple
    probe_generate: tuple
    baselines: tuple
    pretrained_bert: str | None
    compare_with: tuple = ()  # ((our corpus, the paper's corpus), ...): report only, not hashed

    def task_overrides(self, task):
        """Fine-tuning settings of `task`: the common ones, then the task's own."""
        return dict(self.finetune, **dict(dict(self.task_settings).get(task, ())))

    @property
    def select_task(self):
        """The downstream task `select_by` names, or None for the pre-training eval loss."""
        return None if self.select_by == PRETRAIN_LOSS else self.select_by.rsplit(".", 1)[0]


def builtin_names():
    return sorted(n[:-5] for n in files.listdir(STUDIES_DIR) if n.endswith(".json"))


def load_study(name_or_path, seeds=None):
    """The `Study` of a built-in name or a JSON file; `seeds` (list of int) overrides its seeds."""
    if files.isfile(name_or_path):
        path = name_or_path
    elif name_or_path in builtin_names():
        path = os.path.join(STUDIES_DIR, f"{name_or_path}.json")
    else:
        raise UserError(
            f"--study={name_or_path}: neither a file nor a built-in study "
            f"({', '.join(builtin_names())})"
        )
    label = f"study {os.path.basename(path)}"
    try:
        values = files.read_json(path)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{label}: not valid JSON ({e})") from None
    if seeds is not None:
        values = dict(values, seeds=list(seeds)) if isinstance(values, dict) else values
    name = os.path.splitext(os.path.basename(path))[0]
    return parse_study(values, name, path, label)


class _Checker:
    """Type checks that raise UserError naming `<label>: <key path>`."""

    def __init__(self, label):
        self.label = label

    def fail(self, where, expected, value):
        raise UserError(f"{self.label}: {where}: expected {expected}, got {json.dumps(value)}")

    def dict(self, value, where, allowed, required=()):
        if not isinstance(value, dict):
            self.fail(where, "an object", value)
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            prefix = f"{where}." if where else ""
            raise UserError(
                f"{self.label}: {prefix}{unknown[0]}: unknown key; expected one of "
                f"{', '.join(sorted(allowed))}"
            )
        for key in required:
            if key not in value:
                raise UserError(f"{self.label}: {where + '.' if where else ''}{key}: missing")
        return value

    def int(self, value, where, minimum=None):
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(where, "an int", value)
        if minimum is not None and value < minimum:
            self.fail(where, f"an int >= {minimum}", value)
        return value

    def choice(self, value, where, choices):
        if value not in choices:
            self.fail(where, f"one of {', '.join(choices)}", value)
        return value

    def choices(self, value, where, choices):
        if not isinstance(value, list) or not value:
            self.fail(where, f"a non-empty list of {', '.join(choices)}", value)
        return tuple(self.choice(v, f"{where}[{i}]", choices) for i, v in enumerate(value))

    def settings(self, value, where, types):
        """An object of run-config settings, as sorted (key, value) pairs (lists -> tuples).

        Args:
            types: dict key -> (type, optional, item type), as `run_config.field_types` gives
                them: every key must be one of them and every value of its type.
        """
        self.dict(value, where, allowed=types)
        for key, item in value.items():
            self.typed(item, f"{where}.{key}", *types[key])
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in value.items()))

    def typed(self, value, where, kind, optional=False, items=None):
        """`value` if it is of `kind` (null when `optional`; a list of `items` for a tuple)."""
        if value is None and optional:
            return value
        if kind is tuple:
            if not isinstance(value, list):
                self.fail(where, f"a list of {_TYPE_NAMES.get(items, 'values')[2:]}s", value)
            for i, v in enumerate(value):
                if items in _TYPE_NAMES:
                    self.typed(v, f"{where}[{i}]", items)
            return value
        ok = {
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, (int, float)) and not isinstance(value, bool),
            bool: isinstance(value, bool),
            str: isinstance(value, str),
        }.get(kind, True)
        if not ok:
            self.fail(where, _TYPE_NAMES[kind] + (" or null" if optional else ""), value)
        return value


def parse_study(values, name, source, label):
    """Validates the JSON `values` of a study; returns a `Study`."""
    check = _Checker(label)
    check.dict(values, "", TOP_KEYS, REQUIRED)
    encoder, num_layers = _encoder(check, values["encoder"], source)
    seeds = values.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        check.fail("seeds", "a non-empty list of ints", seeds)
    seeds = tuple(check.int(s, f"seeds[{i}]", 0) for i, s in enumerate(seeds))
    corpora = check.choices(values["corpora"], "corpora", CORPORA)
    corpus_data = check.settings(values.get("corpus_data", {}), "corpus_data", CORPUS_DATA_TYPES)
    variants = values["variants"]
    if not isinstance(variants, list) or not variants:
        check.fail("variants", "a non-empty list of objects", variants)
    parsed_variants = tuple(
        _variant(check, v, f"variants[{i}]", num_layers) for i, v in enumerate(variants)
    )
    downstream = check.dict(values.get("downstream", {}), "downstream", DOWNSTREAM_KEYS)
    tasks = check.choices(downstream.get("tasks", list(PAPER_TASKS)), "downstream.tasks", TASKS)
    cross = downstream.get("concat_cross", [])
    cross = check.choices(cross, "downstream.concat_cross", MODELS) if cross else ()
    task_settings = check.dict(
        downstream.get("task_settings", {}), "downstream.task_settings", TASKS
    )
    task_settings = tuple(
        sorted(
            (task, check.settings(s, f"downstream.task_settings.{task}", _FINETUNE_TYPES[task]))
            for task, s in task_settings.items()
        )
    )
    select_by = values["select_by"]
    allowed = [PRETRAIN_LOSS] + [f"{t}.{m}" for t in tasks for m in TASK_METRICS[t]]
    check.choice(select_by, "select_by", allowed)
    probing = values.get("probing")
    probing_tasks, probe, generate = (), (), ()
    if probing is not None:
        check.dict(probing, "probing", PROBING_KEYS)
        probing_tasks = probing.get("tasks", "all")
        if probing_tasks == "all":
            probing_tasks = list(TASK_NAMES)
        probing_tasks = check.choices(probing_tasks, "probing.tasks", TASK_NAMES)
        probe = check.settings(
            probing.get("settings", {}), "probing.settings", field_types(ProbeRunConfig)
        )
        generate = check.settings(probing.get("generate", {}), "probing.generate", GENERATE_TYPES)
    baselines = values.get("baselines", [])
    baselines = check.choices(baselines, "baselines", BASELINES) if baselines else ()
    pretrained = values.get("pretrained_bert")
    if pretrained is not None and not isinstance(pretrained, str):
        check.fail("pretrained_bert", "a keras-hub preset name, a directory or null", pretrained)
    compare_with = check.dict(values.get("compare_with", {}), "compare_with", corpora)
    for corpus, paper_corpus in compare_with.items():
        check.choice(paper_corpus, f"compare_with.{corpus}", PAPER_CORPORA)
    description = values.get("description", "")
    if not isinstance(description, str):
        check.fail("description", "a string", description)
    study = Study(
        name=name,
        source=files.abspath(source),
        description=description,
        encoder=encoder,
        num_layers=num_layers,
        seeds=seeds,
        corpora=corpora,
        corpus_data=corpus_data,
        pretrain=check.settings(values.get("pretrain", {}), "pretrain", _PRETRAIN_TYPES),
        variants=parsed_variants,
        select_by=select_by,
        tasks=tasks,
        concat_cross=cross,
        finetune=check.settings(
            downstream.get("settings", {}), "downstream.settings", _FINETUNE_TYPES["any"]
        ),
        task_settings=task_settings,
        downstream_documents=check.int(
            downstream.get("builtin_documents", 200), "downstream.builtin_documents", 10
        ),
        probing_tasks=probing_tasks,
        probe=probe,
        probe_generate=generate,
        baselines=baselines,
        pretrained_bert=pretrained,
        compare_with=tuple(sorted(compare_with.items())),
    )
    return study


def _variant(check, value, where, num_layers):
    check.dict(value, where, VARIANT_KEYS, ("model",))
    model = check.choice(value["model"], f"{where}.model", MODELS)
    layers = value.get("layers")
    if model in SWEPT:
        if layers is None:
            raise UserError(f"{check.label}: {where}.layers: missing (the layer sweep of {model})")
        if layers == "all":  # the paper: every intermediate block
            layers = list(range(num_layers - 1))
        if not isinstance(layers, list) or not layers:
            check.fail(f"{where}.layers", 'a list of ints or "all"', layers)
        for i, k in enumerate(layers):
            check.int(k, f"{where}.layers[{i}]", 0)
            if k >= num_layers - 1:
                check.fail(f"{where}.layers[{i}]", f"an intermediate block < {num_layers - 1}", k)
        layers = tuple(sorted(set(layers)))
    elif layers is not None:
        raise UserError(f"{check.label}: {where}.layers: {model} has no layer sweep")
    concat = value.get("concat", ["none"])
    concat = check.choices(concat, f"{where}.concat", CONCATS)
    if (model in ("without_nsp", "bigram_shift") or model in TASK_MODELS) and concat != ("none",):
        check.fail(f"{where}.concat", '["none"] (the paper has no concat for it)', value["concat"])
    freeze = value.get("freeze_nsp", "never")
    if model == "lower_nsp_freeze":
        if not isinstance(freeze, str) or not freeze.startswith(("at_step:", "plateau:")):
            check.fail(f"{where}.freeze_nsp", '"at_step:N" or "plateau:P"', freeze)
    elif "freeze_nsp" in value:
        raise UserError(f"{check.label}: {where}.freeze_nsp: only for lower_nsp_freeze")
    return Variant(
        model=model,
        layers=layers or (),
        concat=concat,
        freeze_nsp=freeze,
        pretrain=check.settings(value.get("pretrain", {}), f"{where}.pretrain", _PRETRAIN_TYPES),
    )


def _encoder(check, value, source):
    """(preset name or absolute bert_config.json path, number of blocks) of `encoder`; a
    relative path is read from the study file's folder."""
    from hbert_tf.config import PRESETS, get_config

    if not isinstance(value, str) or not (value in PRESETS or value.endswith(".json")):
        check.fail("encoder", "a preset name (tiny, small, base) or a bert_config.json path", value)
    if value not in PRESETS:
        value = os.path.join(os.path.dirname(files.abspath(source)), value)
        if not files.isfile(value):
            check.fail("encoder", "an existing bert_config.json", value)
    try:
        layers = get_config(value).num_hidden_layers
    except (ValueError, OSError, TypeError) as e:
        raise UserError(f"{check.label}: encoder: {e}") from None
    if layers < 2:
        check.fail("encoder", "an encoder with at least 2 blocks", value)
    return value, layers
