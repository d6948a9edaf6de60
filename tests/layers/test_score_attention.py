"""BahdanauAttention and LuongAttention: every test pattern a kerattn layer gets, for every score."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import ops

from kerattn import layers
from tests.conftest import gradients
from tests.layers.padding_invariance import assert_appended_padding_changes_nothing

VARIANTS = {
    "bahdanau": lambda: layers.BahdanauAttention(units=5),
    "bahdanau_normalized": lambda: layers.BahdanauAttention(units=5, use_bias=True, normalize=True),
    "luong_dot": lambda: layers.LuongAttention(score="dot"),
    "luong_dot_scaled": lambda: layers.LuongAttention(score="dot", use_scale=True),
    "luong_general": lambda: layers.LuongAttention(score="general"),
    "luong_concat": lambda: layers.LuongAttention(score="concat", units=5),
}
# Dot scores need query and key of the same width; all variants get the same shapes.
B, TQ, TV, D = 3, 4, 6, 4


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    value_mask = np.ones((B, TV), bool)
    value_mask[0, 4:] = False
    value_mask[1, 1:] = False
    query_mask = np.ones((B, TQ), bool)
    query_mask[2, 3:] = False
    return query, value, query_mask, value_mask


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return request.param


def built_layer(variant):
    layer = VARIANTS[variant]()
    query, value, _, _ = make_inputs()
    layer(query, value)
    return layer


# -- reference numbers ----------------------------------------------------------------------------


def numpy_softmax(scores, mask):
    scores = np.where(mask, scores, -np.inf)
    exp = np.exp(scores - scores.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def test_bahdanau_two_by_two_matches_hand_computation():
    # Two keys, one query, U = 2: e_j = v · tanh(W_q q + W_k k_j).
    layer = layers.BahdanauAttention(units=2)
    query = np.array([[[1.0, 0.0]]], "float32")  # (1, 1, 2)
    value = np.array([[[1.0, 2.0], [3.0, -1.0]]], "float32")  # (1, 2, 2)
    layer(query, value)
    w_q = np.array([[0.5, -0.5], [1.0, 0.0]], "float32")
    w_k = np.array([[0.2, 0.1], [0.0, 0.3]], "float32")
    v = np.array([1.0, -2.0], "float32")
    layer.query_kernel.assign(w_q)
    layer.key_kernel.assign(w_k)
    layer.score_vector.assign(v)
    scores = np.array([v @ np.tanh(query[0, 0] @ w_q + k @ w_k) for k in value[0]])
    # By hand: W_q q = [0.5, -0.5]; W_k k_1 = [0.2, 0.7], W_k k_2 = [0.6, 0.0].
    np.testing.assert_allclose(
        scores,
        [np.tanh(0.7) - 2 * np.tanh(0.2), np.tanh(1.1) - 2 * np.tanh(-0.5)],
        rtol=1e-6,
    )
    expected_weights = np.exp(scores) / np.exp(scores).sum()
    context, weights = layer(query, value, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(weights)[0, 0], expected_weights, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(context)[0, 0], expected_weights @ value[0], rtol=1e-5)


def test_bahdanau_normalized_uses_weight_normalised_vector_and_bias():
    layer = layers.BahdanauAttention(units=2, use_bias=True, normalize=True)
    query = np.array([[[1.0, 0.0]]], "float32")
    value = np.array([[[1.0, 2.0], [3.0, -1.0]]], "float32")
    layer(query, value)
    layer.query_kernel.assign(np.eye(2, dtype="float32"))
    layer.key_kernel.assign(np.eye(2, dtype="float32"))
    layer.bias.assign(np.array([0.1, -0.1], "float32"))
    layer.score_vector.assign(np.array([3.0, 4.0], "float32"))
    layer.score_gain.assign(2.0)
    normed_v = 2.0 * np.array([3.0, 4.0]) / 5.0
    scores = np.array([normed_v @ np.tanh(query[0, 0] + k + [0.1, -0.1]) for k in value[0]])
    weights = layer(query, value, return_attention_scores=True)[1]
    np.testing.assert_allclose(np.asarray(weights)[0, 0], numpy_softmax(scores, True), rtol=1e-5)


@pytest.mark.parametrize(
    "score, expected_scores",
    [
        # q = [1, 2], k_1 = [1, 0], k_2 = [0, 1]; W = [[1, 2], [3, 4]] (q W k).
        ("dot", [1.0, 2.0]),
        ("general", [1 * 1 + 2 * 3, 1 * 2 + 2 * 4]),
    ],
)
def test_luong_multiplicative_two_by_two_matches_hand_computation(score, expected_scores):
    layer = layers.LuongAttention(score=score)
    query = np.array([[[1.0, 2.0]]], "float32")
    value = np.array([[[1.0, 0.0], [0.0, 1.0]]], "float32")
    layer(query, value)
    if score == "general":
        paper_w = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
        layer.kernel.assign(paper_w.T)  # stored as Wᵀ (Dk, Dq)
    expected = numpy_softmax(np.array(expected_scores), True)
    context, weights = layer(query, value, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(weights)[0, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(context)[0, 0], expected @ value[0], rtol=1e-5)


def test_luong_concat_two_by_two_matches_hand_computation():
    layer = layers.LuongAttention(score="concat", units=2, use_scale=True)
    query = np.array([[[1.0, 2.0]]], "float32")
    value = np.array([[[1.0, 0.0], [0.0, 1.0]]], "float32")
    layer(query, value)
    w = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]], "float32")  # (Dq + Dk, U)
    v = np.array([1.0, -1.0], "float32")
    layer.kernel.assign(w)
    layer.score_vector.assign(v)
    layer.scale.assign(3.0)
    scores = np.array([3.0 * v @ np.tanh(np.concatenate([query[0, 0], k]) @ w) for k in value[0]])
    weights = layer(query, value, return_attention_scores=True)[1]
    np.testing.assert_allclose(np.asarray(weights)[0, 0], numpy_softmax(scores, True), rtol=1e-5)


# -- masking --------------------------------------------------------------------------------------


def test_masked_keys_get_exactly_zero_and_rows_sum_to_one(variant):
    query, value, query_mask, value_mask = make_inputs()
    layer = VARIANTS[variant]()
    context, weights = layer(
        query, value, query_mask=query_mask, value_mask=value_mask, return_attention_scores=True
    )
    weights = np.asarray(weights)
    assert weights.shape == (B, TQ, TV)
    assert np.all(weights[~np.broadcast_to(value_mask[:, None, :], weights.shape)] == 0.0)
    row_sums = weights.sum(-1)
    np.testing.assert_allclose(row_sums[query_mask], 1.0, atol=1e-6)
    # Padded queries: zero weights and zero context.
    assert np.all(weights[~query_mask] == 0.0)
    assert np.all(np.asarray(context)[~query_mask] == 0.0)


def test_fully_masked_row_is_zero_and_finite(variant):
    query, value, _, value_mask = make_inputs()
    value_mask[1, :] = False
    context, weights = VARIANTS[variant]()(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    assert np.all(np.isfinite(np.asarray(context)))
    assert np.all(np.asarray(weights)[1] == 0.0)
    assert np.all(np.asarray(context)[1] == 0.0)


def test_appending_padding_leaves_outputs_unchanged(variant):
    assert_appended_padding_changes_nothing(VARIANTS[variant](), *make_inputs())


def test_embedding_mask_equals_explicit_mask(variant):
    query, _, _, _ = make_inputs()
    tokens = np.array([[3, 1, 4, 1, 0, 0], [5, 0, 0, 0, 0, 0], [9, 2, 6, 5, 3, 5]], "int32")
    query_input = keras.Input((TQ, D))
    token_input = keras.Input((TV,), dtype="int32")
    embedding = keras.layers.Embedding(10, D, mask_zero=True)
    attention = VARIANTS[variant]()
    embedded = embedding(token_input)
    implicit = attention(query_input, embedded)
    explicit = attention(query_input, embedded, value_mask=ops.not_equal(token_input, 0))
    model = keras.Model([query_input, token_input], [implicit, explicit])
    implicit_out, explicit_out = model.predict([query, tokens], verbose=0)
    np.testing.assert_array_equal(implicit_out, explicit_out)
    # ...and the mask really was applied: no mask at all gives something else.
    unmasked = np.asarray(attention(query, embedding(tokens), value_mask=np.ones((B, TV), bool)))
    assert np.abs(unmasked - implicit_out).max() > 1e-4


def test_gradients_are_finite_and_zero_for_padding(variant):
    query, value, query_mask, value_mask = make_inputs()
    value_mask[2, :] = False  # a fully masked row too
    layer = built_layer(variant)

    def loss(query, value):
        context = layer(query, value, query_mask=query_mask, value_mask=value_mask)
        return ops.sum(context**2)

    query_grad, value_grad = gradients(loss, query, value)
    assert np.all(np.isfinite(query_grad)) and np.all(np.isfinite(value_grad))
    assert np.all(value_grad[~value_mask] == 0.0)
    assert np.all(query_grad[~query_mask] == 0.0)
    assert np.abs(value_grad[value_mask]).max() > 0


def test_single_step_query_equals_sequence_row(variant):
    query, value, _, value_mask = make_inputs()
    layer = VARIANTS[variant]()
    context, weights = layer(query, value, value_mask=value_mask, return_attention_scores=True)
    step_context, step_weights = layer(
        query[:, 2], value, value_mask=value_mask, return_attention_scores=True
    )
    assert step_context.shape == (B, D) and step_weights.shape == (B, TV)
    np.testing.assert_allclose(step_context, np.asarray(context)[:, 2], atol=1e-6)
    np.testing.assert_allclose(step_weights, np.asarray(weights)[:, 2], atol=1e-6)


def test_separate_key_is_used_for_scores_only(variant):
    query, value, _, value_mask = make_inputs()
    key = np.random.default_rng(3).normal(size=(B, TV, D)).astype("float32")
    layer = VARIANTS[variant]()
    _, weights = layer(query, value, key=key, value_mask=value_mask, return_attention_scores=True)
    context = layer(query, 2 * value, key=key, value_mask=value_mask)
    np.testing.assert_allclose(context, np.asarray(weights) @ (2 * value), atol=1e-5)


def test_mixed_float16_is_finite_and_close_to_float32(variant):
    query, value, query_mask, value_mask = make_inputs()
    value_mask[1, :] = False
    reference = built_layer(variant)
    mixed = VARIANTS[variant]()
    mixed.dtype_policy = keras.DTypePolicy("mixed_float16")
    mixed(query, value)
    mixed.set_weights(reference.get_weights())
    expected = reference(query, value, query_mask=query_mask, value_mask=value_mask)
    context, weights = mixed(
        query, value, query_mask=query_mask, value_mask=value_mask, return_attention_scores=True
    )
    assert context.dtype == "float16" or "float16" in str(context.dtype)
    context = np.asarray(context, "float32")
    assert np.all(np.isfinite(context))
    assert np.all(np.asarray(weights)[1] == 0)
    np.testing.assert_allclose(context, expected, atol=2e-2)


# -- numerics: scores beyond any replacement value, float16 overflow ------------------------------
#
# Scores of ±6.4e9 (dot, general) or ±1e10 (concat, Bahdanau with a large score vector) lie far
# below any fixed "masked score" such as -1e9: with masking by replacement the padded key wins and
# the masked row comes out all zeros instead of [0.5, 0.5, 0].

WIDE = 64  # D of the reported cases
SATURATED_UNITS = 4
NUMERIC_VARIANTS = {
    "bahdanau": lambda dtype: layers.BahdanauAttention(units=SATURATED_UNITS, dtype=dtype),
    "luong_dot": lambda dtype: layers.LuongAttention(score="dot", dtype=dtype),
    "luong_general": lambda dtype: layers.LuongAttention(score="general", dtype=dtype),
    "luong_concat": lambda dtype: layers.LuongAttention(
        score="concat", units=SATURATED_UNITS, dtype=dtype
    ),
}
NUMERIC_DTYPES = ("float32", "bfloat16", "mixed_bfloat16", "mixed_float16")


def far_apart_case():
    """q = 1e4·1, keys = values = (-1e4·1, -1e4·1, 1e4·1), the last key padded."""
    query = np.full((1, 1, WIDE), 1e4, "float32")  # (B, Tq, D)
    value = np.stack([np.full(WIDE, sign * 1e4, "float32") for sign in (-1, -1, 1)])[None]
    value_mask = np.array([[True, True, False]])  # (B, Tv)
    return query, value, value_mask


def set_huge_score_weights(variant, layer):
    """Weights that make the valid scores of `far_apart_case` about -6.4e9 or -1e10."""
    key_to_units = np.eye(WIDE, SATURATED_UNITS, dtype="float32")  # tanh(W_k k) = ∓1
    huge_vector = np.full(SATURATED_UNITS, 1e10 / SATURATED_UNITS, "float32")
    if variant == "bahdanau":
        layer.query_kernel.assign(np.zeros((WIDE, SATURATED_UNITS), "float32"))
        layer.key_kernel.assign(key_to_units)
        layer.score_vector.assign(huge_vector)
    elif variant == "luong_general":
        layer.kernel.assign(np.eye(WIDE, dtype="float32"))  # scores = q·k = ±6.4e9
    elif variant == "luong_concat":
        layer.kernel.assign(
            np.concatenate([np.zeros((WIDE, SATURATED_UNITS), "float32"), key_to_units])
        )
        layer.score_vector.assign(huge_vector)


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
@pytest.mark.parametrize("variant_name", sorted(NUMERIC_VARIANTS))
def test_padded_key_never_wins_against_very_negative_scores(variant_name, dtype):
    query, value, value_mask = far_apart_case()
    layer = NUMERIC_VARIANTS[variant_name](dtype)
    layer(query, value)
    set_huge_score_weights(variant_name, layer)
    context, weights = layer(query, value, value_mask=value_mask, return_attention_scores=True)
    np.testing.assert_array_equal(np.asarray(weights, "float32")[0, 0], [0.5, 0.5, 0.0])
    context = np.asarray(context, "float32")
    assert np.all(np.isfinite(context))
    np.testing.assert_allclose(context[0, 0], np.full(WIDE, -1e4), rtol=1e-2)
    # A row without any valid key stays exactly zero, however large the scores.
    context, weights = layer(
        query, value, value_mask=np.zeros_like(value_mask), return_attention_scores=True
    )
    assert np.all(np.asarray(weights, "float32") == 0.0)
    assert np.all(np.asarray(context, "float32") == 0.0)


@pytest.mark.parametrize("dtype", ("float32", "bfloat16"))
@pytest.mark.parametrize("variant_name", sorted(NUMERIC_VARIANTS))
def test_gradients_finite_and_zero_for_padding_with_very_negative_scores(variant_name, dtype):
    query, value, value_mask = far_apart_case()
    layer = NUMERIC_VARIANTS[variant_name](dtype)
    layer(query, value)
    set_huge_score_weights(variant_name, layer)

    def loss(query, value):
        context = layer(query, value, value_mask=value_mask)
        return ops.sum(ops.cast(context, "float32")) * 1e-4

    query_grad, value_grad = gradients(loss, query, value)
    assert np.all(np.isfinite(query_grad)) and np.all(np.isfinite(value_grad))
    assert np.all(value_grad[~value_mask] == 0.0)
    # Each valid value gets weight 0.5 (times the loss scale).
    np.testing.assert_allclose(value_grad[value_mask], 0.5e-4, rtol=1e-2)


def reference_scores(variant, weights, query, key):
    """float64 numpy scores (B, Tq, Tv) with the layer's weights (`get_weights()` order)."""
    weights = [np.asarray(w, "float64") for w in weights]
    if variant == "luong_dot":
        return query @ key.transpose(0, 2, 1)
    if variant == "luong_general":
        (kernel,) = weights  # (Dk, Dq) = Wᵀ
        return query @ (key @ kernel).transpose(0, 2, 1)
    if variant == "luong_concat":
        kernel, score_vector = weights  # (Dq + Dk, U), (U,)
        query_part, key_part = query @ kernel[: query.shape[-1]], key @ kernel[query.shape[-1] :]
    else:
        query_kernel, key_kernel, score_vector = weights
        query_part, key_part = query @ query_kernel, key @ key_kernel
    return np.tanh(query_part[:, :, None] + key_part[:, None]) @ score_vector


def reference_attention(scores, value, value_mask, query_mask):
    """float64 masked softmax and context: (context (B, Tq, Dv), weights (B, Tq, Tv))."""
    valid = np.broadcast_to(value_mask[:, None, :], scores.shape)
    shifted = np.where(valid, scores, -np.inf)
    row_max = np.where(valid.any(-1, keepdims=True), shifted.max(-1, keepdims=True), 0.0)
    exponentials = np.where(valid, np.exp(np.where(valid, scores - row_max, 0.0)), 0.0)
    denominator = exponentials.sum(-1, keepdims=True)
    weights = exponentials / np.where(denominator > 0, denominator, 1.0)
    weights = weights * query_mask[:, :, None]
    return weights @ value, weights


@pytest.mark.parametrize("variant_name", sorted(NUMERIC_VARIANTS))
def test_mixed_float16_large_inputs_match_float64_reference(variant_name):
    # The reported case: N(0, 100²) inputs at D = 64 made float16 dot/general scores overflow
    # (23 of 120 weights NaN). B·Tq·Tv = 4·5·6 = 120 weights.
    rng = np.random.default_rng(11)
    batch, query_time, value_time = 4, 5, 6
    query = rng.normal(0, 100, size=(batch, query_time, WIDE)).astype("float32")
    value = rng.normal(0, 100, size=(batch, value_time, WIDE)).astype("float32")
    value_mask = np.ones((batch, value_time), bool)
    value_mask[0, 4:] = False
    value_mask[1, 1:] = False
    value_mask[3, :] = False  # a fully masked row
    query_mask = np.ones((batch, query_time), bool)
    query_mask[2, 3:] = False
    layer = NUMERIC_VARIANTS[variant_name]("mixed_float16")
    context, weights = layer(
        query, value, query_mask=query_mask, value_mask=value_mask, return_attention_scores=True
    )
    assert "float16" in str(context.dtype) and "float16" in str(weights.dtype)
    context, weights = np.asarray(context, "float64"), np.asarray(weights, "float64")
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(context))
    # The layer computes on its float16 inputs (mixed precision casts them on entry) with its
    # float32 weights; the reference does the same in float64.
    query16 = query.astype("float16").astype("float64")
    value16 = value.astype("float16").astype("float64")
    scores = reference_scores(variant_name, layer.get_weights(), query16, value16)
    expected_context, expected_weights = reference_attention(
        scores, value16, value_mask, query_mask
    )
    # Tolerances: the one float16 rounding of the returned weights (half an ulp below 1:
    # ≤ 2.4e-4) and contexts (relative ≤ 4.9e-4) on top of float32 scores. Scores computed in
    # float16 are off by up to ~1e-3 in the weights and ~0.3 in the contexts even where they do
    # not overflow (Bahdanau, concat).
    np.testing.assert_allclose(weights, expected_weights, rtol=0, atol=3e-4)
    np.testing.assert_allclose(context, expected_context, rtol=1e-3, atol=1e-2)
    padded_keys = ~np.broadcast_to(value_mask[:, None, :], weights.shape)
    assert np.all(weights[padded_keys] == 0.0)
    valid_rows = query_mask & value_mask.any(-1)[:, None]  # (B, Tq)
    np.testing.assert_allclose(weights.sum(-1)[valid_rows], 1.0, atol=3e-3)
    assert np.all(weights[3] == 0.0) and np.all(context[~query_mask] == 0.0)


# -- Keras integration ----------------------------------------------------------------------------


def test_config_and_json_round_trip(variant):
    layer = VARIANTS[variant]()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = json.dumps(keras.saving.serialize_keras_object(layer))
    restored = keras.saving.deserialize_keras_object(json.loads(serialized))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_symbolic_output_specs_for_both_return_structures(variant):
    query = keras.Input((None, D))
    step_query = keras.Input((D,))
    value = keras.Input((None, D))
    layer = VARIANTS[variant]()
    context = layer(query, value)
    assert tuple(context.shape) == (None, None, D)
    context, weights = layer(step_query, value, return_attention_scores=True)
    assert tuple(context.shape) == (None, D) and tuple(weights.shape) == (None, None)


def _attention_model(variant):
    query = keras.Input((TQ, D))
    value = keras.Input((TV, D))
    value_mask = keras.Input((TV,), dtype="bool")
    context = VARIANTS[variant]()(query, value, value_mask=value_mask)
    outputs = keras.layers.Dense(2)(context)
    return keras.Model([query, value, value_mask], outputs)


def test_fit_step_and_keras_file_round_trip(variant, tmp_path):
    query, value, _, value_mask = make_inputs()
    model = _attention_model(variant)
    model.compile(optimizer="adam", loss="mse")
    targets = np.ones((B, TQ, 2), "float32")
    before = model.predict([query, value, value_mask], verbose=0)
    history = model.fit([query, value, value_mask], targets, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    after = model.predict([query, value, value_mask], verbose=0)
    assert np.abs(after - before).max() > 0  # the step really changed the weights
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored.predict([query, value, value_mask], verbose=0), after)


@pytest.mark.parametrize(
    "factory, message",
    [
        (
            lambda: layers.BahdanauAttention(units=0),
            r"`units` must be a positive int; received units=0",
        ),
        (
            lambda: layers.BahdanauAttention(units=4, dropout=1.5),
            r"`dropout` must be a float in \[0, 1\); received dropout=1.5",
        ),
        (
            lambda: layers.LuongAttention(score="cosine"),
            r"`score` must be one of 'dot', 'general', 'concat'; received score='cosine'",
        ),
        (
            lambda: layers.LuongAttention(score="concat"),
            r"score='concat' needs `units`.*received units=None",
        ),
        (
            lambda: layers.LuongAttention(score="dot", units=8),
            r"`units` is only used by score='concat'; received units=8",
        ),
    ],
)
def test_invalid_constructor_arguments_fail_clearly(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_wrong_shapes_fail_clearly():
    with pytest.raises(
        ValueError,
        match=r"score='dot' needs query and key of the same width; received query width 4 and key width 6",
    ):
        layers.LuongAttention(score="dot")(np.zeros((1, 2, 4)), np.zeros((1, 3, 6)))
    with pytest.raises(
        ValueError,
        match=r"`value` must have shape \(batch, time, features\); received a tensor of shape \(1, 3\)",
    ):
        layers.BahdanauAttention(4)(np.zeros((1, 2, 4)), np.zeros((1, 3)))
    with pytest.raises(
        ValueError, match=r"`query` must have shape .*received a tensor of shape \(1, 2, 3, 4\)"
    ):
        layers.BahdanauAttention(4)(np.zeros((1, 2, 3, 4)), np.zeros((1, 3, 4)))
