"""create_pretraining_data end to end: layout, manifest, original-name readers, determinism
across worker counts, resume after a crash or a kill."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from hbert_tf import names
from tfrecords import create_pretraining_data as cpd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bytes_of(folder):
    return {
        os.path.relpath(p, folder): open(p, "rb").read()
        for p in sorted(glob.glob(f"{folder}/**/*", recursive=True))
        if os.path.isfile(p)
    }


def test_two_lengths_in_one_command(tmp_path, make_data, read_examples):
    manifests = make_data(
        tmp_path, max_seq_length="64,128", max_predictions_per_seq="10", eval_documents=10
    )
    assert [m["max_seq_length"] for m in manifests] == [64, 128]
    assert [m["max_predictions_per_seq"] for m in manifests] == [10, 19]  # round(0.15 * 128)
    for m in manifests:
        folder = tmp_path / f"seq{m['max_seq_length']}"
        assert sorted(os.listdir(folder)) == [
            "eval-00000-of-00001.tfrecord",
            "manifest.json",
            "train-00000-of-00002.tfrecord",
            "train-00001-of-00002.tfrecord",
            "vocab.txt",
        ]
        assert json.loads((folder / "manifest.json").read_text()) == m
        for split in ("train", "eval"):
            for shard, info in m["splits"][split]["shards"].items():
                examples = read_examples(str(folder / shard))
                assert len(examples) == info["instances"] > 0
                assert len(examples[0][names.INPUT_IDS]) == m["max_seq_length"]
                assert len(examples[0][names.MASKED_LM_IDS]) == m["max_predictions_per_seq"]
                assert names.BIGRAM_SHIFT_LABELS not in examples[0]  # no swaps asked for
        assert m["splits"]["eval"]["shards"]["eval-00000-of-00001.tfrecord"]["documents"][1] == 120
        assert m["vocab_sha256"] and m["random_seed"] == 3 and m["complete"]


def test_original_seven_names_parse(swapped_data):
    """A reader that knows only BERT's seven features reads our files (extra feature ignored)."""
    tf = pytest.importorskip("tensorflow")
    folder, manifest = swapped_data
    spec = {
        names.INPUT_IDS: tf.io.FixedLenFeature([64], tf.int64),
        names.INPUT_MASK: tf.io.FixedLenFeature([64], tf.int64),
        names.SEGMENT_IDS: tf.io.FixedLenFeature([64], tf.int64),
        names.MASKED_LM_POSITIONS: tf.io.FixedLenFeature([10], tf.int64),
        names.MASKED_LM_IDS: tf.io.FixedLenFeature([10], tf.int64),
        names.MASKED_LM_WEIGHTS: tf.io.FixedLenFeature([10], tf.float32),
        names.NEXT_SENTENCE_LABELS: tf.io.FixedLenFeature([1], tf.int64),
    }
    assert set(spec) == set(names.ORIGINAL_BERT_FEATURES)
    files = sorted(glob.glob(f"{folder}/train-*.tfrecord"))
    count = 0
    for batch in (
        tf.data.TFRecordDataset(files).batch(512).map(lambda r: tf.io.parse_example(r, spec))
    ):
        count += int(tf.shape(batch[names.INPUT_IDS])[0])
    assert count == manifest["splits"]["train"]["instances"]


def test_model_garden_pretrain_loader_reads_our_files(swapped_data):
    pretrain_dataloader = pytest.importorskip("official.nlp.data.pretrain_dataloader")
    folder, _ = swapped_data
    config = pretrain_dataloader.BertPretrainDataConfig(
        input_path=f"{folder}/train-*.tfrecord",
        global_batch_size=4,
        seq_length=64,
        max_predictions_per_seq=10,
        is_training=False,
    )
    batch = next(iter(pretrain_dataloader.BertPretrainDataLoader(config).load()))
    assert batch["input_word_ids"].shape == (4, 64)
    assert batch["masked_lm_ids"].shape == (4, 10)
    assert batch["next_sentence_labels"].shape == (4, 1)


def test_same_bytes_whatever_the_worker_count(tmp_path, make_data):
    make_data(tmp_path / "one", num_shards=3, num_workers=1, bigram_shift_prob=0.15)
    make_data(tmp_path / "two", num_shards=3, num_workers=2, bigram_shift_prob=0.15)
    one, two = _bytes_of(tmp_path / "one"), _bytes_of(tmp_path / "two")
    assert len(one) == 5 and one == two
    make_data(tmp_path / "seed", num_shards=3, random_seed=4, bigram_shift_prob=0.15)
    seed = _bytes_of(tmp_path / "seed")
    assert seed["train-00000-of-00003.tfrecord"] != one["train-00000-of-00003.tfrecord"]


def test_resume_after_a_crash_keeps_finished_shards(tmp_path, make_data, monkeypatch):
    make_data(tmp_path / "clean", num_shards=3)
    real_run_task, calls = cpd._run_task, []

    def crash_on_second_shard(task):
        calls.append(task.name)
        if len(calls) == 2:
            open(os.path.join(task.output_dir, task.name + ".tmp-999"), "wb").write(b"partial")
            raise KeyboardInterrupt
        return real_run_task(task)

    monkeypatch.setattr(cpd, "_run_task", crash_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        make_data(tmp_path / "run", num_shards=3)
    first = tmp_path / "run" / "train-00000-of-00003.tfrecord"
    assert first.exists() and not (tmp_path / "run" / "train-00001-of-00003.tfrecord").exists()
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["complete"] is False
    stamp = first.stat().st_mtime_ns
    monkeypatch.setattr(cpd, "_run_task", real_run_task)
    make_data(tmp_path / "run", num_shards=3)
    assert first.stat().st_mtime_ns == stamp
    assert _bytes_of(tmp_path / "run") == _bytes_of(tmp_path / "clean")
    make_data(tmp_path / "run", num_shards=3)  # a complete folder: nothing to do
    assert first.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_resume_after_a_killed_process(tmp_path, vocab_file):
    flags = [
        "--input_format=builtin",
        "--builtin_documents=3000",
        f"--vocab_file={vocab_file}",
        "--num_shards=6",
        "--dupe_factor=2",
        "--num_workers=1",
    ]
    binary = [sys.executable, "-m", "tfrecords.create_pretraining_data"]
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        binary + flags + [f"--output_dir={run_dir}"], cwd=ROOT, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while not (run_dir / "train-00001-of-00006.tfrecord").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{run_dir}/train-*.tfrecord")}
    assert 1 <= len(finished) < 6
    subprocess.run(
        binary + flags + [f"--output_dir={run_dir}"], cwd=ROOT, check=True, capture_output=True
    )
    assert {p: os.stat(p).st_mtime_ns for p in finished} == finished
    clean = tmp_path / "clean"
    subprocess.run(
        binary + flags + [f"--output_dir={clean}"], cwd=ROOT, check=True, capture_output=True
    )
    assert _bytes_of(run_dir) == _bytes_of(clean)


def test_hbert_reader_reads_generated_files(swapped_data):
    data = pytest.importorskip("hbert_tf.pretraining.data")
    folder, manifest = swapped_data
    ds = data.pretraining_dataset(
        f"{folder}/train-*.tfrecord",
        batch_size=8,
        max_seq_length=64,
        max_predictions_per_seq=10,
        heads=("mlm", "nsp", "bigram_shift"),
        vocab_size=manifest["vocab_size"],
        seed=0,
    )
    inputs, labels, weights = next(iter(ds))
    bigram_labels = labels[names.BIGRAM_SHIFT_LOGITS].numpy()
    bigram_weights = weights[names.BIGRAM_SHIFT_LOGITS].numpy()
    assert (bigram_labels[bigram_weights == 0] == 0).all()  # specials and padding never labelled
    real = inputs[names.INPUT_MASK].numpy().sum()
    assert bigram_weights.sum() == real - 3 * 8
    with pytest.raises(ValueError, match="max_seq_length=64 but the flags say max_seq_length=128"):
        data.pretraining_dataset(
            f"{folder}/train-*.tfrecord",
            batch_size=8,
            max_seq_length=128,
            max_predictions_per_seq=10,
        )


@pytest.mark.slow
def test_same_bytes_when_the_shards_run_as_ray_tasks(tmp_path, make_data, vocab_file, corpus_file):
    """The binary with --ray_address=local (an embedded Ray; a cluster address works the same)
    writes the bytes of one local process."""
    pytest.importorskip("ray")
    make_data(tmp_path / "local", bigram_shift_prob=0.15, eval_documents=10, num_workers=1)
    command = [
        sys.executable, "-m", "tfrecords.create_pretraining_data", "--input_format=bert",
        f"--input_file={corpus_file}", f"--vocab_file={vocab_file}", "--max_seq_length=64",
        "--max_predictions_per_seq=10", "--dupe_factor=2", "--num_shards=2", "--random_seed=3",
        "--bigram_shift_prob=0.15", "--eval_documents=10", f"--output_dir={tmp_path / 'ray'}",
        "--ray_address=local", "--verbosity=0",  # the per-shard lines are INFO
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT)  # Ray's workers import this checkout
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("(Ray task)") == 3, result.stderr[-3000:]  # 2 train + 1 eval shard
    quiet = subprocess.run(  # without --verbosity: no Ray or absl INFO lines, the summary stays
        command[:-1] + [f"--output_dir={tmp_path / 'ray_quiet'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr, quiet.stderr[-3000:]
    assert "training instances" in quiet.stderr + quiet.stdout
    local, on_ray = _bytes_of(tmp_path / "local"), _bytes_of(tmp_path / "ray")
    assert len(local) == 5 and local == on_ray
