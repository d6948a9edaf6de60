"""The one implementation of masking → softmax → (dropout) → context that every kerattn
attention layer shares.

Scores of padded keys are replaced (not offset) by a large negative number and the softmax is
computed in float32, so float16/bfloat16 scores can neither overflow nor produce NaN. The
weights are then multiplied by the mask: padded keys get exactly zero weight, a row without any
valid key gets all-zero weights (not the uniform distribution a plain softmax would give), and
padded queries get all-zero weights and therefore a zero context.
"""

from __future__ import annotations

from typing import Callable

from keras import ops

# Any score below this is far outside what tanh-bounded or dot-product scores reach, and its
# exponential underflows to exactly 0 in float32 after the softmax's max subtraction.
_MASKED_SCORE = -1e9


def masked_softmax(scores, key_mask=None, query_mask=None):
    """Softmax over the last axis restricted to valid keys.

    Args:
        scores: float tensor (B, Tq, Tv).
        key_mask: optional boolean tensor (B, Tv), True for real keys.
        query_mask: optional boolean tensor (B, Tq), True for real queries.

    Returns:
        Weights (B, Tq, Tv) in the dtype of `scores`: each row with at least one valid key sums
        to 1, padded keys have weight exactly 0, rows of padded queries and rows without any
        valid key are all zeros.
    """
    float_scores = ops.cast(scores, "float32")
    if key_mask is not None:
        key_mask = ops.expand_dims(ops.cast(key_mask, "bool"), axis=-2)  # (B, 1, Tv)
        float_scores = ops.where(key_mask, float_scores, _MASKED_SCORE)
    weights = ops.softmax(float_scores, axis=-1)
    if key_mask is not None:
        # Exact zeros on padding, and zero rows instead of uniform ones when nothing is valid.
        weights = weights * ops.cast(key_mask, weights.dtype)
    if query_mask is not None:
        query_mask = ops.expand_dims(ops.cast(query_mask, weights.dtype), axis=-1)  # (B, Tq, 1)
        weights = weights * query_mask
    return ops.cast(weights, scores.dtype)


def attend(
    scores,
    value,
    key_mask=None,
    query_mask=None,
    weights_dropout: Callable | None = None,
):
    """Turns alignment scores into attention weights and the context vectors.

    Args:
        scores: float tensor (B, Tq, Tv).
        value: float tensor (B, Tv, Dv).
        key_mask: optional boolean tensor (B, Tv), True for real keys/values.
        query_mask: optional boolean tensor (B, Tq), True for real queries.
        weights_dropout: optional callable applied to the weights before they weight the
            values (training-time attention dropout). The returned weights are the ones before
            dropout, so they always form a distribution.

    Returns:
        `(context, weights)`: context (B, Tq, Dv) = Σ_j α_ij v_j, weights (B, Tq, Tv).
    """
    weights = masked_softmax(scores, key_mask=key_mask, query_mask=query_mask)
    used_weights = weights if weights_dropout is None else weights_dropout(weights)
    context = ops.matmul(used_weights, ops.cast(value, used_weights.dtype))  # (B, Tq, Dv)
    return context, weights
