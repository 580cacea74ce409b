"""Typed run configs: presets, validation naming the field, JSON round trip, hash, flags."""

import dataclasses
import json

import pytest
from absl import flags

from hbert_tf.errors import UserError
from hbert_tf.run_config import (
    FinetuneConfig,
    MnliConfig,
    PretrainConfig,
    ProbeRunConfig,
    SquadConfig,
)
from hbert_tf.run_flags import config_from_flags, define_flags
from tests.helpers import config_from_argv


def test_json_round_trip_and_stable_hash():
    config = PretrainConfig.resolve(preset="tiny", train_steps=7, max_seq_length=(16, 32),
                                    freeze_nsp="at_step:3", clip_norm=1.0)  # fmt: skip
    text = config.to_json()
    assert json.loads(text)["max_seq_length"] == [16, 32]
    again = PretrainConfig.from_json(text)
    assert again == config and again.max_seq_length == (16, 32)
    assert again.content_hash() == config.content_hash()
    # The hash is of canonical JSON: key order and whitespace do not change it, a value does.
    shuffled = json.dumps(dict(reversed(list(json.loads(text).items()))), indent=2)
    assert PretrainConfig.from_json(shuffled).content_hash() == config.content_hash()
    assert config.replace(train_steps=8).content_hash() != config.content_hash()
    assert len(config.content_hash()) == 64
    with pytest.raises(UserError, match=r"unknown PretrainConfig settings \['bogus'\]"):
        PretrainConfig.from_dict({"bogus": 1})


def test_configs_are_frozen_values():
    config = PretrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train_steps = 3
    assert PretrainConfig.resolve() == PretrainConfig()  # the paper preset is the default


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(learning_rate=0.0), "--learning_rate=0.0: expected a finite number > 0"),
        (dict(weight_decay=-1.0), "--weight_decay=-1.0: expected a finite number >= 0"),
        (dict(dropout=1.0), r"--dropout=1.0: expected a rate in \[0, 1\)"),
        (dict(train_steps=0), "--train_steps=0: expected at least 1"),
        (dict(long_seq_fraction=1.0), "--long_seq_fraction=1.0: expected a fraction"),
        (dict(checkpoint_every=0), "--checkpoint_every=0: expected at least 1"),
        (dict(variant="huge_nsp"), "--variant=huge_nsp: expected one of bert, lower_nsp"),
        (dict(max_seq_length=(128, 0)), "--max_seq_length=128,0: expected one or two positive"),
        (dict(freeze_nsp="at_step:0"), "--freeze_nsp='at_step:0': expected never, at_step:N"),
        (dict(clip_norm=float("nan")), "--clip_norm=nan: expected a finite number > 0"),
    ],
)
def test_bad_values_name_the_field(change, message):
    with pytest.raises(UserError, match=message):
        PretrainConfig.resolve(preset="tiny", **change)


def test_required_fields_are_checked_before_running():
    with pytest.raises(UserError, match="--model_dir is required"):
        PretrainConfig().require("model_dir", "train_data_128")


def test_flags_are_generated_from_the_fields_and_keep_the_preset():
    flag_values = flags.FlagValues()
    define_flags(PretrainConfig, flag_values)
    names = {field.name for field in dataclasses.fields(PretrainConfig)}
    assert names <= set(flag_values)
    assert "Peak learning rate" in flag_values["learning_rate"].help
    flag_values(["prog", "--preset=tiny", "--learning_rate=0.001", "--max_seq_length=16",
                 "--nobigram_shift_balanced", "--nsp_layer=0"])  # fmt: skip
    config = config_from_flags(PretrainConfig, flag_values)
    assert config.config == "tiny"  # from the preset, not the flag's default ("base")
    assert config.learning_rate == 1e-3 and config.nsp_layer == 0
    assert config.max_seq_length == (16, 16) and config.bigram_shift_balanced is False
    assert config.batch_size_128 == PretrainConfig.PRESETS["tiny"].batch_size_128
    assert config.changed_from_preset() == [
        "bigram_shift_balanced", "learning_rate", "max_seq_length", "nsp_layer",
    ]  # fmt: skip

    bad = flags.FlagValues()
    define_flags(PretrainConfig, bad)
    bad(["prog", "--max_predictions_per_seq=a,b"])
    with pytest.raises(UserError, match="--max_predictions_per_seq=a,b: expected integers"):
        config_from_flags(PretrainConfig, bad)
    with pytest.raises(flags.IllegalFlagValueError):
        bad(["prog", "--decay=sideways"])  # enum fields are enum flags


def test_probe_run_config_presets_flags_and_errors():
    paper = ProbeRunConfig.resolve()
    assert (paper.classifier, paper.hidden_units, paper.probe_batch_size) == ("mlp", 128, 32)
    assert paper.probe().batch_size == 32 and paper.layer == ("nsp",)
    senteval = ProbeRunConfig.resolve(preset="senteval", layer=("nsp", "2"))
    assert (senteval.classifier, senteval.amsgrad, senteval.probe_batch_size) == (
        "senteval_mlp", False, 64,
    )  # fmt: skip
    assert ProbeRunConfig.from_json(senteval.to_json()) == senteval
    assert senteval.content_hash() != paper.content_hash()

    config = config_from_argv(
        ProbeRunConfig, ["--preset=senteval", "--model_dir=a,b", "--layer=nsp,embeddings"]
    )
    assert config.model_dir == ("a", "b") and config.layer == ("nsp", "embeddings")
    assert config.classifier == "senteval_mlp"  # the preset's, not the flag default

    with pytest.raises(UserError, match="--pooling='max': expected one of"):
        ProbeRunConfig(pooling=("cls", "max"))
    with pytest.raises(UserError, match="--max_train_examples=0: expected at least 1"):
        ProbeRunConfig(max_train_examples=0)
    with pytest.raises(UserError, match="--classifier=svm: expected one of mlp"):
        ProbeRunConfig.resolve(classifier="svm")
    with pytest.raises(UserError, match="--output_dir is required"):
        ProbeRunConfig(model_dir=("m",)).require("model_dir", "output_dir")


def test_finetune_configs_per_task_presets_round_trip_and_errors():
    squad = FinetuneConfig.resolve(task="squad", preset="bert", batch_size=8, verbose=0)
    mnli = FinetuneConfig.resolve(task="mnli", model_dir="m", init_from="none")
    assert type(squad) is SquadConfig and type(mnli) is MnliConfig
    assert (squad.max_seq_length, squad.num_train_epochs) == (384, 2.0)  # each task's defaults
    assert (mnli.max_seq_length, mnli.num_train_epochs) == (128, 3.0)
    assert (squad.learning_rate, squad.batch_size, squad.decay) == (5e-5, 8, "linear")
    assert (mnli.learning_rate, mnli.batch_size, mnli.amsgrad) == (1e-5, 1, True)  # paper
    assert squad.verbose == "0" and squad.keras_verbose == 0
    assert squad.changed_from_preset() == ["batch_size", "verbose"]
    for config in (squad, mnli):  # the saved task names the class
        assert FinetuneConfig.from_json(config.to_json()) == config
    assert squad.content_hash() != squad.replace(seed=1).content_hash()
    assert squad.content_hash() == SquadConfig.from_json(squad.to_json()).content_hash()
    assert json.loads(mnli.to_json())["task"] == "mnli"

    with pytest.raises(UserError, match=r"--learning_rate=0.0: expected a finite number > 0"):
        MnliConfig.resolve(learning_rate=0.0)
    with pytest.raises(UserError, match=r"--warmup_proportion=1.5: expected \[0, 1\]"):
        SquadConfig.resolve(warmup_proportion=1.5)
    with pytest.raises(UserError, match="--doc_stride=0: expected at least 1"):
        SquadConfig.resolve(doc_stride=0)
    with pytest.raises(UserError, match="--task=squad: expected mnli"):
        MnliConfig(task="squad")
    with pytest.raises(UserError, match="--task=qa: expected one of squad, mnli"):
        FinetuneConfig.resolve(task="qa")
    with pytest.raises(UserError, match=r"unknown MnliConfig settings \['version'\]"):
        MnliConfig.from_dict({"version": "2.0"})  # a SQuAD field
    with pytest.raises(UserError, match="--init_from is required"):
        MnliConfig.resolve(model_dir="m").check_runnable()
    MnliConfig.resolve(model_dir="m", model="bilstm").check_runnable()  # no encoder to load


def test_finetune_flags_are_each_tasks_fields():
    squad_flags, mnli_flags = flags.FlagValues(), flags.FlagValues()
    define_flags(SquadConfig, squad_flags)
    define_flags(MnliConfig, mnli_flags)
    assert "doc_stride" in squad_flags and "doc_stride" not in mnli_flags
    assert "dev_matched_file" in mnli_flags and "task" not in mnli_flags  # set by the class
    assert {"strategy", "mixed_precision", "jit_compile", "steps_per_execution"} <= set(mnli_flags)
    mnli_flags(["prog", "--preset=bert", "--learning_rate=0.001", "--strategy=mirrored"])
    config = config_from_flags(MnliConfig, mnli_flags)
    assert config.batch_size == 32 and config.decay == "linear"  # the preset, not flag defaults
    assert config.learning_rate == 1e-3 and config.strategy == "mirrored"
    assert config.max_seq_length == 128 and config.task == "mnli"
    with pytest.raises(flags.IllegalFlagValueError):
        squad_flags(["prog", "--version=3.0"])


@pytest.mark.parametrize(
    "binary, some_flags",
    [
        ("trainers.probe", ("--output_dir", "--task_dir", "--layer", "--mixed_precision")),
        ("trainers.finetune_mnli", ("--model_dir", "--learning_rate", "--seed", "--[no]amsgrad")),
    ],
)
def test_help_lists_the_generated_flags(binary, some_flags):
    """absl's --help shows the main module's key flags only; the generated ones are adopted."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-m", binary, "--help"], cwd=root, capture_output=True, text=True
    )
    for flag in some_flags:  # (absl's --help exits with status 1)
        assert flag in out.stdout, (binary, flag)
