"""`BaseAttention`: the shared call path of `BahdanauAttention` and `LuongAttention`."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers import masked_attention
from kerattn.layers.argument_checks import check_rate


class BaseAttention(keras.layers.Layer):
    """Base class of score-based attention layers: score → masked softmax → context.

    Subclasses define the alignment score e_ij = score(q_i, k_j) through two methods, split so
    that a decoder can project the keys once per sequence and score one step at a time:

    - `project_keys(key)`: (B, Tv, Dk) → the key-side part of the score (e.g. W_k k),
      computed in `score_dtype` (cast `key` to it first).
    - `compute_scores(query, projected_keys)`: query (B, Tq, Dq) → scores (B, Tq, Tv); both
      arguments arrive in `score_dtype`.

    Scores are computed in `score_dtype`: float32 when the layer computes in float16 or
    bfloat16 (dot-product scores overflow float16). The weights of the score function are
    created with `add_score_weight` (`autocast=False`), so under mixed precision they enter the
    scores at their float32 precision instead of rounded to float16. Everything after the
    scores (masking by selection, softmax, dropout, weighted sum, zeroing of padded queries) is
    `kerattn.layers.masked_attention.attend`, shared by every layer; context and weights come
    back in the layer's compute dtype.

    Args:
        dropout: float in [0, 1), dropout rate on the attention weights during training.
        seed: optional int, seed of the dropout.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).
    """

    def __init__(self, dropout: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        check_rate("dropout", dropout)
        self.dropout = dropout
        self.seed = seed
        self.dropout_layer = keras.layers.Dropout(
            dropout, seed=seed, name="weights_dropout", dtype=self.dtype_policy
        )

    # -- shape handling ------------------------------------------------------------------------

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        for argument, shape, rank in (("value", value_shape, 3), ("key", key_shape, 3)):
            if len(shape) != rank:
                raise ValueError(
                    f"`{argument}` must have shape (batch, time, features); received a tensor "
                    f"of shape {tuple(shape)}."
                )
        if len(query_shape) not in (2, 3):
            raise ValueError(
                "`query` must have shape (batch, time, features) or, for a single decoder "
                f"step, (batch, features); received a tensor of shape {tuple(query_shape)}."
            )
        self._check_dims(query_dim=query_shape[-1], key_dim=key_shape[-1])
        self.build_score(query_dim=query_shape[-1], key_dim=key_shape[-1])
        self.dropout_layer.build(None)
        self.built = True

    def _check_dims(self, query_dim: int | None, key_dim: int | None) -> None:
        for argument, dim in (("query", query_dim), ("key", key_dim)):
            if dim is None:
                raise ValueError(
                    f"The last dimension of `{argument}` must be known to build "
                    f"{type(self).__name__}; received None."
                )

    def build_score(self, query_dim: int, key_dim: int) -> None:
        """Creates the weights of the score function with `add_score_weight`."""
        raise NotImplementedError

    def add_score_weight(self, name: str, shape: tuple, initializer):
        """A weight of the score function: used in `score_dtype`, never autocast to float16."""
        return self.add_weight(name=name, shape=shape, initializer=initializer, autocast=False)

    def compute_output_spec(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        key = value if key is None else key
        output_shape = tuple(query.shape[:-1]) + (value.shape[-1],)
        context = keras.KerasTensor(output_shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return context
        weights_shape = tuple(query.shape[:-1]) + (key.shape[1],)
        return context, keras.KerasTensor(weights_shape, dtype=self.compute_dtype)

    def compute_mask(self, query, previous_mask=None):
        # The context of query i exists exactly where query i does.
        return previous_mask

    # -- the computation -----------------------------------------------------------------------

    @property
    def score_dtype(self) -> str:
        """The dtype of keys, scores and softmax: float32 for float16/bfloat16 layers."""
        return masked_attention.score_dtype(self.compute_dtype)

    def project_keys(self, key):
        """Key-side part of the score, computed once per source sequence. Default: identity."""
        return ops.cast(key, self.score_dtype)

    def compute_scores(self, query, projected_keys):
        """Alignment scores (B, Tq, Tv) for queries (B, Tq, Dq)."""
        raise NotImplementedError

    def attend(
        self,
        query,
        projected_keys,
        value,
        value_mask=None,
        query_mask=None,
        training=None,
    ):
        """Attention with keys already projected by `project_keys` (the decoder's step path).

        Args:
            query: (B, Tq, Dq), or (B, Dq) for a single step.
            projected_keys: `project_keys(key)`.
            value: (B, Tv, Dv).
            value_mask: optional boolean (B, Tv).
            query_mask: optional boolean (B, Tq), or (B,) for a single step.
            training: Python bool or None.

        Returns:
            `(context, weights)`: (B, Tq, Dv) and (B, Tq, Tv); (B, Dv) and (B, Tv) for a step.
        """
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, axis=1)  # (B, 1, Dq)
            if query_mask is not None:
                query_mask = ops.expand_dims(query_mask, axis=1)  # (B, 1)
        scores = self.compute_scores(
            ops.cast(query, self.score_dtype), ops.cast(projected_keys, self.score_dtype)
        )  # (B, Tq, Tv)

        def weights_dropout(weights):
            return self.dropout_layer(weights, training=training)

        context, weights = masked_attention.attend(
            scores,
            ops.cast(value, self.compute_dtype),
            key_mask=value_mask,
            query_mask=query_mask,
            weights_dropout=weights_dropout if self.dropout > 0 else None,
        )
        if single_step:
            context = ops.squeeze(context, axis=1)  # (B, Dv)
            weights = ops.squeeze(weights, axis=1)  # (B, Tv)
        return context, weights

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        key = value if key is None else key
        context, weights = self.attend(
            query,
            self.project_keys(key),
            value,
            value_mask=value_mask,
            query_mask=query_mask,
            training=training,
        )
        if return_attention_scores:
            return context, weights
        return context

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout, "seed": self.seed})
        return config
