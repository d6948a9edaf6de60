"""Attention diagnostics: what an attention matrix says about where a model looks (numpy).

Every function takes one attention matrix `weights` of shape (T, S): row t is the distribution
over the S source tokens for output step t (a classifier's pooling weights are one row, T = 1).
Rows are expected to sum to 1; padded rows/columns must already be cut off (as
`Translation.attention` and `Classification.token_weights` are).
"""

from __future__ import annotations

import numpy as np


def _as_matrix(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 1:
        weights = weights[np.newaxis]  # (1, S)
    if weights.ndim != 2:
        raise ValueError(
            f"attention weights must have shape (T, S) or (S,); received {weights.shape}."
        )
    return weights


def row_entropies(weights) -> np.ndarray:
    """Entropy (nats) of each row, −Σ_s p log p; uniform rows over S tokens give log S.

    Returns:
        float64 (T,); 0 for an empty source.
    """
    weights = _as_matrix(weights)
    positive = np.where(weights > 0, weights, 1.0)
    return -(weights * np.log(positive)).sum(axis=1)


def mean_entropy(weights) -> float:
    """Mean row entropy in nats: low = focused attention, log S = uniform."""
    entropies = row_entropies(weights)
    return float(entropies.mean()) if entropies.size else 0.0


def late_source_share(weights, fraction: float = 0.2) -> float:
    """Share of the attention mass on the last `fraction` of the source positions.

    The last ⌈fraction · S⌉ positions count (at least one). A uniform matrix gives about
    `fraction`; a model biased toward the end of the input (e.g. the `[END]` token) scores
    higher. Returns 0 for an empty matrix.
    """
    weights = _as_matrix(weights)
    sources = weights.shape[1]
    total = weights.sum()
    if sources == 0 or total <= 0:
        return 0.0
    late = max(1, int(np.ceil(fraction * sources)))
    return float(weights[:, sources - late :].sum() / total)


def monotonicity(weights) -> float:
    """Fraction of output steps whose attention argmax does not move backwards.

    Over the T − 1 transitions t−1 → t, counts argmax_t ≥ argmax_{t−1}. A diagonal (monotonic)
    alignment gives 1.0, a reversed one 0.0. One output step or fewer: 1.0.
    """
    weights = _as_matrix(weights)
    if weights.shape[0] < 2 or weights.shape[1] == 0:
        return 1.0
    positions = weights.argmax(axis=1)  # (T,)
    return float(np.mean(positions[1:] >= positions[:-1]))


def diagonal_deviation(weights) -> float:
    """Mean absolute distance of the attention argmax from the length-scaled diagonal.

    Step t of T is expected at relative source position t / (T − 1), argmax a_t is at
    a_t / (S − 1); the result is mean_t |a_t/(S−1) − t/(T−1)|, in fractions of the source
    length (0 = on the diagonal, up to 1). Rows or columns of length 1 count as position 0.
    """
    weights = _as_matrix(weights)
    targets, sources = weights.shape
    if targets == 0 or sources == 0:
        return 0.0
    positions = weights.argmax(axis=1) / max(sources - 1, 1)  # (T,) in [0, 1]
    expected = np.arange(targets) / max(targets - 1, 1)  # (T,) in [0, 1]
    return float(np.mean(np.abs(positions - expected)))


def summarize(weights, translation: bool = True) -> dict[str, float]:
    """All diagnostics of one matrix: entropy, late-source share, and for translation
    monotonicity and diagonal deviation."""
    result = {"entropy": mean_entropy(weights), "late_source_share": late_source_share(weights)}
    if translation:
        result["monotonicity"] = monotonicity(weights)
        result["diagonal_deviation"] = diagonal_deviation(weights)
    return result
