"""`Seq2SeqBackbone`: the attention encoder-decoder network, token ids in, logits out."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers.attention_bilstm_encoder import AttentionBiLSTMEncoder
from kerattn.layers.attention_decoder import ATTENTIONS, AttentionDecoder


@keras.saving.register_keras_serializable(package="kerattn")
class Seq2SeqBackbone(keras.Model):
    """Embedding → `AttentionBiLSTMEncoder` → `AttentionDecoder` → projection, as a functional
    model of `keras.ops` only (every backend).

    The network of Bahdanau et al. (2015) and Luong et al. (2015): a bidirectional encoder
    annotates the source, and an LSTM decoder attends over the annotations at every target step.
    Called on a teacher-forced target it returns the logits of every next token; `encode` and
    `decoder_step` run it one step at a time for search (`kerattn.zoo.decoding`).

    Args:
        source_vocabulary_size, target_vocabulary_size: sizes of the id spaces (id 0 is
            padding).
        embedding_dim: width of the source and target token embeddings.
        units: decoder LSTM units; the encoder has units // 2 per direction, projected to
            `units`, so annotations, context and decoder state all have width `units`.
        encoder_layers: stacked bidirectional layers in the encoder.
        dropout: dropout on the encoder LSTM inputs and the decoder outputs.
        attention: "bahdanau", "luong_dot", "luong_general", "luong_concat", or "none" (the
            encoder-decoder without attention, the baseline attention models are compared
            against).
        input_feeding: Luong styles only; False runs a teacher-forced target as one LSTM pass
            plus one batched attention (faster to train).
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: dict with "source_ids" int32 (B, S) and "target_input_ids" int32 (B, T),
            right-padded with 0.
        training: Python bool, enables dropout.

    Returns:
        logits (B, T, target_vocabulary_size).

    Masking:
        Id 0 is padding: the masks are `ops.not_equal(ids, 0)` and go to the encoder and the
        decoder explicitly. Appending padding to a source or a target leaves the logits of the
        real target positions unchanged.

    Example:

    >>> import numpy as np
    >>> backbone = Seq2SeqBackbone(100, 120, embedding_dim=8, units=16)
    >>> ids = np.array([[5, 6, 2, 0]], "int32")
    >>> tuple(backbone({"source_ids": ids, "target_input_ids": ids[:, :3]}).shape)
    (1, 3, 120)
    """

    ensemble_size = 1  # one network (`kerattn.models.ensembles` holds several)

    def __init__(
        self,
        source_vocabulary_size: int,
        target_vocabulary_size: int,
        embedding_dim: int = 128,
        units: int = 256,
        encoder_layers: int = 1,
        dropout: float = 0.1,
        attention: str = "bahdanau",
        input_feeding: bool = True,
        **kwargs,
    ):
        if attention not in ATTENTIONS:
            raise ValueError(
                f"`attention` must be one of {', '.join(repr(a) for a in ATTENTIONS)}; "
                f"received attention={attention!r}."
            )
        if not isinstance(units, int) or isinstance(units, bool) or units < 2 or units % 2:
            raise ValueError(f"`units` must be an even int >= 2; received units={units!r}.")
        for argument, value in (
            ("source_vocabulary_size", source_vocabulary_size),
            ("target_vocabulary_size", target_vocabulary_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ValueError(f"`{argument}` must be an int >= 2; received {value!r}.")

        # === Layers ===
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, mask_zero=True, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, mask_zero=True, name="target_embedding"
        )
        self.encoder = AttentionBiLSTMEncoder(
            units // 2,
            num_layers=encoder_layers,
            dropout=dropout,
            output_units=units,
            name="encoder",
        )
        self.decoder = AttentionDecoder(
            units,
            attention=attention,
            input_feeding=input_feeding,
            dropout=dropout,
            name="decoder",
        )
        self.projection = keras.layers.Dense(target_vocabulary_size, name="projection")

        # === Functional model ===
        source_ids = keras.Input((None,), dtype="int32", name="source_ids")
        target_input_ids = keras.Input((None,), dtype="int32", name="target_input_ids")
        logits = self._logits(self.encode(source_ids), target_input_ids)
        super().__init__(
            inputs={"source_ids": source_ids, "target_input_ids": target_input_ids},
            outputs=logits,
            **kwargs,
        )

        # === Config ===
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.dropout = dropout
        self.attention = attention
        self.input_feeding = input_feeding

    def encode(self, source_ids, training=None) -> dict:
        """Encoder outputs for source ids (B, S): "sequence" (B, S, units), "mask" (B, S),
        "state_h" and "state_c" (B, units); see `AttentionBiLSTMEncoder`."""
        source_mask = ops.not_equal(source_ids, 0)  # (B, S)
        return self.encoder(self.source_embedding(source_ids), mask=source_mask, training=training)

    def decoder_outputs(self, inputs: dict, training=None):
        """What `call` projects to logits: the decoder's outputs (B, T, units) for the
        teacher-forced `inputs` (the dict `call` takes), zero at padded target positions. The
        trainer projects only the real target positions (`kerattn.training.replica_steps`)."""
        encoded = self.encode(inputs["source_ids"], training=training)
        return self.decode(encoded, inputs["target_input_ids"], training)

    def _logits(self, encoded: dict, target_input_ids, training=None):
        return self.projection(self.decode(encoded, target_input_ids, training))  # (B, T, V)

    def decode(self, encoded: dict, target_input_ids, training=None, return_attention_scores=False):
        """The decoder over a whole teacher-forced target for `encode`'s outputs: (B, T, units),
        and with `return_attention_scores` also the attention weights (B, T, S)."""
        return self.decoder(
            self.target_embedding(target_input_ids),
            encoded["sequence"],
            initial_state=[encoded["state_h"], encoded["state_c"]],
            target_mask=ops.not_equal(target_input_ids, 0),
            memory_mask=encoded["mask"],
            training=training,
            return_attention_scores=return_attention_scores,
        )

    def initial_decoder_state(self, encoded: dict) -> dict:
        """What `decoder_step` carries from step to step, for encoder outputs `encoded`: a dict of
        tensors whose leading dimension is the batch (search tiles and gathers its rows)."""
        batch_size = ops.shape(encoded["sequence"])[0]
        return {
            "memory": encoded["sequence"],  # (B, S, units)
            "projected_memory": self.decoder.prepare_memory(encoded["sequence"]),
            "memory_mask": encoded["mask"],  # (B, S)
            "decoder": self.decoder.get_initial_state(  # monotonic styles start on position 1
                batch_size,
                [encoded["state_h"], encoded["state_c"]],
                memory=encoded["sequence"],
                memory_mask=encoded["mask"],
            ),
        }

    def decoder_step(self, tokens, state: dict) -> tuple:
        """One target step for the previous tokens (N,) and the carried `state`.

        Returns:
            (logits (N, target_vocabulary_size), the next state, attention weights (N, S)).
        """
        output, decoder_states, weights = self.decoder.step(
            self.target_embedding(tokens),
            state["decoder"],
            state["memory"],
            state["projected_memory"],
            state["memory_mask"],
        )
        return self.projection(output), {**state, "decoder": decoder_states}, weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocabulary_size": self.source_vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "encoder_layers": self.encoder_layers,
                "dropout": self.dropout,
                "attention": self.attention,
                "input_feeding": self.input_feeding,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
