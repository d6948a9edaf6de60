"""AttentionPooling: references, masking, gradients and Keras integration."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import ops

from kerattn import layers
from tests.conftest import gradients

VARIANTS = {
    "bahdanau": lambda: layers.AttentionPooling(units=3),
    "luong": lambda: layers.AttentionPooling(attention="luong"),
}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return request.param


def make_inputs():
    rng = np.random.default_rng(0)
    sequence = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.ones((3, 5), bool)
    mask[0, 2:] = False
    mask[2, :] = False
    return sequence, mask


def test_two_by_two_matches_hand_computation():
    layer = layers.AttentionPooling(units=2)
    sequence = np.array([[[1.0, 0.0], [0.0, 2.0]]], "float32")
    layer(sequence)
    kernel = np.array([[1.0, -1.0], [0.5, 0.5]], "float32")
    bias = np.array([0.0, 0.1], "float32")
    query = np.array([2.0, 1.0], "float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    layer.query.assign(query)
    scores = np.array([query @ np.tanh(h @ kernel + bias) for h in sequence[0]])
    expected = np.exp(scores) / np.exp(scores).sum()
    pooled, weights = layer(sequence, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(weights)[0], expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(pooled)[0], expected @ sequence[0], rtol=1e-5)


def test_luong_pooling_is_dot_product_with_learned_query():
    layer = layers.AttentionPooling(attention="luong")
    sequence = np.array([[[1.0, 0.0], [0.0, 2.0]]], "float32")
    layer(sequence)
    layer.query.assign(np.array([1.0, 1.0], "float32"))
    expected = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
    weights = layer(sequence, return_attention_scores=True)[1]
    np.testing.assert_allclose(np.asarray(weights)[0], expected, rtol=1e-5)


def test_masking_padding_invariance_and_empty_rows(variant):
    sequence, mask = make_inputs()
    layer = VARIANTS[variant]()
    pooled, weights = layer(sequence, mask=mask, return_attention_scores=True)
    weights = np.asarray(weights)
    assert np.all(weights[~mask] == 0.0)
    np.testing.assert_allclose(weights[:2].sum(-1), 1.0, atol=1e-6)
    assert np.all(np.asarray(pooled)[2] == 0.0) and np.all(np.isfinite(pooled))
    garbage = 50 * np.random.default_rng(1).normal(size=(3, 4, 4)).astype("float32")
    padded_pooled, padded_weights = layer(
        np.concatenate([sequence, garbage], 1),
        mask=np.concatenate([mask, np.zeros((3, 4), bool)], 1),
        return_attention_scores=True,
    )
    np.testing.assert_allclose(padded_pooled, pooled, atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.asarray(padded_weights)[:, :5], weights, atol=1e-6, rtol=0)


def test_embedding_mask_is_used_automatically(variant):
    tokens = np.array([[4, 2, 0, 0], [1, 2, 3, 4]], "int32")
    inputs = keras.Input((4,), dtype="int32")
    embedding = keras.layers.Embedding(6, 4, mask_zero=True)
    pooling = VARIANTS[variant]()
    embedded = embedding(inputs)
    model = keras.Model(
        inputs, [pooling(embedded), pooling(embedded, mask=ops.not_equal(inputs, 0))]
    )
    implicit, explicit = model.predict(tokens, verbose=0)
    np.testing.assert_array_equal(implicit, explicit)


def test_gradients_finite_and_zero_for_padding(variant):
    sequence, mask = make_inputs()
    layer = VARIANTS[variant]()
    layer(sequence)
    (grad,) = gradients(lambda x: ops.sum(layer(x, mask=mask) ** 2), sequence)
    assert np.all(np.isfinite(grad))
    assert np.all(grad[~mask] == 0.0) and np.abs(grad[mask]).max() > 0


def test_mixed_float16_finite(variant):
    sequence, mask = make_inputs()
    layer = VARIANTS[variant]()
    layer.dtype_policy = keras.DTypePolicy("mixed_float16")
    pooled = np.asarray(layer(sequence * 100, mask=mask), "float32")
    assert np.all(np.isfinite(pooled)) and np.all(pooled[2] == 0)


@pytest.mark.parametrize("dtype", ("float32", "bfloat16", "mixed_bfloat16", "mixed_float16"))
def test_padded_position_never_wins_against_very_negative_scores(dtype):
    # Scores u·h = ±6.4e9, far below any fixed replacement score (and beyond float16).
    layer = layers.AttentionPooling(attention="luong", dtype=dtype)
    sequence = np.stack([np.full(64, sign * 1e4, "float32") for sign in (-1, -1, 1)])[None]
    layer(sequence)
    layer.query.assign(np.full(64, 1e4, "float32"))
    pooled, weights = layer(
        sequence, mask=np.array([[True, True, False]]), return_attention_scores=True
    )
    np.testing.assert_array_equal(np.asarray(weights, "float32")[0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(np.asarray(pooled, "float32")[0], np.full(64, -1e4), rtol=1e-2)
    pooled, weights = layer(sequence, mask=np.zeros((1, 3), bool), return_attention_scores=True)
    assert np.all(np.asarray(weights, "float32") == 0)
    assert np.all(np.asarray(pooled, "float32") == 0)


def test_config_json_fit_and_keras_file_round_trip(variant, tmp_path):
    layer = VARIANTS[variant]()
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    )
    assert restored.get_config() == config
    sequence, mask = make_inputs()
    inputs, mask_input = keras.Input((5, 4)), keras.Input((5,), dtype="bool")
    pooled, weights = layer(inputs, mask=mask_input, return_attention_scores=True)
    assert tuple(pooled.shape) == (None, 4) and tuple(weights.shape) == (None, 5)
    model = keras.Model([inputs, mask_input], keras.layers.Dense(1)(pooled))
    model.compile(optimizer="adam", loss="mse")
    model.fit([sequence, mask], np.ones((3, 1)), verbose=0)
    model.save(tmp_path / "pooling.keras")
    reloaded = keras.saving.load_model(tmp_path / "pooling.keras")
    np.testing.assert_array_equal(
        reloaded.predict([sequence, mask], verbose=0), model.predict([sequence, mask], verbose=0)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"attention": "max"},
            r"`attention` must be one of 'bahdanau', 'luong'; received attention='max'",
        ),
        (
            {"attention": "bahdanau"},
            r"attention='bahdanau' needs `units`, a positive int; received units=None",
        ),
        (
            {"attention": "luong", "units": 4},
            r"`units` is only used by attention='bahdanau'; received units=4",
        ),
    ],
)
def test_invalid_arguments_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.AttentionPooling(**kwargs)


def test_wrong_input_rank_fails_clearly():
    with pytest.raises(
        ValueError,
        match=r"expects inputs of shape \(batch, time, features\).*received shape \(2, 4\)",
    ):
        layers.AttentionPooling(units=3)(np.zeros((2, 4)))
