"""`ClassifierBackbone`: an attention-pooled BiLSTM classifier network, token ids to logits."""

from __future__ import annotations

import keras
from keras import ops

from kerattn.layers.attention_bilstm_encoder import AttentionBiLSTMEncoder


@keras.saving.register_keras_serializable(package="kerattn")
class ClassifierBackbone(keras.Model):
    """Embedding → `AttentionBiLSTMEncoder(pooling=...)` → dropout → dense head, as a functional
    model of `keras.ops` only (every backend).

    The encoder's attention pooling (Yang et al., 2016) weights every token of the text into one
    vector; `logits_and_pooling_weights` also returns those weights, so a task can show which
    tokens decided a prediction.

    Args:
        vocabulary_size: size of the id space (id 0 is padding).
        num_classes: number of classes (at least 2; binary tasks are two classes).
        embedding_dim: width of the token embeddings.
        units: LSTM units per direction; the pooled vector has width 2 · units.
        encoder_layers: stacked bidirectional layers.
        dropout: dropout on the LSTM inputs and on the pooled vector.
        pooling: "bahdanau" (additive, default) or "luong" (dot product with a learned query).
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        token_ids: int32 (B, T), right-padded with 0.
        training: Python bool, enables dropout.

    Returns:
        logits (B, num_classes).

    Masking:
        Id 0 is padding (`ops.not_equal(token_ids, 0)`, passed to the encoder explicitly):
        appending padding leaves the logits unchanged.

    Example:

    >>> import numpy as np
    >>> backbone = ClassifierBackbone(100, num_classes=3, embedding_dim=8, units=8)
    >>> tuple(backbone(np.array([[5, 6, 7, 0]], "int32")).shape)
    (1, 3)
    """

    ensemble_size = 1  # one network (`kerattn.models.ensembles` holds several)

    def __init__(
        self,
        vocabulary_size: int,
        num_classes: int,
        embedding_dim: int = 128,
        units: int = 128,
        encoder_layers: int = 1,
        dropout: float = 0.2,
        pooling: str = "bahdanau",
        **kwargs,
    ):
        for argument, value in (("vocabulary_size", vocabulary_size), ("num_classes", num_classes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ValueError(f"`{argument}` must be an int >= 2; received {value!r}.")

        # === Layers ===
        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
        )
        self.encoder = AttentionBiLSTMEncoder(
            units, num_layers=encoder_layers, dropout=dropout, pooling=pooling, name="encoder"
        )
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.head = keras.layers.Dense(num_classes, name="head")

        # === Functional model ===
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        logits, _ = self.logits_and_pooling_weights(token_ids)
        super().__init__(inputs=token_ids, outputs=logits, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.dropout = dropout
        self.pooling = pooling

    def logits_and_pooling_weights(self, token_ids, training=None) -> tuple:
        """The logits (B, num_classes) and the pooling weight of every token (B, T), which is
        zero on padding and sums to 1 over a text's real tokens."""
        mask = ops.not_equal(token_ids, 0)  # (B, T)
        encoded = self.encoder(self.embedding(token_ids), mask=mask, training=training)
        pooled = self.head_dropout(encoded["pooled"], training=training)  # (B, 2·units)
        return self.head(pooled), encoded["pooling_weights"]  # (B, C), (B, T)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "encoder_layers": self.encoder_layers,
                "dropout": self.dropout,
                "pooling": self.pooling,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
