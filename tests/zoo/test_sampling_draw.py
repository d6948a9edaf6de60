"""`inverse_cdf_draw` (binary search, the last possible token only when needed) draws exactly
the tokens of the counting formula it replaced."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerattn.zoo.decoding import inverse_cdf_draw


def counting_draw(logits, uniform):
    """The draw as `Sampling.draw` computed it before: count, then cap at the last token."""
    probabilities = tf.nn.softmax(logits)
    cumulative = tf.cumsum(probabilities, axis=-1)
    threshold = uniform * cumulative[:, -1:]
    token = tf.reduce_sum(tf.cast(cumulative <= threshold, tf.int32), axis=-1)
    possible = tf.cast(probabilities > 0, tf.int32)
    width = tf.shape(logits)[1]
    last = width - 1 - tf.argmax(tf.reverse(possible, axis=[1]), axis=-1, output_type=tf.int32)
    return tf.minimum(token, last)


def test_same_tokens_as_the_counting_draw():
    rng = np.random.default_rng(3)
    for vocabulary, sharpness in [(7, 1.0), (300, 3.0), (8000, 5.0)]:
        logits = sharpness * rng.standard_normal((64, vocabulary)).astype("float32")
        logits[rng.random(logits.shape) < 0.3] = -np.inf  # cut tokens
        logits[:, 0] = 0.0  # at least one possible token per row
        logits[1, :-1] = -np.inf  # only the last token possible
        logits[1, -1] = 0.0
        logits[9] = -np.inf  # no possible token (NaN probabilities)
        logits[2, 1:] = -np.inf  # only the first
        logits[3, vocabulary // 2 :] = -np.inf  # the last possible one in the middle
        logits[4, -3:] = -80.0  # tiny probabilities at the end
        uniform = rng.random((64, 1)).astype("float32")
        # u so close to 1 that u · total rounds to the total: the last possible token.
        uniform[3:8] = 1.0 - 2.0**-25
        uniform[8] = 0.5 / 16777216.0
        for u in (uniform, np.full((64, 1), 1.0 - 2.0**-25, "float32")):
            expected = counting_draw(tf.constant(logits), tf.constant(u)).numpy()
            actual = inverse_cdf_draw(tf.constant(logits), tf.constant(u)).numpy()
            np.testing.assert_array_equal(actual, expected)
    empty = inverse_cdf_draw(tf.zeros([0, 5]), tf.zeros([0, 1]))
    assert empty.shape == (0,)
