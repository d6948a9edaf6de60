"""Adam whose TensorFlow update of each variable is one fused kernel.

`keras.optimizers.Adam` updates a variable with about a dozen TensorFlow ops (subtract,
multiply and assign-add for each moment, a square, a square root, an add, a divide, an
assign-subtract), each a pass over the variable's memory; for a translator's 7.8M parameters
that was 23 ms of a 165 ms training step on two CPU cores. TensorFlow's `ResourceApplyAdam`
computes the same update, with the same formula (α = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ);
m += (g − m)(1 − β₁); v += (g² − v)(1 − β₂); θ −= m · α / (√v + ε)), in one multi-threaded pass:
7 ms (bench/RESULTS.md, issue 17).

`FusedAdam` is `keras.optimizers.Adam` with only `update_step` replaced on the TensorFlow
backend: the same arguments, variables, checkpoint layout and serialization, so runs trained
with Keras's Adam resume with it and the other way round. Sparse gradients (IndexedSlices,
which Keras's Adam applies to their rows' moments only; kerattn's trainer makes every
gradient dense before it), AMSGrad and other backends take Keras's own update.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerattn")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, updated by TensorFlow's fused `ResourceApplyAdam` kernel."""

    def update_step(self, gradient, variable, learning_rate):
        fused = keras.backend.backend() == "tensorflow" and not self.amsgrad
        if not fused or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        gradient = tf.cast(gradient, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        momentum = self._momentums[index].value
        velocity = self._velocities[index].value
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=momentum.handle,
            v=velocity.handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), local_step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), local_step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            grad=gradient,
        )
