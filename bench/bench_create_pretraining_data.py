"""Benchmark: our create_pretraining_data against tf-models-official's, on the same corpus.

Generates the built-in corpus (about 40 MB of text, BERT format; its first 10 and 20 MB are the
smaller corpora), learns one vocabulary, then runs as separate processes, with the same flags
(length 128, 20 predictions, masked_lm_prob 0.15, `--dupe_factor`):
  * official.nlp.data.create_pretraining_data on the 20 MB corpus (one process, one core);
  * ours with --num_workers=2 on the 10, 20 and 40 MB corpora.
Peak memory is the largest sum of RSS over the process and its children, polled every 20 ms.
Prints instances per second, peak memory, and the ratios; the targets are >= 5x the throughput,
<= 1/4 of the peak memory, and our peak flat between 10 and 40 MB.

Usage:
    python bench/bench_create_pretraining_data.py [--work_dir=/tmp/hbert_bench] [--dupe_factor=2]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hbert_tf.text import builtin_corpus  # noqa: E402
from hbert_tf.text.vocab import Vocab  # noqa: E402
from tfrecords import readers  # noqa: E402
from tfrecords.build_vocab import build_vocab  # noqa: E402


def measure(command, log_path):
    """Runs `command`; returns (wall seconds, peak RSS of the process tree in MB)."""
    start, peak = time.time(), 0
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = ps.memory_info().rss + sum(
                    c.memory_info().rss for c in ps.children(recursive=True)
                )
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.02)
    wall = time.time() - start
    if proc.returncode:
        raise SystemExit(f"{command[2]} failed; see {log_path}")
    return wall, peak / 2**20


def corpus_prefix(source, target, megabytes):
    """Copies whole documents from the start of `source` until `megabytes` MB."""
    limit, size = megabytes * 1e6, 0
    with open(source, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
        for line in src:
            if size >= limit and not line.strip():
                break
            dst.write(line)
            size += len(line.encode())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work_dir", default="/tmp/hbert_bench")
    parser.add_argument("--dupe_factor", type=int, default=2)
    parser.add_argument("--reference_mb", type=int, default=20)
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    path = lambda name: os.path.join(args.work_dir, name)  # noqa: E731

    full = path("corpus_40mb.txt")
    if not os.path.exists(full):
        t = time.time()
        builtin_corpus.write_bert_format(full, 0, builtin_corpus.num_documents_for_megabytes(40))
        print(f"generated 40 MB corpus in {time.time() - t:.0f} s", flush=True)
    for mb in (10, 20):
        if not os.path.exists(path(f"corpus_{mb}mb.txt")):
            corpus_prefix(full, path(f"corpus_{mb}mb.txt"), mb)
    vocab_file = path("vocab.txt")
    if not os.path.exists(vocab_file):
        docs = readers.read_documents("builtin", builtin_seed=0, builtin_documents=4000)
        Vocab(build_vocab(docs, 2000)).write(vocab_file)

    common = [
        f"--vocab_file={vocab_file}",
        "--max_seq_length=128",
        "--max_predictions_per_seq=20",
        "--masked_lm_prob=0.15",
        f"--dupe_factor={args.dupe_factor}",
        "--random_seed=12345",
        "--do_lower_case=true",
    ]
    results = {}
    ref_corpus = path(f"corpus_{args.reference_mb}mb.txt")
    wall, peak = measure(
        [sys.executable, "-m", "official.nlp.data.create_pretraining_data",
         f"--input_file={ref_corpus}", f"--output_file={path('reference.tfrecord')}"] + common,
        path("reference.log"),
    )  # fmt: skip
    with open(path("reference.log")) as f:
        instances = int(re.findall(r"Wrote (\d+) total instances", f.read())[-1])
    results["reference"] = dict(
        mb=args.reference_mb, seconds=wall, peak_mb=peak, instances=instances
    )
    print("reference", results["reference"], flush=True)

    for mb in (10, 20, 40):
        out = path(f"ours_{mb}mb")
        subprocess.run(["rm", "-rf", out], check=True)
        wall, peak = measure(
            [sys.executable, "-m", "tfrecords.create_pretraining_data",
             f"--input_file={path(f'corpus_{mb}mb.txt')}", f"--output_dir={out}",
             "--num_workers=2", "--num_shards=8"] + common,
            path(f"ours_{mb}mb.log"),
        )  # fmt: skip
        with open(os.path.join(out, "manifest.json")) as f:
            instances = json.load(f)["splits"]["train"]["instances"]
        results[f"ours_{mb}mb"] = dict(mb=mb, seconds=wall, peak_mb=peak, instances=instances)
        print(f"ours {mb} MB", results[f"ours_{mb}mb"], flush=True)

    ref, ours = results["reference"], results[f"ours_{args.reference_mb}mb"]
    ref_rate, our_rate = ref["instances"] / ref["seconds"], ours["instances"] / ours["seconds"]
    print()
    print(
        f"corpus {args.reference_mb} MB, dupe_factor {args.dupe_factor}, length 128 / 20 predictions"
    )
    print(f"  tf-models-official: {ref_rate:8.0f} instances/s, peak {ref['peak_mb']:7.0f} MB")
    print(f"  ours (2 workers):   {our_rate:8.0f} instances/s, peak {ours['peak_mb']:7.0f} MB")
    print(f"  throughput ratio (ours / theirs): {our_rate / ref_rate:.1f}x   (target >= 5x)")
    print(
        f"  peak memory ratio (ours / theirs): {ours['peak_mb'] / ref['peak_mb']:.3f}   (target <= 0.25)"
    )
    small, large = results["ours_10mb"]["peak_mb"], results["ours_40mb"]["peak_mb"]
    print(f"  our peak memory 10 MB -> 40 MB: {small:.0f} -> {large:.0f} MB ({large / small:.2f}x)")
    with open(path("results.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
