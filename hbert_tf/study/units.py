"""A study expanded into units: typed, frozen, hashed jobs with their dependencies.

Kinds: `data` (a corpus' vocabulary and TFRecords, a downstream task's files, the probing
tasks), `pretrain`, `select` (the layer chosen for one sweep), `finetune`, `probe` and `chance`
(what a model without learning scores on a task's eval data). A unit's key is
`<kind>-<name>-<hash12>`, the hash covering its config, its record tags and the keys of the units
it reads (`inputs`): a changed setting upstream makes new units downstream. Paths that depend on
where units run (model dirs, data folders) are not in the configs: jobs fill them in from the
run directory and the inputs' results (`hbert_tf.study.jobs`).
"""

import dataclasses
import hashlib
import json
import os

from hbert_tf import files
from hbert_tf.errors import UserError
from hbert_tf.finetuning import tasks
from hbert_tf.run_config import PretrainConfig, ProbeRunConfig
from hbert_tf.study.spec import CONCATS, SWEPT, TASK_MODELS

DATA_FILES = {t: tasks.study_task(t).data_keys[t] for t in tasks.STUDY_NAMES}  # (split, --data)


@dataclasses.dataclass(frozen=True)
class CorpusData:
    """Vocabulary and pre-training TFRecords (clean, and with bigram swaps if needed)."""

    corpus: str
    input_format: str
    input_files: tuple
    identity: tuple  # (path, size, mtime_ns) of every input file
    vocab_size: int = 1200
    max_seq_length: tuple = (128, 384)
    max_predictions_per_seq: tuple = (20, 58)
    dupe_factor: int = 3
    eval_documents: int = 50
    builtin_documents: int = 400
    bigram_shift_prob: float = 0.0  # 0: no swapped copy
    num_shards: int = 2
    # ((task, ((option, value), ...)), ...): a data copy per task model of the study (e.g. sop)
    task_copies: tuple = ()


@dataclasses.dataclass(frozen=True)
class TaskData:
    """A downstream task's files: given with --data (identity recorded) or built in."""

    task: str
    files: tuple  # ((split, path), ...); empty: the built-in set
    identity: tuple
    builtin_documents: int = 200
    # The built-in sets come from documents of another corpus seed than the pre-training corpus
    # (seed 0), so no fine-tuning paragraph was seen in pre-training.
    builtin_seed: int = 1


@dataclasses.dataclass(frozen=True)
class ProbingData:
    """The probing task folder: SentEval's (--data senteval_probing) or generated."""

    task_dir: str | None
    identity: tuple
    tasks: tuple
    generate: tuple  # GenerationConfig overrides


@dataclasses.dataclass(frozen=True)
class Selection:
    """Choose the best layer of one sweep by `select_by` (mean over seeds; ties: lower layer)."""

    select_by: str
    layers: tuple
    seeds: tuple


@dataclasses.dataclass(frozen=True)
class Chance:
    """Scores of a model without learning on a task's eval data."""

    task: str  # squad1.1, squad2.0, mnli or "probing"


@dataclasses.dataclass(frozen=True)
class Unit:
    """One job of the study.

    Attributes:
        kind: data, pretrain, select, finetune, probe or chance.
        name: readable name (model, corpus, concat, layer, task, seed).
        config: the job's frozen settings (PretrainConfig, FinetuneConfig, ProbeRunConfig, ...).
        inputs: ((role, key), ...) of the units whose results this one reads.
        tags: ((field, value), ...) of the records it produces (model, corpus, pt_concat, ...).
        sweep: "model/corpus/pt_concat" when its record is a point of a layer sweep.
    """

    kind: str
    name: str
    config: object
    inputs: tuple = ()
    tags: tuple = ()
    sweep: str | None = None
    num_cpus: int = 1
    num_gpus: int = 0

    @property
    def depends_on(self):
        return tuple(key for _, key in self.inputs)

    def content_hash(self):
        text = json.dumps(
            {
                "kind": self.kind,
                "name": self.name,
                "config_type": type(self.config).__name__,
                "config": _canonical(self.config),
                "inputs": self.inputs,
                "tags": self.tags,
                "sweep": self.sweep,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def key(self):
        return f"{self.kind}-{self.name}-{self.content_hash()[:12]}"

    def input(self, role):
        return dict(self.inputs)[role]


def _canonical(config):
    """The config as JSON values, with an encoder config file (`config`) named by its content:
    a study keeps its unit keys when the package or the study file moves."""
    values = json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True))
    if values.get("task_copies") == []:  # added later: a study without task models keeps its keys
        del values["task_copies"]
    path = values.get("config")
    if isinstance(path, str) and files.isfile(path):
        values["config"] = "sha256:" + hashlib.sha256(files.read_bytes(path)).hexdigest()
    return values


def _file_identity(path):
    """(path, size, mtime_ns) of a file, or of every file of a folder (sorted)."""
    paths = [path]
    if files.isdir(path):
        paths = sorted(
            os.path.join(root, name) for root, _, names in files.walk(path) for name in names
        )
    return tuple(files.identity(p) for p in paths if files.isfile(p))


def _concat_tag(concat):
    return "" if concat == "none" else f"-{concat}"


class _Builder:
    """Expands a `Study` (with its --data paths) into units, in dependency order."""

    def __init__(self, study, data, num_gpus=0):
        self.study, self.data, self.num_gpus = study, data, num_gpus
        self.units = []

    def add(self, unit):
        self.units.append(unit)
        return unit.key

    # --- data ---
    def corpus_unit(self, corpus):
        study = self.study
        settings = dict(study.corpus_data)
        identity = ()
        if corpus == "builtin":
            fmt, paths = "builtin", ()
        elif corpus == "pydoc":  # Python's documentation topics; the text changes with Python
            from hbert_tf.text import pydoc_corpus

            fmt, paths, identity = "pydoc", (), (pydoc_corpus.identity(),)
        elif corpus == "wikitext":
            path = self.data["wikitext"]
            if files.isdir(path):
                train = os.path.join(path, "wiki.train.raw")
                path = train if files.isfile(train) else path
            fmt, paths = "wikitext", tuple(p for p, _, _ in _file_identity(path))
        else:  # squad: the paragraphs of the SQuAD training files
            fmt = "squad"
            paths = tuple(
                files.abspath(self.data[n])
                for n in ("squad_v1_train", "squad_v2_train")
                if n in self.data
            )
        swaps = any(v.model == "bigram_shift" for v in study.variants)
        config = CorpusData(
            corpus=corpus,
            input_format=fmt,
            input_files=paths,
            identity=identity + tuple(i for f in paths for i in _file_identity(f)),
            vocab_size=settings.get("vocab_size", 1200),
            max_seq_length=tuple(settings.get("max_seq_length", (128, 384))),
            max_predictions_per_seq=tuple(settings.get("max_predictions_per_seq", (20, 58))),
            dupe_factor=settings.get("dupe_factor", 3),
            eval_documents=settings.get("eval_documents", 50),
            builtin_documents=settings.get("builtin_documents", 400),
            bigram_shift_prob=settings.get("bigram_shift_prob", 0.15) if swaps else 0.0,
            num_shards=settings.get("num_shards", 2),
            task_copies=tuple(
                (TASK_MODELS[v.model].name, TASK_MODELS[v.model].study_data)
                for v in study.variants
                if v.model in TASK_MODELS
            ),
        )
        return self.add(Unit("data", f"corpus-{corpus}", config, num_cpus=2))

    def task_unit(self, task):
        paths = tuple(
            (split, files.abspath(self.data[name]))
            for split, name in DATA_FILES[task]
            if name in self.data
        )
        identity = tuple(i for _, f in paths for i in _file_identity(f))
        config = TaskData(task, paths, identity, self.study.downstream_documents)
        return self.add(Unit("data", f"task-{task}", config))

    def probing_unit(self):
        task_dir = self.data.get("senteval_probing")
        identity = _file_identity(task_dir) if task_dir else ()
        config = ProbingData(
            task_dir and files.abspath(task_dir),
            identity,
            self.study.probing_tasks,
            self.study.probe_generate,
        )
        return self.add(Unit("data", "probing", config))

    # --- runs ---
    def pretrain_config(self, variant, concat, layer, seed):
        study = self.study
        fields = {"config": study.encoder, **dict(study.pretrain), **dict(variant.pretrain)}
        fields.update(seed=seed, concat=concat, preset=fields.get("preset", "tiny"))
        model = variant.model
        if model in TASK_MODELS:  # a task's model: its placement instead of a paper variant
            fields["heads"] = TASK_MODELS[model].study_heads
        else:
            fields["variant"] = "lower_nsp" if model == "lower_nsp_freeze" else model
        if model in ("lower_nsp", "lower_nsp_freeze"):
            fields["nsp_layer"] = layer
        if model == "lower_mask":
            fields["mlm_layer"] = layer
        if model == "lower_nsp_freeze":
            fields["freeze_nsp"] = variant.freeze_nsp
        data = dict(self.study.corpus_data)
        fields.setdefault("max_seq_length", tuple(data.get("max_seq_length", (128, 384))))
        fields.setdefault(
            "max_predictions_per_seq", tuple(data.get("max_predictions_per_seq", (20, 58)))
        )
        try:
            config = PretrainConfig.resolve(**fields)
            if "eval_every" not in fields:  # a learning curve of CURVE_POINTS held-out points
                config = config.replace(eval_every=curve_eval_every(config))
            return config
        except (TypeError, UserError) as e:
            raise UserError(f"study {study.name}: pretrain: {e}") from None

    def finetune_config(self, task, seed, **fields):
        """The task's config of one fine-tuning unit (paths are filled in by the job)."""
        study = self.study
        downstream_task = tasks.study_task(task)
        values = {
            "task": downstream_task.name,
            "data": "files",
            "config": study.encoder,
            "seed": seed,
            "verbose": "0",
            **study.task_overrides(task),
            **fields,
        }
        values.update(downstream_task.study_names[task])
        try:
            return downstream_task.config_class.resolve(**values)
        except TypeError as e:  # a field the task's config does not have
            name = str(e).rsplit(" ", 1)[-1].strip("'")
            raise UserError(
                f"study {study.name}: downstream settings: {name}: not a {task} fine-tuning setting"
            ) from None
        except UserError as e:
            raise UserError(f"study {study.name}: downstream settings: {e}") from None

    def probe_config(self, seed, **fields):
        values = {**dict(self.study.probe), "seed": seed, **fields}
        try:
            return ProbeRunConfig.resolve(**values)
        except (TypeError, UserError) as e:
            raise UserError(f"study {self.study.name}: probing.settings: {e}") from None

    def downstream(self, model_input, tags, seed, skip=()):
        """Fine-tuning units (every task, the QA concat cross) and a probing unit of one model."""
        study, model = self.study, dict(tags)["model"]
        for task in study.tasks:
            if not tasks.study_task(task).concat_cross:
                ft_concats = ["none"]
            elif model in study.concat_cross:
                pt = dict(tags)["pt_concat"]
                ft_concats = [c for c in CONCATS if c in (pt, "none") or pt == "none"]
            else:
                ft_concats = [dict(tags)["pt_concat"]]
            for ft in ft_concats:
                if (task, ft) in skip:
                    continue
                self.finetune_unit(model_input, tags, task, ft, seed)
        if study.probing_tasks and model != "bilstm":
            self.probe_unit(model_input, tags, seed)

    def finetune_unit(self, model_input, tags, task, ft_concat, seed, sweep=None, layer=None):
        study = self.study
        fields = {"concat": ft_concat}
        model = dict(tags)["model"]
        if model == "pretrained_bert":
            fields["init_from"] = self.pretrained
        elif model in ("no_pretraining", "bilstm"):
            fields["init_from"] = "none"
            if model == "bilstm":
                fields["model"] = "bilstm"
                fields.pop("concat")
        all_tags = dict(tags, ft_concat=ft_concat, task=task, seed=seed)
        if layer is not None:
            all_tags["layer"] = layer
        inputs = (("task_data", self.tasks[task]),) + model_input
        name = _name(all_tags, study)
        unit = Unit(
            "finetune",
            name,
            self.finetune_config(task, seed, **fields),
            inputs,
            tuple(sorted(all_tags.items())),
            sweep,
            num_gpus=self.num_gpus,
        )
        return self.add(unit)

    def probe_unit(self, model_input, tags, seed):
        all_tags = dict(tags, seed=seed)
        fields = {"cache": False, "config": self.study.encoder}
        fields["tasks"] = ",".join(self.study.probing_tasks)
        if all_tags["model"] == "pretrained_bert":
            fields["model_dir"] = (self.pretrained,)
        unit = Unit(
            "probe",
            _name(dict(all_tags, task="probing"), self.study),
            self.probe_config(seed, **fields),
            (("probing_data", self.probing),) + model_input,
            tuple(sorted(all_tags.items())),
            num_gpus=self.num_gpus,
        )
        return self.add(unit)

    def build(self):
        study = self.study
        corpora = {c: self.corpus_unit(c) for c in study.corpora}
        self.tasks = {t: self.task_unit(t) for t in study.tasks}
        self.probing = self.probing_unit() if study.probing_tasks else None
        for task in study.tasks:
            self.add(Unit("chance", task, Chance(task), (("task_data", self.tasks[task]),)))
        if self.probing:
            self.add(
                Unit("chance", "probing", Chance("probing"), (("probing_data", self.probing),))
            )
        for variant in study.variants:
            for corpus, corpus_key in corpora.items():
                for concat in variant.concat:
                    self.variant_units(variant, corpus, corpus_key, concat)
        vocab_input = (("vocab", corpora[study.corpora[0]]),)
        self.pretrained = self.data.get("pretrained_bert", study.pretrained_bert)
        if self.pretrained and files.isdir(self.pretrained):
            self.pretrained = files.abspath(self.pretrained)
        for seed in study.seeds:
            for baseline in study.baselines:
                if baseline == "pretrained_bert" and not self.pretrained:
                    continue  # no source: see `skipped_baselines`
                tags = {"model": baseline, "corpus": None, "pt_concat": "none", "layer": None}
                inputs = vocab_input
                if baseline == "bilstm" and "fasttext" in self.data:
                    inputs = vocab_input + (("fasttext", self.fasttext_unit()),)
                if baseline == "pretrained_bert":
                    inputs = ()
                self.downstream(inputs, tuple(sorted(tags.items())), seed)
        return _unique(self.units)

    def fasttext_unit(self):
        path = self.data["fasttext"]
        config = TaskData("fasttext", (("vectors", files.abspath(path)),), _file_identity(path))
        return self.add(Unit("data", "fasttext", config))

    def variant_units(self, variant, corpus, corpus_key, concat):
        study = self.study
        base = {"model": variant.model, "corpus": corpus, "pt_concat": concat}
        if variant.model not in SWEPT:
            for seed in study.seeds:
                tags = dict(base, layer=None)
                key = self.pretrain_unit(variant, corpus_key, concat, None, seed, tags)
                self.downstream((("model", key),), tuple(sorted(tags.items())), seed)
            return
        group = f"{variant.model}/{corpus}/{concat}"
        select_task = study.select_task
        sweep_keys = []
        for layer in variant.layers:
            for seed in study.seeds:
                tags = dict(base, layer=layer)
                key = self.pretrain_unit(variant, corpus_key, concat, layer, seed, tags, group)
                sweep_keys.append((f"pretrain/k{layer}/s{seed}", key))
                if select_task:
                    ft = concat if tasks.study_task(select_task).concat_cross else "none"
                    sweep_keys.append(
                        (
                            f"finetune/k{layer}/s{seed}",
                            self.finetune_unit(
                                (("model", key),),
                                tuple(sorted(tags.items())),
                                select_task,
                                ft,
                                seed,
                                sweep=group,
                                layer=layer,
                            ),  # fmt: skip
                        )
                    )
        selection = Unit(
            "select",
            f"{variant.model}-{corpus}{_concat_tag(concat)}",
            Selection(study.select_by, variant.layers, study.seeds),
            tuple(sweep_keys),
            tuple(sorted(base.items())),
        )
        select_key = self.add(selection)
        skip = ()
        if select_task:
            ft = concat if tasks.study_task(select_task).concat_cross else "none"
            skip = ((select_task, ft),)
        for seed in study.seeds:
            tags = tuple(sorted(dict(base, layer=None).items()))
            self.downstream((("selection", select_key),), tags, seed, skip)

    def pretrain_unit(self, variant, corpus_key, concat, layer, seed, tags, sweep=None):
        config = self.pretrain_config(variant, concat, layer, seed)
        unit = Unit(
            "pretrain",
            _name(dict(tags, seed=seed), self.study),
            config,
            (("corpus", corpus_key),),
            tuple(sorted(dict(tags, seed=seed).items())),
            sweep,
            num_gpus=self.num_gpus,
        )
        return self.add(unit)


CURVE_POINTS = 10


def curve_eval_every(config):
    """The eval interval of a study's pre-training that does not set `eval_every`: about
    CURVE_POINTS held-out evaluations per run, on a multiple of `steps_per_execution`."""
    every = max(1, config.train_steps // CURVE_POINTS)
    return -(-every // config.steps_per_execution) * config.steps_per_execution


def _name(tags, study):
    """model[-corpus][-concat][-kN][-ftX][-task][-sN] (corpus only when the study has several)."""
    parts = [tags["model"]]
    if tags.get("corpus") and len(study.corpora) > 1:
        parts.append(tags["corpus"])
    if tags.get("pt_concat", "none") != "none":
        parts.append(tags["pt_concat"])
    if tags.get("layer") is not None:
        parts.append(f"k{tags['layer']}")
    if tags.get("ft_concat", "none") != "none":
        parts.append(f"ft{tags['ft_concat']}")
    if tags.get("task"):
        parts.append(tags["task"])
    if len(study.seeds) > 1 and "seed" in tags:
        parts.append(f"s{tags['seed']}")
    return "-".join(parts)


def _unique(units):
    seen, out = set(), []
    for unit in units:
        if unit.key not in seen:
            seen.add(unit.key)
            out.append(unit)
    return out


def expand(study, data, num_gpus=0):
    """The study's units in dependency order (every unit after the units it reads).

    Args:
        study: `spec.Study`.
        data: dict --data name -> path (validated).
        num_gpus: int. GPUs each training unit asks for (Ray).
    """
    return _Builder(study, data, num_gpus).build()


def skipped_baselines(study, data):
    """Baselines the study lists but cannot run (no source), with the reason."""
    if "pretrained_bert" in study.baselines and not data.get(
        "pretrained_bert", study.pretrained_bert
    ):
        return {"pretrained_bert": "no source: pass --data pretrained_bert=<preset or HF dir>"}
    return {}
