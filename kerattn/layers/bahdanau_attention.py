"""`BahdanauAttention`: additive attention (Bahdanau, Cho & Bengio, 2015)."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers.argument_checks import check_positive_int
from kerattn.layers.base_attention import BaseAttention


@keras.saving.register_keras_serializable(package="kerattn")
class BahdanauAttention(BaseAttention):
    """Additive attention: e_ij = vᵀ tanh(W_q q_i + W_k k_j [+ b]).

    Implements the alignment model of Bahdanau, Cho & Bengio, "Neural Machine Translation by
    Jointly Learning to Align and Translate" (ICLR 2015), followed by α_ij = softmax_j(e_ij)
    over the real keys and c_i = Σ_j α_ij v_j. With `normalize=True`, v is weight-normalised,
    v = g · v / ‖v‖ with a learned scalar g (Salimans & Kingma, 2016), as in the normalised
    Bahdanau variant of TensorFlow Addons (which also uses `use_bias=True`).

    Unlike `keras.layers.AdditiveAttention`, the layer owns the projections W_q and W_k, so
    query and key may have different widths, and `project_keys` lets a decoder compute W_k k
    once per source sentence instead of once per step.

    Args:
        units: positive int, width U of the projections W_q (Dq×U) and W_k (Dk×U).
        use_bias: bool, adds a learned bias b (U,) inside the tanh. Default False.
        normalize: bool, weight-normalises the score vector v. Default False.
        dropout: float in [0, 1), dropout on the attention weights during training.
        seed: optional int, seed of the dropout.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        query: (B, Tq, Dq) decoder states, or (B, Dq) for a single decoder step.
        value: (B, Tv, Dv) encoder states h_j.
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
        selection, not by a replacement score); each row with a valid key sums to 1; a row
        without any valid key and the row of a padded query are all zeros, so their context is
        zero (never NaN). Under mixed_float16/bfloat16, scores and softmax run in float32.
        Masks from an upstream `Embedding(mask_zero=True)` fill `query_mask`/`value_mask`
        automatically; pass them explicitly after recurrent layers.

    Example:

    >>> attention = BahdanauAttention(units=8)
    >>> query = np.random.rand(2, 3, 4).astype("float32")
    >>> value = np.random.rand(2, 5, 6).astype("float32")
    >>> context, weights = attention(query, value, return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 3, 6), (2, 3, 5))
    """

    def __init__(
        self,
        units: int,
        use_bias: bool = False,
        normalize: bool = False,
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        check_positive_int("units", units)
        self.units = units
        self.use_bias = use_bias
        self.normalize = normalize

    def build_score(self, query_dim: int, key_dim: int) -> None:
        self.query_kernel = self.add_score_weight(
            "query_kernel", (query_dim, self.units), "glorot_uniform"
        )
        self.key_kernel = self.add_score_weight(
            "key_kernel", (key_dim, self.units), "glorot_uniform"
        )
        self.bias = self.add_score_weight("bias", (self.units,), "zeros") if self.use_bias else None
        self.score_vector = self.add_score_weight("score_vector", (self.units,), "glorot_uniform")
        self.score_gain = (
            self.add_score_weight(
                "score_gain", (), keras.initializers.Constant((1.0 / self.units) ** 0.5)
            )
            if self.normalize
            else None
        )

    def project_keys(self, key):
        projected = ops.matmul(ops.cast(key, self.score_dtype), self.key_kernel)  # (B, Tv, U)
        if self.bias is not None:
            projected = projected + self.bias
        return projected

    def compute_scores(self, query, projected_keys):
        projected_query = ops.matmul(query, self.query_kernel)  # (B, Tq, U)
        hidden = ops.tanh(
            ops.expand_dims(projected_query, axis=2)  # (B, Tq, 1, U)
            + ops.expand_dims(projected_keys, axis=1)  # (B, 1, Tv, U)
        )  # (B, Tq, Tv, U)
        score_vector = self.score_vector
        if self.score_gain is not None:
            score_vector = self.score_gain * score_vector / ops.norm(score_vector)
        return ops.matmul(hidden, score_vector)  # (B, Tq, Tv)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "use_bias": self.use_bias, "normalize": self.normalize})
        return config
