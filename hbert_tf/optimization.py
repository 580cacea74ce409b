"""The paper's optimiser: Adam with AMSGrad and weight decay (L2 or decoupled), warmup and decay.

Weight decay comes in two forms (`WEIGHT_DECAY_TYPES`):
  l2         `torch.optim.Adam(weight_decay=wd)`: `wd * w` is added to the gradient before the
             Adam moments (the paper's "Adam ... AMSGrad option ... 1e-4 weight decay").
  decoupled  Keras' (AdamW) form: after the Adam step, `w -= lr * wd * w`.
Biases and LayerNorm parameters are never decayed, as in BERT.
"""

import keras
import tensorflow as tf
from keras import ops

from hbert_tf.run_config import WEIGHT_DECAY_TYPES

SCHEDULES = ("constant", "linear", "cosine")
NO_DECAY = ["bias", "gamma", "beta"]  # variable names kept free of weight decay


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


@keras.saving.register_keras_serializable(package="hbert_tf")
class AdamL2(keras.optimizers.Adam):
    """Adam whose weight decay is an L2 term added to the gradient before the moments, as
    `torch.optim.Adam(weight_decay=l2_weight_decay)`; variables excluded with
    `exclude_from_weight_decay` get none. Clipping (`global_clipnorm`) acts before the term is
    added, as `torch.nn.utils.clip_grad_norm_` before `step()`.

    Args:
        l2_weight_decay: float. Coefficient of `w` added to each gradient.
        **kwargs: keras.optimizers.Adam arguments (its own `weight_decay` must stay unset).
    """

    def __init__(self, l2_weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        if self.weight_decay:
            raise ValueError("AdamL2: set l2_weight_decay, not the decoupled weight_decay")
        self.l2_weight_decay = float(l2_weight_decay)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2_weight_decay and self._use_weight_decay(variable):
            if isinstance(gradient, tf.IndexedSlices):  # embedding lookups: decay every row
                gradient = tf.convert_to_tensor(gradient)
            gradient = ops.add(
                ops.cast(gradient, variable.dtype),
                ops.multiply(ops.cast(self.l2_weight_decay, variable.dtype), variable),
            )
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "l2_weight_decay": self.l2_weight_decay}


def make_optimizer(
    learning_rate=1e-4,
    weight_decay=1e-4,
    total_steps=1,
    warmup_steps=0,
    decay="constant",
    clip_norm=None,
    amsgrad=True,
    loss_scale=False,
    weight_decay_type="l2",
):
    """The paper's optimiser: Adam (default betas) with AMSGrad, lr 1e-4, L2 weight decay 1e-4.

    Args:
        weight_decay: float. Coefficient of the decay (0: none); never on biases and LayerNorm.
        weight_decay_type: "l2" (added to the gradient, as PyTorch's Adam) or "decoupled"
            (Keras' AdamW form). See the module docstring.
        clip_norm: float or None. Clip gradients to this global norm.
        loss_scale: bool. Wrap in a LossScaleOptimizer (mixed_float16).
    """
    if weight_decay_type not in WEIGHT_DECAY_TYPES:
        raise ValueError(
            f"--weight_decay_type={weight_decay_type!r}: expected one of {WEIGHT_DECAY_TYPES}"
        )
    if weight_decay < 0:
        raise ValueError(f"--weight_decay={weight_decay}: expected >= 0")
    common = dict(
        learning_rate=WarmupDecay(learning_rate, total_steps, warmup_steps, decay),
        amsgrad=amsgrad,
        global_clipnorm=clip_norm or None,
    )
    if weight_decay_type == "l2":
        optimizer = AdamL2(l2_weight_decay=weight_decay, **common)
    else:
        optimizer = keras.optimizers.Adam(weight_decay=weight_decay or None, **common)
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    if loss_scale:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
