"""The training loss: token cross-entropy with label smoothing, on float32 logits."""

from __future__ import annotations

import tensorflow as tf


def token_cross_entropy(logits, targets, weights, label_smoothing: float = 0.0):
    """Per-position cross-entropy on logits, times `weights` (0 on padding).

    Label smoothing ε mixes the one-hot target with the uniform distribution over the V
    classes: loss = (1 − ε) · (−log p_y) + ε · mean_v(−log p_v).

    Args:
        logits: (..., V), any float dtype (computed in float32).
        targets: int (...).
        weights: float32 (...).
    Returns:
        float32 (...).
    """
    logits = tf.cast(logits, tf.float32)
    negative_log_likelihood = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    if label_smoothing:
        uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
        negative_log_likelihood = (
            1.0 - label_smoothing
        ) * negative_log_likelihood + label_smoothing * uniform
    return negative_log_likelihood * weights
