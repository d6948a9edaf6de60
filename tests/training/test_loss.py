"""The training loss against numpy: cross-entropy with label smoothing, and the translator's
loss over its real target positions equal to the masked loss over all positions."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn.models import Seq2SeqBackbone
from kerattn.training.loss import (
    cross_entropy,
    projected_cross_entropy,
    real_position_loss,
    softmax_cross_entropy,
)


def _numpy_reference(logits, targets, smoothing):
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    vocabulary = logits.shape[-1]
    soft = np.full(logits.shape, smoothing / vocabulary)
    np.put_along_axis(soft, targets[..., None], 1 - smoothing + smoothing / vocabulary, axis=-1)
    return -(soft * log_probs).sum(-1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_matches_cross_entropy_against_a_smoothed_target(smoothing):
    rng = np.random.default_rng(0)
    logits = (3 * rng.normal(size=(7, 5))).astype("float32")
    targets = np.array([1, 4, 0, 2, 2, 3, 1], "int32")
    result = np.asarray(cross_entropy(logits, targets, smoothing))
    np.testing.assert_allclose(
        result, _numpy_reference(logits, targets, smoothing), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_gradient_matches_the_smoothed_target_minus_the_softmax(smoothing):
    rng = np.random.default_rng(1)
    logits = tf.constant(rng.normal(size=(4, 6)).astype("float32"))
    targets = np.array([5, 0, 3, 3], "int32")
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = tf.reduce_sum(cross_entropy(logits, targets, smoothing))
    exponentials = np.exp(np.asarray(logits, "float64"))
    probabilities = exponentials / exponentials.sum(-1, keepdims=True)
    soft = np.full((4, 6), smoothing / 6)
    soft[np.arange(4), targets] += 1 - smoothing
    np.testing.assert_allclose(tape.gradient(loss, logits), probabilities - soft, atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 5.0, 200.0])
def test_softmax_cross_entropy_matches_float64_and_tensorflows_fused_op(scale):
    # scale 200: some targets' probabilities underflow float32 (losses in the hundreds), and
    # the batch takes the log-sum-exp path; scale 1 and 5 take −log p.
    rng = np.random.default_rng(4)
    logits = (scale * rng.normal(size=(32, 50))).astype("float32")
    targets = rng.integers(0, 50, size=32).astype("int32")
    losses, probabilities = softmax_cross_entropy(tf.constant(logits), tf.constant(targets))
    expected = _numpy_reference(logits.astype("float64"), targets, 0.0)
    assert (expected > 69).any() == (scale == 200.0)
    np.testing.assert_allclose(losses, expected, rtol=2e-6, atol=1e-5)
    fused_losses, softmax_minus_onehot = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(
        features=logits, labels=targets
    )
    np.testing.assert_allclose(losses, fused_losses, rtol=2e-6, atol=1e-5)
    onehot = np.eye(50, dtype="float32")[targets]
    np.testing.assert_allclose(probabilities - onehot, softmax_minus_onehot, atol=1e-6)


def test_a_target_of_zero_probability_gets_its_finite_loss_and_gradient():
    logits = tf.constant([[100.0, -100.0, 0.0], [0.0, 1.0, 2.0]])
    targets = np.array([1, 2], "int32")
    with tf.GradientTape() as tape:
        tape.watch(logits)
        losses = cross_entropy(logits, targets)
        total = tf.reduce_sum(losses)
    expected = _numpy_reference(np.asarray(logits, "float64"), targets, 0.0)
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
    assert losses.numpy()[0] == pytest.approx(200.0)
    gradient = tape.gradient(total, logits).numpy()
    np.testing.assert_allclose(gradient[0], [1.0, -1.0, 0.0], atol=1e-6)


def test_float16_logits_are_computed_in_float32():
    logits = np.array([[30.0, -30.0]], "float16")
    result = cross_entropy(logits, np.array([1], "int32"), 0.1)
    assert result.dtype.name == "float32"
    # −log p_1 = 60 and −mean_v log p_v = (0 + 60) / 2 = 30
    assert np.asarray(result)[0] == pytest.approx(0.9 * 60.0 + 0.1 * 30.0, rel=1e-3)


def _batch():
    rng = np.random.default_rng(2)
    source = rng.integers(1, 30, size=(3, 6)).astype("int32")
    source[0, 4:] = 0
    target_input = rng.integers(1, 40, size=(3, 5)).astype("int32")
    target_input[1, 2:] = 0
    target_input[2, 4:] = 0
    targets = np.where(target_input > 0, rng.integers(1, 40, size=(3, 5)), 0).astype("int32")
    return {"source_ids": source, "target_input_ids": target_input}, targets


@pytest.mark.parametrize("attention", ["bahdanau", "luong_concat"])
def test_real_positions_give_the_masked_loss_and_gradients_of_all_positions(attention):
    keras.utils.set_random_seed(0)
    backbone = Seq2SeqBackbone(30, 40, embedding_dim=8, units=12, attention=attention, dropout=0)
    inputs, targets = _batch()
    variables = backbone.trainable_variables
    with tf.GradientTape() as tape:
        logits = backbone(inputs)  # (B, T, V), every position
        losses = cross_entropy(tf.reshape(logits, (-1, 40)), targets.reshape(-1), 0.1)
        all_positions = tf.reduce_sum(losses * (targets.reshape(-1) != 0))
    expected_gradients = tape.gradient(all_positions, variables)
    with tf.GradientTape() as tape:
        losses, real_logits, real_targets = real_position_loss(backbone, inputs, targets, 0.1)
        real_positions = tf.reduce_sum(losses)
    gradients = tape.gradient(real_positions, variables)

    assert real_logits.shape == (int((targets != 0).sum()), 40)
    np.testing.assert_array_equal(real_targets, targets[targets != 0])
    np.testing.assert_allclose(real_logits, np.asarray(logits)[targets != 0], atol=1e-6)
    np.testing.assert_allclose(real_positions, all_positions, rtol=1e-6)
    for variable, expected, gradient in zip(variables, expected_gradients, gradients):
        np.testing.assert_allclose(
            tf.convert_to_tensor(gradient),
            tf.convert_to_tensor(expected),
            atol=1e-6,
            err_msg=variable.path,
        )


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_projection_and_loss_in_one_op_match_autodiff(smoothing, dtype):
    rng = np.random.default_rng(3)
    hidden = tf.constant(rng.normal(size=(9, 4)), dtype)
    kernel = tf.constant(rng.normal(size=(4, 7)).astype("float32"))
    bias = tf.constant(rng.normal(size=7).astype("float32"))
    targets = np.array([1, 6, 6, 0, 3, 2, 6, 5, 1], "int32")
    upstream = tf.constant(rng.uniform(0.5, 2.0, size=9).astype("float32"))  # any weights
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([hidden, kernel, bias])
        logits = tf.matmul(hidden, tf.cast(kernel, dtype)) + tf.cast(bias, dtype)
        reference = tf.reduce_sum(upstream * cross_entropy(logits, targets, smoothing))
        losses, fused_logits = projected_cross_entropy(hidden, kernel, bias, targets, smoothing)
        fused = tf.reduce_sum(upstream * losses)
    tolerance = 1e-5 if dtype == "float32" else 2e-2
    np.testing.assert_allclose(fused, reference, rtol=tolerance)
    np.testing.assert_allclose(fused_logits, tf.cast(logits, tf.float32), rtol=tolerance)
    for expected, result in zip(
        tape.gradient(reference, [hidden, kernel, bias]),
        tape.gradient(fused, [hidden, kernel, bias]),
    ):
        assert result.dtype == expected.dtype
        np.testing.assert_allclose(
            tf.cast(result, tf.float32),
            tf.cast(expected, tf.float32),
            rtol=tolerance,
            atol=tolerance,
        )


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_projection_and_loss_match_float64_where_targets_underflow(smoothing):
    # Logits of ±hundreds: some target probabilities are 0 in float32 (the log-sum-exp path).
    rng = np.random.default_rng(5)
    hidden = rng.normal(size=(6, 3)) * 40
    kernel, bias = rng.normal(size=(3, 5)), rng.normal(size=5)
    targets = np.array([0, 4, 2, 2, 1, 3], "int32")
    logits = hidden @ kernel + bias
    expected_losses = _numpy_reference(logits, targets, smoothing)
    assert expected_losses.max() > 69
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    soft = np.full(logits.shape, smoothing / 5)
    soft[np.arange(6), targets] += 1 - smoothing
    grad_logits = probabilities - soft  # d(sum of losses) / d logits
    tensors = [tf.constant(value, tf.float32) for value in (hidden, kernel, bias)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        losses, _ = projected_cross_entropy(*tensors, targets, smoothing)
        total = tf.reduce_sum(losses)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5, atol=1e-3)
    expected_gradients = [grad_logits @ kernel.T, hidden.T @ grad_logits, grad_logits.sum(0)]
    for result, expected in zip(tape.gradient(total, tensors), expected_gradients):
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4)
