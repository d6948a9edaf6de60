"""The Bahdanau decoder's hand-written recurrence (`kerattn.layers.bahdanau_recurrence`)
against the decoder's `keras.ops.scan` path on the same layer: outputs, attention weights and
the gradients for every input and weight, with right-padded and arbitrary masks on target and
source; its states and contexts against NumPy; its backward pass against finite differences
(float64); padding invariance, mixed_float16, batch 1 and length 1, and when it applies."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from kerattn import layers
from kerattn.layers.bahdanau_recurrence import bahdanau_recurrence
from tests.layers import layer_gradients

B, T, S, E, DM, UNITS, ATTENTION_UNITS = 4, 6, 5, 3, 7, 8, 5
TOLERANCE = 1e-5


def masks(batch, length, seed):
    rng = np.random.default_rng(seed)
    right = np.ones((batch, length), bool)
    lengths = rng.integers(1, length + 1, size=batch)
    right[np.arange(length)[None] >= lengths[:, None]] = False
    arbitrary = rng.random((batch, length)) > 0.4
    if batch >= 3 and length >= 3:
        arbitrary[0, :2] = False  # leading padding
        arbitrary[0, 2] = True
        arbitrary[1] = False  # no real position at all
        arbitrary[2] = True
    return {"none": None, "right_padded": right, "arbitrary": arbitrary}


TARGET_MASKS = masks(B, T, seed=3)
MEMORY_MASKS = masks(B, S, seed=4)


def make_decoder(**kwargs):
    decoder = layers.AttentionDecoder(UNITS, attention_units=ATTENTION_UNITS, **kwargs)
    decoder.build((None, None, E), (None, None, DM), [(None, UNITS), (None, UNITS)])
    rng = np.random.default_rng(1)
    # Not Keras's initial values (a zero bias would hide the bias gradient's path).
    decoder.set_weights([rng.normal(scale=0.5, size=w.shape) for w in decoder.get_weights()])
    return decoder


def make_arrays(batch=B, time=T, source=S, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(batch, time, E)).astype("float32")
    memory = rng.normal(size=(batch, source, DM)).astype("float32")
    state_h, state_c = (rng.normal(size=(batch, UNITS)).astype("float32") for _ in "hc")
    loss_weights = [rng.normal(size=(batch, time, width)) for width in (UNITS, source)]
    return target, memory, state_h, state_c, loss_weights


def outputs_and_gradients(
    decoder,
    hand_written_backward,
    arrays,
    target_mask,
    memory_mask,
    with_state=True,
):
    """The decoder's (outputs, weights) and the gradients of a weighted sum of both with
    respect to target, memory, h0, c0 and every trainable variable, on the chosen path."""
    target, memory, state_h, state_c, loss_weights = arrays
    decoder.hand_written_backward = hand_written_backward

    def call(target, memory, state_h, state_c):
        return decoder(
            target,
            memory,
            initial_state=[state_h, state_c] if with_state else None,
            target_mask=target_mask,
            memory_mask=memory_mask,
            return_attention_scores=True,
        )

    def loss_of(outputs):
        return sum(ops.sum(ops.cast(o, "float32") * w) for o, w in zip(outputs, loss_weights))

    return layer_gradients.outputs_and_gradients(
        decoder, call, [target, memory, state_h, state_c], loss_of
    )


def assert_equal_paths(decoder, arrays, target_mask, memory_mask, tolerance=TOLERANCE, **kwargs):
    """The hand-written path equals the scan path (outputs, weights, every gradient) within
    `tolerance` relative to each array's scale; returns the hand-written results."""
    actual = outputs_and_gradients(decoder, True, arrays, target_mask, memory_mask, **kwargs)
    expected = outputs_and_gradients(decoder, False, arrays, target_mask, memory_mask, **kwargs)
    names = ["outputs", "weights", "d target", "d memory", "d h0", "d c0"] + [
        f"d {variable.path}" for variable in decoder.trainable_variables
    ]
    assert len(names) == len(actual[0]) + len(actual[1])
    for name, a, e in zip(names, actual[0] + actual[1], expected[0] + expected[1]):
        a, e = a.astype("float64"), e.astype("float64")
        assert np.all(np.isfinite(a)), name
        scale = max(np.max(np.abs(e)), 1e-30)
        np.testing.assert_allclose(a, e, atol=tolerance * scale, rtol=tolerance, err_msg=name)
    return actual


@pytest.mark.parametrize("target_mask_name", sorted(TARGET_MASKS))
@pytest.mark.parametrize("memory_mask_name", sorted(MEMORY_MASKS))
def test_outputs_weights_and_gradients_equal_the_scan_path(target_mask_name, memory_mask_name):
    decoder = make_decoder()
    assert decoder._runs_bahdanau_recurrence() == (keras.backend.backend() == "tensorflow")
    target_mask, memory_mask = TARGET_MASKS[target_mask_name], MEMORY_MASKS[memory_mask_name]
    outputs, grads = assert_equal_paths(decoder, make_arrays(), target_mask, memory_mask)
    # Every weight of the step takes part (the attentional kernel's gradient comes after the
    # loop; the others flow through it).
    assert all(np.any(g != 0) for g in grads[4:])
    if memory_mask is not None:
        weights = outputs[1]
        assert np.all(weights[np.broadcast_to(~memory_mask[:, None], weights.shape)] == 0)
        assert np.all(grads[1][~memory_mask] == 0)  # d memory at padded source positions


def test_zero_initial_state_gives_the_same_gradients():
    decoder = make_decoder()
    arrays = make_arrays()
    _, grads = assert_equal_paths(
        decoder,
        arrays,
        TARGET_MASKS["right_padded"],
        MEMORY_MASKS["arbitrary"],
        with_state=False,
    )
    assert np.all(grads[2] == 0) and np.all(grads[3] == 0)  # h0, c0 unused


def test_appending_target_and_source_padding_changes_nothing_at_real_positions():
    decoder = make_decoder()
    target, memory, state_h, state_c, loss_weights = make_arrays()
    target_mask, memory_mask = TARGET_MASKS["right_padded"], MEMORY_MASKS["arbitrary"]
    rng = np.random.default_rng(5)
    padded_arrays = (
        np.concatenate([target, 10 * rng.normal(size=(B, 2, E))], 1),
        np.concatenate([memory, 10 * rng.normal(size=(B, 3, DM))], 1),
        state_h,
        state_c,
        [
            np.pad(loss_weights[0], ((0, 0), (0, 2), (0, 0))),
            np.pad(loss_weights[1], ((0, 0), (0, 2), (0, 3))),
        ],
    )
    padded_target_mask = np.concatenate([target_mask, np.zeros((B, 2), bool)], 1)
    padded_memory_mask = np.concatenate([memory_mask, np.zeros((B, 3), bool)], 1)
    (outputs, weights), grads = outputs_and_gradients(
        decoder, True, make_arrays(), target_mask, memory_mask
    )
    (padded_outputs, padded_weights), padded_grads = outputs_and_gradients(
        decoder, True, padded_arrays, padded_target_mask, padded_memory_mask
    )
    np.testing.assert_allclose(padded_outputs[:, :T], outputs, atol=1e-6, rtol=0)
    np.testing.assert_allclose(padded_weights[:, :T, :S], weights, atol=1e-6, rtol=0)
    assert np.all(padded_outputs[:, T:] == 0) and np.all(padded_weights[:, :, S:] == 0)
    np.testing.assert_allclose(padded_grads[0][:, :T], grads[0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(padded_grads[1][:, :S], grads[1], atol=1e-5, rtol=1e-5)
    assert np.all(padded_grads[0][~padded_target_mask] == 0)
    assert np.all(padded_grads[1][:, S:] == 0)
    for padded_grad, grad in zip(padded_grads[2:], grads[2:]):  # h0, c0, the weights
        np.testing.assert_allclose(padded_grad, grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "batch, time, source",
    [(1, T, S), (B, 1, S), (B, T, 1), (1, 1, 1)],
    ids=["batch_1", "target_length_1", "source_length_1", "all_1"],
)
def test_batch_1_and_length_1(batch, time, source):
    decoder = make_decoder()
    arrays = make_arrays(batch, time, source, seed=6)
    for target_mask, memory_mask in [
        (None, None),
        (masks(batch, time, 7)["arbitrary"], masks(batch, source, 8)["right_padded"]),
    ]:
        assert_equal_paths(decoder, arrays, target_mask, memory_mask)


def test_mixed_float16_matches_the_scan_path():
    keras.config.set_dtype_policy("mixed_float16")
    decoder = make_decoder()
    target_mask, memory_mask = TARGET_MASKS["arbitrary"], MEMORY_MASKS["arbitrary"]
    (outputs, weights), _ = assert_equal_paths(
        decoder, make_arrays(), target_mask, memory_mask, tolerance=2e-2
    )
    assert str(outputs.dtype) == "float16" and str(weights.dtype) == "float16"
    # A row without any valid source position attends nowhere, without NaN.
    assert np.all(weights[1] == 0)


def test_scan_path_remains_for_other_configurations():
    assert make_decoder()._runs_bahdanau_recurrence() == (keras.backend.backend() == "tensorflow")
    assert not make_decoder(fused_lstm=False)._runs_bahdanau_recurrence()
    for attention in ("luong_general", "luong_concat", "bahdanau_monotonic", "none"):
        decoder = layers.AttentionDecoder(UNITS, attention=attention)
        assert not decoder._runs_bahdanau_recurrence()
    decoder = make_decoder()
    decoder.hand_written_backward = False
    assert not decoder._runs_bahdanau_recurrence()
    # The switch is no constructor argument: saved configs are unchanged.
    assert "hand_written_backward" not in decoder.get_config()


# -- the recurrence itself ---------------------------------------------------------------------


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_recurrence(projected, step_mask, h, c, values, keys, query_kernel, v, kernel, valid):
    """The recurrence written out step by step (time-major inputs)."""
    states_h, contexts, all_weights = [], [], []
    for t in range(projected.shape[0]):
        scores = np.tanh((h @ query_kernel)[:, None] + keys) @ v  # (B, S)
        exponentials = np.where(valid, np.exp(scores - scores.max(-1, keepdims=True)), 0)
        total = exponentials.sum(-1, keepdims=True)
        weights = exponentials / np.where(total > 0, total, 1)
        context = np.einsum("bs,bsd->bd", weights, values)
        z = projected[t] + np.concatenate([context, h], -1) @ kernel
        i, f, g, o = np.split(z, 4, axis=-1)
        new_c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        new_h = sigmoid(o) * np.tanh(new_c)
        real = step_mask[t][:, None]
        h, c = np.where(real, new_h, h), np.where(real, new_c, c)
        states_h.append(h)
        contexts.append(context)
        all_weights.append(weights)
    return np.stack(states_h), np.stack(contexts), np.stack(all_weights)


def recurrence_inputs(dtype, batch=3, time=4, source=5, units=3, attention_units=2, width=3):
    rng = np.random.default_rng(9)
    arrays = [
        rng.normal(size=(time, batch, 4 * units)),  # projected target
        rng.normal(size=(batch, units)),  # h0
        rng.normal(size=(batch, units)),  # c0
        rng.normal(size=(batch, source, width)),  # values
        rng.normal(size=(batch, source, attention_units)),  # keys
        rng.normal(size=(units, attention_units)),  # W_q
        rng.normal(size=(attention_units,)),  # v
        rng.normal(size=(width + units, 4 * units)),  # stacked kernel
    ]
    step_mask = masks(batch, time, 10)["arbitrary"].T  # (T, B)
    value_mask = masks(batch, source, 11)["arbitrary"]
    return [array.astype(dtype) for array in arrays], step_mask, value_mask


def test_states_contexts_and_weights_equal_numpy():
    arrays, step_mask, value_mask = recurrence_inputs("float32")
    projected, h, c, values, keys, query_kernel, v, kernel = arrays
    states_h, contexts, weights = bahdanau_recurrence(
        projected, step_mask, h, c, values, keys, query_kernel, v, kernel, value_mask
    )
    expected = numpy_recurrence(
        projected, step_mask, h, c, values, keys, query_kernel, v, kernel, value_mask
    )
    for actual, wanted in zip((states_h, contexts, weights), expected):
        np.testing.assert_allclose(np.asarray(actual), wanted, atol=1e-5, rtol=1e-5)
    # Row 1 has no real target step: its state stays the initial state.
    np.testing.assert_array_equal(np.asarray(states_h)[:, 1], np.broadcast_to(h[1], (4, 3)))
    assert np.all(np.asarray(weights)[:, 1] == 0)  # and no valid source position


@pytest.mark.parametrize("with_value_mask", [False, True], ids=["no_value_mask", "value_mask"])
def test_backward_pass_equals_finite_differences(with_value_mask):
    arrays, step_mask, value_mask = recurrence_inputs("float64")
    rng = np.random.default_rng(12)
    weights_of_outputs = None

    def loss(*tensors):
        outputs = bahdanau_recurrence(
            tensors[0],
            step_mask,
            *tensors[1:],
            value_mask=value_mask if with_value_mask else None,
        )
        return tf.add_n([tf.reduce_sum(o * w) for o, w in zip(outputs, weights_of_outputs)])[
            tf.newaxis
        ]

    shapes = [(4, 3, 3), (4, 3, 3), (4, 3, 5)]  # states_h, contexts, weights
    weights_of_outputs = [tf.constant(rng.normal(size=shape)) for shape in shapes]
    theoretical, numerical = tf.test.compute_gradient(
        loss, [tf.constant(a) for a in arrays], delta=1e-6
    )
    for index, (hand_written, finite) in enumerate(zip(theoretical, numerical)):
        np.testing.assert_allclose(hand_written, finite, atol=1e-7, rtol=1e-6, err_msg=index)
        assert np.any(hand_written != 0), index
