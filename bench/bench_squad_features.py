"""SQuAD feature conversion: hbert_tf.finetuning.squad vs tf-models-official's squad_lib, as a ratio.

Both read the same SQuAD JSON and vocabulary and build training features (max_seq_length 384,
doc_stride 128, max_query_length 64 by default); the time includes reading the JSON and building
the tokenizer. Without --squad_file a SQuAD-format file is made from the built-in corpus with long
contexts (12 sentences each).

    python bench/bench_squad_features.py                      # built-in set, built-in vocabulary
    python bench/bench_squad_features.py --squad_file=train-v1.1.json --vocab_file=vocab.txt
"""

import os
import tempfile
import time

from absl import app, flags, logging

flags.DEFINE_string("squad_file", None, "SQuAD 1.1 JSON (default: made from the built-in corpus).")
flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the built-in task vocabulary).")
flags.DEFINE_integer("num_documents", 1500, "Built-in documents when no --squad_file.")
flags.DEFINE_integer("max_seq_length", 384, "Tokens per feature.")
flags.DEFINE_integer("doc_stride", 128, "Window stride.")
flags.DEFINE_integer("max_query_length", 64, "Question tokens kept.")
flags.DEFINE_integer("repeats", 3, "Timed runs per implementation (the fastest is reported).")
FLAGS = flags.FLAGS


def _ours(squad_file, vocab_file, args):
    from hbert_tf.finetuning import squad
    from hbert_tf.text.tokenization import OffsetTokenizer

    examples, _ = squad.read_squad_json(squad_file, "1.1")
    tokenizer = OffsetTokenizer.from_file(vocab_file, do_lower_case=True)
    return len(squad.convert_examples_to_features(examples, tokenizer, *args, is_training=True))


def _official(squad_file, vocab_file, args):
    from official.nlp.data import squad_lib
    from official.nlp.tools import tokenization

    examples = squad_lib.read_squad_examples(squad_file, True, False)
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
    count = []
    squad_lib.convert_examples_to_features(examples, tokenizer, *args, True, count.append)
    return len(count)


def _best_time(fn, *args):
    times, result = [], None
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    workdir = tempfile.mkdtemp(prefix="bench_squad_")
    squad_file, vocab_file = FLAGS.squad_file, FLAGS.vocab_file
    if squad_file is None:
        import json

        from hbert_tf.finetuning import builtin_tasks

        squad_file = os.path.join(workdir, "builtin_squad.json")
        data = builtin_tasks.make_squad(0, FLAGS.num_documents, sentences_per_context=12)
        with open(squad_file, "w", encoding="utf-8") as f:
            json.dump(data, f)
    if vocab_file is None:
        from hbert_tf.finetuning import builtin_tasks
        from hbert_tf.text.vocab import Vocab

        vocab_file = os.path.join(workdir, "vocab.txt")
        Vocab(builtin_tasks.task_vocabulary()).write(vocab_file)
    args = (FLAGS.max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length)
    _ours(squad_file, vocab_file, args)  # warm-up: TF op registration, tokenizer model build
    ours_s, ours_n = _best_time(_ours, squad_file, vocab_file, args)
    official_s, official_n = _best_time(_official, squad_file, vocab_file, args)
    print(f"file: {squad_file}")
    print(f"hbert_tf.finetuning.squad:            {ours_n} features in {ours_s:.2f} s")
    print(f"official squad_lib:        {official_n} features in {official_s:.2f} s")
    print(f"speed-up (official / ours): {official_s / ours_s:.1f}x")


if __name__ == "__main__":
    app.run(main)
