r"""Fetches data sets into a cache folder, verified (size and SHA-256) and unpacked, and prints
the `--data NAME=PATH` flags that point the study at them.

  python -m trainers.fetch_data fetch squad_v1_train squad_v1_dev --data_dir=~/hbert_data
  hbert-data fetch all --data_dir=~/hbert_data

Names: the study's `--data` names (wikitext, squad_v1_train, squad_v1_dev, squad_v2_train,
squad_v2_dev, mnli_train, mnli_dev_matched, mnli_dev_mismatched, senteval_probing, fasttext) or
`all`. A file already in the cache is checked, not fetched again. How files are checked and
resumed: hbert_tf/study/fetch.py.
"""

from absl import app, flags

from hbert_tf.errors import UserError, main_entry

flags.DEFINE_string("data_dir", None, "The cache folder the data sets go into.")
flags.DEFINE_string("mirror", None, "Fetch every file from this URL + its original path (an "
                    "internal mirror) instead of its publisher.")  # fmt: skip
FLAGS = flags.FLAGS


def main(argv):
    from hbert_tf.study import fetch

    if len(argv) < 3 or argv[1] != "fetch":
        raise UserError(f"expected: fetch NAME... (or fetch all); names: {', '.join(fetch.DATA)}")
    if not FLAGS.data_dir:
        raise UserError("--data_dir is required: the cache folder")
    names = list(fetch.DATA) if argv[2:] == ["all"] else argv[2:]
    for name, path in fetch.fetch(names, FLAGS.data_dir, FLAGS.mirror).items():
        print(f"--data {name}={path}")


def run():
    app.run(main_entry(main))


if __name__ == "__main__":
    run()
