"""`WarmupSchedule`: the recipe's learning-rate schedules, with linear warmup."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerattn")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `learning_rate`, then constant, inverse square root or cosine decay.

    With w = warmup_steps, s = step (0-based), r = learning_rate:
      warmup (s < w): r · (s + 1) / w
      "constant": r
      "inverse_sqrt": r · sqrt(max(w, 1) / (s + 1))           (Vaswani et al., 2017)
      "cosine": r · ½ (1 + cos(π · min(s − w, D) / D)), D = max(total_steps − w, 1)

    The value depends only on the step, so a resumed run continues the schedule exactly.

    Args:
        learning_rate: peak learning rate.
        schedule: "constant", "inverse_sqrt" or "cosine".
        warmup_steps: steps of linear warmup (0 = none).
        total_steps: the run's length, for cosine decay.
    """

    def __init__(
        self,
        learning_rate: float,
        schedule: str = "constant",
        warmup_steps: int = 0,
        total_steps: int = 1,
    ):
        if schedule not in ("constant", "inverse_sqrt", "cosine"):
            raise ValueError(
                "`schedule` must be 'constant', 'inverse_sqrt' or 'cosine'; received "
                f"schedule={schedule!r}."
            )
        self.learning_rate = float(learning_rate)
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        if self.schedule == "constant":
            after = ops.convert_to_tensor(self.learning_rate, "float32")
        elif self.schedule == "inverse_sqrt":
            after = self.learning_rate * ops.sqrt(max(warmup, 1.0) / (step + 1.0))
        else:
            decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
            progress = ops.minimum(ops.maximum(step - warmup, 0.0), decay_steps) / decay_steps
            after = self.learning_rate * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return after
        during = self.learning_rate * (step + 1.0) / warmup
        return ops.where(step < warmup, during, after)

    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "schedule": self.schedule,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }
