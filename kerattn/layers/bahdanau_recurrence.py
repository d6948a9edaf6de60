"""The teacher-forced recurrence of a Bahdanau decoder (attention from the previous state, then
one LSTM step) as one TensorFlow loop with a hand-written backward pass.

A step of `AttentionDecoder(attention="bahdanau")` with the fused LSTM is

    e_i = vᵀ tanh(W_q s_{i-1} + K)          (B, S), K = the projected memory (B, S, U)
    α_i = softmax over the real source positions of e_i, exactly 0 on padding
    c_i = Σ_j α_ij h_j                       (B, Dm)
    z_i = x_i + [c_i; s_{i-1}] W             x_i: the projected target (bias included)
    s_i, m_i = LSTM gates(z_i, m_{i-1})      at a padded target step the state is carried over

Autodiff through `keras.ops.scan` records every small op of every step. Here, as in
`kerattn.layers.lstm_recurrence`:

- the forward `tf.while_loop` stores what the backward pass needs (tanh activations, weights,
  gates, states);
- everything of the backward pass that does not depend on the incoming gradient (the LSTM's
  gate factors) is computed once, vectorised over all steps, before the backward loop;
- the backward loop does one (B, 4U)·(4U, Dm + U) product for the LSTM, one batched
  matrix-vector product for the context, the softmax and score backward on (B, S, U)
  (`TanhGrad`), and accumulates the key gradient dK (B, S, U) and dv in its carry;
- the gradients of W (stacked kernel), W_q and of the memory are then single products over
  all steps.

The (B, S, U) tanh activations of the T steps stay a TensorArray read step by step: stacking
them (or any (T, B, S, U) tensor, such as v·(1 - tanh²) for all steps at once) allocates and
copies T·B·S·U floats, which on CPU costs more than the whole backward loop; so dv, a
product over those activations, is accumulated per step rather than one GEMV after the loop.

Numerics and dtypes are the scan path's: the attention (query, scores, softmax, context) runs
in the dtype of the keys (float32 under mixed_float16), the LSTM in the dtype of the projected
target. TensorFlow only; the decoder keeps its `keras.ops.scan` path for other backends.
"""

from __future__ import annotations

from kerattn.layers.lstm_recurrence import (
    _backward_factors,
    _step_reader,
    _zeros_if_none,
    recorded_gate_step,
)


def bahdanau_recurrence(
    projected_target,
    step_mask,
    initial_h,
    initial_c,
    values,
    keys,
    query_kernel,
    score_vector,
    stacked_kernel,
    value_mask=None,
):
    """The Bahdanau decoder's recurrence over all target steps, on TensorFlow.

    Args:
        projected_target: (T, B, 4·units), the target's share of each step's LSTM input
            projection, bias included, in the LSTM's dtype.
        step_mask: boolean (T, B), True for real target steps.
        initial_h, initial_c: (B, units), the LSTM's dtype.
        values: (B, S, Dm), the memory in the attention's dtype.
        keys: (B, S, U), the projected memory (`BahdanauAttention.project_keys`).
        query_kernel: (units, U), W_q, in the attention's dtype.
        score_vector: (U,), v, in the attention's dtype.
        stacked_kernel: (Dm + units, 4·units), the LSTM input kernel's context rows stacked on
            its recurrent kernel, in the LSTM's dtype.
        value_mask: optional boolean (B, S), True for real source positions.

    Returns:
        `(states_h, contexts, weights)`: the carried h after every step (T, B, units), the
        contexts c_i (T, B, Dm) and the weights α_i (T, B, S), the last two in the LSTM's
        dtype. Steps and weights of padded target steps are computed as for real ones (from
        the carried state); the caller zeroes them.
    """
    import tensorflow as tf

    lstm_dtype = projected_target.dtype
    keep = tf.expand_dims(tf.cast(step_mask, lstm_dtype), axis=-1)  # (T, B, 1)
    valid = None if value_mask is None else tf.cast(value_mask, "bool")  # (B, S)

    @tf.custom_gradient
    def recurrence(
        projected_target,
        initial_h,
        initial_c,
        values,
        keys,
        query_kernel,
        score_vector,
        stacked_kernel,
    ):
        forward = _forward_loop(
            projected_target,
            initial_h,
            initial_c,
            values,
            keys,
            query_kernel,
            score_vector,
            stacked_kernel,
            keep,
            valid,
        )
        hidden, weights, contexts, sigmoids, candidates, states_c, states_h = forward
        outputs = (states_h, contexts, tf.cast(weights, lstm_dtype))

        def gradient(grad_states_h, grad_contexts, grad_weights):
            return _backward(
                _zeros_if_none(grad_states_h, states_h),
                _zeros_if_none(grad_contexts, contexts),
                _zeros_if_none(grad_weights, outputs[2]),
                forward,
                initial_h,
                initial_c,
                values,
                keys,
                query_kernel,
                score_vector,
                stacked_kernel,
                keep,
            )

        return outputs, gradient

    return recurrence(
        projected_target,
        initial_h,
        initial_c,
        values,
        keys,
        query_kernel,
        score_vector,
        stacked_kernel,
    )


def _masked_softmax(scores, valid):
    """`masked_attention`'s softmax of one step's scores (B, S): the maximum over the valid
    keys only, padded keys exactly 0, a row without any valid key all zeros."""
    import tensorflow as tf

    if valid is None:
        return tf.nn.softmax(scores, axis=-1)
    valid_scores = tf.where(valid, scores, float("-inf"))  # (B, S)
    row_max = tf.reduce_max(valid_scores, axis=-1, keepdims=True)  # (B, 1)
    has_valid_key = tf.reduce_any(valid, axis=-1, keepdims=True)  # (B, 1)
    row_max = tf.where(has_valid_key, row_max, tf.zeros_like(row_max))
    exponentials = tf.where(
        valid, tf.exp(tf.where(valid, scores - row_max, tf.zeros_like(scores))), 0.0
    )
    denominator = tf.reduce_sum(exponentials, axis=-1, keepdims=True)  # (B, 1)
    denominator = tf.where(denominator > 0, denominator, tf.ones_like(denominator))
    return exponentials / denominator


def _forward_loop(
    projected_target,
    initial_h,
    initial_c,
    values,
    keys,
    query_kernel,
    score_vector,
    stacked_kernel,
    keep,
    valid,
):
    """Runs the recurrence; returns the tanh activations of the scores, a TensorArray of T
    steps (B, S, U), and, stacked, the weights (T, B, S) in the attention's dtype, contexts (T, B, Dm), gate sigmoids
    (T, B, 4·units), candidates, carried c and carried h (T, B, units)."""
    import tensorflow as tf

    time_steps = tf.shape(projected_target)[0]
    lstm_dtype, score_dtype = projected_target.dtype, keys.dtype
    target_steps = _step_reader(projected_target)
    keep_steps = _step_reader(keep)

    def body(t, state_h, state_c, *arrays):
        hidden_steps, weight_steps, context_steps, sigmoid_steps = arrays[:4]
        candidate_steps, states_c, states_h = arrays[4:]
        projected_query = tf.matmul(tf.cast(state_h, score_dtype), query_kernel)  # (B, U)
        hidden = tf.tanh(tf.expand_dims(projected_query, axis=1) + keys)  # (B, S, U)
        scores = tf.tensordot(hidden, score_vector, axes=1)  # (B, S)
        weights = _masked_softmax(scores, valid)  # (B, S)
        context = tf.linalg.matvec(values, weights, transpose_a=True)  # (B, Dm)
        context = tf.cast(context, lstm_dtype)
        combined = tf.concat([context, state_h], axis=-1)  # (B, Dm + units)
        z = target_steps.read(t) + tf.matmul(combined, stacked_kernel)  # (B, 4·units)
        real = keep_steps.read(t) > 0  # (B, 1)
        new_h, new_c, sigmoid, candidate = recorded_gate_step(z, state_h, state_c, real)
        return (
            t + 1,
            new_h,
            new_c,
            hidden_steps.write(t, hidden),
            weight_steps.write(t, weights),
            context_steps.write(t, context),
            sigmoid_steps.write(t, sigmoid),
            candidate_steps.write(t, candidate),
            states_c.write(t, new_c),
            states_h.write(t, new_h),
        )

    dtypes = [score_dtype, score_dtype] + [lstm_dtype] * 5
    arrays = [tf.TensorArray(dtype, size=time_steps) for dtype in dtypes]
    results = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), initial_h, initial_c, *arrays),
    )
    # The activations stay a TensorArray, read back step by step: stacking them would copy
    # (T, B, S, U) floats into a fresh buffer (slower than the whole backward pass on CPU).
    hidden_steps, *arrays = results[3:]
    return (hidden_steps, *(array.stack() for array in arrays))


def _backward(
    grad_states_h,
    grad_contexts,
    grad_weights,
    forward,
    initial_h,
    initial_c,
    values,
    keys,
    query_kernel,
    score_vector,
    stacked_kernel,
    keep,
):
    """The gradients of `bahdanau_recurrence`'s tensor inputs, in their order.

    With g = dL/ds_t and k = dL/dm_t flowing into step t, the LSTM part is
    `lstm_recurrence`'s (dz from the gate factors; d[c_t; s_{t-1}] = dz Wᵀ). Then, with
    dc = dL/dc_t (from z and from the contexts output) and da = dL/dα_t:
        dα = H dc + da,   de = α ⊙ (dα - Σ α dα)     (softmax; 0 on padded keys)
        dA = de ⊗ v ⊙ (1 - tanh²)  (B, S, U),   dK += dA,   dv += Σ_j de_j tanh_j,
        dq = (Σ_j dA_j) W_qᵀ
    and dL/ds_{t-1} = dz's share + dq (+ g at a padded step, which carries s over).
    """
    import tensorflow as tf

    hidden_steps, weights, contexts, sigmoids, candidates, states_c, states_h = forward
    lstm_dtype, score_dtype = grad_states_h.dtype, keys.dtype
    time_steps = tf.shape(grad_states_h)[0]
    context_width = tf.shape(values)[-1]
    units, attention_units = tf.shape(initial_h)[-1], tf.shape(keys)[-1]
    through_h, gate_factors, forget_gate = _backward_factors(
        sigmoids, candidates, states_c, initial_c, keep
    )
    read = _step_reader
    grad_h_steps, grad_context_steps = read(grad_states_h), read(grad_contexts)
    grad_weight_steps = read(tf.cast(grad_weights, score_dtype))
    weight_steps, keep_steps = read(weights), read(keep)
    through_h_steps, factor_steps, forget_steps = (
        read(through_h),
        read(gate_factors),
        read(forget_gate),
    )
    transposed_kernel = tf.transpose(stacked_kernel)  # (4·units, Dm + units)
    transposed_query_kernel = tf.transpose(query_kernel)  # (U, units)

    def body(t, grad_h, grad_c, grad_keys, grad_score_vector, dz_steps, query_steps, context_steps):
        grad_h = grad_h + grad_h_steps.read(t)  # dL/ds_t (B, units)
        real = keep_steps.read(t)  # (B, 1): 1 real, 0 padded
        skip = 1 - real
        # Inside a real step; through_h and the gate factors are 0 at padded steps.
        inner_c = real * grad_c + grad_h * through_h_steps.read(t)
        dz = tf.concat([inner_c, inner_c, inner_c, grad_h], axis=-1) * factor_steps.read(t)
        grad_combined = tf.matmul(dz, transposed_kernel)  # (B, Dm + units)
        grad_context, grad_previous_h = tf.split(grad_combined, [context_width, units], axis=-1)
        grad_context = tf.cast(grad_context + grad_context_steps.read(t), score_dtype)  # (B, Dm)
        grad_step_weights = tf.linalg.matvec(values, grad_context) + grad_weight_steps.read(t)
        step_weights = weight_steps.read(t)  # (B, S)
        grad_scores = step_weights * (
            grad_step_weights
            - tf.reduce_sum(step_weights * grad_step_weights, axis=-1, keepdims=True)
        )  # (B, S)
        hidden = hidden_steps.read(t)  # (B, S, U)
        # The gradient of the score's pre-activation W_q s + K (B, S, U), through the tanh.
        grad_hidden = tf.raw_ops.TanhGrad(
            y=hidden, dy=tf.expand_dims(grad_scores, axis=-1) * score_vector
        )
        grad_score_vector += tf.linalg.matvec(
            tf.reshape(hidden, (-1, attention_units)),  # (B·S, U)
            tf.reshape(grad_scores, (-1,)),  # (B·S,)
            transpose_a=True,
        )
        grad_query = tf.reduce_sum(grad_hidden, axis=1)  # (B, U)
        grad_state = tf.matmul(grad_query, transposed_query_kernel)  # (B, units)
        return (
            t - 1,
            grad_previous_h + skip * grad_h + tf.cast(grad_state, lstm_dtype),
            inner_c * forget_steps.read(t) + skip * grad_c,
            grad_keys + grad_hidden,
            grad_score_vector,
            dz_steps.write(t, dz),
            query_steps.write(t, grad_query),
            context_steps.write(t, grad_context),
        )

    arrays = [
        tf.TensorArray(dtype, size=time_steps) for dtype in (lstm_dtype, score_dtype, score_dtype)
    ]
    _, grad_h, grad_c, grad_keys, grad_score_vector, *arrays = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (
            time_steps - 1,
            tf.zeros_like(initial_h),
            tf.zeros_like(initial_c),
            tf.zeros_like(keys),
            tf.zeros_like(score_vector),
        )
        + tuple(arrays),
    )
    dz, grad_queries, grad_contexts = (array.stack() for array in arrays)
    # dz (T, B, 4·units), grad_queries (T, B, U), grad_contexts (T, B, Dm)
    previous_h = tf.concat([initial_h[tf.newaxis], states_h[:-1]], axis=0)  # (T, B, units)
    combined = tf.concat([contexts, previous_h], axis=-1)  # (T, B, Dm + units)
    grad_stacked_kernel = tf.matmul(
        tf.reshape(combined, (-1, context_width + units)),  # (T·B, Dm + units)
        tf.reshape(dz, (-1, 4 * units)),  # (T·B, 4·units)
        transpose_a=True,
    )
    grad_query_kernel = tf.matmul(
        tf.reshape(tf.cast(previous_h, score_dtype), (-1, units)),  # (T·B, units)
        tf.reshape(grad_queries, (-1, attention_units)),  # (T·B, U)
        transpose_a=True,
    )
    # dL/dh_j = Σ_t α_tj dc_t for each sentence: (B, S, T)·(B, T, Dm)
    grad_values = tf.matmul(
        tf.transpose(weights, (1, 2, 0)),  # (B, S, T)
        tf.transpose(grad_contexts, (1, 0, 2)),  # (B, T, Dm)
    )
    return (
        dz,
        grad_h,
        grad_c,
        grad_values,
        grad_keys,
        grad_query_kernel,
        grad_score_vector,
        grad_stacked_kernel,
    )
