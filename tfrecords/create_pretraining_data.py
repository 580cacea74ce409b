"""Creates BERT pre-training TFRecords (original scheme plus bigram-shift labels), streaming and in
parallel, with byte-identical output whatever the number of workers.

Usage:
    python -m tfrecords.create_pretraining_data --input_file=corpus/*.txt --input_format=bert \\
        --vocab_file=vocab.txt --output_dir=data --max_seq_length=128,384 \\
        --max_predictions_per_seq=20,58 --num_shards=8 --num_workers=2

How it works (details and the choices made where the paper is silent: docs/data.md):
  1. A first pass counts the documents of every input file (and non-UTF-8 lines, and documents
     of one sentence); nothing is kept in memory.
  2. The documents are cut into `num_shards` contiguous ranges (plus the last `eval_documents`
     documents for one `eval-` shard). Each shard is one task with its own seed, derived from
     `--random_seed`, the length and the shard name, so its bytes do not depend on which worker
     makes it or on how many there are.
  3. A task streams its range, tokenizes, and gathers documents into pools of about
     `--pool_tokens` tokens. A pool is shuffled, read `--dupe_factor` times, and its instances
     shuffled and written; random-next segments are drawn from the pool. Memory is bounded by the
     pool, not the corpus.
  4. Shards are written under a temporary name and renamed when complete. A rerun with the same
     flags skips finished shards; `manifest.json` is written last.

Output: with one `--max_seq_length`, shards go straight into `--output_dir`; with several, into
`output_dir/seq{length}/`. Each folder holds `train-SSSSS-of-NNNNN.tfrecord` shards, optional
`eval-00000-of-00001.tfrecord`, `vocab.txt` and `manifest.json`.
"""

import dataclasses
import functools
import json
import multiprocessing
import os
import random
import signal
import sys

from absl import app, flags, logging

from hbert_tf import console, files
from hbert_tf.errors import DataError, check_output_dir, main_entry
from hbert_tf.files import atomic_path, write_json_atomic
from hbert_tf.pretraining.features import labelled_tasks, manifest_features, pretraining_schema
from hbert_tf.tasks import PRETRAINING_TASKS, generator_options
from hbert_tf.text.vocab import WordPieceTokenizer, load_vocab

from . import instances, readers, tfrecord_io

MANIFEST = "manifest.json"
VOCAB = "vocab.txt"
_STATS_DIR = ".shard_stats"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides the bytes of one output folder (so not `num_workers`)."""

    input_format: str
    input_files: tuple
    input_sizes: tuple
    vocab_sha256: str
    do_lower_case: bool
    max_seq_length: int
    max_predictions_per_seq: int
    dupe_factor: int
    masked_lm_prob: float
    short_seq_prob: float
    do_whole_word_mask: bool
    task_options: (
        tuple  # ((name, value), ...): every task's generator options (bigram_shift_prob...)
    )
    random_seed: int
    num_shards: int
    eval_documents: int
    pool_tokens: int
    builtin_seed: int
    builtin_documents: int

    @property
    def options(self):
        return dict(self.task_options)

    def to_dict(self):
        """As the manifest records it: the task options as top-level keys (bigram_shift_prob...)."""
        values = dataclasses.asdict(self)
        values.update(values.pop("task_options"))
        return values


@dataclasses.dataclass(frozen=True)
class _Task:
    """One shard to write: its folder, name and document range."""

    settings: Settings
    vocab_file: str
    output_dir: str
    name: str
    start: int
    stop: int
    dupe_factor: int
    file_document_counts: tuple
    file_checkpoints: tuple


def parse_int_list(value, flag):
    """ "128,384" / 128 / [128, 384] -> [128, 384]; DataError naming `flag` otherwise."""
    if isinstance(value, int):
        return [value]
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = [int(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise DataError(
            f"--{flag}={value!r}: expected an integer or a comma list of them"
        ) from None
    if not out:
        raise DataError(f"--{flag} is empty")
    return out


def resolve_predictions(lengths, predictions, masked_lm_prob):
    """Max predictions per length.

    A list as long as `lengths` is used as given. A single value with several lengths applies to
    each length, raised to round(masked_lm_prob * length) where that is larger (20 for 128 stays
    20; 384 gets 58). Raises DataError when a value is below that minimum.
    """
    if len(predictions) == 1 and len(lengths) > 1:
        predictions = [max(predictions[0], round(masked_lm_prob * n)) for n in lengths]
    if len(predictions) != len(lengths):
        raise DataError(
            f"--max_predictions_per_seq has {len(predictions)} values for "
            f"{len(lengths)} --max_seq_length values; give one, or one per length"
        )
    for n, p in zip(lengths, predictions):
        needed = round(masked_lm_prob * n)
        if p < needed:
            raise DataError(
                f"--max_predictions_per_seq={p} is too small for --max_seq_length={n} at "
                f"--masked_lm_prob={masked_lm_prob}: a full sequence masks {needed} tokens; "
                f"use at least {needed}"
            )
        if p > n:
            raise DataError(f"--max_predictions_per_seq={p} exceeds --max_seq_length={n}")
    return predictions


def _check_flags(f):
    if f["input_format"] not in readers.FORMATS:
        raise DataError(
            f"--input_format={f['input_format']!r}; expected one of {', '.join(readers.FORMATS)}"
        )
    for name, low, high in (
        ("masked_lm_prob", 0.0, 1.0),
        ("short_seq_prob", 0.0, 1.0),
    ):
        if not low <= f[name] <= high or (name == "masked_lm_prob" and f[name] == 0):
            raise DataError(f"--{name}={f[name]} must be in [{low}, {high}] (and > 0 for masking)")
    for name in ("dupe_factor", "num_shards", "num_workers", "pool_tokens"):
        if f[name] < 1:
            raise DataError(f"--{name}={f[name]} must be at least 1")
    if f["eval_documents"] < 0:
        raise DataError(f"--eval_documents={f['eval_documents']} must be >= 0")


def _scan_inputs(input_format, input_files):
    """First pass: documents per file; logs skipped lines and one-sentence documents."""
    stats = readers.ReadStats()
    for _ in readers.read_documents(input_format, input_files, stats=stats):
        pass
    counts = tuple(stats.documents.get(p, 0) for p in input_files)
    for path in input_files:
        if stats.skipped_lines.get(path):
            logging.warning(
                "%s: skipped %d lines that are not UTF-8", path, stats.skipped_lines[path]
            )
        if not stats.documents.get(path):
            logging.warning("%s: no documents (empty file?)", path)
        if stats.one_sentence_documents.get(path):
            logging.warning(
                "%s: %d documents have a single sentence; they give only random-next instances",
                path,
                stats.one_sentence_documents[path],
            )
    if not sum(counts):
        raise DataError(f"--input_file: no documents in {', '.join(input_files)}")
    return counts, stats


def _folder_state(output_dir, settings, overwrite):
    """Checks a folder before writing: returns its manifest if it is this run's and complete.

    Raises DataError when the folder holds shards of another run (unless `overwrite`).
    """
    manifest_path = os.path.join(output_dir, MANIFEST)
    shards = files.glob(os.path.join(output_dir, "*.tfrecord"))
    manifest = None
    if files.exists(manifest_path):
        manifest = files.read_json(manifest_path)
    if overwrite and (manifest or shards):
        logging.info("--overwrite: removing the shards and manifest in %s", output_dir)
        for path in shards + [manifest_path]:
            if files.exists(path):
                files.remove(path)
        files.rmtree(os.path.join(output_dir, _STATS_DIR), ignore_errors=True)
        return None
    if manifest is None and shards:
        raise DataError(
            f"--output_dir={output_dir} holds .tfrecord files but no {MANIFEST} (another run's "
            "output?); use an empty folder or --overwrite"
        )
    if manifest is not None:
        # A task option missing from an older manifest had its default (the task came later).
        defaults = {option.name: option.default for option in generator_options()}
        theirs = {**defaults, **manifest.get("settings", {})}
        ours = settings.to_dict()
        differ = [k for k in ours if json.dumps(theirs.get(k)) != json.dumps(ours[k])]
        if differ:
            detail = "; ".join(f"{k}: {theirs.get(k)!r} there, {ours[k]!r} now" for k in differ[:4])
            raise DataError(
                f"--output_dir={output_dir} holds shards of another run ({detail}); use an empty "
                "folder, the same flags to resume, or --overwrite"
            )
    return manifest if manifest and manifest.get("complete") else None


def _shard_plan(settings, num_documents, file_counts, file_checkpoints, vocab_file, output_dir):
    """Tasks for one folder: contiguous document ranges per train shard, then the eval shard."""
    num_train = num_documents - settings.eval_documents
    if num_train < settings.num_shards:
        raise DataError(
            f"--num_shards={settings.num_shards} exceeds the {num_train} training documents "
            f"(of {num_documents}, --eval_documents={settings.eval_documents})"
        )
    tasks = []
    bounds = [num_train * i // settings.num_shards for i in range(settings.num_shards + 1)]
    for i in range(settings.num_shards):
        name = f"train-{i:05d}-of-{settings.num_shards:05d}.tfrecord"
        tasks.append(
            _Task(
                settings,
                vocab_file,
                output_dir,
                name,
                bounds[i],
                bounds[i + 1],
                settings.dupe_factor,
                file_counts,
                file_checkpoints,
            )
        )
    if settings.eval_documents:
        tasks.append(
            _Task(
                settings,
                vocab_file,
                output_dir,
                "eval-00000-of-00001.tfrecord",
                num_train,
                num_documents,
                1,
                file_counts,
                file_checkpoints,
            )
        )
    return tasks


_TOKENIZERS = {}


def _tokenizer(vocab_file, do_lower_case):
    """One tokenizer (and word cache) per process and vocabulary."""
    key = (vocab_file, do_lower_case)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = WordPieceTokenizer(load_vocab(vocab_file), do_lower_case=do_lower_case)
    return _TOKENIZERS[key]


def _run_task(task):
    """Writes one shard and its statistics; returns the statistics."""
    s = task.settings
    tokenizer = _tokenizer(task.vocab_file, s.do_lower_case)
    vocab = tokenizer.vocab
    maker = instances.InstanceMaker(
        vocab,
        max_seq_length=s.max_seq_length,
        max_predictions=s.max_predictions_per_seq,
        masked_lm_prob=s.masked_lm_prob,
        short_seq_prob=s.short_seq_prob,
        whole_word=s.do_whole_word_mask,
        **s.options,
    )
    encoder = tfrecord_io.ExampleEncoder(
        s.max_seq_length,
        s.max_predictions_per_seq,
        len(vocab),
        False,
        labelled_tasks(s.options),
    )
    stats = dict.fromkeys(instances.STAT_KEYS, 0)
    documents = readers.read_documents(
        s.input_format,
        s.input_files,
        builtin_seed=s.builtin_seed,
        builtin_documents=s.builtin_documents,
        start=task.start,
        stop=task.stop,
        file_document_counts=task.file_document_counts,
        file_checkpoints=task.file_checkpoints,
    )
    path = os.path.join(task.output_dir, task.name)
    with tfrecord_io.RecordWriter(path) as writer:
        pool, pool_tokens, pool_index = [], 0, 0

        def flush():
            rng = random.Random(f"{s.random_seed}/{s.max_seq_length}/{task.name}/{pool_index}")
            for record in maker.instances_from_pool(
                pool, rng, task.dupe_factor, stats, encoder.encode
            ):
                writer.write(record)

        for index, document in enumerate(documents, start=task.start):
            sentences = [ids for ids in map(tokenizer.tokenize_ids, document) if ids]
            if not sentences:
                continue
            remaining = task.stop - index
            if pool_tokens >= s.pool_tokens and len(pool) >= 2 and remaining >= 2:
                flush()
                pool, pool_tokens, pool_index = [], 0, pool_index + 1
            pool.append(sentences)
            pool_tokens += sum(map(len, sentences))
        if pool:
            flush()
        writer.commit()
    stats["documents"] = task.stop - task.start
    write_json_atomic(os.path.join(task.output_dir, _STATS_DIR, task.name + ".json"), stats)
    return task, stats


def _statistics(totals):
    """Fractions for the manifest from summed counters."""

    def ratio(a, b):
        return round(totals[a] / totals[b], 6) if totals[b] else 0.0

    return {
        "instances": totals["instances"],
        "mean_tokens": ratio("tokens", "instances"),
        "masked_fraction": ratio("masked", "tokens"),
        "masked_as_mask_fraction": ratio("masked_as_mask", "masked"),
        "masked_kept_fraction": ratio("masked_kept", "masked"),
        "masked_random_fraction": ratio("masked_random", "masked"),
        **{
            key: ratio(numerator, denominator)
            for task in PRETRAINING_TASKS
            for key, numerator, denominator in task.statistics
        },  # random_next_fraction, swapped_fraction, ...
    }


def _manifest(settings, vocab, output_dir, tasks, results, read_stats):
    features = manifest_features(
        pretraining_schema(
            settings.max_seq_length,
            settings.max_predictions_per_seq,
            labelled=labelled_tasks(settings.options),
        )
    )
    splits = {}
    for task in tasks:
        split = task.name.split("-")[0]
        stats = results[task.name]
        entry = splits.setdefault(
            split, {"shards": {}, "totals": dict.fromkeys(instances.STAT_KEYS, 0)}
        )
        entry["shards"][task.name] = {
            "instances": stats["instances"],
            "documents": [task.start, task.stop],
        }
        for key in instances.STAT_KEYS:
            entry["totals"][key] += stats[key]
    return {
        "format_version": FORMAT_VERSION,
        "complete": True,
        "created_by": "tfrecords.create_pretraining_data",
        "max_seq_length": settings.max_seq_length,
        "max_predictions_per_seq": settings.max_predictions_per_seq,
        "has_bigram_shift_labels": "bigram_shift" in labelled_tasks(settings.options),
        "vocab_size": len(vocab),
        "vocab_sha256": vocab.sha256(),
        "special_token_ids": vocab.special_ids,
        "random_seed": settings.random_seed,
        "features": features,
        "settings": settings.to_dict(),
        "input": {
            "skipped_non_utf8_lines": read_stats.skipped_lines,
            "one_sentence_documents": read_stats.one_sentence_documents,
        },
        "splits": {
            split: {
                "instances": entry["totals"]["instances"],
                "shards": entry["shards"],
                "statistics": _statistics(entry["totals"]),
            }
            for split, entry in splits.items()
        },
    }


def create_pretraining_data(
    output_dir,
    *,
    vocab_file,
    input_file=None,
    input_format="bert",
    max_seq_length=128,
    max_predictions_per_seq=20,
    dupe_factor=10,
    masked_lm_prob=0.15,
    short_seq_prob=0.1,
    do_whole_word_mask=False,
    do_lower_case=True,
    random_seed=12345,
    num_shards=1,
    num_workers=1,
    pool_tokens=100_000,
    eval_documents=0,
    builtin_seed=0,
    builtin_size_mb=5.0,
    builtin_documents=None,
    overwrite=False,
    ray_address="",
    **task_options,
):
    """Writes pre-training TFRecords; arguments mirror the flags of the binary.

    `task_options` are the pre-training tasks' data options by flag name (`hbert_tf.tasks`), e.g.
    `bigram_shift_prob=0.15` (0, the default: no swaps and no bigram_shift_labels).

    `ray_address` runs the shards as Ray tasks instead of `num_workers` local processes: "local"
    starts an embedded Ray on this machine, "auto" / "host:port" / "ray://host:port" joins a
    cluster (then every node must see the input files, the vocabulary and `output_dir`). The
    bytes written are the same either way. An `output_dir` on ram:// (this process's memory)
    is written by this process alone.

    Returns:
        The manifest dict when there is one length, else a list of manifests, one per length
        (each folder's manifest.json holds the same).

    Raises:
        DataError: bad flags, inputs, vocabulary or output folder; raised before anything is
            written, except for errors inside a worker (its temporary file is then removed).
    """
    flag_values = dict(locals())
    _check_flags(flag_values)
    try:
        options = instances.task_options(**task_options)
    except ValueError as e:
        raise DataError(str(e)) from None
    lengths = parse_int_list(max_seq_length, "max_seq_length")
    for n in lengths:
        if n < 8:
            raise DataError(f"--max_seq_length={n} is too short (at least 8)")
    predictions = resolve_predictions(
        lengths, parse_int_list(max_predictions_per_seq, "max_predictions_per_seq"), masked_lm_prob
    )
    vocab = load_vocab(vocab_file)
    read_stats = readers.ReadStats()
    if input_format in readers.BUILT_IN_FORMATS:
        if input_file:
            logging.warning("--input_file is ignored for --input_format=%s", input_format)
        input_files, sizes, file_counts, checkpoints = (), (), (), ()
        num_documents = readers.num_built_in_documents(
            input_format, builtin_documents, builtin_size_mb
        )
    else:
        input_files = tuple(files.abspath(p) for p in readers.expand_input_files(input_file))
        sizes = tuple(files.size(p) for p in input_files)
        file_counts, read_stats = _scan_inputs(input_format, input_files)
        num_documents = sum(file_counts)
        checkpoints = tuple(tuple(read_stats.checkpoints.get(p, ())) for p in input_files)
        builtin_documents = 0
    if eval_documents >= num_documents:
        raise DataError(
            f"--eval_documents={eval_documents} leaves no training documents of {num_documents}"
        )
    logging.info(
        "%d documents; lengths %s with %s predictions", num_documents, lengths, predictions
    )

    folders, all_tasks, pending = [], [], []
    for n, p in zip(lengths, predictions):
        folder = output_dir if len(lengths) == 1 else os.path.join(output_dir, f"seq{n}")
        settings = Settings(
            input_format=input_format,
            input_files=input_files,
            input_sizes=sizes,
            vocab_sha256=vocab.sha256(),
            do_lower_case=bool(do_lower_case),
            max_seq_length=n,
            max_predictions_per_seq=p,
            dupe_factor=dupe_factor,
            masked_lm_prob=float(masked_lm_prob),
            short_seq_prob=float(short_seq_prob),
            do_whole_word_mask=bool(do_whole_word_mask),
            task_options=tuple(options.items()),
            random_seed=random_seed,
            num_shards=num_shards,
            eval_documents=eval_documents,
            pool_tokens=pool_tokens,
            builtin_seed=builtin_seed if input_format == "builtin" else 0,
            builtin_documents=num_documents if input_format in readers.BUILT_IN_FORMATS else 0,
        )
        tasks = _shard_plan(
            settings, num_documents, file_counts, checkpoints, files.abspath(vocab_file), folder
        )
        done = _folder_state(folder, settings, overwrite) if files.isdir(folder) else None
        folders.append((settings, folder, tasks, done))
        if done:
            logging.info("%s is already complete", folder)
            continue
        files.makedirs(os.path.join(folder, _STATS_DIR))
        write_json_atomic(
            os.path.join(folder, MANIFEST),
            {"complete": False, "settings": settings.to_dict()},
        )
        for stale in files.glob(os.path.join(folder, "*.tmp-*")):
            files.remove(stale)  # temporary files of a killed run
        with atomic_path(os.path.join(folder, VOCAB)) as tmp:
            vocab.write(tmp)
        for task in tasks:
            all_tasks.append(task)
            finished = files.exists(os.path.join(folder, task.name)) and files.exists(
                os.path.join(folder, _STATS_DIR, task.name + ".json")
            )
            if finished:
                logging.info("keeping finished shard %s", os.path.join(folder, task.name))
            else:
                pending.append(task)

    if ray_address:
        _run_tasks_on_ray(pending, ray_address)
    else:
        workers = 1 if files.seen_by_this_process_only(output_dir) else num_workers
        for task, _ in _run_tasks(pending, workers):
            logging.info("wrote %s", os.path.join(task.output_dir, task.name))

    manifests = []
    for settings, folder, tasks, done in folders:
        if done:
            manifests.append(done)
            continue
        results = {}
        for task in tasks:
            results[task.name] = files.read_json(
                os.path.join(folder, _STATS_DIR, task.name + ".json")
            )
        manifest = json.loads(
            json.dumps(_manifest(settings, vocab, folder, tasks, results, read_stats))
        )
        write_json_atomic(os.path.join(folder, MANIFEST), manifest)
        files.rmtree(os.path.join(folder, _STATS_DIR), ignore_errors=True)
        stats = manifest["splits"]["train"]["statistics"]
        console.say(
            f"{folder}: {stats['instances']} training instances; masked "
            f"{stats['masked_fraction']:.3f}, random next {stats['random_next_fraction']:.3f}, "
            f"swapped {stats['swapped_fraction']:.3f}"
        )
        manifests.append(manifest)
    return manifests[0] if len(lengths) == 1 else manifests


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_tasks(tasks, num_workers):
    """Runs tasks inline (one worker) or in a process pool; yields (task, stats) as they end."""
    if num_workers == 1 or len(tasks) <= 1:
        yield from map(_run_task, tasks)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TF threads
    # Workers ignore Ctrl-C: the main process reports it in one line and the pool is terminated.
    with context.Pool(min(num_workers, len(tasks)), initializer=_ignore_sigint) as pool:
        yield from pool.imap_unordered(_run_task, tasks)


@dataclasses.dataclass(frozen=True)
class _ShardUnit:
    """One shard as a unit of `hbert_tf.ray_executor.run_on_ray` (one CPU, no dependency)."""

    key: str
    task: _Task
    depends_on: tuple = ()
    num_cpus: float = 1.0
    num_gpus: float = 0.0


def _shard_finished(task):
    """True when the shard and its statistics are both written (the same test as a resume)."""
    return files.exists(os.path.join(task.output_dir, task.name)) and files.exists(
        os.path.join(task.output_dir, _STATS_DIR, task.name + ".json")
    )


def _run_shard_unit(unit):
    """A Ray task's work: one shard, skipped when a retried task finds it already written."""
    if not _shard_finished(unit.task):
        _run_task(unit.task)


def _run_tasks_on_ray(tasks, ray_address):
    """Runs the shard tasks as Ray tasks (retried when a worker or node is lost).

    Raises the shard's own error (e.g. DataError) when it failed on every attempt.
    """
    from hbert_tf.ray_executor import UnitFailedError, call_by_name, run_on_ray

    units = [_ShardUnit(key=os.path.join(t.output_dir, t.name), task=t) for t in tasks]
    # By module name, not by function object: this module may be the driver's __main__.
    run_unit = functools.partial(call_by_name, __spec__.name, "_run_shard_unit")
    try:
        run_on_ray(
            units,
            run_unit,
            address=None if ray_address == "local" else ray_address,
            on_done=lambda key: logging.info("wrote %s (Ray task)", key),
        )
    except UnitFailedError as e:
        if isinstance(e.cause, DataError):
            raise e.cause from None
        raise


# --- Binary -----------------------------------------------------------------------------------
FLAGS = flags.FLAGS


def define_flags():
    """Defines the binary's flags (only when run as a binary, so both data binaries can be
    imported into one process)."""
    readers.define_corpus_flags()
    flags.DEFINE_string("vocab_file", None, "WordPiece vocab.txt (ours or BERT's).")
    flags.DEFINE_string(
        "output_dir", None, "Output folder (seq{L}/ subfolders when several lengths)."
    )
    flags.DEFINE_string("max_seq_length", "128", "Sequence length, or a comma list (e.g. 128,384).")
    flags.DEFINE_string(
        "max_predictions_per_seq",
        "20",
        "Masked slots per sequence: one value (raised to round(masked_lm_prob * length) for longer "
        "lengths) or one per length. Must match the value used in pre-training.",
    )
    flags.DEFINE_integer("dupe_factor", 10, "Passes over the corpus, each with fresh masks.")
    flags.DEFINE_float("masked_lm_prob", 0.15, "Fraction of tokens to mask.")
    flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target length.")
    flags.DEFINE_bool("do_whole_word_mask", False, "Mask whole words (80/10/10 chosen per word).")
    flags.DEFINE_bool("do_lower_case", True, "Lower-case the text; must match the vocabulary.")
    for option in generator_options():  # each pre-training task's data flags
        if option.choices:
            flags.DEFINE_enum(option.name, option.default, option.choices, option.help)
        else:
            flags.DEFINE_float(option.name, option.default, option.help)
    flags.DEFINE_integer("random_seed", 12345, "Seed of all random choices.")
    flags.DEFINE_integer("num_shards", 1, "Training shards per length.")
    flags.DEFINE_integer("num_workers", 1, "Worker processes; does not change the output bytes.")
    flags.DEFINE_integer(
        "pool_tokens", 100_000, "Tokens per pool (random-next documents, shuffling)."
    )
    flags.DEFINE_integer(
        "eval_documents", 0, "Hold out the last N documents as eval-00000-of-00001."
    )
    flags.DEFINE_bool("overwrite", False, "Remove another run's shards in --output_dir first.")
    flags.DEFINE_string(
        "ray_address",
        "",
        "Run the shards as Ray tasks instead of --num_workers local processes: 'local' (an "
        "embedded Ray on this machine), 'auto' or host:port or ray://host:port (a running "
        "cluster; every node must see the input, vocabulary and output paths). Same bytes.",
    )
    flags.DEFINE_float(
        "ray_connect_timeout", 10.0, "Seconds to wait for --ray_address to answer (checked first)."
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    for name in ("vocab_file", "output_dir"):
        if not FLAGS[name].value:
            sys.exit(f"error: --{name} is required")
    if FLAGS.input_format not in readers.BUILT_IN_FORMATS and not FLAGS.input_file:
        sys.exit("error: --input_file is required unless --input_format=builtin or pydoc")
    check_output_dir(FLAGS.output_dir, "output_dir")
    from hbert_tf.ray_executor import check_reachable

    check_reachable(FLAGS.ray_address, FLAGS.ray_connect_timeout)
    create_pretraining_data(
        FLAGS.output_dir,
        vocab_file=FLAGS.vocab_file,
        input_file=FLAGS.input_file,
        input_format=FLAGS.input_format,
        max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        dupe_factor=FLAGS.dupe_factor,
        masked_lm_prob=FLAGS.masked_lm_prob,
        short_seq_prob=FLAGS.short_seq_prob,
        do_whole_word_mask=FLAGS.do_whole_word_mask,
        do_lower_case=FLAGS.do_lower_case,
        random_seed=FLAGS.random_seed,
        num_shards=FLAGS.num_shards,
        num_workers=FLAGS.num_workers,
        pool_tokens=FLAGS.pool_tokens,
        eval_documents=FLAGS.eval_documents,
        builtin_seed=FLAGS.builtin_seed,
        builtin_size_mb=FLAGS.builtin_size_mb,
        builtin_documents=FLAGS.builtin_documents,
        overwrite=FLAGS.overwrite,
        ray_address=FLAGS.ray_address,
        **{option.name: FLAGS[option.name].value for option in generator_options()},
    )


def run():
    define_flags()
    app.run(main_entry(main, outputs=("output_dir",), lock="output_dir"))


if __name__ == "__main__":
    run()
