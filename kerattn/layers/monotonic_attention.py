"""Monotonic attention (Raffel et al., 2017): `BahdanauMonotonicAttention`,
`LuongMonotonicAttention`, their shared base `MonotonicAttention` and the alignment recurrence
`monotonic_alignment`."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerattn.layers.bahdanau_attention import BahdanauAttention
from kerattn.layers.base_attention import BaseAttention
from kerattn.layers.luong_attention import LuongAttention

MODES = ("parallel", "recursive", "hard")
# The smallest divisor of the parallel form (TensorFlow Addons' choice).
CUMPROD_FLOOR = 1e-10


def _shift_right(values, fill: float):
    """values (B, T) → [fill, values_0, …, values_{T-2}] (B, T)."""
    return ops.pad(values[:, :-1], [[0, 0], [1, 0]], constant_values=fill)


def _safe_exclusive_cumprod(values):
    """Π_{k<j} values_k along the last axis of (B, T), in log space with values clipped to
    [tiny, 1], so that zeros underflow to exactly 0 instead of giving log(0) = -inf gradients."""
    tiny = float(np.finfo(keras.backend.standardize_dtype(values.dtype)).tiny)
    logs = ops.log(ops.clip(values, tiny, 1.0))  # (B, T)
    return ops.exp(ops.cumsum(_shift_right(logs, 0.0), axis=-1))  # (B, T)


def monotonic_alignment(choose_probabilities, previous_alignment, mode: str = "parallel"):
    """One step of Raffel et al.'s monotonic alignment recurrence.

    With p_j the probability of stopping at memory entry j (`choose_probabilities`) and
    α_{i-1} the previous alignment, the expected alignment is

        α_ij = p_ij Σ_{k≤j} α_{i-1,k} Π_{l=k}^{j-1} (1 - p_il)
             = p_ij q_ij,   q_ij = (1 - p_{i,j-1}) q_{i,j-1} + α_{i-1,j}.

    Args:
        choose_probabilities: float (B, Tv), p_ij in [0, 1].
        previous_alignment: float (B, Tv), α_{i-1}.
        mode: "parallel" (the closed form α_i = p_i · cumprod(1 - p_i) ·
            cumsum(α_{i-1} / cumprod(1 - p_i)), exclusive cumulative product computed in log
            space and clipped to [1e-10, 1] as a divisor, as TensorFlow Addons does),
            "recursive" (the recurrence for q, a loop over Tv: exact, slower) or "hard"
            (p must be 0/1: attend to the first chosen entry at or after the previous one).

    Returns:
        float (B, Tv), the alignment α_i. Entries with p_ij = 0 get exactly 0 and pass the
        mass on unchanged, which is how padded memory entries are taken out.
    """
    if mode not in MODES:
        raise ValueError(
            f"`mode` must be one of {', '.join(repr(m) for m in MODES)}; received mode={mode!r}."
        )
    p = choose_probabilities
    if mode == "hard":
        # Nothing before the previously chosen entry, then the first entry chosen after it.
        p = p * ops.cumsum(previous_alignment, axis=-1)
        return p * ops.cumprod(_shift_right(1.0 - p, 1.0), axis=-1)
    if mode == "parallel":
        cumprod_one_minus_p = _safe_exclusive_cumprod(1.0 - p)  # (B, Tv)
        divisor = ops.clip(cumprod_one_minus_p, CUMPROD_FLOOR, 1.0)
        return p * cumprod_one_minus_p * ops.cumsum(previous_alignment / divisor, axis=-1)
    # recursive: q_j = (1 - p_{j-1}) q_{j-1} + α_{i-1,j}, q_0 = α_{i-1,0}
    carried = _shift_right(1.0 - p, 1.0)  # (B, Tv)
    # One scanned tensor (Keras's TensorFlow scan fails on several `xs` of unknown length).
    steps = ops.transpose(ops.stack([carried, previous_alignment], axis=-1), (1, 0, 2))
    # (Tv, B, 2)

    def step(q, factors):
        q = factors[:, 0] * q + factors[:, 1]  # (B,)
        return q, q

    _, q = ops.scan(step, ops.zeros_like(p[:, 0]), steps)  # (Tv, B)
    return p * ops.transpose(q, (1, 0))  # (B, Tv)


class MonotonicAttention(BaseAttention):
    """Base of the monotonic attention layers: energies → choosing probabilities → monotonic
    alignment → context. Subclasses combine it with a score function (`BahdanauAttention`,
    `LuongAttention`); see `BahdanauMonotonicAttention` for the equations.

    Args:
        sigmoid_noise: float ≥ 0, standard deviation of the Gaussian noise added to the
            energies before the sigmoid, during training only.
        score_bias_init: float, initial value of the learned scalar energy bias r.
        mode: "parallel", "recursive" or "hard" (see `monotonic_alignment`; "hard" applies at
            inference, training uses the parallel expected alignment).
        dropout: float in [0, 1), dropout on the weights that form the context (training).
        seed: optional int, seed of the noise and the dropout.
    """

    def _init_monotonic(self, sigmoid_noise, score_bias_init, mode) -> None:
        if mode not in MODES:
            raise ValueError(
                f"`mode` must be one of {', '.join(repr(m) for m in MODES)}; "
                f"received mode={mode!r}."
            )
        if (
            isinstance(sigmoid_noise, bool)
            or not isinstance(sigmoid_noise, (int, float))
            or not sigmoid_noise >= 0
        ):
            raise ValueError(
                f"`sigmoid_noise` must be a float ≥ 0; received sigmoid_noise={sigmoid_noise!r}."
            )
        if isinstance(score_bias_init, bool) or not isinstance(score_bias_init, (int, float)):
            raise ValueError(
                f"`score_bias_init` must be a float; received score_bias_init={score_bias_init!r}."
            )
        self.sigmoid_noise = sigmoid_noise
        self.score_bias_init = score_bias_init
        self.mode = mode
        # Offset from the dropout's seed so that noise and dropout masks are independent.
        self.noise_seed_generator = keras.random.SeedGenerator(
            None if self.seed is None else self.seed + 1
        )

    def build_score(self, query_dim: int, key_dim: int) -> None:
        super().build_score(query_dim, key_dim)
        self.score_bias = self.add_score_weight(
            "score_bias", (), keras.initializers.Constant(float(self.score_bias_init))
        )

    def compute_scores(self, query, projected_keys):
        return super().compute_scores(query, projected_keys) + self.score_bias

    def initial_alignment(self, value=None, value_mask=None):
        """α_0 (B, Tv) in `score_dtype`: 1 on the first real memory entry, 0 elsewhere (all
        zeros for a row without real entries). Needs `value` (B, Tv, Dv) or `value_mask`."""
        if value_mask is None:
            if value is None:
                raise ValueError(
                    "initial_alignment needs `value` or `value_mask`; received neither."
                )
            real = ops.ones(ops.shape(value)[:2], dtype="bool")  # (B, Tv)
        else:
            real = ops.cast(value_mask, "bool")
        first = ops.logical_and(real, ops.cumsum(ops.cast(real, "int32"), axis=-1) == 1)
        return ops.cast(first, self.score_dtype)

    def draw_noise(self, shape):
        """Standard normal noise for the energies, from the layer's own seed generator."""
        return keras.random.normal(shape, dtype=self.score_dtype, seed=self.noise_seed_generator)

    def monotonic_attend(
        self,
        query,
        projected_keys,
        value,
        previous_alignment=None,
        value_mask=None,
        query_mask=None,
        training=None,
        noise=None,
    ):
        """Monotonic attention with keys already projected by `project_keys` (the decoder's
        step path).

        Args:
            query: (B, Tq, Dq), or (B, Dq) for a single step.
            projected_keys: `project_keys(key)`.
            value: (B, Tv, Dv).
            previous_alignment: optional (B, Tv), the alignment before the first query;
                defaults to `initial_alignment`.
            value_mask: optional boolean (B, Tv). query_mask: optional boolean (B, Tq) or (B,).
            training: Python bool or None: noise and dropout only when true.
            noise: optional standard normal noise shaped like the scores ((B, Tq, Tv) or
                (B, Tv)) to use instead of drawing it (a loop can draw it once, outside).

        Returns:
            `(context, alignment)`: context in the compute dtype, (B, Tq, Dv) or (B, Dv); the
            alignment in `score_dtype`, (B, Tq, Tv) or (B, Tv).
        """
        dtype = self.score_dtype
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, axis=1)  # (B, 1, Dq)
        scores = self.compute_scores(
            ops.cast(query, dtype), ops.cast(projected_keys, dtype)
        )  # (B, Tq, Tv)
        if training and self.sigmoid_noise > 0:
            if noise is None:
                noise = self.draw_noise(ops.shape(scores))
            noise = ops.reshape(ops.cast(noise, dtype), ops.shape(scores))
            scores = scores + self.sigmoid_noise * noise
        hard = self.mode == "hard" and not training
        if hard:
            choose = ops.cast(scores > 0, dtype)
        else:
            choose = ops.sigmoid(scores)  # (B, Tq, Tv)
        if value_mask is not None:
            valid = ops.expand_dims(ops.cast(value_mask, "bool"), axis=1)  # (B, 1, Tv)
            # p = 0: a padded entry is skipped, α stays exactly 0 there.
            choose = ops.where(valid, choose, 0.0)
        if previous_alignment is None:
            previous_alignment = self.initial_alignment(value, value_mask)
        previous_alignment = ops.cast(previous_alignment, dtype)
        mode = "hard" if hard else ("recursive" if self.mode == "recursive" else "parallel")

        if single_step:
            alignment = monotonic_alignment(choose[:, 0], previous_alignment, mode)  # (B, Tv)
            if query_mask is not None:
                alignment = ops.where(
                    ops.expand_dims(ops.cast(query_mask, "bool"), -1), alignment, 0.0
                )
            weights = ops.expand_dims(alignment, axis=1)  # (B, 1, Tv)
        else:
            if query_mask is None:
                query_mask = ops.ones(ops.shape(choose)[:2], dtype="bool")  # (B, Tq)
            keep_channel = ops.expand_dims(ops.cast(query_mask, dtype), axis=-1)  # (B, Tq, 1)
            steps = ops.concatenate([choose, keep_channel], axis=-1)  # (B, Tq, Tv + 1)
            steps = ops.transpose(steps, (1, 0, 2))  # (Tq, B, Tv + 1)

            def step(carried_alignment, step_inputs):
                keep = step_inputs[:, -1:] > 0.5  # (B, 1)
                new = monotonic_alignment(step_inputs[:, :-1], carried_alignment, mode)
                # A padded query carries the alignment over and gets no weight itself.
                return ops.where(keep, new, carried_alignment), ops.where(keep, new, 0.0)

            _, weights = ops.scan(step, previous_alignment, steps)  # (Tq, B, Tv)
            weights = ops.transpose(weights, (1, 0, 2))  # (B, Tq, Tv)
            alignment = weights
        used_weights = weights
        if self.dropout > 0:
            used_weights = ops.cast(self.dropout_layer(weights, training=training), dtype)
        context = ops.matmul(used_weights, ops.cast(value, dtype))  # (B, Tq, Dv)
        if single_step:
            context = ops.squeeze(context, axis=1)  # (B, Dv)
        return ops.cast(context, self.compute_dtype), alignment

    def attend(
        self,
        query,
        projected_keys,
        value,
        value_mask=None,
        query_mask=None,
        training=None,
        previous_alignment=None,
    ):
        """`monotonic_attend` with the weights in the compute dtype, as `BaseAttention.attend`."""
        context, alignment = self.monotonic_attend(
            query,
            projected_keys,
            value,
            previous_alignment=previous_alignment,
            value_mask=value_mask,
            query_mask=query_mask,
            training=training,
        )
        return context, ops.cast(alignment, self.compute_dtype)

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        previous_alignment=None,
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
            previous_alignment=previous_alignment,
        )
        if return_attention_scores:
            return context, weights
        return context

    def compute_output_spec(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        previous_alignment=None,
        training=None,
        return_attention_scores=False,
    ):
        return super().compute_output_spec(
            query, value, key=key, return_attention_scores=return_attention_scores
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sigmoid_noise": self.sigmoid_noise,
                "score_bias_init": self.score_bias_init,
                "mode": self.mode,
            }
        )
        return config


_EQUATIONS = """
    For decoder step i, memory entries j = 1…Tv, energies e_ij and choosing probabilities

        p_ij = σ(e_ij + r + ε_ij),   ε_ij ~ N(0, sigmoid_noise²) in training only,

    the expected monotonic alignment (Raffel et al., 2017, eq. 9) is

        α_ij = p_ij Σ_{k≤j} α_{i-1,k} Π_{l=k}^{j-1} (1 - p_il),

    computed in parallel over j as α_i = p_i · cumprod(1 - p_i) · cumsum(α_{i-1} /
    cumprod(1 - p_i)) (exclusive cumulative product, in log space, clipped as TensorFlow
    Addons did), and c_i = Σ_j α_ij v_j. α_0 is 1 on the first real memory entry. Unlike a
    softmax, α_i may sum to less than 1: the mass that passed the last entry is lost.
"""


@keras.saving.register_keras_serializable(package="kerattn")
class BahdanauMonotonicAttention(MonotonicAttention, BahdanauAttention):
    """Monotonic attention with additive energies: e_ij = vᵀ tanh(W_q q_i + W_k k_j [+ b]) + r.

    Implements Raffel, Luong, Liu, Weiss & Eck, "Online and Linear-Time Attention by Enforcing
    Monotonic Alignments" (ICML 2017), as TensorFlow Addons' `BahdanauMonotonicAttention`.
    {equations}
    Raffel et al. use `normalize=True, use_bias=True` (their energy g vᵀ/‖v‖ tanh(W s + V h + b)
    + r), `sigmoid_noise=1.0` and `score_bias_init=-4.0` for long inputs.

    Args:
        units: positive int, width U of W_q (Dq×U) and W_k (Dk×U).
        use_bias: bool, a learned bias b (U,) inside the tanh. Default False.
        normalize: bool, weight-normalises v (v = g · v / ‖v‖, learned scalar g).
        sigmoid_noise: float ≥ 0, std of the pre-sigmoid noise, training only. Default 0.
        score_bias_init: float, initial value of the learned scalar r. Default 0.
        mode: "parallel" (default), "recursive" (exact loop over Tv, slower) or "hard"
            (inference attends to exactly one entry, p = [e > 0], the first chosen at or
            after the previous one; training still uses the parallel expected alignment,
            since the hard one has no gradient).
        dropout: float in [0, 1), dropout on the weights that form the context (training).
        seed: optional int, seed of the noise and of the dropout.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        query: (B, Tq, Dq) decoder states, or (B, Dq) for a single decoder step.
        value: (B, Tv, Dv) encoder states.
        key: optional (B, Tv, Dk); defaults to `value`.
        query_mask: optional boolean (B, Tq) (or (B,)), True for real queries.
        value_mask: optional boolean (B, Tv), True for real source positions.
        previous_alignment: optional (B, Tv), α before the first query; defaults to α_0.
            Pass a step's returned weights to the next step.
        training: Python bool, enables noise and dropout.
        return_attention_scores: bool, also return the alignment.

    Returns:
        The context (B, Tq, Dv) — or (B, Dv) — and, if `return_attention_scores=True`, the
        alignment α (B, Tq, Tv) — or (B, Tv) — as a tuple.

    Masking:
        Padded memory entries get p = 0, so their weight is exactly 0 and the recurrence
        passes over them unchanged: real outputs do not depend on the amount (or place) of the
        padding. A padded query gets zero weights and zero context and carries the alignment
        over to the next query. A row without real entries has α = 0 and context 0, never NaN.
        Energies and alignment are float32 under mixed_float16/bfloat16.

    Example:

    >>> attention = BahdanauMonotonicAttention(units=8, score_bias_init=-1.0)
    >>> query = np.random.rand(2, 3, 4).astype("float32")
    >>> value = np.random.rand(2, 5, 6).astype("float32")
    >>> value_mask = np.array([[True] * 5, [True] * 3 + [False] * 2])
    >>> context, weights = attention(query, value, value_mask=value_mask,
    ...                              return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 3, 6), (2, 3, 5))
    >>> bool(np.all(np.asarray(weights)[1, :, 3:] == 0))
    True
    """

    def __init__(
        self,
        units: int,
        use_bias: bool = False,
        normalize: bool = False,
        sigmoid_noise: float = 0.0,
        score_bias_init: float = 0.0,
        mode: str = "parallel",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(
            units=units,
            use_bias=use_bias,
            normalize=normalize,
            dropout=dropout,
            seed=seed,
            **kwargs,
        )
        self._init_monotonic(sigmoid_noise, score_bias_init, mode)


@keras.saving.register_keras_serializable(package="kerattn")
class LuongMonotonicAttention(MonotonicAttention, LuongAttention):
    """Monotonic attention with multiplicative energies: e_ij = q_iᵀ W k_j (or q_iᵀ k_j) + r.

    Implements Raffel et al. (ICML 2017) with the score functions of `LuongAttention`, as
    TensorFlow Addons' `LuongMonotonicAttention` (which used score="general").
    {equations}
    Args:
        score: "dot", "general" or "concat" (as `LuongAttention`). Default "general".
        units: positive int U, only for `score="concat"`.
        use_scale: bool, multiplies the energies (before r) by a learned scalar.
        sigmoid_noise: float ≥ 0, std of the pre-sigmoid noise, training only. Default 0.
        score_bias_init: float, initial value of the learned scalar r. Default 0.
        mode: "parallel" (default), "recursive" or "hard"; see `BahdanauMonotonicAttention`.
        dropout: float in [0, 1), dropout on the weights that form the context (training).
        seed: optional int, seed of the noise and of the dropout.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments, Returns, Masking: as `BahdanauMonotonicAttention`.

    Example:

    >>> attention = LuongMonotonicAttention(score="general", mode="hard")
    >>> query = np.random.rand(2, 4).astype("float32")      # one decoder step
    >>> value = np.random.rand(2, 5, 6).astype("float32")
    >>> context, alignment = attention(query, value, return_attention_scores=True)
    >>> context, alignment = attention(query, value, previous_alignment=alignment,
    ...                                return_attention_scores=True)
    >>> tuple(alignment.shape), bool(np.all(np.asarray(alignment).sum(-1) <= 1))
    ((2, 5), True)
    """

    def __init__(
        self,
        score: str = "general",
        units: int | None = None,
        use_scale: bool = False,
        sigmoid_noise: float = 0.0,
        score_bias_init: float = 0.0,
        mode: str = "parallel",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(
            score=score, units=units, use_scale=use_scale, dropout=dropout, seed=seed, **kwargs
        )
        self._init_monotonic(sigmoid_noise, score_bias_init, mode)


for _monotonic_class in (BahdanauMonotonicAttention, LuongMonotonicAttention):
    _monotonic_class.__doc__ = _monotonic_class.__doc__.replace("{equations}", _EQUATIONS)
