"""The padding-invariance check the attention layers' tests share (the layer anatomy: "Tests every
layer gets")."""

from __future__ import annotations

import numpy as np


def assert_appended_padding_changes_nothing(layer, query, value, query_mask, value_mask) -> None:
    """Appending 3 masked memory entries and 2 masked queries, filled with large random values,
    leaves the real outputs unchanged (atol 1e-6); the padded keys get attention exactly 0 and
    the padded queries a context of exactly 0."""
    batch, query_length, value_length = query.shape[0], query.shape[1], value.shape[1]
    context, weights = layer(
        query, value, query_mask=query_mask, value_mask=value_mask, return_attention_scores=True
    )
    rng = np.random.default_rng(7)
    # Garbage in the padding on purpose: it must never be looked at.
    noise = 100 * rng.normal(size=(batch, 3, value.shape[2]))
    padded_value = np.concatenate([value, noise], 1).astype("float32")
    padded_value_mask = np.concatenate([value_mask, np.zeros((batch, 3), bool)], 1)
    noise = 100 * rng.normal(size=(batch, 2, query.shape[2]))
    padded_query = np.concatenate([query, noise], 1).astype("float32")
    padded_query_mask = np.concatenate([query_mask, np.zeros((batch, 2), bool)], 1)
    padded_context, padded_weights = layer(
        padded_query,
        padded_value,
        query_mask=padded_query_mask,
        value_mask=padded_value_mask,
        return_attention_scores=True,
    )
    padded_context, padded_weights = np.asarray(padded_context), np.asarray(padded_weights)
    np.testing.assert_allclose(padded_context[:, :query_length], context, atol=1e-6, rtol=0)
    np.testing.assert_allclose(
        padded_weights[:, :query_length, :value_length], weights, atol=1e-6, rtol=0
    )
    assert np.all(padded_weights[:, :, value_length:] == 0.0)
    assert np.all(padded_context[:, query_length:] == 0.0)
