"""Gradients with respect to input arrays and a layer's trainable variables, on any backend."""

from __future__ import annotations

import keras
import numpy as np


def outputs_and_gradients(layer, call, arrays, loss_of):
    """`outputs = call(*arrays)` (flattened to a list of arrays) and the gradients of
    `loss_of(outputs)` with respect to every array, then every trainable variable of `layer`
    (zeros where unconnected)."""
    arrays = [np.asarray(a, dtype="float32") for a in arrays]
    variables = layer.trainable_variables
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            outputs = call(*tensors)
            loss = loss_of(outputs)
        grads = tape.gradient(
            loss, tensors + variables, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
    elif keras.backend.backend() == "jax":
        import jax

        def function(weights, *arrays):
            with keras.StatelessScope(state_mapping=list(zip(variables, weights))):
                outputs = call(*arrays)
            return loss_of(outputs), outputs

        weights = [keras.ops.convert_to_tensor(v.value) for v in variables]
        argnums = tuple(range(len(arrays) + 1))
        (_, outputs), grads = jax.value_and_grad(function, argnums=argnums, has_aux=True)(
            weights, *arrays
        )
        grads = list(grads[1:]) + list(grads[0])
    else:
        raise NotImplementedError(
            "tests.layers.layer_gradients supports the tensorflow and jax backends (the two "
            f"kerattn is tested on); KERAS_BACKEND is {keras.backend.backend()!r}."
        )
    outputs = [np.asarray(o) for o in keras.tree.flatten(outputs)]
    return outputs, [np.asarray(g) for g in grads]
