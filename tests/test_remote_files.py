"""Any TensorFlow file system (issue 21, part 2): every stage on ram://, TensorFlow's in-memory
file system that no plain `open` can reach, and a guard against new plain file calls.

The end-to-end test runs in one fresh process (ram:// lives in a process's memory): data
generation, pre-training (and its resume), the encoder export, fine-tuning from the ram://
model dir, and a micro study with `--output_dir=ram://...` through the study binary. Its working
folder must stay empty: a path that slipped past the file layer would land there (for example
`os.makedirs("ram://x")` makes a local `ram:/x`)."""

import ast
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAM = "ram://e2e"

# A study smaller than the built-in `tiny`: one variant, one task, one probing task.
MICRO_STUDY = {
    "description": "The ram:// end-to-end test: every kind of unit, as small as it gets.",
    "encoder": os.path.join(ROOT, "hbert_tf", "study", "studies", "encoders", "tiny3.json"),
    "seeds": [0],
    "corpora": ["builtin"],
    "corpus_data": {
        "builtin_documents": 30, "vocab_size": 300, "max_seq_length": [32, 64],
        "max_predictions_per_seq": [5, 10], "dupe_factor": 1, "eval_documents": 6,
        "num_shards": 1,
    },
    "pretrain": {
        "preset": "tiny", "dropout": 0.0, "train_steps": 4, "batch_size_128": 8,
        "batch_size_384": 4, "learning_rate": 0.005, "warmup_steps": 1, "eval_batches": 1,
        "steps_per_execution": 2, "log_every": 2, "checkpoint_every": 4,
        "long_seq_fraction": 0.0,
    },
    "variants": [{"model": "bert"}],
    "select_by": "pretrain_eval_loss",
    "downstream": {
        "tasks": ["mnli"], "builtin_documents": 12,
        "settings": {"preset": "bert", "train_steps": 2, "batch_size": 8,
                     "max_seq_length": 32, "checkpoint_every": 2},
    },
    "probing": {
        "tasks": ["sentence_length"],
        "settings": {"max_epochs": 1, "patience": 1, "hidden_units": 8, "max_seq_length": 32},
        "generate": {"train_size": 40, "dev_size": 20, "test_size": 20, "num_documents": 100,
                     "num_length_bins": 3},
    },
    "baselines": [],
    "pretrained_bert": None,
}  # fmt: skip


def all_stages_on_ram():
    """Runs every stage on ram:// in this process; prints a JSON summary of what is there."""
    import tensorflow as tf
    from absl import flags

    from hbert_tf import files
    from hbert_tf.finetuning.run import run_mnli
    from hbert_tf.pretraining.run import run_pretraining
    from hbert_tf.run_config import MnliConfig, PretrainConfig
    from hbert_tf.serving.export import export_run
    from hbert_tf.text.vocab import Vocab
    from tfrecords import readers
    from tfrecords.build_vocab import build_vocab
    from tfrecords.create_pretraining_data import create_pretraining_data
    from trainers import study

    summary = {}
    files.makedirs(RAM)
    documents = readers.read_documents("builtin", builtin_seed=1, builtin_documents=40)
    Vocab(build_vocab(documents, vocab_size=300)).write(f"{RAM}/vocab.txt")
    create_pretraining_data(
        f"{RAM}/data", vocab_file=f"{RAM}/vocab.txt", input_format="builtin", builtin_seed=1,
        builtin_documents=40, max_seq_length="32,64", max_predictions_per_seq="5,10",
        dupe_factor=1, num_shards=2, eval_documents=6, num_workers=2,
    )  # fmt: skip
    summary["data"] = sorted(files.listdir(f"{RAM}/data/seq32"))

    pretrain = dict(
        preset="tiny", variant="bert", dropout=0.0, train_data_128=f"{RAM}/data/seq32",
        eval_data=f"{RAM}/data/seq32", max_seq_length=[32, 64], max_predictions_per_seq=[5, 10],
        train_steps=4, long_seq_fraction=0.0, batch_size_128=8, eval_batches=1,
        steps_per_execution=2, log_every=2, checkpoint_every=2, model_dir=f"{RAM}/pt",
    )  # fmt: skip
    first = run_pretraining(PretrainConfig.resolve(**pretrain))
    again = run_pretraining(PretrainConfig.resolve(**pretrain))  # finished: read back
    summary["pretrain_same_on_rerun"] = first["mlm_loss"] == again["mlm_loss"]
    summary["model_dir"] = sorted(files.listdir(f"{RAM}/pt"))

    kind, export_dir = export_run(f"{RAM}/pt", f"{RAM}/export")
    loaded = tf.saved_model.load(export_dir)
    outputs = loaded.signatures["serving_default"](
        input_ids=tf.constant([[2, 5, 6, 3]]), input_mask=tf.constant([[1, 1, 1, 1]]),
        segment_ids=tf.constant([[0, 0, 0, 0]]),
    )  # fmt: skip
    summary["export"] = [kind, sorted(files.listdir(export_dir)), sorted(outputs)]

    metrics = run_mnli(MnliConfig.resolve(
        model_dir=f"{RAM}/ft", init_from=f"{RAM}/pt", data="builtin", builtin_documents=12,
        max_seq_length=32, train_steps=2, batch_size=8, verbose=0,
    ))  # fmt: skip
    summary["finetune"] = [sorted(metrics), sorted(files.listdir(f"{RAM}/ft"))]

    with files.open(f"{RAM}/micro.json", "w") as f:
        json.dump(MICRO_STUDY, f)
    sys.argv = ["study", f"--study={RAM}/micro.json", f"--output_dir={RAM}/study"]
    flags.FLAGS.unparse_flags()
    try:
        study.run()
    except SystemExit as e:
        summary["study_exit"] = e.code
    summary["study"] = sorted(files.listdir(f"{RAM}/study"))
    summary["units"] = sorted(files.listdir(f"{RAM}/study/units"))
    summary["records"] = files.read_json(f"{RAM}/study/records.json")
    print("SUMMARY " + json.dumps(summary))


@pytest.mark.slow
def test_every_stage_runs_on_tensorflows_in_memory_file_system(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT)
    code = "from tests.test_remote_files import all_stages_on_ram; all_stages_on_ram()"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")]
    summary = json.loads(line[len("SUMMARY ") :])
    assert os.listdir(tmp_path) == []  # nothing went to a local path
    assert {"manifest.json", "vocab.txt"} <= set(summary["data"])
    assert sum(name.endswith(".tfrecord") for name in summary["data"]) == 3  # 2 train, 1 eval
    assert summary["pretrain_same_on_rerun"]
    assert {"checkpoints", "run_config.json", "train_log.jsonl", "vocab.txt"} <= set(
        summary["model_dir"]
    )
    kind, exported, outputs = summary["export"]
    assert kind == "pretraining" and "saved_model.pb" in exported and "sequence_output" in outputs
    metric_names, finetuned = summary["finetune"]
    assert "dev_matched_accuracy" in metric_names and "metrics.json" in finetuned
    assert summary["study_exit"] in (0, None)
    assert {"records.json", "report.md", "units", "units.json", "plots"} <= set(summary["study"])
    kinds = {unit.split("-")[0] for unit in summary["units"]}
    assert {"data", "pretrain", "finetune", "probe"} <= kinds, summary["units"]
    tasks = {(r["model"], r["task"]) for r in summary["records"]}
    assert {("bert", "pretrain"), ("bert", "mnli"), ("bert", "sentence_length")} <= tasks


# --- No plain file call outside the file layer -------------------------------------------------
FOLDERS = ("hbert_tf", "trainers", "tfrecords")
PLAIN_CALLS = {
    "open", "os.makedirs", "os.mkdir", "os.replace", "os.rename", "os.remove", "os.unlink",
    "os.listdir", "os.scandir", "os.walk", "os.stat", "os.path.exists", "os.path.lexists",
    "os.path.isdir", "os.path.isfile", "os.path.getsize", "os.path.getmtime", "glob.glob",
    "glob.iglob", "np.load", "np.save", "np.savez",
}  # fmt: skip
PLAIN_MODULES = ("shutil", "pathlib", "tempfile")  # any call into them
# (file, call) -> why it may stay a plain call.
ALLOWED = {
    ("hbert_tf/run_lock.py", "os.path.isdir"): "the lock file is local only (fcntl); remote "
    "folders are not locked, see run_folder_lock",
    ("hbert_tf/run_lock.py", "os.path.lexists"): "the lock file is local only",
    ("hbert_tf/run_lock.py", "os.makedirs"): "the lock file is local only",
    ("hbert_tf/run_lock.py", "os.stat"): "the lock file is local only",
    ("hbert_tf/run_lock.py", "os.remove"): "the lock file is local only",
    ("hbert_tf/console.py", "os.path.exists"): "/proc and /dev driver files, not user paths",
    ("hbert_tf/errors.py", "os.path.lexists"): "local paths only (a remote one takes "
    "files.exists on the same line)",
    ("hbert_tf/study/fetch.py", "shutil.copyfileobj"): "copies between two open file objects "
    "(a zip member into files.open)",
    ("hbert_tf/pretraining/data.py", "tf.io.gfile.glob"): "the shard patterns of the tf.data "
    "reader keep TensorFlow's glob rules (Python's would change which shards a pattern names)",
    ("hbert_tf/probing/features.py", "np.load"): "reads an open files.open object",
    ("hbert_tf/probing/features.py", "np.savez"): "writes an open files.AtomicFile object",
}


def _dotted(node):
    """'os.path.isdir' for the expression `os.path.isdir`; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def plain_file_calls(path):
    """[(line, call)] of the plain file-system calls in the Python file `path`."""
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name and (
                name in PLAIN_CALLS
                or name.split(".")[0] in PLAIN_MODULES
                or name.startswith("tf.io.gfile.")  # the layer handles ram://'s quirks
            ):
                found.append((node.lineno, name))
    return sorted(found)


def test_no_plain_file_call_outside_the_file_layer():
    bad, used = [], set()
    for folder in FOLDERS:
        for parent, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in sorted(n for n in names if n.endswith(".py")):
                path = os.path.join(parent, name)
                relative = os.path.relpath(path, ROOT)
                if relative == os.path.join("hbert_tf", "files.py"):
                    continue
                for line, call in plain_file_calls(path):
                    if (relative, call) in ALLOWED:
                        used.add((relative, call))
                    else:
                        bad.append(f"{relative}:{line}: {call}(...); use hbert_tf.files")
    assert bad == []
    assert used == set(ALLOWED)  # no stale entry


def test_the_guard_finds_a_plain_call(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "import os\nwith open(p) as f:\n    os.makedirs(q)\nfiles.open(p)\ntf.io.gfile.GFile(p)\n"
    )
    assert plain_file_calls(str(path)) == [
        (2, "open"),
        (3, "os.makedirs"),
        (5, "tf.io.gfile.GFile"),
    ]
