"""The pre-training optimiser: Adam with AMSGrad and weight decay, warmup and decay schedules."""

import keras
from keras import ops

SCHEDULES = ("constant", "linear", "cosine")


@keras.saving.register_keras_serializable(package="hbert_tf")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `learning_rate` over `warmup_steps`, then a decay to 0 at
    `total_steps` ("linear", "cosine") or none ("constant").

    Args:
        learning_rate: float. Peak learning rate.
        total_steps: int. Step at which the decayed rate reaches 0.
        warmup_steps: int. Steps of linear warmup (0: none).
        decay: str. One of SCHEDULES.
    """

    def __init__(self, learning_rate, total_steps, warmup_steps=0, decay="constant"):
        if decay not in SCHEDULES:
            raise ValueError(f"decay={decay!r}: expected one of {SCHEDULES}")
        if warmup_steps < 0 or total_steps < 1 or warmup_steps > total_steps:
            raise ValueError(
                f"warmup_steps={warmup_steps} must be within 0..total_steps={total_steps}"
            )
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.learning_rate
        warmup = peak * step / max(self.warmup_steps, 1)
        progress = ops.clip(
            (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0
        )
        if self.decay == "linear":
            decayed = peak * (1.0 - progress)
        elif self.decay == "cosine":
            decayed = peak * 0.5 * (1.0 + ops.cos(3.141592653589793 * progress))
        else:
            decayed = peak + 0.0 * progress
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
        }


def make_optimizer(
    learning_rate=1e-4,
    weight_decay=1e-4,
    total_steps=1,
    warmup_steps=0,
    decay="constant",
    clip_norm=None,
    amsgrad=True,
    loss_scale=False,
):
    """The paper's pre-training optimiser: Adam (default betas) with AMSGrad, lr 1e-4, decay 1e-4.

    Weight decay is Keras' decoupled form and, as in BERT, skips biases and LayerNorm parameters.
    `loss_scale=True` wraps it for mixed_float16.
    """
    optimizer = keras.optimizers.Adam(
        learning_rate=WarmupDecay(learning_rate, total_steps, warmup_steps, decay),
        amsgrad=amsgrad,
        weight_decay=weight_decay or None,
        global_clipnorm=clip_norm or None,
    )
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    if loss_scale:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
