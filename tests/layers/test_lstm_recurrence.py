"""The fused LSTM recurrence against keras.layers.LSTM on the same weights: outputs, states and
gradients (inputs, initial states, all three weights) for every mask Keras supports, both
directions; padding invariance, dropout, mixed precision, the hand-over to Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerattn.layers.lstm_recurrence import (
    fused_path_applies,
    lstm_sequence,
    run_lstm,
    run_lstm_pair,
)
from tests.layers import layer_gradients

B, T, E, UNITS = 4, 7, 5, 6
TOLERANCE = 1e-5


def masks():
    rng = np.random.default_rng(3)
    right = np.ones((B, T), bool)
    right[0, 4:] = False
    right[1, 1:] = False
    arbitrary = rng.random((B, T)) > 0.4
    arbitrary[0] = [False, False, True, True, False, True, False]  # leading masked steps
    arbitrary[1] = False  # no real step at all
    arbitrary[2] = True
    return {"none": None, "right_padded": right, "arbitrary": arbitrary}


MASKS = masks()


def make_lstm(go_backwards=False, **kwargs):
    lstm = keras.layers.LSTM(
        UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards, **kwargs
    )
    lstm.build((None, None, E))
    rng = np.random.default_rng(1)
    lstm.cell.bias.assign(rng.normal(size=(4 * UNITS,)).astype("float32"))  # not Keras's init
    return lstm


def make_arrays(seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(B, T, E)).astype("float32")
    initial_h, initial_c = (rng.normal(size=(B, UNITS)).astype("float32") for _ in range(2))
    shapes = [(B, T, UNITS), (B, UNITS), (B, UNITS)]  # sequence, h, c
    loss_weights = [rng.normal(size=shape).astype("float32") for shape in shapes]
    return inputs, initial_h, initial_c, loss_weights


def outputs_and_gradients(lstm, call, inputs, initial_h, initial_c, loss_weights):
    """`call(inputs, h0, c0) -> [sequence, h, c]`, a weighted sum of them as the loss, and the
    gradients of that loss with respect to inputs, h0, c0 and the LSTM's three weights."""

    def loss_of(outputs):
        return sum(keras.ops.sum(o * w) for o, w in zip(outputs, loss_weights))

    return layer_gradients.outputs_and_gradients(
        lstm, call, [inputs, initial_h, initial_c], loss_of
    )


def assert_close(actual, expected, tolerance=TOLERANCE):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "go_backwards"])
@pytest.mark.parametrize("mask_name", sorted(MASKS))
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "initial_state"])
def test_outputs_states_and_gradients_equal_keras(go_backwards, mask_name, with_state):
    lstm = make_lstm(go_backwards, use_cudnn=False)
    mask = MASKS[mask_name]
    inputs, initial_h, initial_c, loss_weights = make_arrays()

    def keras_call(x, h, c):
        return lstm(x, mask=mask, initial_state=[h, c] if with_state else None)

    def fused_call(x, h, c):
        return run_lstm(lstm, x, mask=mask, initial_state=[h, c] if with_state else None)

    expected = outputs_and_gradients(lstm, keras_call, inputs, initial_h, initial_c, loss_weights)
    actual = outputs_and_gradients(lstm, fused_call, inputs, initial_h, initial_c, loss_weights)
    assert fused_path_applies(lstm)
    assert_close(actual[0], expected[0])  # sequence, h, c
    assert_close(actual[1], expected[1])  # d inputs, d h0, d c0, d kernel, d recurrent, d bias
    if not with_state:
        assert all(np.all(g == 0) for g in actual[1][1:3])


def test_masked_steps_carry_the_state_and_repeat_the_previous_output():
    lstm = make_lstm(use_cudnn=False)
    inputs, initial_h, initial_c, _ = make_arrays()
    mask = MASKS["arbitrary"]
    outputs = run_lstm(lstm, inputs, mask=mask, initial_state=[initial_h, initial_c])
    sequence, state_h, state_c = (np.asarray(a) for a in outputs)
    # Before any real step Keras outputs zeros on TensorFlow and the initial h on JAX.
    before_first = np.broadcast_to(
        0 if keras.backend.backend() == "tensorflow" else initial_h[:, None], (B, T, UNITS)
    )
    # Row 1 has no real step: the state is the initial state.
    np.testing.assert_array_equal(state_h[1], initial_h[1])
    np.testing.assert_array_equal(state_c[1], initial_c[1])
    np.testing.assert_array_equal(sequence[1], before_first[1])
    # Row 0: steps 0-1 are masked before any real step; step 4 repeats step 3.
    np.testing.assert_array_equal(sequence[0, :2], before_first[0, :2])
    np.testing.assert_array_equal(sequence[0, 4], sequence[0, 3])
    np.testing.assert_array_equal(state_h[0], sequence[0, 5])


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "go_backwards"])
def test_appending_padding_leaves_real_outputs_and_states_unchanged(go_backwards):
    lstm = make_lstm(go_backwards, use_cudnn=False)
    inputs, _, _, _ = make_arrays()
    mask = MASKS["right_padded"]
    padded = np.concatenate([inputs, np.random.default_rng(5).normal(size=(B, 3, E))], axis=1)
    padded_mask = np.concatenate([mask, np.zeros((B, 3), bool)], axis=1)
    sequence, state_h, state_c = run_lstm(lstm, inputs, mask=mask)
    padded_sequence, padded_h, padded_c = run_lstm(lstm, padded.astype("float32"), mask=padded_mask)
    sequence, padded_sequence = np.asarray(sequence), np.asarray(padded_sequence)
    if go_backwards:  # processing order: the appended padding comes first
        sequence, padded_sequence = sequence[:, ::-1], padded_sequence[:, ::-1]
    np.testing.assert_allclose(padded_sequence[:, :T][mask], sequence[mask], atol=1e-6)
    np.testing.assert_allclose(padded_h, state_h, atol=1e-6)
    np.testing.assert_allclose(padded_c, state_c, atol=1e-6)


def test_gradients_are_zero_for_padded_inputs():
    lstm = make_lstm(use_cudnn=False)
    inputs, initial_h, initial_c, loss_weights = make_arrays()
    mask = MASKS["arbitrary"]
    _, grads = outputs_and_gradients(
        lstm,
        lambda x, h, c: run_lstm(lstm, x, mask=mask, initial_state=[h, c]),
        inputs,
        initial_h,
        initial_c,
        loss_weights,
    )
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.all(grads[0][~mask] == 0)
    assert np.any(grads[0][mask] != 0)


def test_lstm_sequence_with_explicit_weights_equals_the_layer():
    lstm = make_lstm(use_cudnn=False)
    inputs, initial_h, initial_c, _ = make_arrays()
    kernel, recurrent_kernel, bias = (keras.ops.convert_to_tensor(v.value) for v in lstm.weights)
    expected = lstm(inputs, initial_state=[initial_h, initial_c])
    actual = lstm_sequence(inputs, initial_h, initial_c, kernel, recurrent_kernel, bias)
    assert_close([np.asarray(a) for a in actual], [np.asarray(e) for e in expected])


def test_training_dropout_uses_one_mask_per_sequence_like_keras():
    lstm = make_lstm(use_cudnn=False, dropout=0.5, seed=7)
    inputs, _, _, _ = make_arrays()
    generator = lstm.cell.seed_generator
    start = np.asarray(generator.state.value)
    expected = lstm(inputs, training=True)
    generator.state.assign(start)
    actual = run_lstm(lstm, inputs, training=True)
    assert_close([np.asarray(a) for a in actual], [np.asarray(e) for e in expected])
    inference = run_lstm(lstm, inputs, training=False)
    assert not np.allclose(np.asarray(inference[0]), np.asarray(actual[0]))


def test_mixed_float16_matches_keras_and_is_finite():
    keras.config.set_dtype_policy("mixed_float16")
    lstm = make_lstm(use_cudnn=False)
    inputs, initial_h, initial_c, loss_weights = make_arrays()
    mask = MASKS["right_padded"]

    def keras_call(x, h, c):
        return lstm(x, mask=mask, initial_state=[h, c])

    def fused_call(x, h, c):
        return run_lstm(lstm, x, mask=mask, initial_state=[h, c])

    expected = outputs_and_gradients(lstm, keras_call, inputs, initial_h, initial_c, loss_weights)
    actual = outputs_and_gradients(lstm, fused_call, inputs, initial_h, initial_c, loss_weights)
    assert all(str(o.dtype) == "float16" for o in actual[0])
    for a, e in zip(actual[0] + actual[1], expected[0] + expected[1]):
        assert np.all(np.isfinite(a))
        scale = 1 + np.max(np.abs(e.astype("float32")))
        np.testing.assert_allclose(a.astype("float32"), e.astype("float32"), atol=2e-2 * scale)


def test_fused_false_and_unsupported_configurations_run_keras_itself():
    assert not fused_path_applies(make_lstm(activation="relu"))
    assert not fused_path_applies(make_lstm(recurrent_dropout=0.1))
    if keras.backend.backend() == "tensorflow":
        # use_cudnn=True: Keras's own path decides (cuDNN, or its error without a GPU).
        assert not fused_path_applies(make_lstm(use_cudnn=True))
    lstm = make_lstm(activation="relu")
    inputs, _, _, _ = make_arrays()
    expected = lstm(inputs)
    for fused in (True, False):
        actual = run_lstm(lstm, inputs, fused=fused)
        assert_close([np.asarray(a) for a in actual], [np.asarray(e) for e in expected], 0)


@pytest.mark.parametrize("mask_name", sorted(MASKS))
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_pair_of_directions_equals_two_keras_lstms(mask_name, dropout):
    forward = make_lstm(use_cudnn=False, dropout=dropout, seed=2)
    backward = make_lstm(go_backwards=True, use_cudnn=False, dropout=dropout, seed=3)
    backward.set_weights([w[::-1] if w.ndim == 1 else -w for w in forward.get_weights()])
    mask = MASKS[mask_name]
    inputs, _, _, _ = make_arrays()
    rng = np.random.default_rng(8)
    shapes = [(B, T, UNITS), (B, UNITS), (B, UNITS)] * 2  # per direction: sequence, h, c
    loss_weights = [rng.normal(size=shape) for shape in shapes]
    generators = [lstm.cell.seed_generator for lstm in (forward, backward)]
    starts = [np.asarray(g.state.value) for g in generators]

    def loss_of(outputs):
        return sum(keras.ops.sum(o * w) for o, w in zip(outputs, loss_weights))

    class Pair(keras.layers.Layer):  # gathers both LSTMs' variables for the gradient helper
        def __init__(self):
            super().__init__()
            self.forward, self.backward = forward, backward

    def keras_call(x):
        return [*forward(x, mask=mask, training=True), *backward(x, mask=mask, training=True)]

    def pair_call(x):
        for generator, start in zip(generators, starts):
            generator.state.assign(start)
        forward_outputs, backward_outputs = run_lstm_pair(
            forward, backward, x, mask=mask, training=True
        )
        return [*forward_outputs, *backward_outputs]

    pair = Pair()
    for generator, start in zip(generators, starts):
        generator.state.assign(start)
    expected = layer_gradients.outputs_and_gradients(pair, keras_call, [inputs], loss_of)
    actual = layer_gradients.outputs_and_gradients(pair, pair_call, [inputs], loss_of)
    assert len(actual[1]) == 7
    assert_close(actual[0], expected[0])
    assert_close(actual[1], expected[1])
