"""Bad input and interruptions, one test per class of failure: each ends in exit status 1 (or the
signal's status), one `error:` line naming the flag or file, no traceback and no partial output;
an interrupted run resumes at the step it stopped at."""

import glob
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from absl import flags

from hbert_tf import errors
from hbert_tf.finetuning import builtin_tasks
from tests.helpers import assert_one_line_error
from tests.test_pretrain import SHORT, data_dir, pretrain_command, run_binary  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = "hardening_test_output"
flags.DEFINE_string(FLAG, None, "Output of the in-process main_entry tests.")


def binary(module, *args, **kwargs):
    return run_binary([sys.executable, "-m", module, *map(str, args)], **kwargs)


def short_command(data, model_dir, *extra):
    """Pre-training at the short length only, on `data` (a folder or pattern; last flag wins)."""
    command = pretrain_command("/unused", model_dir, "--long_seq_fraction=0", *extra)
    return command + [f"--train_data_128={data}", f"--eval_data={data}"]


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory):  # noqa: F811
    """A 10-step pre-training run with checkpoints at 5 and 10 (copied by the tests using it)."""
    model_dir = tmp_path_factory.mktemp("finished") / "run"
    command = short_command(
        data_dir / f"seq{SHORT}", model_dir, "--train_steps=10", "--checkpoint_every=5"
    )
    result = run_binary(command)
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir, command


def copy_run(finished_run, target):
    model_dir, command = finished_run
    shutil.copytree(model_dir, target)
    return [part.replace(str(model_dir), str(target)) for part in command]


# --- The mechanism itself (in process) ------------------------------------------------------------
def test_entry_point_reports_user_errors_and_keeps_bugs_visible(tmp_path, capsys):
    output = tmp_path / "new_output"
    flags.FLAGS[FLAG].value = str(output)

    def fails_with(error, make_work=False):
        def main(argv):
            os.makedirs(output / "checkpoints")
            if make_work:
                (output / "checkpoints" / "checkpoint").write_text("")
            raise error

        return errors.main_entry(main, outputs=(FLAG,))

    with pytest.raises(SystemExit) as exit_info:
        fails_with(IsADirectoryError(21, "Is a directory", str(output / "x")))([""])
    assert exit_info.value.code == 1
    line = capsys.readouterr().err.strip()
    assert line == f"error: --{FLAG}={output}: {output / 'x'}: is a folder; expected a file"
    assert not output.exists()  # made by the failed run, holding nothing worth keeping
    with pytest.raises(SystemExit):
        fails_with(errors.UserError("--x=1: expected 2"), make_work=True)([""])
    assert (output / "checkpoints" / "checkpoint").exists()  # a resume point is kept
    shutil.rmtree(output)
    with pytest.raises(RuntimeError, match="a bug"):  # internal errors keep their traceback
        fails_with(RuntimeError("a bug"))([""])


# --- Paths of the wrong kind ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["dir_as_file", "missing_parent", "file_as_dir", "vocab_dir", "model_dir_file",
             "unwritable", "train_file_dir"],
)  # fmt: skip
def test_path_mistakes_end_in_one_line(tmp_path, case):
    folder, file = tmp_path / "folder", tmp_path / "file.txt"
    folder.mkdir()
    file.write_text("not a folder\n")
    new = tmp_path / "new_output"
    builtin = ["--input_format=builtin", "--builtin_documents=30"]
    if case == "dir_as_file":
        result = binary("tfrecords.build_vocab", *builtin, f"--output={folder}")
        assert_one_line_error(result, f"--output={folder}", "is a folder; expected a file")
    elif case == "missing_parent":
        result = binary("tfrecords.build_vocab", *builtin, f"--output={tmp_path}/no/vocab.txt")
        assert_one_line_error(result, "--output=", f"{tmp_path}/no does not exist")
    elif case == "file_as_dir":
        result = binary(
            "tfrecords.create_pretraining_data", *builtin, f"--vocab_file={file}",
            f"--output_dir={file}",
        )  # fmt: skip
        assert_one_line_error(result, f"--output_dir={file}", "is a file; expected a folder")
    elif case == "vocab_dir":
        result = binary(
            "tfrecords.create_pretraining_data", *builtin, f"--vocab_file={folder}",
            f"--output_dir={new}",
        )  # fmt: skip
        assert_one_line_error(result, f"--vocab_file={folder}", "is a folder; expected a file")
    elif case == "model_dir_file":
        result = run_binary(short_command("/nonexistent/*", file, "--train_steps=5"))
        assert_one_line_error(result, f"--model_dir={file}", "is a file; expected a folder")
    elif case == "unwritable":
        target = "/proc/hbert_tf_test/tasks"
        result = binary("tfrecords.probing_tasks", f"--output_dir={target}", "--num_documents=50")
        assert_one_line_error(result, f"--output_dir={target}")
        assert not os.path.exists(target)
    else:
        result = binary(
            "trainers.finetune_squad", f"--model_dir={new}", "--init_from=none", "--config=tiny",
            f"--train_file={folder}", f"--predict_file={file}",
        )  # fmt: skip
        assert_one_line_error(result, f"--train_file={folder}", "is a folder; expected a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder"]  # nothing left
    assert not list(folder.iterdir())


# --- Data files: not TFRecords, cut short, damaged mid-run, binary corpora ----------------------
def test_output_dir_check_is_safe_while_another_worker_creates_the_folder(tmp_path, monkeypatch):
    """Every worker of a multi-worker run checks --model_dir before the chief creates it: the
    check neither fails on a folder that appeared meanwhile nor deletes what was written there."""
    target = tmp_path / "runs" / "model"
    real_makedirs = os.makedirs

    def another_worker_first(path, exist_ok=False):
        if str(path) == str(target):  # the other worker's folder appears just before ours
            real_makedirs(path)
            (target / "checkpoint").write_text("the other worker's file")
        real_makedirs(path, exist_ok=exist_ok)

    monkeypatch.setattr(os, "makedirs", another_worker_first)
    errors.check_output_dir(str(target), "model_dir")
    assert (target / "checkpoint").read_text() == "the other worker's file"
    monkeypatch.setattr(os, "makedirs", real_makedirs)
    errors.check_output_dir(str(tmp_path / "new" / "model"), "model_dir")
    assert not (tmp_path / "new").exists()  # a plain check leaves nothing behind


def test_foreign_or_truncated_data_files_are_named(data_dir, tmp_path):  # noqa: F811
    model_dir = tmp_path / "run"
    result = run_binary(short_command(data_dir / f"seq{SHORT}/*", model_dir, "--train_steps=5"))
    assert_one_line_error(result, "--train_data_128", "manifest.json: not a TFRecord file")
    assert not model_dir.exists()

    shutil.copytree(data_dir / f"seq{SHORT}", tmp_path / "cut")
    shard = tmp_path / "cut/train-00000-of-00002.tfrecord"
    os.truncate(shard, shard.stat().st_size // 2)  # inside the pre-check's scan
    result = run_binary(short_command(tmp_path / "cut", model_dir, "--train_steps=5"))
    assert_one_line_error(result, f"{shard}: damaged TFRecord file", "truncated record")
    assert not model_dir.exists()


def damaged_past_the_pre_check(source, target):
    """A data folder whose first shard holds over 1000 records (all the pre-check scans) and whose
    second shard is cut in half: the damage is found only while training."""
    shutil.copytree(source, target)
    first, second = sorted(glob.glob(str(target / "train-*.tfrecord")))
    records = [r.numpy() for r in tf.data.TFRecordDataset(first)]
    with tf.io.TFRecordWriter(first) as writer:
        for _ in range(1000 // len(records) + 1):
            for record in records:
                writer.write(record)
    os.truncate(second, os.path.getsize(second) // 2)
    return second


def test_damage_found_while_training_stops_with_the_last_checkpoint_kept(
    data_dir,  # noqa: F811
    finished_run,
    tmp_path,
):
    damaged = damaged_past_the_pre_check(data_dir / f"seq{SHORT}", tmp_path / "damaged")
    fresh = tmp_path / "fresh"
    result = run_binary(short_command(tmp_path / "damaged", fresh, "--train_steps=400"))
    assert_one_line_error(result, f"{damaged}: damaged TFRecord file", "no checkpoint")
    assert not fresh.exists()  # the half-made model_dir is removed

    resumed = tmp_path / "resumed"
    command = copy_run(finished_run, resumed)
    result = run_binary(command + ["--train_steps=400", f"--train_data_128={tmp_path / 'damaged'}"])
    line = assert_one_line_error(result, f"{damaged}: damaged TFRecord file")
    assert f"last good checkpoint {resumed}/checkpoints/ckpt-10 is kept" in line
    assert tf.train.latest_checkpoint(str(resumed / "checkpoints")).endswith("ckpt-10")


def test_binary_corpus_is_refused(tmp_path, vocab_text):
    corpus = tmp_path / "corpus.txt.gz"
    corpus.write_bytes(gzip.compress(os.urandom(30000)))
    result = binary("tfrecords.build_vocab", f"--input_file={corpus}", f"--output={tmp_path}/v.txt")
    assert_one_line_error(result, f"{corpus}: not a text corpus")
    result = binary(
        "tfrecords.create_pretraining_data", f"--input_file={corpus}",
        f"--vocab_file={vocab_text}", f"--output_dir={tmp_path}/data",
    )  # fmt: skip
    assert_one_line_error(result, f"{corpus}: not a text corpus")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt.gz"]


@pytest.fixture
def vocab_text(data_dir, tmp_path_factory):  # noqa: F811
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    shutil.copyfile(data_dir.parent / "vocab.txt", path)
    return path


# --- Checkpoints -----------------------------------------------------------------------------------
def test_unreadable_newest_checkpoint_falls_back_for_export_and_resume(finished_run, tmp_path):
    model_dir = tmp_path / "run"
    command = copy_run(finished_run, model_dir)
    newest = model_dir / "checkpoints/ckpt-10"
    data = model_dir / "checkpoints/ckpt-10.data-00000-of-00001"
    os.truncate(data, data.stat().st_size // 2)
    result = binary("trainers.export", f"--model_dir={model_dir}", f"--export_dir={tmp_path}/exp")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"checkpoint {newest} cannot be read" in result.stderr
    assert os.path.isfile(tmp_path / "exp/saved_model.pb")
    result = run_binary(command + ["--train_steps=15"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"checkpoint {newest} cannot be read" in result.stderr
    assert "resumed from the checkpoint at step 5" in result.stderr
    assert json.loads((model_dir / "metrics.json").read_text())["step"] == 15


# --- Preemption and reruns ------------------------------------------------------------------------
def _wait_for(predicate, process, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and not predicate():
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be interrupted"


def _logged_steps(path):
    if not os.path.isfile(path):
        return []
    return [json.loads(line)["step"] for line in open(path) if line.strip()]


def test_sigterm_saves_the_current_step_and_the_rerun_resumes_there(data_dir, tmp_path):  # noqa: F811
    model_dir = tmp_path / "run"
    command = short_command(
        data_dir / f"seq{SHORT}", model_dir, "--train_steps=3000", "--checkpoint_every=1000"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    log = model_dir / "train_log.jsonl"
    _wait_for(lambda: len(_logged_steps(log)) >= 2, process)
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=120)[1]
    result = subprocess.CompletedProcess(command, process.returncode, "", stderr)
    line = assert_one_line_error(result, "stopped by SIGTERM at step", code=128 + signal.SIGTERM)
    stopped = int(line.split("at step ")[1].split("/")[0])
    assert stopped >= _logged_steps(log)[-1] and stopped < 1000  # between two checkpoints
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith(f"ckpt-{stopped}")

    result = run_binary(command + [f"--train_steps={stopped + 10}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from the checkpoint at step {stopped}" in result.stderr
    assert f"phase seq{SHORT}: steps {stopped}..{stopped + 10}" in result.stderr
    assert json.loads((model_dir / "metrics.json").read_text())["step"] == stopped + 10


def test_rerunning_a_finished_run_keeps_its_results(finished_run, tmp_path):
    model_dir = tmp_path / "run"
    command = copy_run(finished_run, model_dir)
    before = {name: (model_dir / name).read_bytes() for name in ("metrics.json", "run_config.json")}
    result = run_binary(command + ["--eval_data="])  # even without --eval_data
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already finished at step 10; metrics.json kept as it was" in result.stderr
    result = run_binary(command + ["--train_steps=8"])
    assert_one_line_error(result, "--train_steps=8", "holds a run already at step 10")
    for name, content in before.items():
        assert (model_dir / name).read_bytes() == content, name


def test_finetuning_sigint_backs_up_the_current_step_and_resumes_there(tmp_path):
    model_dir = tmp_path / "squad"
    command = [
        sys.executable, "-m", "trainers.finetune_squad", f"--model_dir={model_dir}",
        "--init_from=none", "--config=tiny", "--data=builtin", "--builtin_documents=24",
        "--max_seq_length=64", "--max_query_length=12", "--doc_stride=32", "--batch_size=8",
        "--train_steps=600", "--checkpoint_every=200", "--do_eval=false",
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: (model_dir / "logs").is_dir(), process)
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=120)[1]
    result = subprocess.CompletedProcess(command, process.returncode, "", stderr)
    line = assert_one_line_error(result, "stopped by SIGINT at step", code=128 + signal.SIGINT)
    stopped = int(line.split("at step ")[1].split("/")[0])
    metadata = json.loads((model_dir / "backup/training_metadata.json").read_text())
    assert metadata["epoch"] * 200 + metadata["batch"] == stopped

    result = run_binary(command)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        f"resumed from the backup in {model_dir}/backup at step {stopped} of 600" in result.stderr
    )
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    assert not (model_dir / "backup").exists()


# --- Values checked before any work ----------------------------------------------------------------
@pytest.mark.parametrize("case", ["pretrain_lr", "finetune_lr", "squad_version", "vocab_size"])
def test_bad_values_are_refused_before_any_work(data_dir, tmp_path, case):  # noqa: F811
    new = tmp_path / "new_output"
    squad = ["--init_from=none", "--config=tiny", "--max_seq_length=64", "--max_query_length=12"]
    if case == "pretrain_lr":
        command = short_command(data_dir / f"seq{SHORT}", new, "--learning_rate=nan")
        assert_one_line_error(run_binary(command), "--learning_rate=nan: expected a finite")
    elif case == "finetune_lr":
        result = binary(
            "trainers.finetune_squad", f"--model_dir={new}", *squad, "--data=builtin",
            "--learning_rate=-1",
        )  # fmt: skip
        assert_one_line_error(result, "--learning_rate=-1.0: expected a finite number > 0")
    elif case == "squad_version":
        train, dev = builtin_tasks.write_builtin_squad(str(tmp_path / "squad"), 0, 24, 4, "2.0")
        result = binary(
            "trainers.finetune_squad", f"--model_dir={new}", *squad, f"--train_file={train}",
            f"--predict_file={dev}", "--version=1.1",
        )  # fmt: skip
        assert_one_line_error(result, f"{train}: ", "SQuAD 2.0 file; pass --version=2.0")
        shutil.rmtree(tmp_path / "squad")
    else:
        output = tmp_path / "vocab.txt"
        result = binary(
            "tfrecords.build_vocab", "--input_format=builtin", "--builtin_documents=30",
            "--vocab_size=10", f"--output={output}",
        )  # fmt: skip
        assert_one_line_error(result, "--vocab_size=10 is too small", "distinct characters")
    assert not list(tmp_path.iterdir())
