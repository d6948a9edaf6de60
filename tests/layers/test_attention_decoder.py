"""AttentionDecoder: styles, the step API, masking, gradients and Keras integration."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import ops

from kerattn import layers
from tests.conftest import gradients
from tests.layers import layer_gradients

B, T, S, E, DM, UNITS = 3, 5, 6, 4, 8, 8

MODES = {
    "bahdanau": dict(attention="bahdanau", attention_units=5),
    "luong_dot": dict(attention="luong_dot"),
    "luong_general": dict(attention="luong_general"),
    "luong_concat": dict(attention="luong_concat", attention_units=5),
    "luong_general_no_feeding": dict(attention="luong_general", input_feeding=False),
    "none": dict(attention="none"),
    "bahdanau_monotonic": dict(attention="bahdanau_monotonic", attention_units=5),
    "luong_monotonic": dict(attention="luong_monotonic"),
    "luong_monotonic_no_feeding": dict(attention="luong_monotonic", input_feeding=False),
}
MONOTONIC = ("bahdanau_monotonic", "luong_monotonic", "luong_monotonic_no_feeding")


@pytest.fixture(params=sorted(MODES))
def mode(request):
    return request.param


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(B, T, E)).astype("float32")
    memory = rng.normal(size=(B, S, DM)).astype("float32")
    state = [rng.normal(size=(B, UNITS)).astype("float32") for _ in range(2)]
    target_mask = np.ones((B, T), bool)
    target_mask[0, 3:] = False
    memory_mask = np.ones((B, S), bool)
    memory_mask[0, 2:] = False
    memory_mask[2, 4:] = False
    return target, memory, state, target_mask, memory_mask


def decode(decoder, target, memory, state, target_mask, memory_mask):
    return decoder(
        target,
        memory,
        initial_state=state,
        target_mask=target_mask,
        memory_mask=memory_mask,
        return_attention_scores=True,
    )


def test_sequence_call_equals_running_the_step_api(mode):
    decoder = layers.AttentionDecoder(UNITS, **MODES[mode])
    target, memory, state, _, memory_mask = make_inputs()
    outputs, weights = decode(decoder, target, memory, state, None, memory_mask)
    projected = decoder.prepare_memory(memory)
    states = decoder.get_initial_state(B, state, memory, memory_mask)
    for t in range(T):
        step_output, states, step_weights = decoder.step(
            target[:, t], states, memory, projected, memory_mask
        )
        np.testing.assert_allclose(step_output, np.asarray(outputs)[:, t], atol=1e-5)
        np.testing.assert_allclose(step_weights, np.asarray(weights)[:, t], atol=1e-6)


def test_attention_weights_are_masked_distributions(mode):
    decoder = layers.AttentionDecoder(UNITS, **MODES[mode])
    target, memory, state, target_mask, memory_mask = make_inputs()
    outputs, weights = decode(decoder, target, memory, state, target_mask, memory_mask)
    weights = np.asarray(weights)
    assert outputs.shape == (B, T, UNITS) and weights.shape == (B, T, S)
    assert np.all(weights[~np.broadcast_to(memory_mask[:, None], weights.shape)] == 0)
    assert np.all(weights[~target_mask] == 0) and np.all(np.asarray(outputs)[~target_mask] == 0)
    if mode in MONOTONIC:
        # The mass that has moved past the last source position is lost.
        row_sums = weights.sum(-1)[target_mask]
        assert np.all(row_sums <= 1 + 1e-6) and np.all(row_sums > 0)
    else:
        expected_sum = 0.0 if mode == "none" else 1.0
        np.testing.assert_allclose(weights.sum(-1)[target_mask], expected_sum, atol=1e-6)


def test_appending_source_and_target_padding_leaves_outputs_unchanged(mode):
    decoder = layers.AttentionDecoder(UNITS, **MODES[mode])
    target, memory, state, target_mask, memory_mask = make_inputs()
    outputs, weights = decode(decoder, target, memory, state, target_mask, memory_mask)
    rng = np.random.default_rng(5)
    padded_outputs, padded_weights = decode(
        decoder,
        np.concatenate([target, 10 * rng.normal(size=(B, 2, E))], 1).astype("float32"),
        np.concatenate([memory, 10 * rng.normal(size=(B, 3, DM))], 1).astype("float32"),
        state,
        np.concatenate([target_mask, np.zeros((B, 2), bool)], 1),
        np.concatenate([memory_mask, np.zeros((B, 3), bool)], 1),
    )
    np.testing.assert_allclose(np.asarray(padded_outputs)[:, :T], outputs, atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.asarray(padded_weights)[:, :T, :S], weights, atol=1e-6, rtol=0)
    assert np.all(np.asarray(padded_weights)[:, :, S:] == 0)


@pytest.mark.parametrize(
    "style, first_step_depends_on_input",
    [
        ("bahdanau", False),
        ("luong_general", True),
        ("bahdanau_monotonic", False),
        ("luong_monotonic", True),
    ],
)
def test_bahdanau_attends_from_previous_state_luong_from_current(
    style, first_step_depends_on_input
):
    decoder = layers.AttentionDecoder(UNITS, attention=style)
    target, memory, state, _, memory_mask = make_inputs()
    _, weights = decode(decoder, target, memory, state, None, memory_mask)
    changed = target.copy()
    changed[:, 0] += 1.0
    _, changed_weights = decode(decoder, changed, memory, state, None, memory_mask)
    first_step_changed = (
        np.abs(np.asarray(changed_weights)[:, 0] - np.asarray(weights)[:, 0]).max() > 1e-6
    )
    assert first_step_changed == first_step_depends_on_input
    # Either way, the second step sees the changed first input.
    assert np.abs(np.asarray(changed_weights)[:, 1] - np.asarray(weights)[:, 1]).max() > 1e-6


def test_none_baseline_feeds_the_fixed_context_and_ignores_memory():
    decoder = layers.AttentionDecoder(UNITS, attention="none")
    target, memory, state, _, _ = make_inputs()
    outputs = decoder(target, memory, initial_state=state)
    other_memory = decoder(target, memory * 3.0, initial_state=state)
    np.testing.assert_array_equal(outputs, other_memory)
    other_state = decoder(target, memory, initial_state=[state[0] + 1.0, state[1]])
    assert np.abs(np.asarray(other_state) - np.asarray(outputs))[:, -1].min() > 0


def test_target_embedding_mask_equals_explicit_mask(mode):
    tokens = np.array([[3, 1, 4, 0, 0], [5, 9, 2, 6, 5], [1, 0, 0, 0, 0]], "int32")
    token_input = keras.Input((T,), dtype="int32")
    memory_input = keras.Input((S, DM))
    state_inputs = [keras.Input((UNITS,)), keras.Input((UNITS,))]
    embedded = keras.layers.Embedding(10, E, mask_zero=True)(token_input)
    decoder = layers.AttentionDecoder(UNITS, **MODES[mode])
    implicit = decoder(embedded, memory_input, initial_state=state_inputs)
    explicit = decoder(
        embedded,
        memory_input,
        initial_state=state_inputs,
        target_mask=ops.not_equal(token_input, 0),
    )
    model = keras.Model([token_input, memory_input, *state_inputs], [implicit, explicit])
    _, memory, state, _, _ = make_inputs()
    implicit_out, explicit_out = model.predict([tokens, memory, *state], verbose=0)
    np.testing.assert_array_equal(implicit_out, explicit_out)
    assert np.all(implicit_out[2, 1:] == 0)


def test_gradients_finite_and_zero_for_padding(mode):
    decoder = layers.AttentionDecoder(UNITS, **MODES[mode])
    target, memory, state, target_mask, memory_mask = make_inputs()
    memory_mask[1, :] = False  # a sentence with no valid source position at all
    decoder(target, memory, initial_state=state)

    def loss(target, memory):
        outputs = decoder(
            target, memory, initial_state=state, target_mask=target_mask, memory_mask=memory_mask
        )
        return ops.sum(outputs**2)

    target_grad, memory_grad = gradients(loss, target, memory)
    assert np.all(np.isfinite(target_grad)) and np.all(np.isfinite(memory_grad))
    assert np.all(target_grad[~target_mask] == 0)
    assert np.all(memory_grad[~memory_mask] == 0)
    if mode != "none":
        assert np.abs(memory_grad[memory_mask]).max() > 0


def test_mixed_float16_finite(mode):
    decoder = layers.AttentionDecoder(UNITS, **MODES[mode], dtype="mixed_float16")
    target, memory, state, target_mask, memory_mask = make_inputs()
    memory_mask[1, :] = False
    outputs, weights = decode(decoder, target * 30, memory * 30, state, target_mask, memory_mask)
    assert np.all(np.isfinite(np.asarray(outputs, "float32")))
    assert np.all(np.asarray(weights, "float32")[1] == 0)


def test_config_json_fit_and_keras_file_round_trip(mode, tmp_path):
    decoder = layers.AttentionDecoder(UNITS, **MODES[mode], dropout=0.1, seed=2)
    config = decoder.get_config()
    assert layers.AttentionDecoder.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(decoder)))
    )
    assert restored.get_config() == config
    target_input, memory_input = keras.Input((None, E)), keras.Input((None, DM))
    state_inputs = [keras.Input((UNITS,)), keras.Input((UNITS,))]
    outputs, weights = decoder(
        target_input, memory_input, initial_state=state_inputs, return_attention_scores=True
    )
    assert tuple(outputs.shape) == (None, None, UNITS) and tuple(weights.shape) == (
        None,
        None,
        None,
    )
    model = keras.Model([target_input, memory_input, *state_inputs], keras.layers.Dense(3)(outputs))
    model.compile(optimizer="adam", loss="mse")
    target, memory, state, _, _ = make_inputs()
    history = model.fit([target, memory, *state], np.ones((B, T, 3)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "decoder.keras")
    reloaded = keras.saving.load_model(tmp_path / "decoder.keras")
    np.testing.assert_array_equal(
        reloaded.predict([target, memory, *state], verbose=0),
        model.predict([target, memory, *state], verbose=0),
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"attention": "multihead"},
            r"`attention` must be one of 'bahdanau', 'luong_dot', 'luong_general', 'luong_concat', 'bahdanau_monotonic', 'luong_monotonic', 'none'; received attention='multihead'",
        ),
        (
            {"attention": "luong_dot", "attention_units": 4},
            r"`attention_units` is only used by attention='bahdanau', 'luong_concat' or 'bahdanau_monotonic'",
        ),
        (
            {"attention": "bahdanau", "sigmoid_noise": 1.0},
            r"`sigmoid_noise` is only used by attention='bahdanau_monotonic' or 'luong_monotonic'; received sigmoid_noise=1.0 with attention='bahdanau'",
        ),
        (
            {"attention": "luong_monotonic", "monotonic_mode": "soft"},
            r"`monotonic_mode` must be one of 'parallel', 'recursive', 'hard'; received monotonic_mode='soft'",
        ),
        ({"units": 0}, r"`units` must be a positive int; received units=0"),
        ({"dropout": -0.1}, r"`dropout` must be a float in \[0, 1\); received dropout=-0.1"),
    ],
)
def test_invalid_arguments_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.AttentionDecoder(**{"units": UNITS, **kwargs})


def test_missing_or_wrong_initial_state_fails_clearly():
    target, memory, state, _, _ = make_inputs()
    with pytest.raises(ValueError, match=r"attention='none' needs `initial_state`"):
        layers.AttentionDecoder(UNITS, attention="none")(target, memory)
    with pytest.raises(
        ValueError,
        match=r"`initial_state` must be \[h, c\], each of shape \(batch, 8\); received shapes \[\(3, 4\), \(3, 4\)\]",
    ):
        layers.AttentionDecoder(UNITS)(target, memory, initial_state=[s[:, :4] for s in state])
    with pytest.raises(
        ValueError,
        match=r"score='dot' needs query and key of the same width; received query width 8 and key width 6",
    ):
        layers.AttentionDecoder(UNITS, attention="luong_dot")(target, memory[:, :, :6])


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_fused_lstm_equals_keras_lstm_outputs_and_gradients(mode, policy):
    keras.config.set_dtype_policy(policy)
    fused = layers.AttentionDecoder(UNITS, **MODES[mode])
    reference = layers.AttentionDecoder(UNITS, fused_lstm=False, **MODES[mode])
    target, memory, state, target_mask, memory_mask = make_inputs()
    fused.build(target.shape, memory.shape, [s.shape for s in state])
    reference.build(target.shape, memory.shape, [s.shape for s in state])
    reference.set_weights(fused.get_weights())
    rng = np.random.default_rng(4)
    loss_weights = [rng.normal(size=(B, T, UNITS)), rng.normal(size=(B, T, S))]

    def loss_of(outputs):
        return sum(ops.sum(ops.cast(o, "float32") * w) for o, w in zip(outputs, loss_weights))

    results = [
        layer_gradients.outputs_and_gradients(
            decoder,
            lambda t, m, h, c, decoder=decoder: decode(
                decoder, t, m, [h, c], target_mask, memory_mask
            ),
            [target, memory, *state],
            loss_of,
        )
        for decoder in (fused, reference)
    ]
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for actual, expected in zip(results[0][0] + results[0][1], results[1][0] + results[1][1]):
        actual, expected = actual.astype("float32"), expected.astype("float32")
        assert np.all(np.isfinite(actual))
        scale = 1 if policy == "float32" else 1 + np.max(np.abs(expected))
        np.testing.assert_allclose(actual, expected, atol=tolerance * scale, rtol=tolerance)


def test_fused_lstm_is_in_the_config_and_old_configs_load():
    decoder = layers.AttentionDecoder(UNITS, fused_lstm=False)
    assert decoder.get_config()["fused_lstm"] is False
    config = layers.AttentionDecoder(UNITS).get_config()
    del config["fused_lstm"]  # a config saved before the option existed
    assert layers.AttentionDecoder.from_config(config).fused_lstm is True
    with pytest.raises(ValueError, match="`fused_lstm` must be True or False; received"):
        layers.AttentionDecoder(UNITS, fused_lstm="yes")


# -- monotonic attention -----------------------------------------------------------------------------


def test_monotonic_state_holds_the_alignment_from_the_first_real_position():
    decoder = layers.AttentionDecoder(UNITS, attention="bahdanau_monotonic")
    target, memory, state, _, memory_mask = make_inputs()
    memory_mask[1, :2] = False  # left padding: α_0 starts on the first real position
    decoder(target, memory, initial_state=state)
    states = decoder.get_initial_state(B, state, memory_mask=memory_mask)
    assert len(states) == 3 and keras.backend.standardize_dtype(states[-1].dtype) == "float32"
    np.testing.assert_array_equal(states[-1], np.eye(S)[[0, 2, 0]])
    projected = decoder.prepare_memory(memory)
    _, new_states, weights = decoder.step(target[:, 0], states, memory, projected, memory_mask)
    np.testing.assert_array_equal(new_states[-1], weights)
    assert np.all(np.asarray(weights)[~memory_mask] == 0)
    with pytest.raises(
        ValueError,
        match=r"attention='bahdanau_monotonic' needs `memory` or `memory_mask` in `get_initial_state`",
    ):
        decoder.get_initial_state(B, state)


def test_monotonic_beam_reordering_of_the_state_is_a_row_gather():
    # Search gathers state rows from their parent hypotheses: the alignment is one more
    # (N, S) row-wise tensor, so stepping gathered states equals gathering stepped states.
    decoder = layers.AttentionDecoder(UNITS, attention="luong_monotonic")
    target, memory, state, _, memory_mask = make_inputs()
    decoder(target, memory, initial_state=state)
    projected = decoder.prepare_memory(memory)
    states = decoder.get_initial_state(B, state, memory, memory_mask)
    _, states, _ = decoder.step(target[:, 0], states, memory, projected, memory_mask)
    rows = np.array([2, 0, 0])
    gathered = [np.asarray(s)[rows] for s in states]
    _, from_gathered, weights = decoder.step(
        target[rows, 1], gathered, memory[rows], np.asarray(projected)[rows], memory_mask[rows]
    )
    _, stepped, all_weights = decoder.step(target[:, 1], states, memory, projected, memory_mask)
    for actual, expected in zip(from_gathered, stepped):
        np.testing.assert_allclose(actual, np.asarray(expected)[rows], atol=1e-6)
    np.testing.assert_allclose(weights, np.asarray(all_weights)[rows], atol=1e-6)


@pytest.mark.parametrize("fused_lstm", [True, False])
def test_monotonic_noise_only_in_training_and_hard_mode_at_inference(fused_lstm):
    target, memory, state, target_mask, memory_mask = make_inputs()
    noisy = layers.AttentionDecoder(
        UNITS,
        attention="bahdanau_monotonic",
        sigmoid_noise=1.0,
        score_bias_init=-1.0,
        seed=3,
        fused_lstm=fused_lstm,
    )
    clean = layers.AttentionDecoder(
        UNITS, attention="bahdanau_monotonic", score_bias_init=-1.0, fused_lstm=fused_lstm
    )
    hard = layers.AttentionDecoder(
        UNITS, attention="bahdanau_monotonic", monotonic_mode="hard", fused_lstm=fused_lstm
    )
    for decoder in (noisy, clean, hard):
        decoder.build(target.shape, memory.shape, [s.shape for s in state])
        decoder.set_weights(noisy.get_weights())

    def run(decoder, training):
        return (
            decode(decoder, target, memory, state, target_mask, memory_mask)
            if not training
            else (
                decoder(
                    target,
                    memory,
                    initial_state=state,
                    target_mask=target_mask,
                    memory_mask=memory_mask,
                    training=True,
                    return_attention_scores=True,
                )
            )
        )

    np.testing.assert_array_equal(run(noisy, False)[0], run(clean, False)[0])
    first, first_weights = run(noisy, True)
    second, _ = run(noisy, True)
    assert np.abs(np.asarray(first) - np.asarray(second)).max() > 1e-4
    assert np.all(np.asarray(first_weights)[~np.broadcast_to(memory_mask[:, None], (B, T, S))] == 0)
    _, hard_weights = run(hard, False)
    assert set(np.unique(np.asarray(hard_weights))) <= {0.0, 1.0}
    # Trained on the expected alignment: hard mode's training pass equals parallel's.
    np.testing.assert_allclose(run(hard, True)[0], run(clean, True)[0], atol=1e-6)
