"""Fine-tunes and evaluates on SQuAD 1.1 / 2.0 with the paper's token read-out (Fig. 3b-d).

Example (tiny, no downloads):
    python -m trainers.finetune_squad --model_dir=/tmp/squad --init_from=none --config=tiny \
        --data=builtin --max_seq_length=64 --max_query_length=12 --doc_stride=32 --train_steps=500
"""

from absl import app, flags

from hbert_tf.errors import main_entry
from hbert_tf.finetuning import SQUAD_DEFAULTS as D

from . import finetune_flags

flags.DEFINE_enum("version", D["version"], ["1.1", "2.0"], "SQuAD version (2.0 adds unanswerable "
                  "questions, null scores and HasAns/NoAns metrics).")  # fmt: skip
flags.DEFINE_string("predict_file", None, "SQuAD JSON evaluated after training (--data=files).")
flags.DEFINE_integer("doc_stride", D["doc_stride"], "Tokens between the starts of consecutive "
                     "context windows.")  # fmt: skip
flags.DEFINE_integer("max_query_length", D["max_query_length"], "Questions are truncated to this "
                     "many tokens (counted and logged). Must be < max_seq_length - 3.")  # fmt: skip
flags.DEFINE_integer("n_best_size", D["n_best_size"], "Candidate spans kept per question.")
flags.DEFINE_integer("max_answer_length", D["max_answer_length"], "Longest answer, in tokens.")
flags.DEFINE_float("null_score_diff_threshold", D["null_score_diff_threshold"], "2.0: answer '' "
                   "when null score - best span score exceeds this; the best value on the "
                   "evaluated set is reported beside it in metrics.json.")  # fmt: skip


def main(argv):
    from hbert_tf.finetuning import run_squad

    finetune_flags.run_task(run_squad, D, argv)


def run():
    app.run(main_entry(main, outputs=("model_dir",)))


if __name__ == "__main__":
    run()
