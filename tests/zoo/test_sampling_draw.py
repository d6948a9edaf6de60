"""`inverse_cdf_draw` (a two-level search over block sums) draws the token of the exact
inverse CDF, computed in float64, wherever the threshold is not within float32 rounding of a
token boundary, and handles cut tokens, empty rows and thresholds at the total."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerattn.zoo.decoding import DRAW_BLOCK, inverse_cdf_draw


def exact_draw(logits: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first token whose float64 cumulative probability exceeds u · total, and how far
    (relative to the total) the threshold is from the nearest cumulative probability."""
    values = logits.astype(np.float64)
    with np.errstate(invalid="ignore"):  # a row with no possible token is NaN
        probabilities = np.exp(values - values.max(-1, keepdims=True))
        cumulative = np.cumsum(probabilities / probabilities.sum(-1, keepdims=True), axis=-1)
    threshold = uniform.astype(np.float64) * cumulative[:, -1:]
    token = (cumulative <= threshold).sum(-1)
    return token, np.abs(cumulative - threshold).min(-1)


@pytest.mark.parametrize(
    "vocabulary, sharpness",
    [(7, 1.0), (DRAW_BLOCK - 1, 1.0), (DRAW_BLOCK, 2.0), (DRAW_BLOCK + 1, 2.0), (300, 3.0),
     (8000, 5.0), (8000, 1.0)],
)  # fmt: skip
def test_the_draw_is_the_exact_inverse_cdf_away_from_rounding(vocabulary, sharpness):
    rng = np.random.default_rng(vocabulary)
    checked = 0
    for _ in range(10):
        logits = sharpness * rng.standard_normal((64, vocabulary)).astype("float32")
        logits[rng.random(logits.shape) < 0.3] = -np.inf  # cut tokens
        logits[:, 0] = 0.0  # at least one possible token per row
        uniform = rng.random((64, 1)).astype("float32")
        drawn = inverse_cdf_draw(tf.constant(logits), tf.constant(uniform)).numpy()
        assert np.all(np.isfinite(logits[np.arange(64), drawn]))  # never a cut token
        exact, distance = exact_draw(logits, uniform)
        clear = distance > 1e-6  # not within float32 rounding of a boundary
        np.testing.assert_array_equal(drawn[clear], exact[clear])
        checked += clear.sum()
    assert checked > 600


def test_edge_rows_and_thresholds_at_the_total():
    vocabulary = 3 * DRAW_BLOCK + 5
    logits = np.zeros((8, vocabulary), "float32")
    logits[1, :-1] = -np.inf  # only the last token possible
    logits[2, 1:] = -np.inf  # only the first
    logits[3, vocabulary // 2 :] = -np.inf  # the last possible one in the middle
    logits[4, -3:] = -80.0  # tiny probabilities at the end
    logits[5] = -np.inf  # no possible token (NaN probabilities): token 0
    logits[6, DRAW_BLOCK : 2 * DRAW_BLOCK] = -np.inf  # a whole empty block
    middle = vocabulary // 2 - 1  # row 3's last possible token
    for u in (0.3, 0.7):  # away from ties: the exact draw
        drawn = inverse_cdf_draw(tf.constant(logits), tf.fill([8, 1], u)).numpy()
        exact, _ = exact_draw(logits, np.full((8, 1), u, "float32"))
        rows = [0, 1, 2, 3, 4, 6, 7]
        np.testing.assert_array_equal(drawn[rows], exact[rows])
        assert drawn[5] == 0
    for u, expected in [
        # u so close to 1 that u · total rounds to the total: the last possible token.
        (1.0 - 2.0**-25, [vocabulary - 1, vocabulary - 1, 0, middle, vocabulary - 1, 0,
                          vocabulary - 1, vocabulary - 1]),
        (0.5 / 16777216.0, [0, vocabulary - 1, 0, 0, 0, 0, 0, 0]),
    ]:  # fmt: skip
        drawn = inverse_cdf_draw(tf.constant(logits), tf.fill([8, 1], u)).numpy()
        assert drawn.tolist() == expected, u
    # The empty block is never drawn from, whatever the threshold.
    uniform = np.linspace(0.001, 0.999, 200, dtype="float32")[:, None]
    drawn = inverse_cdf_draw(tf.constant(np.repeat(logits[6:7], 200, 0)), uniform).numpy()
    assert not np.any((drawn >= DRAW_BLOCK) & (drawn < 2 * DRAW_BLOCK))
    assert np.all(np.diff(drawn) >= 0)  # monotonic in u
    empty = inverse_cdf_draw(tf.zeros([0, 5]), tf.zeros([0, 1]))
    assert empty.shape == (0,)
