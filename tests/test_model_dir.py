"""Run-directory identity: "is this the same run?" for pre-training and fine-tuning."""

import json

import pytest

from hbert_tf.variants import place_heads
from hbert_tf.weights.model_dir import (
    changed_settings,
    check_same_pretraining_run,
    write_run_config,
)
from tests.helpers import tiny_config


def test_a_pretraining_dir_of_another_configuration_is_refused(tmp_path):
    config, layout = tiny_config(), place_heads(2, nsp_layer=0)
    check_same_pretraining_run(str(tmp_path), config, layout)  # empty: nothing to compare
    write_run_config(str(tmp_path), config, layout)
    check_same_pretraining_run(str(tmp_path), config, layout)  # the same run: resume
    with pytest.raises(ValueError, match="holds a run with another configuration"):
        check_same_pretraining_run(str(tmp_path), config, place_heads(2, nsp_layer=1))
    with pytest.raises(ValueError, match="holds a run with another configuration"):
        check_same_pretraining_run(str(tmp_path), tiny_config(dropout=0.1), layout)


def test_changed_settings_lists_the_keys_that_differ_in_order(tmp_path):
    path = tmp_path / "finetune_config.json"
    keys = ("task", "init_from", "concat")
    assert changed_settings(str(path), {"task": "squad"}, keys) == []  # no file yet
    path.write_text(json.dumps({"settings": {"task": "squad", "init_from": "a", "concat": "nsp"}}))
    same = {"task": "squad", "init_from": "a", "concat": "nsp", "seed": 3}
    assert changed_settings(str(path), same, keys) == []  # keys outside `keys` do not count
    other = dict(same, concat="cls", task="mnli")
    assert changed_settings(str(path), other, keys) == ["task", "concat"]


def test_atomic_path_renames_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    from hbert_tf.files import atomic_path

    path = tmp_path / "out.png"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(path), suffix=".png") as tmp:
            assert tmp.endswith(".png")
            open(tmp, "w").write("half")
            raise RuntimeError("writer failed")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    with atomic_path(str(path)) as tmp:
        open(tmp, "w").write("new")
    assert path.read_text() == "new" and len(list(tmp_path.iterdir())) == 1
