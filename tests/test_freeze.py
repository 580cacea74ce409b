"""Lower NSP-Freeze: policy, triggers and state in one object, saved and re-applied on resume."""

import tensorflow as tf

from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.pretrainer import HBertPretrainer
from hbert_tf.pretraining.freeze import NspFreeze
from hbert_tf.variants import place_heads
from tests.helpers import tiny_config


def model_with(policy):
    layout = place_heads(2, nsp_layer=0, freeze=policy)
    return HBertPretrainer(HBertEncoder.from_config_object(tiny_config()), layout)


def test_at_step_trigger_stops_the_loop_there_and_freezes_once():
    calls = []
    freeze = NspFreeze(model_with("at_step:5"), on_freeze=lambda: calls.append(1))
    assert freeze.policy is freeze.model.layout.freeze
    assert freeze.next_boundary(0) == 5 and freeze.next_boundary(4) == 5
    assert not freeze.after_steps(4) and not freeze.is_frozen
    assert freeze.after_steps(5) and freeze.frozen_at_step == 5 and calls == [1]
    assert freeze.next_boundary(5) is None and not freeze.after_steps(6)
    assert not freeze.model.nsp_head.trainable and freeze.model.mlm_head.trainable
    assert freeze.after_eval(7, {"nsp_accuracy": 0.1}) is False  # not a plateau policy


def test_plateau_trigger_counts_evaluations_without_improvement():
    freeze = NspFreeze(model_with("plateau:2"))
    assert freeze.next_boundary(0) is None and not freeze.after_steps(100)
    assert not freeze.after_eval(10, {"nsp_accuracy": 0.5})
    assert not freeze.after_eval(20, {"nsp_accuracy": 0.25})  # 1 without improvement
    assert not freeze.after_eval(30, {"nsp_accuracy": 0.75})  # better: count restarts
    assert not freeze.after_eval(40, {"nsp_accuracy": 0.75})
    assert freeze.after_eval(50, {"nsp_accuracy": 0.625}) and freeze.frozen_at_step == 50
    assert float(freeze.best_nsp_accuracy) == 0.75


def test_never_does_nothing():
    freeze = NspFreeze(model_with("never"))
    assert freeze.next_boundary(0) is None
    assert not freeze.after_steps(10**6) and not freeze.after_eval(1, {"nsp_accuracy": 0.0})
    assert freeze.frozen_at_step is None and freeze.model.nsp_head.trainable


def test_state_is_saved_and_the_freeze_reapplied_on_restore(tmp_path):
    freeze = NspFreeze(model_with("plateau:1"))
    checkpoint = tf.train.Checkpoint()
    freeze.track(checkpoint)
    freeze.after_eval(3, {"nsp_accuracy": 0.4})
    freeze.after_eval(6, {"nsp_accuracy": 0.3})
    path = checkpoint.save(str(tmp_path / "ckpt"))

    resumed = NspFreeze(model_with("plateau:1"))
    assert not resumed.reapply() and resumed.model.nsp_head.trainable
    restored = tf.train.Checkpoint()
    resumed.track(restored)
    restored.restore(path).assert_existing_objects_matched()
    assert resumed.reapply() and resumed.frozen_at_step == 6
    assert not resumed.model.nsp_head.trainable
    assert not resumed.model.encoder.transformer_layers[0].trainable
    assert resumed.model.encoder.transformer_layers[1].trainable
