"""masked_softmax and attend, the masking shared by every attention layer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerattn import layers
from tests.conftest import gradients


@pytest.mark.parametrize(
    "valid_score, padded_score",
    [(-1e30, 0.0), (-3e38, 3e38), (-6.4e9, 6.4e9), (0.0, np.inf), (0.0, np.nan)],
)
def test_padded_keys_get_zero_whatever_the_scores(valid_score, padded_score):
    # Masking by replacement with a fixed score (-1e9) lets the padded key win as soon as the
    # valid scores are below it; masking by selection never looks at padded scores.
    scores = np.array([[[valid_score, valid_score, padded_score]]], "float32")  # (B, Tq, Tv)
    weights = layers.masked_softmax(scores, key_mask=np.array([[True, True, False]]))
    np.testing.assert_array_equal(np.asarray(weights)[0, 0], [0.5, 0.5, 0.0])


def test_float16_scores_are_normalised_in_float32_and_returned_in_float16():
    scores = np.array([[[-6e4, -6e4, 6e4, 1e4]]], "float16")
    weights = layers.masked_softmax(scores, key_mask=np.array([[True, True, False, False]]))
    assert "float16" in str(weights.dtype)
    np.testing.assert_array_equal(np.asarray(weights, "float32")[0, 0], [0.5, 0.5, 0.0, 0.0])


@pytest.fixture
def float64_enabled():
    """JAX computes in float64 only with `jax_enable_x64`; turned on for the test, restored
    afterwards (TensorFlow always has float64)."""
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    previous = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.mark.usefixtures("float64_enabled")
def test_float64_scores_keep_float64_precision():
    # A difference of 1e-12 vanishes in float32 (both weights 0.5) but not in float64.
    scores = np.array([[[0.0, 1e-12, 5.0]]], "float64")
    weights = np.asarray(layers.masked_softmax(scores, key_mask=np.array([[True, True, False]])))
    assert weights.dtype == np.float64
    np.testing.assert_allclose(
        weights[0, 0], [0.5 - 2.5e-13, 0.5 + 2.5e-13, 0.0], rtol=0, atol=1e-16
    )


def test_rows_without_valid_key_and_padded_queries_are_zero():
    scores = np.array([[[1e30, -1e30], [3.0, 4.0]], [[1.0, 2.0], [5.0, 6.0]]], "float32")
    key_mask = np.array([[False, False], [True, False]])
    query_mask = np.array([[True, True], [True, False]])
    weights = np.asarray(layers.masked_softmax(scores, key_mask=key_mask, query_mask=query_mask))
    np.testing.assert_array_equal(weights, [[[0, 0], [0, 0]], [[1, 0], [0, 0]]])


def test_unmasked_rows_are_the_plain_softmax():
    scores = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    masked = layers.masked_softmax(scores, key_mask=np.ones((2, 5), bool))
    np.testing.assert_allclose(masked, ops.softmax(scores, axis=-1), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        layers.masked_softmax(scores), ops.softmax(scores, axis=-1), rtol=0, atol=0
    )


def test_gradients_finite_and_zero_for_padded_scores():
    rng = np.random.default_rng(1)
    scores = (1e9 * rng.normal(size=(2, 3, 4))).astype("float32")
    scores[0, 0] = -1e30  # far below any replacement value
    key_mask = np.array([[True, True, False, False], [False, False, False, False]])
    coefficients = rng.normal(size=(2, 3, 4)).astype("float32")

    def loss(scores):
        return ops.sum(layers.masked_softmax(scores, key_mask=key_mask) * coefficients)

    (grad,) = gradients(loss, scores)
    assert np.all(np.isfinite(grad))
    assert np.all(grad[np.broadcast_to(~key_mask[:, None, :], grad.shape)] == 0.0)
    assert np.all(grad[1] == 0.0)


def test_attend_runs_in_float32_and_returns_the_value_dtype():
    scores = np.array([[[-6.4e9, -6.4e9, 6.4e9]]], "float32")  # beyond float16 range
    value = np.array([[[1.0, 2.0], [3.0, 4.0], [6e4, 6e4]]], "float16")
    context, weights = layers.attend(scores, value, key_mask=np.array([[True, True, False]]))
    assert "float16" in str(context.dtype) and "float16" in str(weights.dtype)
    np.testing.assert_array_equal(np.asarray(weights, "float32")[0, 0], [0.5, 0.5, 0.0])
    np.testing.assert_array_equal(np.asarray(context, "float32")[0, 0], [2.0, 3.0])
