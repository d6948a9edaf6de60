"""`AttentionPooling`: self-attentive pooling of a sequence into one vector."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers.argument_checks import check_positive_int, check_rate
from kerattn.layers.masked_attention import attend, score_dtype

POOLING_SCORES = ("bahdanau", "luong")


@keras.saving.register_keras_serializable(package="kerattn")
class AttentionPooling(keras.layers.Layer):
    """Attention pooling over time with a learned query (Yang et al., NAACL 2016).

    - `attention="bahdanau"`: e_j = uᵀ tanh(W h_j + b), the word attention of Yang et al.,
      "Hierarchical Attention Networks for Document Classification" — additive attention whose
      query is a learned vector u (U,).
    - `attention="luong"`: e_j = uᵀ h_j, a dot-product score with a learned query u (D,).

    α_j = softmax_j(e_j) over the real positions, pooled = Σ_j α_j h_j.

    Args:
        units: positive int U, width of the additive projection; only for "bahdanau".
        attention: "bahdanau" (default) or "luong".
        dropout: float in [0, 1), dropout on the attention weights during training.
        seed: optional int, seed of the dropout.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: (B, T, D) sequence h.
        mask: optional boolean (B, T), True for real positions; filled automatically from an
            upstream `Embedding(mask_zero=True)`.
        training: Python bool, enables dropout.
        return_attention_scores: bool, also return the weights.

    Returns:
        pooled (B, D) and, if `return_attention_scores=True`, the weights α (B, T).

    Masking:
        Padded positions get exactly zero weight and never change the pooled vector, whatever
        the scores; a sequence without any real position pools to zeros with all-zero weights
        (never NaN). Under float16/bfloat16 the scores and the softmax run in float32.

    Example:

    >>> pooling = AttentionPooling(units=16)
    >>> pooled, weights = pooling(np.random.rand(2, 7, 8), return_attention_scores=True)
    >>> tuple(pooled.shape), tuple(weights.shape)
    ((2, 8), (2, 7))
    """

    def __init__(
        self,
        units: int | None = None,
        attention: str = "bahdanau",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention not in POOLING_SCORES:
            raise ValueError(
                f"`attention` must be one of {', '.join(repr(s) for s in POOLING_SCORES)}; "
                f"received attention={attention!r}."
            )
        if attention == "bahdanau":
            if units is None:
                raise ValueError(
                    "attention='bahdanau' needs `units`, a positive int; received units=None."
                )
            check_positive_int("units", units)
        elif units is not None:
            raise ValueError(
                f"`units` is only used by attention='bahdanau'; received units={units!r}."
            )
        check_rate("dropout", dropout)
        self.units = units
        self.attention = attention
        self.dropout = dropout
        self.seed = seed
        self.dropout_layer = keras.layers.Dropout(
            dropout, seed=seed, name="weights_dropout", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "AttentionPooling expects inputs of shape (batch, time, features) with known "
                f"features; received shape {tuple(input_shape)}."
            )
        features = input_shape[-1]
        # The score weights are used in float32 under mixed precision (autocast=False), like
        # the scores themselves.
        if self.attention == "bahdanau":
            self.kernel = self.add_weight(
                name="kernel",
                shape=(features, self.units),
                initializer="glorot_uniform",
                autocast=False,
            )
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer="zeros", autocast=False
            )
            query_width = self.units
        else:
            query_width = features
        self.query = self.add_weight(
            name="query", shape=(query_width,), initializer="glorot_uniform", autocast=False
        )
        self.dropout_layer.build(None)
        self.built = True

    def call(self, inputs, mask=None, training=None, return_attention_scores=False):
        # Scores in float32 under float16/bfloat16: u·h overflows float16 for large h.
        score_inputs = ops.cast(inputs, score_dtype(self.compute_dtype))
        if self.attention == "bahdanau":
            keys = ops.tanh(ops.matmul(score_inputs, self.kernel) + self.bias)  # (B, T, U)
        else:
            keys = score_inputs  # (B, T, D)
        scores = ops.expand_dims(ops.matmul(keys, self.query), axis=1)  # (B, 1, T)

        def weights_dropout(weights):
            return self.dropout_layer(weights, training=training)

        pooled, weights = attend(
            scores,
            inputs,
            key_mask=mask,
            weights_dropout=weights_dropout if self.dropout > 0 else None,
        )
        pooled = ops.squeeze(pooled, axis=1)  # (B, D)
        weights = ops.squeeze(weights, axis=1)  # (B, T)
        if return_attention_scores:
            return pooled, weights
        return pooled

    def compute_output_spec(self, inputs, mask=None, training=None, return_attention_scores=False):
        pooled = keras.KerasTensor((inputs.shape[0], inputs.shape[-1]), dtype=self.compute_dtype)
        if not return_attention_scores:
            return pooled
        return pooled, keras.KerasTensor(tuple(inputs.shape[:2]), dtype=self.compute_dtype)

    def compute_mask(self, inputs, previous_mask=None):
        # Pooling removes the time axis, and with it the mask.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "attention": self.attention,
                "dropout": self.dropout,
                "seed": self.seed,
            }
        )
        return config
