"""The study's compute plan for `--dry_run`: training FLOPs per unit and an estimated time.

FLOPs are model FLOPs counted by hand (`hbert_tf.flops`: 3x the forward matmuls per trained
sequence, 1x per sequence only run forward):
  pretrain   steps at each length x batch x flops_per_sequence (MLM predictions included)
  finetune   steps x batch x flops_per_sequence(max_seq_length) (BERT; the BiLSTM by its gates);
             steps = train_steps, else epochs x training examples / batch
  probe      a forward pass per sentence of every task split at max_seq_length (an upper
             bound: sentences are shorter), plus the probe MLPs' training
  data, select, chance: 0 (no model)
The time is FLOPs / (per-device TFLOP/s x devices): a named GPU's dense bf16 peak x MFU, a rate
given in TFLOP/s, or this machine's rate measured with a float32 matmul (`measure_tflops`).
"""

import time

import numpy as np

from hbert_tf import files
from hbert_tf.config import get_config
from hbert_tf.errors import UserError
from hbert_tf.flops import PEAK_BF16_TFLOPS, flops_per_sequence, forward_flops_per_sequence
from hbert_tf.study.units import SQUAD_VERSIONS, CorpusData, ProbingData

# SentEval's probing tasks: 100k train, 10k dev, 10k test sentences each.
SENTEVAL_SPLITS = (100_000, 10_000, 10_000)
PRETRAINED_BERT_CONFIG = "base"  # the keras-hub / Hugging Face BERT-base the baseline reads


def measure_tflops(size=1024, seconds=0.3):
    """This machine's float32 matmul rate (TFLOP/s), from `size` x `size` numpy matmuls timed
    for about `seconds` after one warm-up."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    a @ a
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start) / 1e12


def device_rate(throughput=None, device=None, mfu=None, num_devices=1, measure=True):
    """(TFLOP/s of all devices together, a description) from the estimate flags.

    Args:
        throughput: float or None. TFLOP/s one device sustains.
        device: str or None. A name of `PEAK_BF16_TFLOPS` (case-insensitive); with `mfu`.
        mfu: float or None. Model-FLOP utilisation of `device` (0 < mfu <= 1; default 0.4).
        num_devices: int. Devices the units are spread over.
        measure: bool. Without `throughput` and `device`: measure this machine (else the rate
            is None: only the flags are checked).

    Raises UserError naming the flag of a non-positive or unknown value.
    """
    if num_devices is None or num_devices < 1:
        raise UserError(f"--num_devices={num_devices}: expected an int >= 1")
    if throughput is not None and device is not None:
        raise UserError("--throughput and --device: give one (a rate, or a GPU at an MFU)")
    if mfu is not None and device is None:
        raise UserError(f"--mfu={mfu}: needs --device (the GPU whose peak it scales)")
    if throughput is not None:
        if not throughput > 0:
            raise UserError(f"--throughput={throughput}: expected TFLOP/s per device > 0")
        rate, what = throughput, f"{throughput:g} TFLOP/s per device (--throughput)"
    elif device is not None:
        names = {name.lower(): name for name in PEAK_BF16_TFLOPS}
        if device.lower() not in names:
            raise UserError(f"--device={device}: expected one of {', '.join(PEAK_BF16_TFLOPS)}")
        mfu = 0.4 if mfu is None else mfu
        if not 0 < mfu <= 1:
            raise UserError(f"--mfu={mfu}: expected a fraction of the peak, 0 < mfu <= 1")
        peak = PEAK_BF16_TFLOPS[names[device.lower()]]
        rate = peak * mfu
        what = f"{names[device.lower()]} (bf16 peak {peak:g} TFLOP/s) at MFU {mfu:g}"
    elif not measure:
        return None, None
    else:
        rate = measure_tflops()
        what = f"this machine's measured float32 matmul rate, {rate:.3g} TFLOP/s"
    return rate * num_devices, f"{what} x {num_devices} device{'s' * (num_devices > 1)}"


def _count_train_examples(config):
    """Training examples of a TaskData: counted in the given file, or in the built-in set."""
    path = dict(config.files).get("train")
    if config.task in SQUAD_VERSIONS:
        if path:
            data = files.read_json(path)["data"]
        else:
            from hbert_tf.finetuning import builtin_tasks

            version = SQUAD_VERSIONS[config.task]
            data = builtin_tasks.make_squad(0, config.builtin_documents, 0, version)["data"]
        return sum(len(p["qas"]) for article in data for p in article["paragraphs"])
    if path:
        with files.open(path) as f:
            lines = sum(1 for line in f if line.strip())
        return lines - (not path.endswith(".jsonl"))  # a TSV's header
    from hbert_tf.finetuning import builtin_tasks

    return len(builtin_tasks.make_nli(0, config.builtin_documents, 0, held_out=False))


def bilstm_flops_per_sequence(config):
    """Training FLOPs of one sequence through the BiLSTM baseline: 3x its gates' matmuls
    (4 gates of h x (input + h), both directions, every layer)."""
    h, width, total = config.lstm_units, config.embedding_dim, 0
    for _ in range(config.lstm_layers):
        total += 2 * 2 * 4 * h * (width + h)  # 2 FLOPs per multiply-add, 2 directions
        width = 2 * h
    return 3 * total * config.max_seq_length


class Planner:
    """FLOPs of each unit of one study (`unit_flops`); caches example counts per data unit."""

    def __init__(self, study, units):
        self.study = study
        self.by_key = {u.key: u for u in units}
        self._examples = {}
        corpus = next((u.config for u in units if isinstance(u.config, CorpusData)), None)
        self.vocab_size = corpus.vocab_size if corpus else 30522

    def encoder(self, name=None):
        return get_config(name or self.study.encoder, vocab_size=self.vocab_size)

    def unit_flops(self, unit):
        """Training (and feature-extraction) FLOPs of `unit`; 0 for data, select and chance."""
        if unit.kind == "pretrain":
            return self.pretrain_flops(unit.config)
        if unit.kind == "finetune":
            return self.finetune_flops(unit)
        if unit.kind == "probe":
            return self.probe_flops(unit)
        return 0.0

    def pretrain_flops(self, config):
        encoder = self.encoder(config.config)
        (short, long_), (short_pred, long_pred) = (
            config.max_seq_length,
            config.max_predictions_per_seq,
        )
        long_steps = int(round(config.train_steps * config.long_seq_fraction))
        short_steps = config.train_steps - long_steps
        return float(
            short_steps * config.batch_size_128 * flops_per_sequence(encoder, short, short_pred)
            + long_steps * config.batch_size_384 * flops_per_sequence(encoder, long_, long_pred)
        )

    def finetune_flops(self, unit):
        config = unit.config
        steps = config.train_steps
        if not steps:
            task_key = unit.input("task_data")
            if task_key not in self._examples:
                self._examples[task_key] = _count_train_examples(self.by_key[task_key].config)
            steps = int(config.num_train_epochs * self._examples[task_key] / config.batch_size)
        if config.model == "bilstm":
            return float(steps * config.batch_size * bilstm_flops_per_sequence(config))
        pretrained = dict(unit.tags).get("model") == "pretrained_bert"
        encoder = self.encoder(PRETRAINED_BERT_CONFIG if pretrained else None)
        return float(
            steps * config.batch_size * flops_per_sequence(encoder, config.max_seq_length, 0)
        )

    def probe_flops(self, unit):
        config = unit.config
        data = self.by_key[unit.input("probing_data")].config
        assert isinstance(data, ProbingData)
        if data.task_dir:
            splits = SENTEVAL_SPLITS
        else:
            generate = dict(data.generate)
            splits = tuple(generate.get(k, d) for k, d in
                           (("train_size", 4000), ("dev_size", 500), ("test_size", 500)))  # fmt: skip
        pretrained = dict(unit.tags).get("model") == "pretrained_bert"
        encoder = self.encoder(PRETRAINED_BERT_CONFIG if pretrained else config.config)
        tasks = len(data.tasks)
        extract = tasks * sum(splits) * forward_flops_per_sequence(encoder, config.max_seq_length)
        d, h = encoder.hidden_size, config.hidden_units
        mlp = 2 * (d * h + (config.hidden_layers - 1) * h * h + h * 10)  # forward, <= 10 classes
        probes = tasks * len(config.layer) * len(config.pooling)
        return float(extract + probes * config.max_epochs * splits[0] * 3 * mlp)


def format_seconds(seconds):
    """'3 d 4 h', '2 h 05 min', '4 min 10 s' or '12.3 s'."""
    if seconds >= 86400:
        return f"{int(seconds // 86400)} d {int(seconds % 86400 // 3600)} h"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{seconds:.1f} s"


def describe_plan(study, units, rate, rate_text):
    """The --dry_run compute plan: a line per unit that trains (FLOPs, estimated time), totals
    per kind and for the whole study."""
    planner = Planner(study, units)
    lines = [f"Compute plan (model FLOPs: 3x forward matmuls; time at {rate_text}):"]
    totals = {}
    for unit in units:
        flops = planner.unit_flops(unit)
        if flops:
            totals[unit.kind] = totals.get(unit.kind, 0.0) + flops
            seconds = flops / (rate * 1e12)
            lines.append(f"  {unit.key}: {flops:.3e} FLOP, ~{format_seconds(seconds)}")
    for kind, flops in totals.items():
        lines.append(f"  all {kind}: {flops:.3e} FLOP, ~{format_seconds(flops / (rate * 1e12))}")
    total = sum(totals.values())
    lines.append(f"Study total: {total:.3e} FLOP, ~{format_seconds(total / (rate * 1e12))}")
    return "\n".join(lines)
