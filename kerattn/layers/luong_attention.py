"""`LuongAttention`: multiplicative and concat attention (Luong, Pham & Manning, 2015)."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers.argument_checks import check_positive_int
from kerattn.layers.base_attention import BaseAttention

SCORES = ("dot", "general", "concat")


@keras.saving.register_keras_serializable(package="kerattn")
class LuongAttention(BaseAttention):
    """Luong attention with the score functions of Luong, Pham & Manning (EMNLP 2015).

    - `score="dot"`:     e_ij = q_iᵀ k_j                      (needs Dq == Dk)
    - `score="general"`: e_ij = q_iᵀ W k_j,   W (Dq×Dk) stored as `kernel` (Dk, Dq) = Wᵀ
    - `score="concat"`:  e_ij = vᵀ tanh(W [q_i; k_j]),  W stored as `kernel` (Dq + Dk, U)

    optionally multiplied by a learned scalar (`use_scale`, named like the option of
    `keras.layers.Attention`), then α_ij = softmax_j(e_ij) over the real keys and
    c_i = Σ_j α_ij v_j.

    Args:
        score: one of "dot", "general", "concat". Default "dot".
        units: positive int U, only for `score="concat"` (width of W [q; k]).
        use_scale: bool, multiplies the scores by a learned scalar initialised to 1.
        dropout: float in [0, 1), dropout on the attention weights during training.
        seed: optional int, seed of the dropout.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        query: (B, Tq, Dq) decoder states, or (B, Dq) for a single decoder step.
        value: (B, Tv, Dv) encoder states.
        key: optional (B, Tv, Dk); defaults to `value`.
        query_mask: optional boolean (B, Tq) (or (B,)), True for real queries.
        value_mask: optional boolean (B, Tv), True for real source positions.
        training: Python bool, enables dropout.
        return_attention_scores: bool, also return the attention weights.

    Returns:
        The context (B, Tq, Dv) — or (B, Dv) for a single step — and, if
        `return_attention_scores=True`, the weights α (B, Tq, Tv) — or (B, Tv) — as a tuple.

    Masking:
        Padded keys get exactly zero weight whatever their scores (the softmax is masked by
        selection, not by a replacement score that very negative valid scores could beat); each
        row with a valid key sums to 1; a row without any valid key and the row of a padded
        query are all zeros, never NaN. Under mixed_float16/bfloat16, scores and softmax run in
        float32 (dot-product scores overflow float16). Masks from an upstream
        `Embedding(mask_zero=True)` fill `query_mask`/`value_mask` automatically; pass them
        explicitly after recurrent layers.

    Example:

    >>> attention = LuongAttention(score="general")
    >>> query = np.random.rand(2, 4).astype("float32")      # one decoder step
    >>> value = np.random.rand(2, 5, 6).astype("float32")
    >>> context, weights = attention(query, value, return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 6), (2, 5))
    """

    def __init__(
        self,
        score: str = "dot",
        units: int | None = None,
        use_scale: bool = False,
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score not in SCORES:
            raise ValueError(
                f"`score` must be one of {', '.join(repr(s) for s in SCORES)}; "
                f"received score={score!r}."
            )
        if score == "concat":
            if units is None:
                raise ValueError(
                    "score='concat' needs `units`, a positive int (the width of W [q; k]); "
                    "received units=None."
                )
            check_positive_int("units", units)
        elif units is not None:
            raise ValueError(
                f"`units` is only used by score='concat'; received units={units!r} with "
                f"score={score!r}."
            )
        self.score = score
        self.units = units
        self.use_scale = use_scale

    def build_score(self, query_dim: int, key_dim: int) -> None:
        if self.score == "dot" and query_dim != key_dim:
            raise ValueError(
                "score='dot' needs query and key of the same width; received query width "
                f"{query_dim} and key width {key_dim}. Use score='general' for different widths."
            )
        self.query_dim = query_dim
        if self.score == "general":
            self.kernel = self.add_score_weight("kernel", (key_dim, query_dim), "glorot_uniform")
        elif self.score == "concat":
            self.kernel = self.add_score_weight(
                "kernel", (query_dim + key_dim, self.units), "glorot_uniform"
            )
            self.score_vector = self.add_score_weight(
                "score_vector", (self.units,), "glorot_uniform"
            )
        self.scale = self.add_score_weight("scale", (), "ones") if self.use_scale else None

    def project_keys(self, key):
        key = ops.cast(key, self.score_dtype)
        if self.score == "general":
            return ops.matmul(key, self.kernel)  # (B, Tv, Dq)
        if self.score == "concat":
            # W [q; k] = W_q q + W_k k with W_k the lower block of W.
            return ops.matmul(key, self.kernel[self.query_dim :])  # (B, Tv, U)
        return key

    def compute_scores(self, query, projected_keys):
        if self.score == "concat":
            projected_query = ops.matmul(query, self.kernel[: self.query_dim])  # (B, Tq, U)
            hidden = ops.tanh(
                ops.expand_dims(projected_query, axis=2)  # (B, Tq, 1, U)
                + ops.expand_dims(projected_keys, axis=1)  # (B, 1, Tv, U)
            )  # (B, Tq, Tv, U)
            scores = ops.matmul(hidden, self.score_vector)  # (B, Tq, Tv)
        else:
            scores = ops.matmul(query, ops.transpose(projected_keys, (0, 2, 1)))  # (B, Tq, Tv)
        if self.scale is not None:
            scores = scores * self.scale
        return scores

    def get_config(self):
        config = super().get_config()
        config.update({"score": self.score, "units": self.units, "use_scale": self.use_scale})
        return config
