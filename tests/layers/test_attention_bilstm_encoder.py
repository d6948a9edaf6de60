"""AttentionBiLSTMEncoder: bidirectional reading, padding invariance, states, pooling."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import ops

from kerattn import layers
from tests.conftest import gradients
from tests.layers import layer_gradients

B, T, E, UNITS = 3, 6, 5, 4


def make_inputs():
    rng = np.random.default_rng(0)
    embedded = rng.normal(size=(B, T, E)).astype("float32")
    mask = np.ones((B, T), bool)
    mask[0, 3:] = False
    mask[1, 1:] = False
    return embedded, mask


CONFIGS = {
    "plain": dict(units=UNITS),
    "stacked_projected_pooled": dict(
        units=UNITS, num_layers=2, output_units=7, pooling="bahdanau", pooling_units=3
    ),
    "luong_pooling": dict(units=UNITS, pooling="luong"),
}


@pytest.fixture(params=sorted(CONFIGS))
def config_name(request):
    return request.param


def test_output_structure_and_widths(config_name):
    encoder = layers.AttentionBiLSTMEncoder(**CONFIGS[config_name])
    embedded, mask = make_inputs()
    outputs = encoder(embedded, mask=mask)
    width = CONFIGS[config_name].get("output_units") or 2 * UNITS
    assert outputs["sequence"].shape == (B, T, width)
    assert outputs["state_h"].shape == (B, width) and outputs["state_c"].shape == (B, width)
    np.testing.assert_array_equal(outputs["mask"], mask)
    if "pooling" in CONFIGS[config_name]:
        assert outputs["pooled"].shape == (B, width)
        assert outputs["pooling_weights"].shape == (B, T)
        assert np.all(np.asarray(outputs["pooling_weights"])[~mask] == 0)
    assert np.all(np.asarray(outputs["sequence"])[~mask] == 0.0)


def test_forward_and_backward_halves_read_in_their_direction():
    encoder = layers.AttentionBiLSTMEncoder(UNITS)
    embedded, _ = make_inputs()
    sequence = np.asarray(encoder(embedded)["sequence"])
    changed = embedded.copy()
    changed[:, 2] += 1.0  # change token 2 only
    new_sequence = np.asarray(encoder(changed)["sequence"])
    difference = np.abs(new_sequence - sequence).max(axis=(0,))  # (T, 2·units)
    forward, backward = difference[:, :UNITS], difference[:, UNITS:]
    assert forward[:2].max() == 0 and forward[2:].min() > 0  # forward sees t >= 2 only
    assert backward[3:].max() == 0 and backward[:3].min() > 0  # backward sees t <= 2 only


def test_appending_padding_leaves_every_output_unchanged(config_name):
    encoder = layers.AttentionBiLSTMEncoder(**CONFIGS[config_name])
    embedded, mask = make_inputs()
    outputs = encoder(embedded, mask=mask)
    garbage = 10 * np.random.default_rng(2).normal(size=(B, 4, E)).astype("float32")
    padded = encoder(
        np.concatenate([embedded, garbage], 1),
        mask=np.concatenate([mask, np.zeros((B, 4), bool)], 1),
    )
    for name, value in outputs.items():
        padded_value = np.asarray(padded[name])
        if name in ("sequence", "mask", "pooling_weights"):
            padded_value = padded_value[:, :T]
        np.testing.assert_allclose(padded_value, np.asarray(value), atol=1e-6, rtol=0, err_msg=name)


def test_backward_state_starts_at_last_real_token():
    # Sequence 0 has 3 real tokens: its states must equal those of the 3-token sequence alone.
    encoder = layers.AttentionBiLSTMEncoder(UNITS)
    embedded, mask = make_inputs()
    batch = encoder(embedded, mask=mask)
    alone = encoder(embedded[:1, :3])
    for name in ("state_h", "state_c"):
        np.testing.assert_allclose(
            np.asarray(batch[name])[0], np.asarray(alone[name])[0], atol=1e-6
        )
    np.testing.assert_allclose(
        np.asarray(batch["sequence"])[0, :3], np.asarray(alone["sequence"])[0], atol=1e-6
    )


def test_embedding_mask_equals_explicit_mask():
    tokens = np.array([[3, 1, 4, 0, 0, 0], [5, 9, 2, 6, 5, 3]], "int32")
    inputs = keras.Input((T,), dtype="int32")
    embedded = keras.layers.Embedding(10, E, mask_zero=True)(inputs)
    encoder = layers.AttentionBiLSTMEncoder(UNITS, pooling="luong")
    implicit = encoder(embedded)
    explicit = encoder(embedded, mask=ops.not_equal(inputs, 0))
    model = keras.Model(
        inputs, [implicit["sequence"], implicit["pooled"], explicit["sequence"], explicit["pooled"]]
    )
    seq_i, pooled_i, seq_e, pooled_e = model.predict(tokens, verbose=0)
    np.testing.assert_array_equal(seq_i, seq_e)
    np.testing.assert_array_equal(pooled_i, pooled_e)
    assert np.all(seq_i[0, 3:] == 0)


def test_sequence_output_carries_the_mask_to_attention():
    tokens = keras.Input((T,), dtype="int32")
    embedded = keras.layers.Embedding(10, E, mask_zero=True)(tokens)
    encoded = layers.AttentionBiLSTMEncoder(UNITS)(embedded)
    query = keras.Input((2 * UNITS,))
    attention = layers.BahdanauAttention(4)
    implicit = attention(query, encoded["sequence"], return_attention_scores=True)[1]
    explicit = attention(
        query, encoded["sequence"], value_mask=encoded["mask"], return_attention_scores=True
    )[1]
    model = keras.Model([tokens, query], [implicit, explicit])
    data = [np.array([[1, 2, 0, 0, 0, 0]], "int32"), np.ones((1, 2 * UNITS), "float32")]
    implicit_weights, explicit_weights = model.predict(data, verbose=0)
    np.testing.assert_array_equal(implicit_weights, explicit_weights)
    assert np.all(implicit_weights[0, 2:] == 0)


def test_gradients_finite_and_zero_for_padding():
    encoder = layers.AttentionBiLSTMEncoder(UNITS, output_units=6, pooling="bahdanau")
    embedded, mask = make_inputs()
    encoder(embedded, mask=mask)

    def loss(x):
        outputs = encoder(x, mask=mask)
        return sum(
            ops.sum(outputs[name] ** 2) for name in ("sequence", "state_h", "state_c", "pooled")
        )

    (grad,) = gradients(loss, embedded)
    assert np.all(np.isfinite(grad))
    assert np.all(grad[~mask] == 0.0) and np.abs(grad[mask]).min() > 0


def test_mixed_float16_finite():
    encoder = layers.AttentionBiLSTMEncoder(
        UNITS, output_units=6, pooling="bahdanau", dtype="mixed_float16"
    )
    embedded, mask = make_inputs()
    outputs = encoder(embedded * 50, mask=mask)
    for name, value in outputs.items():
        assert np.all(np.isfinite(np.asarray(value, "float32"))), name


def test_config_json_fit_and_keras_file_round_trip(config_name, tmp_path):
    encoder = layers.AttentionBiLSTMEncoder(**CONFIGS[config_name], dropout=0.1, seed=3)
    config = encoder.get_config()
    assert layers.AttentionBiLSTMEncoder.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(encoder)))
    )
    assert restored.get_config() == config
    tokens = keras.Input((None,), dtype="int32")
    encoded = encoder(keras.layers.Embedding(10, E, mask_zero=True)(tokens))
    summary = encoded["pooled"] if "pooled" in encoded else encoded["state_h"]
    model = keras.Model(tokens, keras.layers.Dense(1)(summary))
    model.compile(optimizer="adam", loss="mse")
    data = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], "int32")
    model.fit(data, np.ones((2, 1)), verbose=0)
    model.save(tmp_path / "encoder.keras")
    reloaded = keras.saving.load_model(tmp_path / "encoder.keras")
    np.testing.assert_array_equal(reloaded.predict(data, verbose=0), model.predict(data, verbose=0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": -1}, r"`units` must be a positive int; received units=-1"),
        (
            {"units": 4, "num_layers": 0},
            r"`num_layers` must be a positive int; received num_layers=0",
        ),
        (
            {"units": 4, "pooling": "mean"},
            r"`pooling` must be None or one of 'bahdanau', 'luong'; received pooling='mean'",
        ),
        ({"units": 4, "pooling_units": 3}, r"`pooling_units` is only used by pooling='bahdanau'"),
        (
            {"units": 4, "use_cudnn": "yes"},
            r"`use_cudnn` must be 'auto', True or False; received use_cudnn='yes'",
        ),
    ],
)
def test_invalid_arguments_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.AttentionBiLSTMEncoder(**kwargs)


def test_unembedded_input_fails_clearly():
    with pytest.raises(
        ValueError,
        match=r"expects embedded inputs of shape \(batch, time, features\).*received shape \(2, 6\)",
    ):
        layers.AttentionBiLSTMEncoder(4)(np.zeros((2, 6), "float32"))


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_fused_lstm_equals_keras_lstm_outputs_and_gradients(config_name, policy):
    keras.config.set_dtype_policy(policy)
    fused = layers.AttentionBiLSTMEncoder(**CONFIGS[config_name])
    reference = layers.AttentionBiLSTMEncoder(fused_lstm=False, **CONFIGS[config_name])
    embedded, mask = make_inputs()
    mask[2, [0, 2]] = False  # an arbitrary (not right-padded) mask as well
    fused.build(embedded.shape)
    reference.build(embedded.shape)
    reference.set_weights(fused.get_weights())

    def loss_of(outputs):
        # Every float output enters the loss with its own fixed random weights.
        return sum(
            ops.sum(
                ops.cast(outputs[key], "float32")
                * np.random.default_rng(index).normal(size=outputs[key].shape).astype("float32")
            )
            for index, key in enumerate(sorted(outputs))
            if key != "mask"
        )

    results = [
        layer_gradients.outputs_and_gradients(
            encoder, lambda x, encoder=encoder: encoder(x, mask=mask), [embedded], loss_of
        )
        for encoder in (fused, reference)
    ]
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for actual, expected in zip(results[0][0] + results[0][1], results[1][0] + results[1][1]):
        if actual.dtype == bool:
            np.testing.assert_array_equal(actual, expected)
            continue
        actual, expected = actual.astype("float32"), expected.astype("float32")
        assert np.all(np.isfinite(actual))
        scale = 1 if policy == "float32" else 1 + np.max(np.abs(expected))
        np.testing.assert_allclose(actual, expected, atol=tolerance * scale, rtol=tolerance)


def test_fused_lstm_is_in_the_config_and_old_configs_load():
    encoder = layers.AttentionBiLSTMEncoder(UNITS, fused_lstm=False)
    assert encoder.get_config()["fused_lstm"] is False
    config = layers.AttentionBiLSTMEncoder(UNITS).get_config()
    del config["fused_lstm"]  # a config saved before the option existed
    assert layers.AttentionBiLSTMEncoder.from_config(config).fused_lstm is True
    with pytest.raises(ValueError, match="`fused_lstm` must be True or False; received"):
        layers.AttentionBiLSTMEncoder(UNITS, fused_lstm=1)
