"""Probes frozen encoders on SentEval's probing tasks and compares them as in the paper's Table 4.

```
python -m trainers.probe --model_dir=runs/bert,runs/lower_nsp --task_dir=SentEval/data/probing \
    --output_dir=runs/probing [--tasks=all] [--layer=nsp] [--pooling=cls] [--classifier=mlp]
```
For every model, layer, pooling and task: features of the frozen encoder (cached under
`<output_dir>/cache/`), then a probe trained on tr with early stopping on va, accuracy on te.
Writes `<output_dir>/probing.json` (after every probe, so a long run keeps what it finished),
`probing.txt` (the table) and `probing.png` (a bar chart). No SentEval files? Generate tasks with
`python -m tfrecords.probing_tasks --output_dir=<task_dir>`.
"""

import sys

from absl import app, flags

from hbert_tf import run_flags
from hbert_tf.errors import main_entry
from hbert_tf.probing.report import format_table
from hbert_tf.probing.run import run_probe
from hbert_tf.run_config import ProbeRunConfig
from hbert_tf.run_flags import config_from_flags, define_flags

define_flags(ProbeRunConfig)  # one flag per field, help from the field
flags.adopt_module_key_flags(run_flags)  # so that --help lists them


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    config = config_from_flags(ProbeRunConfig)  # parse and validate
    records = run_probe(config, verbose=int(sys.stdout.isatty()))
    print(format_table(records))


def run():
    app.run(main_entry(main, outputs=("output_dir",), lock="output_dir"))


if __name__ == "__main__":
    run()
