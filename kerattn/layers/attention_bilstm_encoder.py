"""`AttentionBiLSTMEncoder`: the bidirectional LSTM encoder of attention models."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers.argument_checks import (
    check_bool,
    check_positive_int,
    check_rate,
    check_use_cudnn,
)
from kerattn.layers.attention_pooling import POOLING_SCORES, AttentionPooling
from kerattn.layers.lstm_recurrence import run_lstm_pair


@keras.saving.register_keras_serializable(package="kerattn")
class AttentionBiLSTMEncoder(keras.layers.Layer):
    """A (stacked) bidirectional LSTM that produces what attention and a decoder need.

    The encoder of Bahdanau et al. (2015): each position j is annotated with
    h_j = [→h_j; ←h_j], the states of a forward and a backward LSTM. Layers are stacked
    `num_layers` deep (the concatenated states of one layer feed the next).

    - With `output_units`, the annotations are linearly projected from 2·units to
      `output_units`, and the final states are merged into a decoder's initial state:
      h_0 = tanh(W_h [→h_T; ←h_1]), c_0 = W_c [→c_T; ←c_1] (Bahdanau et al. initialise the
      decoder from the backward state through a tanh layer). The decoder's input then does not
      double with the bidirectional concatenation.
    - Without `output_units`, annotations and final states are the plain concatenations
      (width 2·units).

    Args:
        units: positive int, LSTM units per direction.
        num_layers: positive int, number of stacked bidirectional layers. Default 1.
        dropout: float in [0, 1), dropout on the inputs of every LSTM layer (training only).
        output_units: optional positive int, width of the projected annotations and states.
        pooling: None, "bahdanau" or "luong": adds an `AttentionPooling` over the annotations
            (for classifiers).
        pooling_units: width of the additive pooling projection; defaults to the annotation
            width. Only for `pooling="bahdanau"`.
        use_cudnn: passed to the LSTMs: "auto" (default), True or False. Use False before
            exporting for CPU serving (a model traced on a GPU would otherwise carry
            `CudnnRNN` ops).
        seed: optional int, seed of the dropout.
        fused_lstm: bool, run the LSTMs with kerattn's fused recurrence
            (`kerattn.layers.lstm_recurrence`: hoisted input projection, fused gates, a
            hand-written backward pass; same weights and numerics). Default True. False runs
            `keras.layers.LSTM` itself. Either way cuDNN is used where Keras would use it.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: (B, T, E) embedded tokens.
        mask: optional boolean (B, T), True for real tokens; filled automatically from an
            upstream `Embedding(mask_zero=True)`. Tokens must be right-padded.
        training: Python bool, enables dropout.

    Returns:
        A dict with
        - "sequence": (B, T, D) annotations, exactly zero at padded positions,
        - "mask": (B, T) boolean mask to hand to the attention/decoder explicitly,
        - "state_h", "state_c": (B, D) the decoder's initial state,
        - with pooling: "pooled" (B, D) and "pooling_weights" (B, T),
        where D = output_units or 2·units.

    Masking:
        The forward LSTM stops at the last real token and the backward LSTM starts from it, so
        padding never enters a real annotation, the final states or the pooled vector:
        appending padding leaves every real output unchanged. The mask is returned explicitly as
        "mask" (and also attached to "sequence" for Keras's automatic `value_mask`); pass it on
        explicitly, because Keras stops propagating masks through RNN layers.

    Example:

    >>> tokens = keras.Input((None,), dtype="int32")
    >>> embedded = keras.layers.Embedding(1000, 64, mask_zero=True)(tokens)
    >>> encoded = AttentionBiLSTMEncoder(128, output_units=256)(embedded)
    >>> encoded["sequence"].shape, encoded["state_h"].shape
    ((None, None, 256), (None, 256))
    """

    def __init__(
        self,
        units: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        output_units: int | None = None,
        pooling: str | None = None,
        pooling_units: int | None = None,
        use_cudnn: str | bool = "auto",
        seed: int | None = None,
        fused_lstm: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        check_positive_int("num_layers", num_layers)
        check_positive_int("output_units", output_units, optional=True)
        check_positive_int("pooling_units", pooling_units, optional=True)
        check_rate("dropout", dropout)
        if pooling is not None and pooling not in POOLING_SCORES:
            raise ValueError(
                f"`pooling` must be None or one of {', '.join(repr(s) for s in POOLING_SCORES)}"
                f"; received pooling={pooling!r}."
            )
        if pooling_units is not None and pooling != "bahdanau":
            raise ValueError(
                "`pooling_units` is only used by pooling='bahdanau'; received "
                f"pooling_units={pooling_units!r} with pooling={pooling!r}."
            )
        check_use_cudnn(use_cudnn)
        check_bool("fused_lstm", fused_lstm)
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.output_units = output_units
        self.pooling = pooling
        self.pooling_units = pooling_units
        self.use_cudnn = use_cudnn
        self.seed = seed
        self.fused_lstm = fused_lstm

        def lstm(direction: str, index: int) -> keras.layers.LSTM:
            return keras.layers.LSTM(
                units,
                return_sequences=True,
                return_state=True,
                go_backwards=direction == "backward",
                dropout=dropout,
                seed=None if seed is None else seed + 2 * index + (direction == "backward"),
                use_cudnn=use_cudnn,
                name=f"{direction}_lstm_{index}",
                dtype=self.dtype_policy,
            )

        self.forward_layers = [lstm("forward", i) for i in range(num_layers)]
        self.backward_layers = [lstm("backward", i) for i in range(num_layers)]
        if output_units is not None:
            self.sequence_projection = keras.layers.Dense(
                output_units, use_bias=False, name="sequence_projection", dtype=self.dtype_policy
            )
            self.state_h_projection = keras.layers.Dense(
                output_units,
                activation="tanh",
                name="state_h_projection",
                dtype=self.dtype_policy,
            )
            self.state_c_projection = keras.layers.Dense(
                output_units, name="state_c_projection", dtype=self.dtype_policy
            )
        if pooling is not None:
            width = output_units or 2 * units
            self.attention_pooling = AttentionPooling(
                units=(pooling_units or width) if pooling == "bahdanau" else None,
                attention=pooling,
                name="attention_pooling",
                dtype=self.dtype_policy,
            )

    @property
    def output_width(self) -> int:
        """Width D of the annotations and states."""
        return self.output_units or 2 * self.units

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "AttentionBiLSTMEncoder expects embedded inputs of shape (batch, time, features) "
                f"with known features; received shape {tuple(input_shape)}."
            )
        batch, time = input_shape[0], input_shape[1]
        layer_input_shape = tuple(input_shape)
        for forward, backward in zip(self.forward_layers, self.backward_layers):
            forward.build(layer_input_shape)
            backward.build(layer_input_shape)
            layer_input_shape = (batch, time, 2 * self.units)
        if self.output_units is not None:
            self.sequence_projection.build((batch, time, 2 * self.units))
            self.state_h_projection.build((batch, 2 * self.units))
            self.state_c_projection.build((batch, 2 * self.units))
        if self.pooling is not None:
            self.attention_pooling.build((batch, time, self.output_width))
        self.built = True

    def call(self, inputs, mask=None, training=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")  # (B, T)
        mask = ops.cast(mask, "bool")
        float_mask = ops.expand_dims(ops.cast(mask, self.compute_dtype), axis=-1)  # (B, T, 1)
        sequence = inputs
        for forward, backward in zip(self.forward_layers, self.backward_layers):
            forward_outputs, backward_outputs = run_lstm_pair(
                forward, backward, sequence, mask=mask, training=training, fused=self.fused_lstm
            )
            forward_sequence, forward_h, forward_c = forward_outputs
            backward_sequence, backward_h, backward_c = backward_outputs
            # go_backwards returns the sequence in reversed time order; restore it.
            backward_sequence = ops.flip(backward_sequence, axis=1)  # (B, T, units)
            sequence = ops.concatenate([forward_sequence, backward_sequence], axis=-1)
            # LSTMs repeat their last output over padding; make padding exactly zero.
            sequence = sequence * float_mask  # (B, T, 2·units)
        state_h = ops.concatenate([forward_h, backward_h], axis=-1)  # (B, 2·units)
        state_c = ops.concatenate([forward_c, backward_c], axis=-1)  # (B, 2·units)
        if self.output_units is not None:
            sequence = self.sequence_projection(sequence)  # (B, T, D)
            state_h = self.state_h_projection(state_h)  # (B, D)
            state_c = self.state_c_projection(state_c)  # (B, D)
        outputs = {"sequence": sequence, "mask": mask, "state_h": state_h, "state_c": state_c}
        if self.pooling is not None:
            pooled, weights = self.attention_pooling(
                sequence, mask=mask, training=training, return_attention_scores=True
            )
            outputs.update({"pooled": pooled, "pooling_weights": weights})
        return outputs

    def compute_mask(self, inputs, previous_mask=None):
        # The annotations carry the input mask, so that attention layers downstream fill their
        # `value_mask` automatically; the other outputs are per sequence and have no mask.
        return {
            "sequence": previous_mask,
            "mask": None,
            "state_h": None,
            "state_c": None,
            **({"pooled": None, "pooling_weights": None} if self.pooling is not None else {}),
        }

    def compute_output_spec(self, inputs, mask=None, training=None):
        batch, time = inputs.shape[0], inputs.shape[1]
        width = self.output_width

        def spec(shape, dtype=None):
            return keras.KerasTensor(shape, dtype=dtype or self.compute_dtype)

        outputs = {
            "sequence": spec((batch, time, width)),
            "mask": spec((batch, time), "bool"),
            "state_h": spec((batch, width)),
            "state_c": spec((batch, width)),
        }
        if self.pooling is not None:
            outputs.update({"pooled": spec((batch, width)), "pooling_weights": spec((batch, time))})
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "output_units": self.output_units,
                "pooling": self.pooling,
                "pooling_units": self.pooling_units,
                "use_cudnn": self.use_cudnn,
                "seed": self.seed,
                "fused_lstm": self.fused_lstm,
            }
        )
        return config
