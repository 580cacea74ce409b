"""Bad input, second round (issue 22): two runs on one folder, batches the replicas cannot split,
a SentEval folder lacking tasks, study values of the wrong type, a task file given to an encoder,
a damaged weight file, an unreachable Ray cluster and a full disk. Each ends in exit status 1, one
`error:` line naming the flag or file, no traceback and nothing half-written; a rerun resumes."""

import errno
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from hbert_tf import errors, files, ray_executor, run_config
from hbert_tf.finetuning import builtin_tasks
from hbert_tf.probing import senteval_format
from hbert_tf.serving import predict
from hbert_tf.study import spec, units
from hbert_tf.weights import model_dir, pretrained
from tests.helpers import assert_one_line_error
from tests.test_pretrain import run_binary
from tests.test_study import write_study
from tfrecords import create_pretraining_data, probing_tasks, tfrecord_io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = "hardening_round2_folder"
flags.DEFINE_string(FLAG, None, "Run folder of the in-process main_entry tests.")


def binary(module, *args):
    return run_binary([sys.executable, "-m", module, *args])


def run_entry(main, capsys, folder, lock=True):
    """Runs `main` the way a binary does (main_entry, --FLAG=folder); returns (exit code,
    stderr) as a CompletedProcess for `assert_one_line_error`."""
    flags.FLAGS[FLAG].value = str(folder)
    wrapped = errors.main_entry(main, outputs=(FLAG,), lock=FLAG if lock else None)
    try:
        wrapped([""])
        code = 0
    except SystemExit as e:
        code = e.code
    return subprocess.CompletedProcess([], code, "", capsys.readouterr().err)


# --- Two runs on one folder ------------------------------------------------------------------------
HOLD = """
import sys
from hbert_tf.run_lock import run_folder_lock
with run_folder_lock(sys.argv[1], "model_dir"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_held_run_folder_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path, capsys):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "held\n"
    os.makedirs(folder)
    (folder / "train_log.jsonl").write_text("the other run's\n")

    def main(argv):
        (folder / "train_log.jsonl").write_text("this run's\n")

    result = run_entry(main, capsys, folder)
    line = assert_one_line_error(result, f"--{FLAG}={folder}: in use by process {holder.pid}")
    assert "-c" in line and f"{folder}.lock" in line  # its command and the lock file
    assert (folder / "train_log.jsonl").read_text() == "the other run's\n"  # left alone

    holder.kill()  # dies holding it: the lock file stays, the kernel drops the lock
    holder.wait()
    assert os.path.exists(f"{folder}.lock")
    assert run_entry(main, capsys, folder).returncode == 0
    assert (folder / "train_log.jsonl").read_text() == "this run's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the lock is gone after


def test_a_failed_run_releases_its_lock_and_cleans_up_under_it(tmp_path, capsys):
    folder = tmp_path / "new" / "run"  # its parent is made for the lock file, then removed

    def main(argv):
        assert os.path.exists(f"{folder}.lock")
        os.makedirs(folder)
        raise errors.UserError("--x=1: expected 2")

    assert_one_line_error(run_entry(main, capsys, folder), "--x=1: expected 2")
    assert list(tmp_path.iterdir()) == []


# --- Global batch against replicas -------------------------------------------------------------
class TwoReplicas:
    """Stands in for a strategy of two replicas (real ones need logical devices set before
    TensorFlow's first op, i.e. a new process)."""

    num_replicas_in_sync = 2


@pytest.mark.parametrize("job", ["finetune_mnli", "finetune_squad", "pretrain"])
def test_a_global_batch_the_replicas_cannot_split_is_refused_up_front(
    tmp_path, monkeypatch, capsys, job
):
    from hbert_tf.finetuning import run as finetuning
    from hbert_tf.pretraining import run as pretraining

    new = tmp_path / "new_output"
    common = dict(model_dir=str(new), config="tiny", strategy="mirrored")
    if job == "pretrain":
        monkeypatch.setattr(pretraining, "make_strategy", lambda *args: TwoReplicas())
        config = run_config.PretrainConfig.resolve(
            preset="tiny", train_data_128="/data", batch_size_128=3, **common
        )
        main, flag = lambda argv: pretraining.run_pretraining(config), "--batch_size_128=3"
    else:
        monkeypatch.setattr(finetuning, "make_strategy", lambda *args: TwoReplicas())
        config = run_config.FinetuneConfig.resolve(
            task=job.split("_")[1], init_from="none", data="builtin",
            batch_size=1, **common,
        )  # fmt: skip
        run = finetuning.run_mnli if job == "finetune_mnli" else finetuning.run_squad
        main, flag = lambda argv: run(config), "--batch_size=1"
    result = run_entry(main, capsys, new)
    assert_one_line_error(
        result, f"{flag}: --strategy=mirrored splits each global batch over 2 replicas",
        f"{flag[:-1]}2",
    )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


# --- The study's data check --------------------------------------------------------------------
def test_a_senteval_folder_lacking_tasks_stops_the_dry_run_and_the_run(tmp_path):
    task_dir = tmp_path / "probing"
    task_dir.mkdir()
    examples = [(split, label, f"word {label} {i} .") for split in ("tr", "va", "te")
                for label in ("a", "b") for i in range(3)]  # fmt: skip
    senteval_format.write_task(str(task_dir / "sentence_length.txt"), examples)
    study = write_study(tmp_path / "s.json")  # probes sentence_length and bigram_shift
    output = tmp_path / "out"
    for dry_run in ("--dry_run", "--nodry_run"):
        result = binary(
            "trainers.study", f"--study={study}", f"--output_dir={output}", dry_run,
            f"--data=senteval_probing={task_dir}",
        )  # fmt: skip
        assert_one_line_error(
            result, f"--data senteval_probing: {task_dir}: missing bigram_shift.txt"
        )
        assert not output.exists()


# --- Study values of the wrong type --------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, where, expected",
    [
        (dict(pretrain={"train_steps": "100"}), "pretrain.train_steps", 'an int, got "100"'),
        (dict(corpus_data={"max_seq_length": [32, "64"]}), "corpus_data.max_seq_length[1]",
         'an int, got "64"'),
        (dict(probing={"settings": {"amsgrad": "yes"}}), "probing.settings.amsgrad",
         'true or false, got "yes"'),
        (dict(probing={"generate": {"word_content_skip": "x"}}), "probing.generate.word_content_skip",
         'a number, got "x"'),
        (dict(downstream={"task_settings": {"mnli": {"batch_size": 1.5}}}),
         "downstream.task_settings.mnli.batch_size", "an int, got 1.5"),
        (dict(variants=[{"model": "bert", "pretrain": {"learning_rate": "1e-4"}}]),
         "variants[0].pretrain.learning_rate", 'a number, got "1e-4"'),
    ],
)  # fmt: skip
def test_study_values_of_the_wrong_type_name_their_key_path(tmp_path, changes, where, expected):
    path = write_study(tmp_path / "typed.json", **changes)
    with pytest.raises(errors.UserError) as error:
        spec.load_study(path)
    assert str(error.value) == f"study typed.json: {where}: expected {expected}"


def test_a_wrong_type_ends_the_study_binary_in_one_line(tmp_path):
    path = write_study(tmp_path / "typed.json", pretrain={"train_steps": "100"})
    result = binary("trainers.study", f"--study={path}", "--dry_run")
    assert_one_line_error(result, "study typed.json: pretrain.train_steps: expected an int")


def test_the_study_type_tables_match_the_configs_they_feed():
    corpus_data = run_config.field_types(units.CorpusData)  # tuples of any items there
    assert {k: v[:2] for k, v in spec.CORPUS_DATA_TYPES.items()} == {
        k: v[:2]
        for k, v in corpus_data.items()
        if k not in ("corpus", "input_format", "input_files", "identity", "task_copies")
    }
    assert spec.GENERATE_TYPES == run_config.field_types(probing_tasks.GenerationConfig)


# --- predict: a task file for an encoder ----------------------------------------------------------
def test_an_encoder_refuses_a_recognised_task_file(tmp_path):
    train, _ = builtin_tasks.write_builtin_squad(str(tmp_path / "squad"), 0, 12, 4, "1.1")
    nli_train, _, _ = builtin_tasks.write_builtin_nli(str(tmp_path / "nli"), 0, 8, 4)
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps({"pairID": "1", "sentence1": "a .", "sentence2": "b ."}) + "\n")
    for path, kind, needs in [
        (train, "SQuAD", "a SQuAD model"),
        (nli_train, "MultiNLI", "a MultiNLI model"),
        (str(jsonl), "MultiNLI", "a MultiNLI model"),
    ]:
        with pytest.raises(predict.PredictError) as error:
            predict.predict_text(None, path, ["nsp_cls_vector"])  # refused before the model runs
        assert str(error.value).startswith(f"--input={path}: a {kind} file, but --saved_model")
        assert needs in str(error.value)
    lines = tmp_path / "lines.txt"
    lines.write_text('{"data": "a JSON line of text, no paragraphs"}\nsentence1\tsentence\n')
    assert predict.recognise_task_file(str(lines)) is None


# --- A damaged Hugging Face folder -----------------------------------------------------------------
def test_a_damaged_safetensors_file_is_named_in_one_line(tmp_path, capsys):
    from safetensors.numpy import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    weights = folder / "model.safetensors"
    save_file({"embeddings.word_embeddings.weight": np.zeros((64, 32), "float32")}, str(weights))
    os.truncate(weights, weights.stat().st_size // 2)

    def main(argv):
        pretrained.encoder_from_pretrained(str(folder))

    result = run_entry(main, capsys, tmp_path / "unused", lock=False)
    assert_one_line_error(result, f"{weights}: damaged safetensors weight file")


# --- An unreachable Ray cluster --------------------------------------------------------------------
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_ray_address_fails_fast_in_the_dry_run_and_the_data_tool(tmp_path):
    address = f"127.0.0.1:{closed_port()}"
    start = time.time()
    with pytest.raises(errors.UserError, match=f"--ray_address={address}: no Ray cluster answers"):
        ray_executor.check_reachable(address, timeout_s=2)
    assert time.time() - start < 5
    result = binary("trainers.study", "--study=tiny", "--dry_run", f"--ray_address={address}")
    assert_one_line_error(result, f"--ray_address={address}: no Ray cluster answers there")
    result = binary(
        "tfrecords.create_pretraining_data", "--input_format=builtin", "--builtin_documents=30",
        f"--vocab_file={tmp_path}/vocab.txt", f"--output_dir={tmp_path}/data",
        f"--ray_address=ray://{address}",
    )  # fmt: skip
    assert_one_line_error(result, f"--ray_address=ray://{address}: no Ray cluster answers")
    assert not (tmp_path / "data").exists()


# --- A full disk ---------------------------------------------------------------------------------
def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_data_generation_names_the_folder_and_the_rerun_resumes(
    tmp_path, monkeypatch, capsys
):
    from hbert_tf.text.vocab import Vocab

    Vocab(builtin_tasks.task_vocabulary()).write(str(tmp_path / "vocab.txt"))
    output = tmp_path / "data"
    settings = dict(
        vocab_file=str(tmp_path / "vocab.txt"), input_format="builtin", builtin_documents=40,
        max_seq_length="32", max_predictions_per_seq="5", dupe_factor=1, num_shards=2,
    )  # fmt: skip
    write = tfrecord_io.RecordWriter.write

    def fills_the_disk(self, data):
        if "train-00001" in self.path and self.count == 10:  # the second shard, half-way
            no_space()
        write(self, data)

    monkeypatch.setattr(tfrecord_io.RecordWriter, "write", fills_the_disk)
    main = lambda argv: create_pretraining_data.create_pretraining_data(str(output), **settings)  # noqa: E731
    result = run_entry(main, capsys, output)
    assert_one_line_error(result, f"{output}: no space left on the device (writing train-")
    assert not glob.glob(f"{output}/**/*.tmp-*", recursive=True)  # no partial shard

    (finished,) = glob.glob(f"{output}/train-*.tfrecord")
    mtime = os.stat(finished).st_mtime_ns
    monkeypatch.setattr(tfrecord_io.RecordWriter, "write", write)  # space freed
    assert run_entry(main, capsys, output).returncode == 0
    assert os.stat(finished).st_mtime_ns == mtime  # resumed: the finished shard was kept
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["complete"] and len(glob.glob(f"{output}/train-*.tfrecord")) == 2


def test_a_full_disk_while_checkpointing_leaves_no_temp_folder_and_keeps_the_last(
    tmp_path, monkeypatch
):
    directory = tmp_path / "run" / "checkpoints"
    step = tf.Variable(1)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step), str(directory), 3)
    model_dir.save_checkpoint(manager, 1)
    write = tf.train.Checkpoint._write

    def fills_the_disk(self, prefix, options=None):  # what TensorFlow leaves: its _temp folder
        tf.io.gfile.makedirs(f"{prefix}_temp")
        open(f"{prefix}_temp/part-00000-of-00001.data-00000-of-00001", "wb").write(b"12")
        raise tf.errors.ResourceExhaustedError(None, None, f"{prefix}_temp; No space left")

    monkeypatch.setattr(tf.train.Checkpoint, "_write", fills_the_disk)
    step.assign(2)
    with pytest.raises(errors.UserError) as error:
        model_dir.save_checkpoint(manager, 2)
    assert str(error.value).startswith(f"{directory}: no space left on the device")
    assert f"the last checkpoint {directory}/ckpt-1 is kept" in str(error.value)
    assert sorted(os.listdir(directory)) == [
        "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index"
    ]  # fmt: skip
    monkeypatch.setattr(tf.train.Checkpoint, "_write", write)  # space freed: the rerun saves
    assert model_dir.save_checkpoint(manager, 2).endswith("ckpt-2")
    assert tf.train.latest_checkpoint(str(directory)).endswith("ckpt-2")


def test_a_full_disk_in_the_atomic_writers_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(errors.UserError, match=f"^{tmp_path}: no space left .* \\(writing a.json"):
        files.write_json_atomic(str(tmp_path / "a.json"), {"a": 1})
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    class FullFile:  # a file whose last flush, at close, finds the disk full
        closed = False

        def close(self):
            self.closed = True
            no_space()

    with pytest.raises(errors.UserError, match="writing b.tfrecord"):
        with files.AtomicFile(str(tmp_path / "b.tfrecord")) as f:
            f.file.close()
            f.file = FullFile()
            f.commit()
    assert list(tmp_path.iterdir()) == []


# --- Damaged data: the message --------------------------------------------------------------------
def test_the_damaged_shard_message_has_no_stray_quote(tmp_path):
    from hbert_tf.pretraining import data

    path = tmp_path / "train-00000-of-00001.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(50):
            writer.write(b"x" * 100)
    os.truncate(path, 3000)
    message = str(data.damaged_data_error(str(path), tf.errors.DataLossError(None, None, "")))
    assert "truncated record at" in message and "'" not in message, message


def test_sigterm_stops_the_ray_driver_with_one_line_and_its_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    previous = ray_executor._stop_on_sigterm()
    with pytest.raises(errors.Interrupted, match="stopped by SIGTERM"):
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    signal.signal(signal.SIGTERM, previous)
    assert signal.getsignal(signal.SIGTERM) == before
