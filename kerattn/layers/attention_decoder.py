"""`AttentionDecoder`: an LSTM decoder with Bahdanau- or Luong-style attention."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers.argument_checks import (
    check_bool,
    check_positive_int,
    check_rate,
    check_use_cudnn,
)
from kerattn.layers.bahdanau_attention import BahdanauAttention
from kerattn.layers.bahdanau_recurrence import bahdanau_recurrence
from kerattn.layers.lstm_recurrence import lstm_gates, run_lstm
from kerattn.layers.luong_attention import LuongAttention
from kerattn.layers.monotonic_attention import (
    MODES,
    BahdanauMonotonicAttention,
    LuongMonotonicAttention,
)

ATTENTIONS = (
    "bahdanau",
    "luong_dot",
    "luong_general",
    "luong_concat",
    "bahdanau_monotonic",
    "luong_monotonic",
    "none",
)
MONOTONIC_ATTENTIONS = ("bahdanau_monotonic", "luong_monotonic")


@keras.saving.register_keras_serializable(package="kerattn")
class AttentionDecoder(keras.layers.Layer):
    """LSTM decoder attending over encoder annotations, one step or a whole sequence at once.

    Styles, chosen by `attention`:

    - "bahdanau" (Bahdanau et al., 2015): attention from the previous state,
      α_i = softmax(vᵀ tanh(W s_{i-1} + U h_j)), c_i = Σ_j α_ij h_j,
      s_i = LSTM([y_{i-1}; c_i], s_{i-1}); output tanh(W_c [c_i; s_i]) (their "deep
      output" reads c_i directly, p(y_i) = g(y_{i-1}, s_i, c_i), rather than only through s_i).
    - "luong_dot" / "luong_general" / "luong_concat" (Luong et al., 2015): attention on the
      current state, h_i = LSTM([y_{i-1}; h̃_{i-1}], h_{i-1}) (input feeding),
      c_i = Σ_j α_ij h̄_j with the chosen score, output h̃_i = tanh(W_c [c_i; h_i]).
      With `input_feeding=False` the LSTM reads y_{i-1} only, so a teacher-forced sequence
      runs as one LSTM pass plus one batched attention (faster to train).
    - "none": the encoder-decoder without attention (Cho et al., 2014), kept as the baseline:
      the fixed context c = the encoder's final state h is fed at every step,
      s_i = LSTM([y_{i-1}; c], s_{i-1}), output tanh(W_c [c; s_i]); its attention weights are
      all zeros. Same parameters as "bahdanau" minus the attention's own.
    - "bahdanau_monotonic" / "luong_monotonic" (Raffel et al., 2017): "bahdanau" and
      "luong_general" with the softmax replaced by the monotonic alignment of
      `BahdanauMonotonicAttention` (Raffel's energy: normalised, with bias, + r) and
      `LuongMonotonicAttention` (score "general", + r). The previous step's alignment α_{i-1}
      is part of the state (the last entry), α_0 = 1 on the first real source position;
      α_i may sum to less than 1.

    Every style outputs tanh(W_c [c_i; h_i]) (width `units`); they differ in where attention is
    queried (previous or current state) and in what the LSTM reads.

    Args:
        units: positive int, LSTM units (also the output width).
        attention: one of "bahdanau", "luong_dot", "luong_general", "luong_concat",
            "bahdanau_monotonic", "luong_monotonic", "none".
        attention_units: width of the additive score ("bahdanau", "luong_concat",
            "bahdanau_monotonic"); defaults to `units`.
        sigmoid_noise: monotonic styles only: std of the pre-sigmoid noise in training
            (Raffel et al. use 1.0). Default 0.
        score_bias_init: monotonic styles only: initial energy bias r (Raffel et al. use -4.0
            for long inputs). Default 0.
        monotonic_mode: monotonic styles only: "parallel", "recursive" or "hard" (hard
            alignments at inference); see `BahdanauMonotonicAttention`. Default "parallel".
        input_feeding: bool, Luong styles only: feed h̃_{i-1} into the LSTM. Default True.
        dropout: float in [0, 1), dropout on the outputs (training only).
        use_cudnn: passed to the LSTM: "auto", True or False.
        seed: optional int, seed of the dropout.
        fused_lstm: bool, run the LSTM with kerattn's fused recurrence
            (`kerattn.layers.lstm_recurrence`; same weights and numerics). Default True.
            A teacher-forced sequence then projects all target embeddings through the LSTM's
            input kernel in one product, and each step multiplies [fed-back input; h] by the
            stacked remaining kernel once; styles without step-wise attention run the whole
            LSTM fused. With "bahdanau" on TensorFlow the whole teacher-forced recurrence
            (attention and LSTM step) is one loop with a hand-written backward pass
            (`kerattn.layers.bahdanau_recurrence`; the other styles and backends scan the
            step). False runs Keras's `LSTM`/`LSTMCell` as they are.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments (whole teacher-forced sequence):
        target: (B, T, E) embedded previous target tokens y_{i-1}.
        memory: (B, S, Dm) encoder annotations.
        initial_state: optional `[h, c]`, each (B, units), e.g. the encoder's
            `state_h`/`state_c`; required for "none". Zeros otherwise.
        target_mask: optional boolean (B, T); filled from an upstream
            `Embedding(mask_zero=True)`.
        memory_mask: optional boolean (B, S), True for real source positions.
        training: Python bool.
        return_attention_scores: bool, also return the attention weights.

    Returns:
        outputs (B, T, units) and, if `return_attention_scores=True`, the weights (B, T, S).

    Step API (for in-graph greedy/beam decoding): `projected = layer.prepare_memory(memory)`
    once, `states = layer.get_initial_state(batch_size, initial_state, memory, memory_mask)`
    (the monotonic styles need `memory` or `memory_mask` there), then per step
    `output, states, weights = layer.step(y, states, memory, projected, memory_mask)` with
    y (B, E), output (B, units), weights (B, S). `call` runs exactly this step function.
    `states` is a list of (B, ·) tensors: batch rows may be gathered (beam search) freely.

    Masking:
        Source padding gets exactly zero attention. At padded target positions the state is
        carried over unchanged, and outputs and attention rows are exactly zero, so appending
        padding to the source or the target leaves every real output unchanged.

    Example:

    >>> decoder = AttentionDecoder(32, attention="luong_general")
    >>> target_embedded = np.random.rand(2, 4, 8).astype("float32")  # (B, T, E)
    >>> memory = np.random.rand(2, 5, 16).astype("float32")          # (B, S, Dm)
    >>> state_h = np.random.rand(2, 32).astype("float32")            # encoder's final state
    >>> state_c = np.random.rand(2, 32).astype("float32")
    >>> memory_mask = np.array([[True] * 5, [True] * 3 + [False] * 2])
    >>> outputs, weights = decoder(target_embedded, memory,
    ...     initial_state=[state_h, state_c],
    ...     memory_mask=memory_mask, return_attention_scores=True)
    >>> tuple(outputs.shape), tuple(weights.shape)
    ((2, 4, 32), (2, 4, 5))
    >>> bool(np.all(np.asarray(weights)[1, :, 3:] == 0))
    True
    """

    def __init__(
        self,
        units: int,
        attention: str = "bahdanau",
        attention_units: int | None = None,
        input_feeding: bool = True,
        dropout: float = 0.0,
        use_cudnn: str | bool = "auto",
        seed: int | None = None,
        fused_lstm: bool = True,
        sigmoid_noise: float = 0.0,
        score_bias_init: float = 0.0,
        monotonic_mode: str = "parallel",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        if attention not in ATTENTIONS:
            raise ValueError(
                f"`attention` must be one of {', '.join(repr(a) for a in ATTENTIONS)}; "
                f"received attention={attention!r}."
            )
        if attention_units is not None:
            if attention not in ("bahdanau", "luong_concat", "bahdanau_monotonic"):
                raise ValueError(
                    "`attention_units` is only used by attention='bahdanau', 'luong_concat' or "
                    f"'bahdanau_monotonic'; received attention_units={attention_units!r} with "
                    f"attention={attention!r}."
                )
            check_positive_int("attention_units", attention_units)
        check_rate("dropout", dropout)
        check_use_cudnn(use_cudnn)
        check_bool("fused_lstm", fused_lstm)
        self.is_monotonic = attention in MONOTONIC_ATTENTIONS
        defaults = {"sigmoid_noise": 0.0, "score_bias_init": 0.0, "monotonic_mode": "parallel"}
        for argument, value in (
            ("sigmoid_noise", sigmoid_noise),
            ("score_bias_init", score_bias_init),
            ("monotonic_mode", monotonic_mode),
        ):
            if not self.is_monotonic and value != defaults[argument]:
                raise ValueError(
                    f"`{argument}` is only used by attention='bahdanau_monotonic' or "
                    f"'luong_monotonic'; received {argument}={value!r} with "
                    f"attention={attention!r}."
                )
        if monotonic_mode not in MODES:
            raise ValueError(
                f"`monotonic_mode` must be one of {', '.join(repr(m) for m in MODES)}; "
                f"received monotonic_mode={monotonic_mode!r}."
            )
        self.units = units
        self.attention = attention
        self.attention_units = attention_units
        self.input_feeding = input_feeding
        self.dropout = dropout
        self.use_cudnn = use_cudnn
        self.seed = seed
        self.fused_lstm = fused_lstm
        self.sigmoid_noise = sigmoid_noise
        self.score_bias_init = score_bias_init
        self.monotonic_mode = monotonic_mode

        self.is_luong = attention.startswith("luong_")
        # Attention from the previous state (Bahdanau) and Luong input feeding make step i
        # depend on step i-1's attention, so a teacher-forced sequence runs step by step.
        self.attends_previous_state = attention in ("bahdanau", "bahdanau_monotonic")
        self.runs_step_by_step = self.attends_previous_state or (self.is_luong and input_feeding)
        self.lstm = keras.layers.LSTM(
            units,
            return_sequences=True,
            return_state=True,
            use_cudnn=use_cudnn,
            name="lstm",
            dtype=self.dtype_policy,
        )
        monotonic_options = dict(
            sigmoid_noise=sigmoid_noise,
            score_bias_init=score_bias_init,
            mode=monotonic_mode,
            seed=seed,
            name="attention",
            dtype=self.dtype_policy,
        )
        if attention == "bahdanau":
            self.attention_layer = BahdanauAttention(
                attention_units or units, name="attention", dtype=self.dtype_policy
            )
        elif attention == "bahdanau_monotonic":
            self.attention_layer = BahdanauMonotonicAttention(
                attention_units or units, use_bias=True, normalize=True, **monotonic_options
            )
        elif attention == "luong_monotonic":
            self.attention_layer = LuongMonotonicAttention(score="general", **monotonic_options)
        elif self.is_luong:
            score = attention[len("luong_") :]
            self.attention_layer = LuongAttention(
                score=score,
                units=(attention_units or units) if score == "concat" else None,
                name="attention",
                dtype=self.dtype_policy,
            )
        else:
            self.attention_layer = None
        self.output_dropout = keras.layers.Dropout(
            dropout, seed=seed, name="output_dropout", dtype=self.dtype_policy
        )
        # Not a constructor argument: False makes a teacher-forced "bahdanau" call on
        # TensorFlow run the keras.ops.scan path instead of `bahdanau_recurrence`, the
        # reference that tests and bench/decoder_recurrence.py compare it against.
        self.hand_written_backward = True

    # -- building ------------------------------------------------------------------------------

    def build(self, target_shape, memory_shape, initial_state_shape=None):
        if len(target_shape) != 3 or target_shape[-1] is None:
            raise ValueError(
                "`target` must be embedded tokens of shape (batch, time, features) with known "
                f"features; received shape {tuple(target_shape)}."
            )
        if len(memory_shape) != 3 or memory_shape[-1] is None:
            raise ValueError(
                "`memory` must be encoder annotations of shape (batch, source_time, features) "
                f"with known features; received shape {tuple(memory_shape)}."
            )
        if initial_state_shape is not None:
            received = [tuple(shape) for shape in initial_state_shape]
            if len(received) != 2 or any(shape[-1] != self.units for shape in received):
                raise ValueError(
                    f"`initial_state` must be [h, c], each of shape (batch, {self.units}); "
                    f"received shapes {received}."
                )
        batch, time, embedding_width = target_shape
        memory_width = memory_shape[-1]
        if self.attends_previous_state:
            lstm_input_width = embedding_width + memory_width
        elif self.is_luong:
            lstm_input_width = embedding_width + (self.units if self.input_feeding else 0)
        else:
            lstm_input_width = embedding_width + self.units
        self.lstm.build((batch, time, lstm_input_width))
        if self.attention_layer is not None:
            self.attention_layer.build((batch, self.units), tuple(memory_shape))
        context_width = self.units if self.attention == "none" else memory_width
        self.attentional_kernel = self.add_weight(
            name="attentional_kernel",
            shape=(context_width + self.units, self.units),
            initializer="glorot_uniform",
        )
        self.output_dropout.build(None)
        self.built = True

    # -- the step --------------------------------------------------------------------------------

    def prepare_memory(self, memory):
        """The key projections of the attention, computed once per source sequence."""
        if self.attention_layer is None:
            return memory
        return self.attention_layer.project_keys(memory)

    def get_initial_state(
        self, batch_size, initial_state=None, memory=None, memory_mask=None
    ) -> list:
        """The decoder state before the first step: `[h, c]` plus, depending on the style,
        the fed-back attentional vector (Luong input feeding) or the fixed context ("none"),
        and last, for the monotonic styles, the alignment α_0 (B, S), float32 (1 on the first
        real position of `memory_mask`, or on position 0 of `memory` (B, S, Dm))."""
        if initial_state is None:
            if self.attention == "none":
                raise ValueError(
                    "attention='none' needs `initial_state`: its fixed context vector is the "
                    "encoder's final state."
                )
            zeros = ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
            initial_state = [zeros, zeros]
        state_h, state_c = (ops.cast(state, self.compute_dtype) for state in initial_state)
        states = [state_h, state_c]
        if self.is_luong and self.input_feeding:
            states.append(ops.zeros_like(state_h))
        elif self.attention == "none":
            states.append(state_h)
        if self.is_monotonic:
            if memory is None and memory_mask is None:
                raise ValueError(
                    f"attention={self.attention!r} needs `memory` or `memory_mask` in "
                    "`get_initial_state`: its state holds the previous alignment over the "
                    "source positions; received neither."
                )
            states.append(self.attention_layer.initial_alignment(memory, memory_mask))
        return states

    def _attentional(self, context, state_h):
        combined = ops.concatenate([context, state_h], axis=-1)  # (..., Dm + units)
        return ops.tanh(ops.matmul(combined, self.attentional_kernel))  # (..., units)

    def step(self, inputs, states, memory, projected_memory, memory_mask=None, training=None):
        """One decoder step: y (B, E) and the states → (output (B, units), states, weights (B, S))."""
        lstm_step = self._keras_lstm_step(training)
        return self._step(
            inputs, states, memory, projected_memory, memory_mask, lstm_step, training
        )

    def _attend(self, query, states, memory, projected_memory, memory_mask, training, noise):
        """Attention of one step: `(context, weights, alignment_states)`, the last `[α_i]` for
        the monotonic styles (from α_{i-1} = `states[-1]`), `[]` otherwise."""
        if not self.is_monotonic:
            context, weights = self.attention_layer.attend(
                query, projected_memory, memory, value_mask=memory_mask
            )
            return context, weights, []
        context, alignment = self.attention_layer.monotonic_attend(
            query,
            projected_memory,
            memory,
            previous_alignment=states[-1],
            value_mask=memory_mask,
            training=training,
            noise=noise,
        )
        return context, ops.cast(alignment, self.compute_dtype), [alignment]

    def _keras_lstm_step(self, training):
        """An `lstm_step` for `_step` that runs Keras's `LSTMCell` on [inputs; fed_back]."""
        cell = self.lstm.cell

        def lstm_step(inputs, fed_back, state_h, state_c):
            cell_input = inputs if fed_back is None else ops.concatenate([inputs, fed_back], -1)
            _, (state_h, state_c) = cell(cell_input, [state_h, state_c], training=training)
            return state_h, state_c

        return lstm_step

    def _step(
        self,
        inputs,
        states,
        memory,
        projected_memory,
        memory_mask,
        lstm_step,
        training=None,
        noise=None,
    ):
        """`step` with the LSTM given as `lstm_step(inputs, fed_back, h, c) -> (h, c)`, where
        the LSTM's input is [inputs; fed_back] (fed_back: the context, h̃_{i-1}, or None);
        `noise`: optional pre-sigmoid noise (B, S) of a monotonic attention."""
        state_h, state_c = states[0], states[1]
        if self.attends_previous_state:
            context, weights, alignment_states = self._attend(
                state_h, states, memory, projected_memory, memory_mask, training, noise
            )
            state_h, state_c = lstm_step(inputs, context, state_h, state_c)
            new_states = [state_h, state_c] + alignment_states
            return self._attentional(context, state_h), new_states, weights
        if self.is_luong:
            fed_back = states[2] if self.input_feeding else None
            state_h, state_c = lstm_step(inputs, fed_back, state_h, state_c)
            context, weights, alignment_states = self._attend(
                state_h, states, memory, projected_memory, memory_mask, training, noise
            )
            output = self._attentional(context, state_h)  # (B, units)
            new_states = [state_h, state_c] + ([output] if self.input_feeding else [])
            return output, new_states + alignment_states, weights
        fixed_context = states[2]
        state_h, state_c = lstm_step(inputs, fixed_context, state_h, state_c)
        output = self._attentional(fixed_context, state_h)  # (B, units)
        weights = ops.zeros(ops.shape(memory)[:2], dtype=output.dtype)  # (B, S)
        return output, [state_h, state_c, fixed_context], weights

    def _fused_lstm_step(self, target_width: int):
        """An `lstm_step` for `_step` whose `inputs` are the target rows already multiplied by
        the target part of the LSTM kernel (bias included): z = inputs + [fed_back; h] W, with
        W the rest of the input kernel stacked on the recurrent kernel, one product per step."""
        stacked_kernel = self._stacked_kernel(target_width)

        def lstm_step(projected_inputs, fed_back, state_h, state_c):
            combined = state_h if fed_back is None else ops.concatenate([fed_back, state_h], -1)
            z = projected_inputs + ops.matmul(combined, stacked_kernel)  # (B, 4·units)
            return lstm_gates(z, state_c)

        return lstm_step

    def _stacked_kernel(self, target_width: int):
        """The LSTM input kernel's rows after the target's, stacked on the recurrent kernel:
        (Dm + units, 4·units), or (units, 4·units) without a fed-back input."""
        cell = self.lstm.cell
        kernel = ops.cast(cell.kernel, self.compute_dtype)
        recurrent_kernel = ops.cast(cell.recurrent_kernel, self.compute_dtype)
        return ops.concatenate([kernel[target_width:], recurrent_kernel], axis=0)

    def _project_target(self, target):
        """The target's share of every step's LSTM input projection, all steps at once:
        target (B, T, E) → (B, T, 4·units)."""
        cell = self.lstm.cell
        kernel = ops.cast(cell.kernel, self.compute_dtype)
        projected = ops.matmul(target, kernel[: ops.shape(target)[-1]])  # (B, T, 4·units)
        if cell.use_bias:
            projected = projected + ops.cast(cell.bias, self.compute_dtype)
        return projected

    # -- a whole sequence ------------------------------------------------------------------------

    def call(
        self,
        target,
        memory,
        initial_state=None,
        target_mask=None,
        memory_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        batch_size = ops.shape(target)[0]
        if target_mask is None:
            target_mask = ops.ones(ops.shape(target)[:2], dtype="bool")  # (B, T)
        target_mask = ops.cast(target_mask, "bool")
        if memory_mask is not None:
            memory_mask = ops.cast(memory_mask, "bool")
        states = self.get_initial_state(batch_size, initial_state, memory, memory_mask)
        projected_memory = self.prepare_memory(memory)

        if self.runs_step_by_step:
            outputs, weights = self._run_steps(
                target, target_mask, states, memory, projected_memory, memory_mask, training
            )
        elif self.is_luong:
            sequence, _, _ = run_lstm(
                self.lstm,
                target,
                mask=target_mask,
                initial_state=states[:2],
                training=training,
                fused=self.fused_lstm,
            )
            # Monotonic attention runs its alignment recurrence over T itself, from α_0.
            context, weights = self.attention_layer.attend(
                sequence,
                projected_memory,
                memory,
                value_mask=memory_mask,
                query_mask=target_mask,
                training=training,
            )
            outputs = self._attentional(context, sequence)  # (B, T, units)
        else:
            fixed_context = ops.expand_dims(states[2], axis=1)  # (B, 1, units)
            fixed_context = ops.repeat(fixed_context, ops.shape(target)[1], axis=1)  # (B, T, units)
            lstm_input = ops.concatenate([target, fixed_context], axis=-1)  # (B, T, E + units)
            sequence, _, _ = run_lstm(
                self.lstm,
                lstm_input,
                mask=target_mask,
                initial_state=states[:2],
                training=training,
                fused=self.fused_lstm,
            )
            outputs = self._attentional(fixed_context, sequence)  # (B, T, units)
            weights = ops.zeros(
                (batch_size, ops.shape(target)[1], ops.shape(memory)[1]), dtype=outputs.dtype
            )  # (B, T, S)

        float_mask = ops.expand_dims(ops.cast(target_mask, outputs.dtype), axis=-1)  # (B, T, 1)
        outputs = self.output_dropout(outputs * float_mask, training=training)
        if return_attention_scores:
            return outputs, weights * ops.cast(float_mask, weights.dtype)
        return outputs

    def _runs_bahdanau_recurrence(self) -> bool:
        """Whether a teacher-forced call runs `bahdanau_recurrence` (a TensorFlow loop with a
        hand-written backward pass): "bahdanau" with the fused LSTM on TensorFlow, without
        attention dropout or a weight-normalised score (the decoder creates its attention with
        neither; the scan path computes any other case)."""
        return (
            self.hand_written_backward
            and self.fused_lstm
            and self.attention == "bahdanau"
            and keras.backend.backend() == "tensorflow"
            and not self.attention_layer.normalize
            and self.attention_layer.dropout == 0
        )

    def _run_bahdanau_recurrence(
        self, target, target_mask, states, memory, projected_memory, memory_mask
    ):
        attention = self.attention_layer
        score_dtype = attention.score_dtype
        projected_target = self._project_target(target)  # (B, T, 4·units)
        states_h, contexts, weights = bahdanau_recurrence(
            ops.transpose(projected_target, (1, 0, 2)),  # (T, B, 4·units)
            ops.transpose(target_mask, (1, 0)),  # (T, B)
            states[0],
            states[1],
            # The values as `BaseAttention.attend` weights them: in the compute dtype, then
            # in the score dtype.
            ops.cast(ops.cast(memory, self.compute_dtype), score_dtype),
            ops.cast(projected_memory, score_dtype),
            ops.cast(attention.query_kernel, score_dtype),
            ops.cast(attention.score_vector, score_dtype),
            self._stacked_kernel(target.shape[-1]),
            value_mask=memory_mask,
        )  # (T, B, units), (T, B, Dm), (T, B, S)
        outputs = self._attentional(contexts, states_h)  # (T, B, units)
        outputs = ops.transpose(outputs, (1, 0, 2))  # (B, T, units)
        weights = ops.transpose(weights, (1, 0, 2))  # (B, T, S)
        return outputs, weights

    def _run_steps(
        self, target, target_mask, states, memory, projected_memory, memory_mask, training
    ):
        if self._runs_bahdanau_recurrence():
            return self._run_bahdanau_recurrence(
                target, target_mask, states, memory, projected_memory, memory_mask
            )
        # Bahdanau's output tanh(W_c [c_i; s_i]) feeds nothing back: with the fused LSTM it
        # is computed after the loop for all steps at once, the loop yields c_i instead.
        output_after_loop = self.fused_lstm and self.attends_previous_state
        if self.fused_lstm:
            lstm_step = self._fused_lstm_step(target.shape[-1])
            target = self._project_target(target)  # (B, T, 4·units)
        else:
            lstm_step = self._keras_lstm_step(training)
        input_width = target.shape[-1]  # E, or 4·units
        # Pre-sigmoid noise of a monotonic attention, drawn once for all steps outside the loop
        # (a random draw inside a scanned function is not traceable on every backend).
        with_noise = bool(training and self.is_monotonic and self.attention_layer.sigmoid_noise > 0)

        def step_function(inputs, previous_states, noise):
            if not output_after_loop:
                return self._step(
                    inputs,
                    previous_states,
                    memory,
                    projected_memory,
                    memory_mask,
                    lstm_step,
                    training,
                    noise,
                )
            context, weights, alignment_states = self._attend(
                previous_states[0],
                previous_states,
                memory,
                projected_memory,
                memory_mask,
                training,
                noise,
            )
            state_h, state_c = lstm_step(inputs, context, previous_states[0], previous_states[1])
            return context, [state_h, state_c] + alignment_states, weights

        def scan_step(carry, step_inputs):
            previous_states = carry[0]
            inputs, step_mask = step_inputs[:, :input_width], step_inputs[:, -1] > 0.5
            # (B, W), (B,)
            noise = step_inputs[:, input_width:-1] if with_noise else None  # (B, S)
            output, new_states, weights = step_function(inputs, previous_states, noise)
            keep = ops.expand_dims(step_mask, axis=-1)  # (B, 1)
            # A padded target step leaves the state as it was.
            new_states = [
                ops.where(keep, new, old) for new, old in zip(new_states, previous_states)
            ]
            new_carry = (new_states, output, weights)
            # keras.ops.scan stacks values shaped like the carry; carrying the step's output
            # and weights makes the stacked carries the sequence outputs.
            return new_carry, new_carry

        batch_size = ops.shape(target)[0]
        output_width = memory.shape[-1] if output_after_loop else self.units
        initial_carry = (
            states,
            ops.zeros((batch_size, output_width), dtype=self.compute_dtype),
            ops.zeros((batch_size, ops.shape(memory)[1]), dtype=self.compute_dtype),
        )
        # One scanned tensor: Keras's TensorFlow scan fails on several `xs` of unknown length.
        mask_channel = ops.expand_dims(ops.cast(target_mask, target.dtype), axis=-1)  # (B, T, 1)
        # W = E, or 4·units for the projected target of the fused LSTM
        channels = [target, mask_channel]
        if with_noise:
            noise = self.attention_layer.draw_noise(
                (batch_size, ops.shape(target)[1], ops.shape(memory)[1])
            )  # (B, T, S)
            channels = [target, ops.cast(noise, target.dtype), mask_channel]
        step_inputs = ops.concatenate(channels, axis=-1)  # (B, T, W [+ S] + 1)
        step_inputs = ops.transpose(step_inputs, (1, 0, 2))  # (T, B, W [+ S] + 1)
        _, (step_states, outputs, weights) = ops.scan(scan_step, initial_carry, step_inputs)
        if output_after_loop:
            # outputs are the contexts (T, B, Dm); the states are the carried ones, which
            # differ from the step's own only at padded steps, whose outputs are zeroed.
            outputs = self._attentional(outputs, step_states[0])  # (T, B, units)
        outputs = ops.transpose(outputs, (1, 0, 2))  # (B, T, units)
        weights = ops.transpose(weights, (1, 0, 2))  # (B, T, S)
        return outputs, weights

    def compute_output_spec(
        self,
        target,
        memory,
        initial_state=None,
        target_mask=None,
        memory_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        batch, time = target.shape[0], target.shape[1]
        outputs = keras.KerasTensor((batch, time, self.units), dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        weights = keras.KerasTensor((batch, time, memory.shape[1]), dtype=self.compute_dtype)
        return outputs, weights

    def compute_mask(self, target, previous_mask=None):
        return previous_mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "attention": self.attention,
                "attention_units": self.attention_units,
                "input_feeding": self.input_feeding,
                "dropout": self.dropout,
                "use_cudnn": self.use_cudnn,
                "seed": self.seed,
                "fused_lstm": self.fused_lstm,
                "sigmoid_noise": self.sigmoid_noise,
                "score_bias_init": self.score_bias_init,
                "monotonic_mode": self.monotonic_mode,
            }
        )
        return config
