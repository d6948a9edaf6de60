"""Dynamic loss scaling for mixed_float16 training, around the trainer's own gradient arithmetic.

Keras's `LossScaleOptimizer` scales the loss so that float16 gradients do not underflow, skips
the steps whose gradients are not finite and adapts the scale. The trainer all-reduces and clips
the gradients itself (`replica_steps`), and the norm it clips by must be the true one, so the
gradients are unscaled for the norm and clipping and scaled again before the optimizer, which
unscales them once more. Without mixed precision every operation here is the identity.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def wrap_optimizer(
    optimizer: keras.optimizers.Optimizer, mixed_precision: bool
) -> keras.optimizers.Optimizer:
    """`optimizer` in a `LossScaleOptimizer` for mixed precision, else as it is."""
    return keras.optimizers.LossScaleOptimizer(optimizer) if mixed_precision else optimizer


class LossScale:
    """The loss scale of `optimizer` (`wrap_optimizer`'s result), or none.

    Args:
        optimizer: the optimizer the steps apply gradients with.
    """

    def __init__(self, optimizer: keras.optimizers.Optimizer):
        self.optimizer = optimizer
        self.enabled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def scale_loss(self, loss):
        """The loss to differentiate: times the current scale."""
        return self.optimizer.scale_loss(loss) if self.enabled else loss

    def unscale(self, gradients: list) -> list:
        """Gradients of the scaled loss back to those of the loss (for the norm and clipping)."""
        if not self.enabled:
            return gradients
        scale = tf.cast(self.optimizer.dynamic_scale, tf.float32)
        return [gradient / scale for gradient in gradients]

    def rescale(self, gradients: list) -> list:
        """Gradients scaled again: the optimizer unscales them (and skips non-finite steps)."""
        if not self.enabled:
            return gradients
        scale = tf.cast(self.optimizer.dynamic_scale, tf.float32)
        return [gradient * scale for gradient in gradients]
