"""How sure a translator is of an output: its confidence, and the threshold below which an
output is flagged `low_confidence`.

confidence = exp(log P(output | source) / n), the geometric mean of the probabilities of the
output's n tokens, where n counts `[END]` when the search produced it (the tokens
`Translator.score` scores for a translation that ended). It lies in [0, 1] and does not
depend on the length penalty, so it compares across sentences of any length and across
decodings. n = 0 (the empty output of an empty input, given by rule) counts as n = 1, so
such an output has confidence exp(0) = 1; a hypothesis of log-probability -inf has 0.

The threshold is calibrated on validation data (`kerattn.zoo.calibration`) and stored in a
preset's metadata.json as "confidence_threshold"; a translator without one flags nothing.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from kerattn.errors import UsageError

METADATA_KEY = "confidence_threshold"


def sequence_confidence(log_probs: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """float32 exp(log_probs / max(lengths, 1)), at most 1, shaped like `log_probs`."""
    lengths = tf.cast(tf.maximum(lengths, 1), tf.float32)
    return tf.minimum(tf.exp(tf.cast(log_probs, tf.float32) / lengths), 1.0)


def numpy_confidence(log_prob: float, length: int) -> float:
    """`sequence_confidence` of one output, in NumPy (float32, as the graph computes it)."""
    value = np.exp(np.float32(log_prob) / np.float32(max(int(length), 1)))
    return float(min(value, np.float32(1.0)))


def checked_threshold(value, name: str = "confidence_threshold") -> float | None:
    """`value` as a float in [0, 1], or None; one sentence (UsageError) for anything else."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or not math.isfinite(float(value))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise UsageError(
            f"`{name}` must be a number from 0 to 1 (a confidence), or None for no "
            f"low-confidence flag; received {name}={value!r}."
        )
    return float(value)
