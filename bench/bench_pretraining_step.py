r"""Training steps per second: our pretrainer against keras-hub's BertMaskedLM (same size, batch,
length), alternating in one process, with and without jit_compile. Prints ratios, model FLOPs per
step and, on a GPU, model-FLOP utilisation.

  python bench/bench_pretraining_step.py --config=tiny --batch_size=32 --seq_length=128
  python bench/bench_pretraining_step.py --config=base --peak_tflops=989   # on an H100 (bf16)

Rows:
  keras_hub_mlm   keras_hub.models.BertMaskedLM.fit (MLM only)
  ours_bert_fit   HBertPretrainer, variant bert (MLM + NSP on top), .fit
  ours_bert_loop  the same model through trainers.pretrain's own step (PretrainingLoop)
  ours_all_fit    Lower NSP + NSP concat + bigram shift (every head), .fit
"""

import argparse
import statistics
import tempfile
import time

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from mfu import default_peak, flops_per_sequence

from hbert_tf import names
from hbert_tf.config import get_config
from hbert_tf.modeling.pretrainer import build_pretrainer
from hbert_tf.optimization import make_optimizer
from hbert_tf.pretraining.loop import PretrainingLoop
from hbert_tf.variants import resolve_variant


def make_batch(config, batch, seq, predictions, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, config.vocab_size, (batch, seq)).astype("int32")
    mask = np.ones((batch, seq), "int32")
    segments = np.zeros((batch, seq), "int32")
    segments[:, seq // 2 :] = 1
    positions = np.sort(rng.integers(1, seq - 1, (batch, predictions)), axis=1).astype("int32")
    mlm_ids = rng.integers(5, config.vocab_size, (batch, predictions)).astype("int32")
    weights = np.ones((batch, predictions), "float32")
    return ids, mask, segments, positions, mlm_ids, weights


def ours_dataset(config, args, with_nsp=True, with_bigram=False):
    ids, mask, segments, positions, mlm_ids, weights = make_batch(
        config, args.batch_size, args.seq_length, args.predictions
    )
    inputs = {
        names.INPUT_IDS: ids,
        names.INPUT_MASK: mask,
        names.SEGMENT_IDS: segments,
        names.MASKED_LM_POSITIONS: positions,
    }
    labels = {names.MLM_LOGITS: mlm_ids}
    sample_weights = {names.MLM_LOGITS: weights}
    if with_nsp:
        labels[names.NSP_LOGITS] = np.zeros((args.batch_size,), "int32")
    if with_bigram:
        labels[names.BIGRAM_SHIFT_LOGITS] = np.zeros_like(ids)
        sample_weights[names.BIGRAM_SHIFT_LOGITS] = mask.astype("float32")
    return tf.data.Dataset.from_tensors((inputs, labels, sample_weights)).repeat()


def keras_hub_dataset(config, args):
    ids, mask, segments, positions, mlm_ids, weights = make_batch(
        config, args.batch_size, args.seq_length, args.predictions
    )
    inputs = {
        "token_ids": ids,
        "segment_ids": segments,
        "padding_mask": mask,
        "mask_positions": positions,
    }
    return tf.data.Dataset.from_tensors((inputs, mlm_ids, weights)).repeat()


class FitRunner:
    """Times `fit` over `steps` steps (compiled on the first call)."""

    def __init__(self, model, dataset, steps, jit):
        self.model, self.steps = model, steps
        self.iterator_dataset = dataset
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4, amsgrad=True),
            loss=getattr(model, "_bench_loss", None),
            jit_compile=jit,
        )
        self.run()  # trace and compile

    def run(self):
        start = time.perf_counter()
        self.model.fit(self.iterator_dataset, steps_per_epoch=self.steps, epochs=1, verbose=0)
        return self.steps / (time.perf_counter() - start)


class LoopRunner:
    """Times the distributed step of trainers.pretrain (PretrainingLoop.train)."""

    def __init__(self, model, dataset, steps, jit):
        self.steps = steps
        optimizer = make_optimizer(total_steps=10**6)
        optimizer.build(model.trainable_variables)
        strategy = tf.distribute.get_strategy()
        self.loop = PretrainingLoop(
            model, optimizer, strategy, tempfile.mkdtemp(prefix="bench_loop_"), jit_compile=jit
        )
        self.iterator = iter(strategy.experimental_distribute_dataset(dataset))
        self.run()

    def run(self):
        start = time.perf_counter()
        self.loop.train(self.iterator, self.steps)
        return self.steps / (time.perf_counter() - start)


def build_runners(config, args, jit):
    layers = config.num_hidden_layers
    runners = {}
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=layers,
        num_heads=config.num_attention_heads,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
    )
    hub = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    hub._bench_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    runners["keras_hub_mlm"] = FitRunner(hub, keras_hub_dataset(config, args), args.steps, jit)
    bert = resolve_variant("bert", layers)
    runners["ours_bert_fit"] = FitRunner(
        build_pretrainer(config, bert), ours_dataset(config, args), args.steps, jit
    )
    runners["ours_bert_loop"] = LoopRunner(
        build_pretrainer(config, bert), ours_dataset(config, args), args.steps, jit
    )
    every_head = resolve_variant("lower_nsp", layers, concat="nsp", bigram_shift=True)
    runners["ours_all_fit"] = FitRunner(
        build_pretrainer(config, every_head),
        ours_dataset(config, args, with_bigram=True),
        args.steps,
        jit,
    )
    return runners


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--vocab_size", type=int, default=30522)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--predictions", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed call")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--jit", default="false,true", help="jit_compile settings to run")
    parser.add_argument(
        "--peak_tflops", type=float, default=0.0, help="device peak for MFU (default: by GPU name)"
    )
    args = parser.parse_args()

    config = get_config(args.config, vocab_size=args.vocab_size)
    flops = args.batch_size * flops_per_sequence(config, args.seq_length, args.predictions)
    gpus = tf.config.list_physical_devices("GPU")
    device = (
        tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else "CPU"
    )
    print(
        f"config={args.config} (L={config.num_hidden_layers}, H={config.hidden_size}, "
        f"V={config.vocab_size}) batch={args.batch_size} seq={args.seq_length} "
        f"predictions={args.predictions} device={device}"
    )
    print(f"model FLOPs per training step: {flops / 1e9:.2f} GFLOP")
    if not args.peak_tflops and gpus:
        args.peak_tflops = default_peak(device)
        print(f"peak for MFU: {args.peak_tflops or 'unknown'} TFLOP/s ({device})")
    for jit in [j.strip() == "true" for j in args.jit.split(",")]:
        keras.utils.set_random_seed(0)
        runners = build_runners(config, args, jit)
        rates = {name: [] for name in runners}
        for _ in range(args.rounds):  # alternate so that machine noise hits every row alike
            for name, runner in runners.items():
                rates[name].append(runner.run())
        base = statistics.median(rates["keras_hub_mlm"])
        print(f"\njit_compile={jit}")
        print(f"{'row':<16}{'steps/s':>10}{'vs keras-hub':>14}{'TFLOP/s':>10}{'MFU':>8}")
        for name, values in rates.items():
            rate = statistics.median(values)
            achieved = flops * rate / 1e12
            mfu = f"{100 * achieved / args.peak_tflops:.1f}%" if args.peak_tflops else "-"
            print(f"{name:<16}{rate:>10.2f}{rate / base:>13.2f}x{achieved:>10.3f}{mfu:>8}")


if __name__ == "__main__":
    main()
