"""Lower NSP-Freeze in one place: the policy, its trigger (a step or an NSP plateau) and its state.

The policy is the layout's (`HeadLayout.freeze`, see `hbert_tf.variants.FreezePolicy`); what gets
frozen is `HBertPretrainer.freeze_nsp` (embeddings, blocks 0..k, the NSP head). The state (the
step it froze at, the best NSP eval accuracy and the evaluations since) is saved in every
checkpoint under the same names as before, and a resumed run freezes again at restore.
"""

import tensorflow as tf

from hbert_tf import console


class NspFreeze:
    """When and whether the NSP path of `model` is frozen.

    Args:
        model: `HBertPretrainer`; its `layout.freeze` is the policy.
        on_freeze: callable or None. Called after freezing (a loop rebuilds its step functions).

    Usage by a training loop:
        freeze.track(checkpoint)            # before restoring
        freeze.reapply()                    # after restoring: True if it froze again
        stop = freeze.next_boundary(step)   # a step the loop must stop at, or None
        freeze.after_steps(step)            # True when the at_step trigger just froze
        freeze.after_eval(step, metrics)    # True when the plateau trigger just froze
    """

    def __init__(self, model, on_freeze=None):
        self.model = model
        self.on_freeze = on_freeze
        self.policy = model.layout.freeze
        # Loop state lives on the host (not mirrored) and is saved with the model.
        with tf.device("/cpu:0"):
            self.frozen_at = tf.Variable(-1, dtype=tf.int64, trainable=False, name="frozen_at")
            self.best_nsp_accuracy = tf.Variable(-1.0, trainable=False, name="best_nsp_accuracy")
            self.evals_since_best = tf.Variable(0, dtype=tf.int64, trainable=False)

    def track(self, checkpoint):
        """Adds the state to a `tf.train.Checkpoint` (names kept from older checkpoints)."""
        checkpoint.frozen_at = self.frozen_at
        checkpoint.best_nsp_accuracy = self.best_nsp_accuracy
        checkpoint.evals_since_best = self.evals_since_best

    @property
    def is_frozen(self):
        return int(self.frozen_at) >= 0

    @property
    def frozen_at_step(self):
        """The step it froze at, or None."""
        return int(self.frozen_at) if self.is_frozen else None

    def freeze(self, step, log=True):
        """Freezes the NSP path now (at `step`)."""
        frozen = self.model.freeze_nsp()
        self.frozen_at.assign(step)
        if self.on_freeze is not None:
            self.on_freeze()
        if log:
            console.say(
                f"Lower NSP-Freeze: froze {len(frozen)} variables (embeddings, blocks "
                f"0..{self.model.layout.nsp_layer}, NSP head) at step {step}; MLM training "
                "continues"
            )

    def reapply(self):
        """After a restore: freezes again if the checkpoint was taken frozen. Returns whether."""
        if self.is_frozen:
            self.freeze(int(self.frozen_at), log=False)
        return self.is_frozen

    def next_boundary(self, step):
        """The at_step trigger's step if it is still ahead of `step`, else None."""
        if self.policy.kind == "at_step" and not self.is_frozen and step < self.policy.value:
            return self.policy.value
        return None

    def after_steps(self, step):
        """The at_step trigger, once `step` steps are done. Returns whether it froze now."""
        if self.policy.kind == "at_step" and not self.is_frozen and step >= self.policy.value:
            self.freeze(step)
            return True
        return False

    def after_eval(self, step, metrics):
        """The plateau trigger: counts evaluations without a better `nsp_accuracy`. Returns
        whether it froze now."""
        if self.policy.kind != "plateau" or self.is_frozen or "nsp_accuracy" not in metrics:
            return False
        if metrics["nsp_accuracy"] > float(self.best_nsp_accuracy):
            self.best_nsp_accuracy.assign(metrics["nsp_accuracy"])
            self.evals_since_best.assign(0)
        else:
            self.evals_since_best.assign_add(1)
        if int(self.evals_since_best) < self.policy.value:
            return False
        console.say(
            f"NSP eval accuracy has not improved for {self.policy.value} evaluations (best "
            f"{float(self.best_nsp_accuracy):.4f})"
        )
        self.freeze(step)
        return True
