"""A faster LSTM over a whole sequence, with the weights of a `keras.layers.LSTM`.

Keras's CPU path runs `LSTMCell` step by step: each step multiplies the input and the state
separately, and autodiff through the `tf.while_loop` records every small op. Here, as cuDNN
and oneDNN do:

- the input projection x_t W + b of all T steps is one GEMM, outside the recurrence;
- the gate arithmetic of a step is a handful of fused ops on (B, 4·units);
- on the TensorFlow backend the recurrence has its own backward pass (`tf.custom_gradient`):
  a reverse loop with one (B, 4U)·(4U, U) product per step; the gradients of the recurrent
  kernel and of the inputs are then single GEMMs over all steps. Everything the backward
  loop needs that does not depend on the incoming gradient is computed once, vectorised over
  (T, B, ·), before that loop;
- other backends run the same hoisted, fused recurrence with `keras.ops.scan` and their own
  autodiff (JAX differentiates a scan efficiently).

Numerics and masking are Keras's: gates in Keras's order (i, f, c, o), sigmoid and tanh
activations; at a masked step the state is carried unchanged and the output is the previous
step's output, for any mask, right-padded or not. Before the first real step that output is
what Keras gives on the backend: zeros on TensorFlow, the initial h on JAX.

`run_lstm(lstm, inputs, ...)` is the drop-in for `lstm(inputs, ...)` used by kerattn's
layers: it reads the layer's own variables, so weights, names and saved files are the
layer's. It hands over to the layer itself (cuDNN) where Keras would use cuDNN: TensorFlow
with a visible GPU and `use_cudnn` "auto" or True.
"""

from __future__ import annotations

import keras
from keras import ops


def fused_path_applies(lstm: keras.layers.LSTM) -> bool:
    """Whether `run_lstm` computes `lstm` itself (False: Keras runs it, e.g. with cuDNN)."""
    cell = lstm.cell
    if (
        cell.activation is not keras.activations.tanh
        or cell.recurrent_activation is not keras.activations.sigmoid
        or cell.recurrent_dropout
        or lstm.unroll
        or lstm.stateful
    ):
        return False
    if keras.backend.backend() == "tensorflow" and lstm.use_cudnn in ("auto", True):
        import tensorflow as tf

        # Keras uses cuDNN here when it can (and raises for use_cudnn=True when it cannot).
        if lstm.use_cudnn is True or tf.config.list_logical_devices("GPU"):
            return False
    return True


def run_lstm(
    lstm: keras.layers.LSTM,
    inputs,
    mask=None,
    initial_state=None,
    training=None,
    fused: bool = True,
):
    """`lstm(inputs, mask=..., initial_state=..., training=...)` for an LSTM built with
    `return_sequences=True, return_state=True`, computed by the fused recurrence.

    Args:
        lstm: a built `keras.layers.LSTM` (its variables are used as they are).
        inputs: (B, T, E).
        mask: optional boolean (B, T), True for real steps; any pattern.
        initial_state: optional `[h, c]`, each (B, units); zeros otherwise.
        training: enables the layer's input dropout (one mask per sequence, as Keras).
        fused: False calls the layer itself (Keras's own path), for comparisons.

    Returns:
        `[sequence (B, T, units), h (B, units), c (B, units)]`, the sequence in processing
        order (reversed in time for `go_backwards=True`, as Keras returns it).
    """
    if not fused or not fused_path_applies(lstm):
        return lstm(inputs, mask=mask, initial_state=initial_state, training=training)
    cell = lstm.cell
    dtype = lstm.compute_dtype
    inputs = ops.cast(inputs, dtype)
    if training and 0.0 < cell.dropout < 1.0:
        # Keras's LSTM drops the same input features at every step of a sequence.
        dropout_mask = cell.get_dropout_mask(inputs[:, 0, :])  # (B, E)
        inputs = inputs * ops.expand_dims(dropout_mask, axis=1)  # (B, T, E)
        cell.reset_dropout_mask()
    batch_size = ops.shape(inputs)[0]
    if initial_state is None:
        zeros = ops.zeros((batch_size, cell.units), dtype=dtype)
        initial_state = [zeros, zeros]
    initial_h, initial_c = (ops.cast(state, dtype) for state in initial_state)
    kernel = ops.cast(cell.kernel, dtype)
    recurrent_kernel = ops.cast(cell.recurrent_kernel, dtype)
    bias = ops.cast(cell.bias, dtype) if cell.use_bias else None
    return lstm_sequence(
        inputs,
        initial_h,
        initial_c,
        kernel,
        recurrent_kernel,
        bias,
        mask=mask,
        go_backwards=lstm.go_backwards,
    )


def run_lstm_pair(
    forward: keras.layers.LSTM,
    backward: keras.layers.LSTM,
    inputs,
    mask=None,
    training=None,
    fused: bool = True,
):
    """`(run_lstm(forward, inputs, ...), run_lstm(backward, inputs, ...))` for the two
    directions of a bidirectional layer (zero initial states). On TensorFlow both directions
    run in one loop, with batched (2, B, U)·(2, U, 4U) products: half the loop steps."""
    both_fused = fused and fused_path_applies(forward) and fused_path_applies(backward)
    if (
        not both_fused
        or keras.backend.backend() != "tensorflow"
        or forward.units != backward.units
        or forward.compute_dtype != backward.compute_dtype
    ):
        return (
            run_lstm(forward, inputs, mask=mask, training=training, fused=fused),
            run_lstm(backward, inputs, mask=mask, training=training, fused=fused),
        )
    dtype = forward.compute_dtype
    inputs = ops.cast(inputs, dtype)
    time_major = ops.transpose(inputs, (1, 0, 2))  # (T, B, E)
    step_mask = None if mask is None else ops.transpose(ops.cast(mask, "bool"), (1, 0))  # (T, B)
    projections, step_masks, recurrent_kernels = [], [], []
    for lstm in (forward, backward):
        cell = lstm.cell
        sequence = time_major
        if training and 0.0 < cell.dropout < 1.0:
            # Keras's LSTM drops the same input features at every step of a sequence.
            sequence = sequence * cell.get_dropout_mask(inputs[:, 0, :])  # (T, B, E)
            cell.reset_dropout_mask()
        direction_mask = step_mask
        if lstm.go_backwards:
            sequence = ops.flip(sequence, axis=0)
            direction_mask = None if step_mask is None else ops.flip(step_mask, axis=0)
        projected = ops.matmul(sequence, ops.cast(cell.kernel, dtype))  # (T, B, 4U)
        if cell.use_bias:
            projected = projected + ops.cast(cell.bias, dtype)
        projections.append(projected)
        step_masks.append(direction_mask)
        recurrent_kernels.append(ops.cast(cell.recurrent_kernel, dtype))
    projected = ops.stack(projections, axis=1)  # (T, 2, B, 4U)
    stacked_mask = None if step_mask is None else ops.stack(step_masks, axis=1)  # (T, 2, B)
    zeros = ops.zeros((2, ops.shape(inputs)[0], forward.units), dtype=dtype)  # (2, B, U)
    states_h, final_c = _tensorflow_recurrence(
        projected, zeros, zeros, ops.stack(recurrent_kernels), stacked_mask
    )  # (T, 2, B, U), (2, B, U)
    results = []
    for direction in range(2):
        direction_h = states_h[:, direction]  # (T, B, U)
        results.append(_keras_outputs(direction_h, final_c[direction], step_masks[direction]))
    return tuple(results)


def lstm_sequence(
    inputs,
    initial_h,
    initial_c,
    kernel,
    recurrent_kernel,
    bias=None,
    mask=None,
    go_backwards: bool = False,
):
    """An LSTM over a whole sequence with Keras's weight layout.

    Args:
        inputs: (B, T, E). kernel: (E, 4U). recurrent_kernel: (U, 4U). bias: optional (4U,).
        initial_h, initial_c: (B, U).
        mask: optional boolean (B, T). go_backwards: process time in reverse.

    Returns:
        `[outputs (B, T, U), h (B, U), c (B, U)]`, outputs in processing order.
    """
    time_major = ops.transpose(inputs, (1, 0, 2))  # (T, B, E)
    step_mask = None
    if mask is not None:
        step_mask = ops.transpose(ops.cast(mask, "bool"), (1, 0))  # (T, B)
    if go_backwards:
        time_major = ops.flip(time_major, axis=0)
        step_mask = None if step_mask is None else ops.flip(step_mask, axis=0)
    projected = ops.matmul(time_major, kernel)  # (T, B, 4U): all steps' input projections
    if bias is not None:
        projected = projected + bias
    if keras.backend.backend() == "tensorflow":
        states_h, final_c = _tensorflow_recurrence(
            projected, initial_h, initial_c, recurrent_kernel, step_mask
        )
    else:
        states_h, final_c = _scanned_recurrence(
            projected, initial_h, initial_c, recurrent_kernel, step_mask
        )
    return _keras_outputs(states_h, final_c, step_mask)


def _keras_outputs(states_h, final_c, step_mask):
    """Keras's `[outputs (B, T, U), h, c]` from the carried h of every step (T, B, U)."""
    final_h = states_h[-1]  # (B, U)
    if step_mask is not None and keras.backend.backend() == "tensorflow":
        # A masked step outputs the previous output. Keras's TensorFlow loop starts that
        # output at zeros (its JAX loop at the initial h): zeros until the first real step.
        seen = ops.cumsum(ops.cast(step_mask, "int32"), axis=0) > 0  # (T, B)
        states_h = states_h * ops.expand_dims(ops.cast(seen, states_h.dtype), axis=-1)
        # (T, B, U)
    outputs = ops.transpose(states_h, (1, 0, 2))  # (B, T, U)
    return [outputs, final_h, final_c]


def lstm_gates(z, state_c):
    """One step's gate arithmetic on z = x W + h R + b (B, 4U), Keras's order (i, f, c, o).

    Returns the new (h, c)."""
    sigmoid = ops.sigmoid(z)  # (B, 4U); its third quarter is unused
    input_gate, forget_gate, _, output_gate = ops.split(sigmoid, 4, axis=-1)
    candidate = ops.tanh(ops.split(z, 4, axis=-1)[2])  # (B, U)
    new_c = forget_gate * state_c + input_gate * candidate
    return output_gate * ops.tanh(new_c), new_c


def recorded_gate_step(z, state_h, state_c, real=None):
    """One step of the TensorFlow forward loops (this module's and `bahdanau_recurrence`'s):
    the gates of z (B, 4U) as `lstm_gates`, plus what their hand-written backward passes read
    again. `real` (B, 1) bool, or None for every row: where False the state is carried.

    Returns (new h, new c, the gate sigmoids (B, 4U), the candidate tanh (B, U))."""
    import tensorflow as tf

    sigmoid = tf.sigmoid(z)  # its third quarter is unused
    input_gate, forget_gate, _, output_gate = tf.split(sigmoid, 4, axis=-1)
    candidate = tf.tanh(tf.split(z, 4, axis=-1)[2])
    new_c = forget_gate * state_c + input_gate * candidate
    new_h = output_gate * tf.tanh(new_c)
    if real is not None:
        new_c = tf.where(real, new_c, state_c)
        new_h = tf.where(real, new_h, state_h)
    return new_h, new_c, sigmoid, candidate


def _scanned_recurrence(projected, initial_h, initial_c, recurrent_kernel, step_mask):
    """The recurrence with keras.ops.scan; the backend differentiates it."""

    def step(carry, step_inputs):
        state_h, state_c = carry
        z = step_inputs[0] + ops.matmul(state_h, recurrent_kernel)  # (B, 4U)
        new_h, new_c = lstm_gates(z, state_c)
        if step_mask is not None:
            keep = ops.expand_dims(step_inputs[1], axis=-1)  # (B, 1)
            new_h = ops.where(keep, new_h, state_h)
            new_c = ops.where(keep, new_c, state_c)
        return (new_h, new_c), new_h

    if step_mask is None:
        sequences = (projected,)
    else:
        sequences = (projected, step_mask)
    (_, final_c), states_h = ops.scan(step, (initial_h, initial_c), sequences)
    return states_h, final_c


def _tensorflow_recurrence(projected, initial_h, initial_c, recurrent_kernel, step_mask):
    """The recurrence as a `tf.while_loop` with a hand-written backward pass.

    Args: projected (T, B, 4U) input projections with bias; initial states (B, U);
    recurrent_kernel (U, 4U); step_mask optional boolean (T, B). Or D LSTMs run in one loop:
    (T, D, B, 4U), (D, B, U), (D, U, 4U), (T, D, B).
    Returns: the carried h of every step (T, B, U) and the final c (B, U) (with D: (T, D, B, U)
    and (D, B, U)).
    """
    import tensorflow as tf

    if step_mask is None:
        return _tensorflow_recurrence_unmasked(projected, initial_h, initial_c, recurrent_kernel)
    keep = tf.expand_dims(tf.cast(step_mask, projected.dtype), axis=-1)  # (T, B, 1)
    return _tensorflow_recurrence_masked(projected, initial_h, initial_c, recurrent_kernel, keep)


def _forward_loop(projected, initial_h, initial_c, recurrent_kernel, keep):
    """Runs the recurrence; returns the stacked gate sigmoids (T, B, 4U), candidates, carried
    c and carried h (T, B, U) each."""
    import tensorflow as tf

    time_steps = tf.shape(projected)[0]
    dtype = projected.dtype
    projected_steps = tf.TensorArray(dtype, size=time_steps).unstack(projected)
    keep_steps = None if keep is None else tf.TensorArray(dtype, size=time_steps).unstack(keep)

    def body(t, state_h, state_c, sigmoids, candidates, states_c, states_h):
        z = projected_steps.read(t) + tf.matmul(state_h, recurrent_kernel)  # (B, 4U)
        real = None if keep_steps is None else keep_steps.read(t) > 0  # (B, 1)
        new_h, new_c, sigmoid, candidate = recorded_gate_step(z, state_h, state_c, real)
        return (
            t + 1,
            new_h,
            new_c,
            sigmoids.write(t, sigmoid),
            candidates.write(t, candidate),
            states_c.write(t, new_c),
            states_h.write(t, new_h),
        )

    arrays = [tf.TensorArray(dtype, size=time_steps) for _ in range(4)]
    _, _, _, sigmoids, candidates, states_c, states_h = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), initial_h, initial_c, *arrays),
    )
    return sigmoids.stack(), candidates.stack(), states_c.stack(), states_h.stack()


def _backward_factors(sigmoids, candidates, states_c, initial_c, keep):
    """The per-step factors of the backward pass that do not depend on the incoming gradient,
    for all steps at once (T, B, ·).

    With g = dL/dh_t and k = dL/dc_t flowing into a real step:
        dc = k + g · o · (1 - tanh²c)           (through h = o · tanh c)
        dz = [dc·g̃·i(1-i), dc·c_{t-1}·f(1-f), dc·i·(1-g̃²), g·tanh c·o(1-o)]
        dL/dc_{t-1} = dc · f,  dL/dh_{t-1} = dz Rᵀ.
    A masked step passes g and k through unchanged and has dz = 0.

    Returns (through_h (T, B, U), gate_factors (T, B, 4U), forget (T, B, U)).
    """
    import tensorflow as tf

    input_gate, forget_gate, _, output_gate = tf.split(sigmoids, 4, axis=-1)  # (T, B, U) each
    previous_c = tf.concat([initial_c[tf.newaxis], states_c[:-1]], axis=0)  # (T, B, U)
    tanh_c = tf.tanh(states_c)
    through_h = output_gate * (1 - tanh_c * tanh_c)
    output_factor = tanh_c * output_gate * (1 - output_gate)
    if keep is not None:
        # A masked step: its gate gradients vanish (g and k only pass through it).
        through_h = through_h * keep
        output_factor = output_factor * keep
    gate_factors = tf.concat(
        [
            candidates * input_gate * (1 - input_gate),
            previous_c * forget_gate * (1 - forget_gate),
            input_gate * (1 - candidates * candidates),
            output_factor,
        ],
        axis=-1,
    )  # (T, B, 4U)
    return through_h, gate_factors, forget_gate


def _weight_gradients(dz, states_h, initial_h):
    """dL/dR from the stacked gate gradients dz (T, B, 4U), or (T, D, B, 4U) for D LSTMs in
    one loop: one product over all steps."""
    import tensorflow as tf

    previous_h = tf.concat([initial_h[tf.newaxis], states_h[:-1]], axis=0)  # like states_h
    if len(dz.shape) == 4:
        return tf.einsum("tdbu,tdbg->dug", previous_h, dz)  # (D, U, 4U)
    units = tf.shape(initial_h)[-1]
    flat_h = tf.reshape(previous_h, (-1, units))  # (T·B, U)
    flat_dz = tf.reshape(dz, (-1, 4 * units))  # (T·B, 4U)
    return tf.matmul(flat_h, flat_dz, transpose_a=True)  # (U, 4U)


def _tensorflow_recurrence_unmasked(projected, initial_h, initial_c, recurrent_kernel):
    import tensorflow as tf

    @tf.custom_gradient
    def recurrence(projected, initial_h, initial_c, recurrent_kernel):
        sigmoids, candidates, states_c, states_h = _forward_loop(
            projected, initial_h, initial_c, recurrent_kernel, None
        )

        def gradient(grad_states_h, grad_final_c):
            grad_states_h = _zeros_if_none(grad_states_h, states_h)
            grad_final_c = _zeros_if_none(grad_final_c, initial_c)
            through_h, gate_factors, forget_gate = _backward_factors(
                sigmoids, candidates, states_c, initial_c, None
            )
            time_steps = tf.shape(projected)[0]
            dtype = projected.dtype
            read = _step_reader
            grad_steps, through_h_steps = read(grad_states_h), read(through_h)
            factor_steps, forget_steps = read(gate_factors), read(forget_gate)
            transposed_kernel = tf.linalg.matrix_transpose(recurrent_kernel)  # (·, 4U, U)

            def body(t, grad_h, grad_c, dz_steps):
                grad_h = grad_h + grad_steps.read(t)  # dL/dh_t (B, U)
                grad_c = grad_c + grad_h * through_h_steps.read(t)  # dL/dc_t inside the step
                dz = tf.concat([grad_c, grad_c, grad_c, grad_h], axis=-1) * factor_steps.read(t)
                return (
                    t - 1,
                    tf.matmul(dz, transposed_kernel),
                    grad_c * forget_steps.read(t),
                    dz_steps.write(t, dz),
                )

            _, grad_h, grad_c, dz_steps = tf.while_loop(
                lambda t, *_: t >= 0,
                body,
                (
                    time_steps - 1,
                    tf.zeros_like(initial_h),
                    grad_final_c,
                    tf.TensorArray(dtype, size=time_steps),
                ),
            )
            dz = dz_steps.stack()  # (T, B, 4U)
            return dz, grad_h, grad_c, _weight_gradients(dz, states_h, initial_h)

        return (states_h, states_c[-1]), gradient

    return recurrence(projected, initial_h, initial_c, recurrent_kernel)


def _tensorflow_recurrence_masked(projected, initial_h, initial_c, recurrent_kernel, keep):
    import tensorflow as tf

    @tf.custom_gradient
    def recurrence(projected, initial_h, initial_c, recurrent_kernel):
        sigmoids, candidates, states_c, states_h = _forward_loop(
            projected, initial_h, initial_c, recurrent_kernel, keep
        )

        def gradient(grad_states_h, grad_final_c):
            grad_states_h = _zeros_if_none(grad_states_h, states_h)
            grad_final_c = _zeros_if_none(grad_final_c, initial_c)
            through_h, gate_factors, forget_gate = _backward_factors(
                sigmoids, candidates, states_c, initial_c, keep
            )
            time_steps = tf.shape(projected)[0]
            dtype = projected.dtype
            read = _step_reader
            grad_steps, through_h_steps = read(grad_states_h), read(through_h)
            factor_steps, forget_steps = read(gate_factors), read(forget_gate)
            keep_steps = read(keep)
            transposed_kernel = tf.linalg.matrix_transpose(recurrent_kernel)  # (·, 4U, U)

            def body(t, grad_h, grad_c, dz_steps):
                grad_h = grad_h + grad_steps.read(t)  # dL/dh_t (B, U)
                real = keep_steps.read(t)  # (B, 1): 1 real, 0 masked
                skip = 1 - real
                # Inside a real step; through_h is already 0 at masked steps.
                inner_c = real * grad_c + grad_h * through_h_steps.read(t)
                dz = tf.concat([inner_c, inner_c, inner_c, grad_h], axis=-1) * factor_steps.read(t)
                return (
                    t - 1,
                    tf.matmul(dz, transposed_kernel) + skip * grad_h,
                    inner_c * forget_steps.read(t) + skip * grad_c,
                    dz_steps.write(t, dz),
                )

            _, grad_h, grad_c, dz_steps = tf.while_loop(
                lambda t, *_: t >= 0,
                body,
                (
                    time_steps - 1,
                    tf.zeros_like(initial_h),
                    grad_final_c,
                    tf.TensorArray(dtype, size=time_steps),
                ),
            )
            dz = dz_steps.stack()  # (T, B, 4U)
            return dz, grad_h, grad_c, _weight_gradients(dz, states_h, initial_h)

        return (states_h, states_c[-1]), gradient

    return recurrence(projected, initial_h, initial_c, recurrent_kernel)


def _step_reader(values):
    """A TensorArray over the steps (first axis) of `values`, read once per loop step."""
    import tensorflow as tf

    return tf.TensorArray(values.dtype, size=tf.shape(values)[0]).unstack(values)


def _zeros_if_none(gradient, like):
    import tensorflow as tf

    return tf.zeros_like(like) if gradient is None else gradient
