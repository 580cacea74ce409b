r"""The paper's whole experiment as one command: data, pre-training sweeps, layer selection,
fine-tuning, probing, baselines and the report (Tables 1-4).

  python -m trainers.study --study=demo --output_dir=demo_output
  python -m trainers.study --study=paper --output_dir=runs/paper \
      --data wikitext=wikitext-2-raw --data squad_v1_train=train-v1.1.json ...
  python -m trainers.study --study=paper --output_dir=runs/paper --download --data_dir=data

`--study` is a built-in study (paper, small, tiny, demo, evidence) or a JSON file
(docs/study.md). The study and every --data file are checked before any training. Units run in
`<output_dir>/units/<key>`; a rerun of the same command skips finished units and resumes the
running one. `--dry_run` lists the units and the compute plan (FLOPs and estimated time per unit
and in total at `--throughput`, or `--device` x `--mfu`, x `--num_devices`). `--download` fetches
every data set the study reads that no --data names into `--data_dir` (verified and cached:
hbert_tf/study/fetch.py; with --dry_run too).
"""

import functools
import os
import sys

from absl import app, flags

from hbert_tf.errors import UserError, check_output_dir, main_entry

flags.DEFINE_string(
    "study", None, "A built-in study (paper, small, tiny, demo, evidence) or a JSON file."
)
flags.DEFINE_string("output_dir", None, "Where units, records and the report go.")
flags.DEFINE_multi_string("data", [], "NAME=PATH of a real data set (repeatable); names: "
                          "wikitext, squad_v1_train, squad_v1_dev, squad_v2_train, squad_v2_dev, "
                          "mnli_train, mnli_dev_matched, mnli_dev_mismatched, senteval_probing, "
                          "fasttext, pretrained_bert. Unset names use the built-in sets.")  # fmt: skip
flags.DEFINE_bool(
    "dry_run",
    False,
    "List the units, their dependencies and done/pending, and "
    "the compute plan (training FLOPs and estimated time per unit); exit.",
)
flags.DEFINE_float(
    "throughput",
    None,
    "--dry_run: TFLOP/s one device sustains (default: this machine's measured matmul rate).",
)
flags.DEFINE_string(
    "device",
    None,
    "--dry_run: a GPU of hbert_tf.flops.PEAK_BF16_TFLOPS (e.g. "
    "H100) whose dense bf16 peak, times --mfu, is the rate.",
)
flags.DEFINE_float("mfu", None, "--dry_run with --device: model-FLOP utilisation (default 0.4).")
flags.DEFINE_integer("num_devices", 1, "--dry_run: devices the estimate spreads the FLOPs over.")
flags.DEFINE_bool("download", False, "Fetch every data set the study reads that no --data "
                  "names into --data_dir (verified, cached; a rerun fetches nothing).")  # fmt: skip
flags.DEFINE_string("data_dir", os.path.join("~", ".cache", "hbert_tf", "data"),
                    "The cache folder of --download.")  # fmt: skip
flags.DEFINE_string("mirror", None, "--download from this URL + each file's original path.")
flags.DEFINE_string("ray_address", None, "Run the units as Ray tasks on this cluster ('auto': "
                    "the local one; '': start an embedded one).")  # fmt: skip
flags.DEFINE_float("ray_connect_timeout", 10.0, "Seconds to wait for --ray_address to answer "
                   "(checked before any unit, --dry_run too).")  # fmt: skip
flags.DEFINE_string("seeds", None, "Comma list of seeds replacing the study's (e.g. 0,1,2).")
flags.DEFINE_integer("num_gpus", 0, "GPUs each training unit asks for (Ray only).")
flags.DEFINE_bool("deterministic", True, "Deterministic TensorFlow ops and tf.data, so that a "
                  "rerun or a resumed study gives the same numbers (slower on some GPU ops; some "
                  "GPU ops have no deterministic kernel).")  # fmt: skip
FLAGS = flags.FLAGS


def parse_seeds(text):
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds={text}: expected a comma list of ints") from None
    if not seeds or min(seeds) < 0:
        raise UserError(f"--seeds={text}: expected a comma list of ints >= 0")
    return seeds


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {argv[1:]}")
    if not FLAGS.study:
        raise UserError("--study is required (paper, small, tiny, demo, evidence or a JSON file)")
    from hbert_tf.study import data_sources, spec  # light: bad input fails before TensorFlow

    from . import study_data

    study = spec.load_study(FLAGS.study, parse_seeds(FLAGS.seeds))  # parse and validate
    from hbert_tf.study import planning, statistics

    rate = None  # bad estimate flags fail before anything else; measuring only for --dry_run
    estimate = (FLAGS.throughput, FLAGS.device, FLAGS.mfu)
    if FLAGS.dry_run or any(v is not None for v in estimate) or FLAGS.num_devices != 1:
        rate = planning.device_rate(*estimate, FLAGS.num_devices, measure=FLAGS.dry_run)
    data = data_sources.parse_data_flags(FLAGS.data)
    if FLAGS.download:
        from hbert_tf.study import fetch

        missing = [name for name in fetch.study_data_names(study) if name not in data]
        data.update(fetch.fetch(missing, os.path.expanduser(FLAGS.data_dir), FLAGS.mirror))
    data_sources.check_data(study, data, study_data._data_tool("readers").check_text_file)
    note = statistics.seeds_note(study.seeds)
    if note:
        print(f"note: {note}")
    from hbert_tf.ray_executor import check_reachable

    check_reachable(FLAGS.ray_address, FLAGS.ray_connect_timeout)  # the dry run checks it too
    from hbert_tf.study import runner, units

    all_units = units.expand(study, data, FLAGS.num_gpus)
    skipped = units.skipped_baselines(study, data)
    for name, why in skipped.items():
        print(f"baseline {name} skipped: {why}")
    if FLAGS.dry_run:
        print(runner.describe(all_units, FLAGS.output_dir or ""))
        measured = {}
        for unit in all_units if FLAGS.output_dir else ():
            result = runner.read_result(FLAGS.output_dir, unit.key)
            if result is not None:
                measured[unit.key] = result["seconds"]
        print(planning.describe_plan(study, all_units, *rate, measured))
        return
    if not FLAGS.output_dir:
        raise UserError("--output_dir is required")
    check_output_dir(FLAGS.output_dir, "output_dir")
    run_unit = functools.partial(
        study_data.run_unit, output_dir=FLAGS.output_dir, deterministic=FLAGS.deterministic
    )
    runner.run_study(study, all_units, FLAGS.output_dir, run_unit, FLAGS.ray_address)
    sys.stdout.flush()


def run():
    app.run(main_entry(main, outputs=("output_dir",), lock="output_dir"))


if __name__ == "__main__":
    run()
