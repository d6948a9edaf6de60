"""`kerattn.zoo.teacher_forcing.target_log_probs` against the log-softmax of all positions at
once followed by a gather (what `Translator.score_batch` computed before), in chunks of every
size, with padding anywhere and with no real position."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerattn.zoo.teacher_forcing import chunk_rows, target_log_probs

B, T, D, V = 3, 5, 4, 11


def reference(kernel, bias, outputs, target_ids):
    """NumPy: log-softmax of every position's logits, the target's entry, 0 at padding."""
    logits = outputs.astype(np.float64) @ kernel + bias  # (B, T, V)
    logits -= logits.max(axis=-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    chosen = np.take_along_axis(log_probs, target_ids[..., None], axis=-1)[..., 0]
    return np.where(target_ids != 0, chosen, 0.0)


@pytest.mark.parametrize("rows", [1, 2, 4, 7, 100, None])
def test_chunks_give_the_log_softmax_of_every_real_position(rows):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(D, V)).astype("float32")
    bias = rng.normal(size=V).astype("float32")
    outputs = rng.normal(size=(B, T, D)).astype("float32")
    target_ids = rng.integers(1, V, size=(B, T)).astype("int32")
    target_ids[0, 3:] = 0  # right padding
    target_ids[1, 1] = 0  # a hole
    target_ids[2] = 0  # nothing real

    def project(rows_):
        return tf.matmul(rows_, kernel) + bias

    got = tf.function(lambda o, t: target_log_probs(project, o, t, V, rows=rows))(
        outputs, target_ids
    ).numpy()
    expected = reference(kernel, bias, outputs, target_ids)
    assert got.shape == (B, T) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.all(got[target_ids == 0] == 0.0) and np.all(got[target_ids != 0] < 0)
    nothing = target_log_probs(project, outputs, np.zeros((B, T), "int32"), V, rows=rows)
    assert np.all(nothing.numpy() == 0.0)


def test_chunk_rows_fit_the_byte_budget():
    assert chunk_rows(8000) == 65 and chunk_rows(8000, chunk_bytes=4 * 8000 * 3) == 3
    assert chunk_rows(10**9) == 1 and chunk_rows(45) == 2**21 // 180
