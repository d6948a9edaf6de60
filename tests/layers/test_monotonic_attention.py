"""BahdanauMonotonicAttention and LuongMonotonicAttention: a sequential NumPy reference of
Raffel et al.'s recurrence, masking proofs, modes, noise and Keras integration."""

from __future__ import annotations

import doctest
import json

import keras
import numpy as np
import pytest
from keras import ops

from kerattn import layers
from kerattn.layers import monotonic_attention
from tests.conftest import gradients
from tests.layers.padding_invariance import assert_appended_padding_changes_nothing

VARIANTS = {
    "bahdanau": lambda **kw: layers.BahdanauMonotonicAttention(units=5, **kw),
    "bahdanau_normalized": lambda **kw: layers.BahdanauMonotonicAttention(
        units=5, use_bias=True, normalize=True, **kw
    ),
    "luong_dot": lambda **kw: layers.LuongMonotonicAttention(score="dot", **kw),
    "luong_general": lambda **kw: layers.LuongMonotonicAttention(score="general", **kw),
}
B, TQ, TV, D = 3, 4, 6, 4


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    value_mask = np.ones((B, TV), bool)
    value_mask[0, 4:] = False
    value_mask[1, 2:] = False
    query_mask = np.ones((B, TQ), bool)
    query_mask[2, 3:] = False
    return query, value, query_mask, value_mask


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return request.param


# -- the reference: Raffel et al.'s recurrence, one entry at a time -------------------------------


def reference_alignments(p, initial=None, hard=False):
    """float64 alignments (Tq, Tv) for choosing probabilities p (Tq, Tv), by the definition
    α_ij = p_ij Σ_{k≤j} α_{i-1,k} Π_{l=k}^{j-1} (1 - p_il) (soft) or by the hard process: from
    the previously attended entry on, attend to the first entry with p = 1 (or to nothing)."""
    query_time, value_time = p.shape
    previous = np.eye(1, value_time)[0] if initial is None else initial
    alignments = np.zeros((query_time, value_time))
    for i in range(query_time):
        for j in range(value_time):
            if hard:
                start = int(np.argmax(previous)) if previous.any() else value_time
                chosen = [k for k in range(start, value_time) if p[i, k] == 1]
                alignments[i, j] = float(bool(chosen) and chosen[0] == j)
            else:
                total = 0.0
                for k in range(j + 1):
                    total += previous[k] * np.prod(1 - p[i, k:j])
                alignments[i, j] = p[i, j] * total
        previous = alignments[i]
    return alignments


def layer_energies(variant, layer, query, value):
    """float64 energies (B, Tq, Tv) with the layer's weights, r included."""
    weights = {w.name: np.asarray(w, "float64") for w in layer.weights}
    query, value = query.astype("float64"), value.astype("float64")
    if variant.startswith("luong"):
        key = value @ weights["kernel"] if "kernel" in weights else value
        energies = query @ key.transpose(0, 2, 1)
    else:
        vector = weights["score_vector"]
        if "score_gain" in weights:
            vector = weights["score_gain"] * vector / np.linalg.norm(vector)
        hidden = (query @ weights["query_kernel"])[:, :, None] + (value @ weights["key_kernel"])[
            :, None
        ]
        if "bias" in weights:
            hidden = hidden + weights["bias"]
        energies = np.tanh(hidden) @ vector
    return energies + weights["score_bias"]


@pytest.mark.parametrize("mode", ["parallel", "recursive"])
def test_matches_sequential_numpy_reference_on_random_inputs(variant, mode):
    query, value, query_mask, value_mask = make_inputs(seed=3)
    layer = VARIANTS[variant](mode=mode, score_bias_init=0.5)
    context, weights = layer(
        query, value, query_mask=query_mask, value_mask=value_mask, return_attention_scores=True
    )
    energies = layer_energies(variant, layer, query, value)
    for b in range(B):
        # The reference sees only the real entries and the real queries: no padding at all.
        real_queries, real_values = query_mask[b], value_mask[b]
        p = 1 / (1 + np.exp(-energies[b][real_queries][:, real_values]))
        expected = reference_alignments(p)
        np.testing.assert_allclose(
            np.asarray(weights)[b][real_queries][:, real_values], expected, atol=2e-6
        )
        np.testing.assert_allclose(
            np.asarray(context)[b][real_queries],
            expected @ value[b][real_values].astype("float64"),
            atol=1e-5,
        )


def test_hard_mode_matches_reference_at_inference_and_trains_on_the_expected_alignment(variant):
    query, value, _, value_mask = make_inputs(seed=4)
    hard = VARIANTS[variant](mode="hard")
    soft = VARIANTS[variant]()
    hard(query, value)
    soft(query, value)
    soft.set_weights(hard.get_weights())
    weights = np.asarray(hard(query, value, value_mask=value_mask, return_attention_scores=True)[1])
    energies = layer_energies(variant, hard, query, value)
    for b in range(B):
        p = (energies[b][:, value_mask[b]] > 0).astype("float64")
        np.testing.assert_array_equal(
            weights[b][:, value_mask[b]], reference_alignments(p, hard=True)
        )
    assert set(np.unique(weights)) <= {0.0, 1.0}
    np.testing.assert_array_equal(
        hard(query, value, value_mask=value_mask, training=True),
        soft(query, value, value_mask=value_mask, training=True),
    )


def test_two_by_two_matches_hand_computation():
    # Zero queries give zero dot energies, r = 0: p = 1/2 everywhere.
    # α_1 = [1/2, 1/2 · 1/2] = [0.5, 0.25]; α_2 = [0.5 · 0.5, 0.5 · (0.5 · 0.5 + 0.25)] = [0.25, 0.25].
    layer = layers.LuongMonotonicAttention(score="dot")
    query = np.zeros((1, 2, 2), "float32")
    value = np.array([[[1.0, 2.0], [3.0, -1.0]]], "float32")
    context, weights = layer(query, value, return_attention_scores=True)
    expected = np.array([[0.5, 0.25], [0.25, 0.25]])
    np.testing.assert_allclose(np.asarray(weights)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(context)[0], expected @ value[0], rtol=1e-6)


@pytest.mark.parametrize("mode", ["parallel", "recursive", "hard"])
def test_alignment_function_on_saturated_probabilities(mode):
    # p = 1 exactly (1 - p = 0: the log-space cumprod must not give NaN) and p = 0.
    p = np.array([[0.0, 1.0, 1.0, 0.0], [0.3, 0.0, 1.0, 0.6]], "float32")
    if mode == "hard":
        p = (p == 1).astype("float32")
    previous = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], "float32")
    alignment = np.asarray(monotonic_attention.monotonic_alignment(p, previous, mode))
    assert np.all(np.isfinite(alignment))
    expected = [
        reference_alignments(p[b : b + 1].astype("float64"), previous[b], hard=mode == "hard")[0]
        for b in range(2)
    ]
    np.testing.assert_allclose(alignment, np.stack(expected), atol=1e-6)


# -- masking ----------------------------------------------------------------------------------------


def test_padded_memory_gets_exactly_zero_and_rows_sum_to_at_most_one(variant):
    query, value, query_mask, value_mask = make_inputs()
    context, weights = VARIANTS[variant]()(
        query, value, query_mask=query_mask, value_mask=value_mask, return_attention_scores=True
    )
    weights = np.asarray(weights)
    assert weights.shape == (B, TQ, TV)
    assert np.all(weights[~np.broadcast_to(value_mask[:, None, :], weights.shape)] == 0.0)
    assert np.all(weights >= 0) and np.all(weights.sum(-1) <= 1 + 1e-6)
    assert np.all(weights[~query_mask] == 0.0)
    assert np.all(np.asarray(context)[~query_mask] == 0.0)


def test_appending_padding_leaves_outputs_unchanged(variant):
    assert_appended_padding_changes_nothing(VARIANTS[variant](), *make_inputs())


def test_padding_anywhere_is_skipped_and_padded_queries_carry_the_alignment(variant):
    query, value, _, _ = make_inputs()
    layer = VARIANTS[variant]()
    context, weights = layer(query, value, return_attention_scores=True)
    rng = np.random.default_rng(8)
    # Padding before, between and after the real memory entries, and padded queries between
    # the real ones: the real rows must not notice any of it.
    value_positions = [1, 2, 4, 5, 6, 8]  # of 10
    query_positions = [0, 2, 3, 6]  # of 7
    padded_value = (100 * rng.normal(size=(B, 10, D))).astype("float32")
    padded_value[:, value_positions] = value
    padded_query = (100 * rng.normal(size=(B, 7, D))).astype("float32")
    padded_query[:, query_positions] = query
    value_mask = np.isin(np.arange(10), value_positions)[None].repeat(B, 0)
    query_mask = np.isin(np.arange(7), query_positions)[None].repeat(B, 0)
    padded_context, padded_weights = layer(
        padded_query,
        padded_value,
        query_mask=query_mask,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    padded_weights = np.asarray(padded_weights)
    np.testing.assert_allclose(
        padded_weights[:, query_positions][:, :, value_positions], weights, atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(
        np.asarray(padded_context)[:, query_positions], context, atol=1e-6, rtol=0
    )
    assert np.all(padded_weights[:, :, ~value_mask[0]] == 0.0)
    assert np.all(padded_weights[:, ~query_mask[0]] == 0.0)


def test_initial_alignment_is_the_first_real_position():
    layer = layers.BahdanauMonotonicAttention(4)
    mask = np.array([[True, True, False], [False, True, True], [False, False, False]])
    np.testing.assert_array_equal(
        layer.initial_alignment(value_mask=mask), [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(layer.initial_alignment(np.zeros((2, 3, 5))), [[1, 0, 0]] * 2)


def test_fully_masked_row_is_zero_and_finite(variant):
    query, value, _, value_mask = make_inputs()
    value_mask[1, :] = False
    context, weights = VARIANTS[variant]()(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    assert np.all(np.isfinite(np.asarray(context)))
    assert np.all(np.asarray(weights)[1] == 0.0) and np.all(np.asarray(context)[1] == 0.0)


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
    unmasked = np.asarray(attention(query, embedding(tokens), value_mask=np.ones((B, TV), bool)))
    assert np.abs(unmasked - implicit_out).max() > 1e-4


def test_gradients_are_finite_and_zero_for_padding(variant):
    query, value, query_mask, value_mask = make_inputs()
    value_mask[2, :] = False  # a fully masked row too
    layer = VARIANTS[variant]()
    layer(query, value)

    def loss(query, value):
        context = layer(query, value, query_mask=query_mask, value_mask=value_mask)
        return ops.sum(context**2)

    query_grad, value_grad = gradients(loss, query, value)
    assert np.all(np.isfinite(query_grad)) and np.all(np.isfinite(value_grad))
    assert np.all(value_grad[~value_mask] == 0.0)
    assert np.all(query_grad[~query_mask] == 0.0)
    assert np.abs(value_grad[value_mask]).max() > 0


# -- steps, noise, precision -------------------------------------------------------------------------


def test_chained_single_steps_equal_the_sequence(variant):
    query, value, _, value_mask = make_inputs()
    layer = VARIANTS[variant]()
    context, weights = layer(query, value, value_mask=value_mask, return_attention_scores=True)
    alignment = None
    for i in range(TQ):
        step_context, alignment = layer(
            query[:, i],
            value,
            value_mask=value_mask,
            previous_alignment=alignment,
            return_attention_scores=True,
        )
        assert step_context.shape == (B, D) and alignment.shape == (B, TV)
        np.testing.assert_allclose(step_context, np.asarray(context)[:, i], atol=1e-6)
        np.testing.assert_allclose(alignment, np.asarray(weights)[:, i], atol=1e-6)


def test_sigmoid_noise_applies_in_training_only():
    query, value, _, value_mask = make_inputs()
    noisy = layers.BahdanauMonotonicAttention(5, sigmoid_noise=1.0, seed=3)
    clean = layers.BahdanauMonotonicAttention(5)
    noisy(query, value)
    clean(query, value)
    clean.set_weights(noisy.get_weights())
    np.testing.assert_array_equal(
        noisy(query, value, value_mask=value_mask), clean(query, value, value_mask=value_mask)
    )
    first = np.asarray(noisy(query, value, value_mask=value_mask, training=True))
    second = np.asarray(noisy(query, value, value_mask=value_mask, training=True))
    assert np.abs(first - second).max() > 1e-4
    _, weights = noisy(
        query, value, value_mask=value_mask, training=True, return_attention_scores=True
    )
    assert np.all(np.asarray(weights)[~np.broadcast_to(value_mask[:, None], weights.shape)] == 0)


def test_mixed_float16_is_finite_and_close_to_float32(variant):
    query, value, query_mask, value_mask = make_inputs()
    value_mask[1, :] = False
    reference = VARIANTS[variant]()
    reference(query, value)
    mixed = VARIANTS[variant](dtype="mixed_float16")
    mixed(query, value)
    mixed.set_weights(reference.get_weights())
    expected = reference(query, value, query_mask=query_mask, value_mask=value_mask)
    context, weights = mixed(
        query * 30,
        value * 30,
        query_mask=query_mask,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    assert "float16" in str(context.dtype) and "float16" in str(weights.dtype)
    assert np.all(np.isfinite(np.asarray(context, "float32")))
    assert np.all(np.asarray(weights, "float32")[1] == 0)
    context = mixed(query, value, query_mask=query_mask, value_mask=value_mask)
    np.testing.assert_allclose(np.asarray(context, "float32"), expected, atol=2e-2)


# -- Keras integration ----------------------------------------------------------------------------


def test_config_and_json_round_trip(variant):
    layer = VARIANTS[variant](sigmoid_noise=0.5, score_bias_init=-4.0, mode="hard", seed=1)
    config = layer.get_config()
    assert {k: config[k] for k in ("sigmoid_noise", "score_bias_init", "mode")} == {
        "sigmoid_noise": 0.5,
        "score_bias_init": -4.0,
        "mode": "hard",
    }
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = json.dumps(keras.saving.serialize_keras_object(layer))
    restored = keras.saving.deserialize_keras_object(json.loads(serialized))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_score_bias_starts_at_score_bias_init():
    layer = layers.LuongMonotonicAttention(score_bias_init=-4.0)
    layer(np.zeros((1, 2, 3), "float32"), np.zeros((1, 4, 3), "float32"))
    assert float(np.asarray(layer.score_bias)) == -4.0


def test_symbolic_output_specs_for_both_return_structures(variant):
    query, step_query, value = keras.Input((None, D)), keras.Input((D,)), keras.Input((None, D))
    layer = VARIANTS[variant]()
    assert tuple(layer(query, value).shape) == (None, None, D)
    context, weights = layer(step_query, value, return_attention_scores=True)
    assert tuple(context.shape) == (None, D) and tuple(weights.shape) == (None, None)


def test_fit_step_and_keras_file_round_trip(variant, tmp_path):
    query, value, _, value_mask = make_inputs()
    query_input, value_input = keras.Input((TQ, D)), keras.Input((TV, D))
    mask_input = keras.Input((TV,), dtype="bool")
    context = VARIANTS[variant](sigmoid_noise=1.0, seed=2)(
        query_input, value_input, value_mask=mask_input
    )
    model = keras.Model([query_input, value_input, mask_input], keras.layers.Dense(2)(context))
    model.compile(optimizer="adam", loss="mse")
    before = model.predict([query, value, value_mask], verbose=0)
    history = model.fit([query, value, value_mask], np.ones((B, TQ, 2)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    after = model.predict([query, value, value_mask], verbose=0)
    assert np.abs(after - before).max() > 0
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(restored.predict([query, value, value_mask], verbose=0), after)


@pytest.mark.parametrize(
    "factory, message",
    [
        (
            lambda: layers.BahdanauMonotonicAttention(4, mode="soft"),
            r"`mode` must be one of 'parallel', 'recursive', 'hard'; received mode='soft'",
        ),
        (
            lambda: layers.LuongMonotonicAttention(sigmoid_noise=-1.0),
            r"`sigmoid_noise` must be a float ≥ 0; received sigmoid_noise=-1.0",
        ),
        (
            lambda: layers.LuongMonotonicAttention(score_bias_init="low"),
            r"`score_bias_init` must be a float; received score_bias_init='low'",
        ),
        (
            lambda: layers.LuongMonotonicAttention(score="cosine"),
            r"`score` must be one of 'dot', 'general', 'concat'; received score='cosine'",
        ),
        (
            lambda: layers.BahdanauMonotonicAttention(0),
            r"`units` must be a positive int; received units=0",
        ),
    ],
)
def test_invalid_constructor_arguments_fail_clearly(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize(
    "layer_class", [layers.BahdanauMonotonicAttention, layers.LuongMonotonicAttention]
)
def test_docstring_example_runs(layer_class):
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(layer_class, globs={"np": np, layer_class.__name__: layer_class})
    assert test.examples
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.failed == 0
