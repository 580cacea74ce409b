"""Benchmark: an exported SQuAD 2.0 SavedModel (strings in, answers out) against the Python pipeline.

Fine-tunes a tiny model 3 steps on the built-in QA set (length 128, stride 32), exports it, and
times both on the built-in dev questions: the SavedModel called on batches of 32 raw strings
(tokenisation, windows and span decoding in the graph), and the Python pipeline
(`squad.convert_examples_to_features`, `model.predict`, `squad.postprocess`). Each is run once
to warm up, then timed over two passes. Prints questions per second.

Usage:
    python bench/bench_serving.py [--work_dir=/tmp/hbert_bench_serving] [--documents=200]
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow as tf  # noqa: E402

from hbert_tf.finetuning import squad  # noqa: E402
from hbert_tf.finetuning.run import run_squad  # noqa: E402
from hbert_tf.modeling import downstream  # noqa: E402
from hbert_tf.run_config import SquadConfig  # noqa: E402
from hbert_tf.serving.export import export_run, load_finetuned  # noqa: E402
from hbert_tf.text.tokenization import OffsetTokenizer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="/tmp/hbert_bench_serving")
    parser.add_argument("--documents", type=int, default=200)
    args = parser.parse_args()
    run = os.path.join(args.work_dir, "squad2")
    exported = os.path.join(args.work_dir, "exported")
    settings = dict(
        data="builtin",
        builtin_documents=args.documents,
        init_from="none",
        config="tiny",
        version="2.0",
        model_dir=run,
        max_seq_length=128,
        max_query_length=24,
        doc_stride=32,
        train_steps=3,
        batch_size=8,
        verbose=0,
    )
    run_squad(SquadConfig.resolve(**settings))
    export_run(run, exported, overwrite=True)
    examples, _ = squad.read_squad_json(
        os.path.join(run, "data/builtin_squad_v2.0_dev.json"), "2.0"
    )
    serve = tf.saved_model.load(exported).signatures["serving_default"]
    model, values = load_finetuned(run)
    s = values["settings"]
    tokenizer = OffsetTokenizer.from_file(os.path.join(run, "vocab.txt"))
    questions = [e.question for e in examples]
    contexts = [e.context for e in examples]

    def savedmodel():
        for lo in range(0, len(questions), 32):
            serve(
                question=tf.constant(questions[lo : lo + 32]),
                context=tf.constant(contexts[lo : lo + 32]),
            )

    def python():
        features = squad.convert_examples_to_features(
            examples, tokenizer, s["max_seq_length"], s["doc_stride"], s["max_query_length"]
        )
        out = model.predict(features.inputs(), batch_size=64, verbose=0)
        squad.postprocess(
            examples,
            features,
            out[downstream.START_LOGITS],
            out[downstream.END_LOGITS],
            s["n_best_size"],
            s["max_answer_length"],
            True,
            s["null_score_diff_threshold"],
        )

    for name, fn in (("savedmodel", savedmodel), ("python pipeline", python)):
        fn()
        start = time.time()
        fn()
        fn()
        seconds = (time.time() - start) / 2
        print(
            f"{name}: {len(questions)} questions in {seconds:.2f} s, "
            f"{len(questions) / seconds:.0f} questions/s"
        )


if __name__ == "__main__":
    main()
