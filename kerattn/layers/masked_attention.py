"""The one implementation of masking → softmax → (dropout) → context that every kerattn
attention layer shares.

Masking is done by selection, never by replacing padded scores with a fixed "very negative"
number (any fixed number is beaten by valid scores below it, and then the padding wins): the
softmax subtracts the maximum over the *valid* keys only, exponentiates, keeps the valid keys
with `where` and normalises by a denominator that is replaced by 1 where a row has no valid
key. Hence padded keys get exactly zero weight whatever the scores are, a row without any valid
key gets all-zero weights (not the uniform distribution a plain softmax would give, and never
NaN), padded queries get all-zero weights and a zero context, and no gradient reaches padded
scores.

Under float16/bfloat16 the scores, the softmax and the weighted sum run in float32
(`score_dtype`): dot-product scores overflow float16 long before their softmax saturates.
"""

from __future__ import annotations

from typing import Callable

from keras import backend, ops

_LOW_PRECISION_DTYPES = ("float16", "bfloat16")


def score_dtype(dtype) -> str:
    """The dtype that scores, softmax and context are computed in for a layer of `dtype`.

    float32 for float16/bfloat16 (their range and precision are too small for dot-product
    scores and for the exponentials), the dtype itself otherwise (float32 or float64).
    """
    dtype = backend.standardize_dtype(dtype)
    return "float32" if dtype in _LOW_PRECISION_DTYPES else dtype


def _valid_key_softmax(scores, key_mask=None, query_mask=None):
    """`masked_softmax` in `score_dtype(scores.dtype)`; see there."""
    scores = ops.cast(scores, score_dtype(scores.dtype))
    if key_mask is None:
        weights = ops.softmax(scores, axis=-1)
    else:
        valid = ops.expand_dims(ops.cast(key_mask, "bool"), axis=-2)  # (B, 1, Tv)
        # The maximum over the valid keys alone (-inf in rows without any).
        valid_scores = ops.where(valid, scores, float("-inf"))  # (B, Tq, Tv)
        row_max = ops.max(valid_scores, axis=-1, keepdims=True)  # (B, Tq, 1)
        has_valid_key = ops.any(valid, axis=-1, keepdims=True)  # (B, 1, 1)
        # The shift does not change the softmax, so it needs no gradient.
        row_max = ops.stop_gradient(ops.where(has_valid_key, row_max, 0.0))
        # Valid keys: exp(score - max) in (0, 1]. Padded keys: exactly 0, whatever their score.
        exponentials = ops.where(valid, ops.exp(ops.where(valid, scores - row_max, 0.0)), 0.0)
        denominator = ops.sum(exponentials, axis=-1, keepdims=True)  # (B, Tq, 1)
        # ≥ 1 where a valid key exists (the maximum contributes exp(0) = 1); 0 only in rows
        # without any valid key, whose numerators are all 0.
        denominator = ops.where(denominator > 0, denominator, 1.0)
        weights = exponentials / denominator
    if query_mask is not None:
        query_mask = ops.expand_dims(ops.cast(query_mask, "bool"), axis=-1)  # (B, Tq, 1)
        weights = ops.where(query_mask, weights, 0.0)
    return weights


def masked_softmax(scores, key_mask=None, query_mask=None):
    """Softmax over the last axis restricted to valid keys.

    Computed in `score_dtype(scores.dtype)` (float32 for float16/bfloat16 scores).

    Args:
        scores: float tensor (B, Tq, Tv).
        key_mask: optional boolean tensor (B, Tv), True for real keys.
        query_mask: optional boolean tensor (B, Tq), True for real queries.

    Returns:
        Weights (B, Tq, Tv) in the dtype of `scores`: each row with at least one valid key sums
        to 1, padded keys have weight exactly 0 whatever their scores, rows of padded queries
        and rows without any valid key are all zeros.
    """
    weights = _valid_key_softmax(scores, key_mask=key_mask, query_mask=query_mask)
    return ops.cast(weights, scores.dtype)


def attend(
    scores,
    value,
    key_mask=None,
    query_mask=None,
    weights_dropout: Callable | None = None,
):
    """Turns alignment scores into attention weights and the context vectors.

    The softmax and the weighted sum run in `score_dtype(value.dtype)` (float32 for
    float16/bfloat16 values); context and weights are returned in the dtype of `value`.

    Args:
        scores: float tensor (B, Tq, Tv), ideally already in `score_dtype` (float16 scores
            may have overflowed before they get here).
        value: float tensor (B, Tv, Dv).
        key_mask: optional boolean tensor (B, Tv), True for real keys/values.
        query_mask: optional boolean tensor (B, Tq), True for real queries.
        weights_dropout: optional callable applied to the weights before they weight the
            values (training-time attention dropout). The returned weights are the ones before
            dropout, so they always form a distribution.

    Returns:
        `(context, weights)`: context (B, Tq, Dv) = Σ_j α_ij v_j, weights (B, Tq, Tv).
    """
    value = ops.convert_to_tensor(value)
    compute_dtype = score_dtype(value.dtype)
    weights = _valid_key_softmax(
        ops.cast(scores, compute_dtype), key_mask=key_mask, query_mask=query_mask
    )
    used_weights = weights if weights_dropout is None else weights_dropout(weights)
    context = ops.matmul(
        ops.cast(used_weights, compute_dtype), ops.cast(value, compute_dtype)
    )  # (B, Tq, Dv)
    return ops.cast(context, value.dtype), ops.cast(weights, value.dtype)
