"""`Classifier`: text classification with an attention-pooled BiLSTM encoder."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerattn import layers
from kerattn.text import Tokenizer
from kerattn.zoo.backend import require_tensorflow_backend
from kerattn.zoo.preset_model import PresetModel
from kerattn.zoo.results import Classification
from kerattn.zoo.token_batch import id_strings, text_list, tokenize_batch

_EMPTY = Classification(label=None, probabilities={}, tokens=[],
                        token_weights=np.zeros(0, np.float32), truncated=False)


@keras.saving.register_keras_serializable(package="kerattn")
class Classifier(PresetModel, keras.Model):
    """Embedding → `AttentionBiLSTMEncoder(pooling=...)` → dense head; text in, label out.

    The encoder's attention pooling (Yang et al., 2016) weights every token; those weights are
    returned with each prediction, so users see which words decided it. Binary tasks are two
    classes with a softmax, like every other task, so there is one code path.

    Args:
        tokenizer: a `kerattn.text` tokenizer with its vocabulary.
        labels: the class names, in class-id order (at least two, unique, non-empty).
        embedding_dim: width of the token embeddings.
        units: LSTM units per direction; the pooled vector has width 2 · units.
        encoder_layers: stacked bidirectional layers.
        dropout: dropout on the LSTM inputs and on the pooled vector.
        pooling: "bahdanau" (additive, default) or "luong" (dot product with a learned query).
        max_length: tokens read per text; longer texts are cut and their result says
            `truncated`.
        vocabulary_size: defaults to the tokenizer's; stored in the config because a `.keras`
            file restores vocabularies after the layers exist.

    Call arguments:
        token_ids: int32 (B, T), right-padded with 0 (see `prepare_batch`).

    Returns:
        logits (B, number of labels).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        labels: list[str],
        embedding_dim: int = 128,
        units: int = 128,
        encoder_layers: int = 1,
        dropout: float = 0.2,
        pooling: str = "bahdanau",
        max_length: int = 256,
        vocabulary_size: int | None = None,
        **kwargs,
    ):
        require_tensorflow_backend(f"kerattn.{type(self).__name__}")
        super().__init__(**kwargs)
        labels = list(labels)
        if (
            len(labels) < 2
            or len(set(labels)) != len(labels)
            or not all(isinstance(label, str) and label for label in labels)
        ):
            raise ValueError(
                "`labels` must be at least two unique, non-empty strings; "
                f"received labels={labels!r}."
            )
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"`max_length` must be a positive int; received {max_length!r}.")
        self.tokenizer = tokenizer
        self.labels = labels
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.dropout = dropout
        self.pooling = pooling
        self.max_length = max_length
        self.vocabulary_size = vocabulary_size or tokenizer.vocabulary_size()

        self.embedding = keras.layers.Embedding(
            self.vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
        )
        self.encoder = layers.AttentionBiLSTMEncoder(
            units, num_layers=encoder_layers, dropout=dropout, pooling=pooling, name="encoder"
        )
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.head = keras.layers.Dense(len(labels), name="head")
        self._label_table = tf.constant(labels)
        self._classify_function = None
        self.build()

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))
        self.head.build((None, 2 * self.units))
        self.built = True

    def encode(self, token_ids, training=None) -> dict:
        """Encoder outputs (with "pooled" and "pooling_weights") for ids (B, T)."""
        mask = tf.not_equal(token_ids, 0)
        return self.encoder(self.embedding(token_ids), mask=mask, training=training)

    def call(self, token_ids, training=None):
        pooled = self.encode(token_ids, training=training)["pooled"]  # (B, 2·units)
        return self.head(self.head_dropout(pooled, training=training))  # (B, C)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with default loss (cross-entropy on logits) and accuracy."""
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics is None:
            metrics = ["accuracy"]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def prepare_batch(self, texts, labels):
        """Texts and integer labels → (token ids (B, T), labels), in graph (tf.data-ready)."""
        return tokenize_batch(self.tokenizer, texts, self.max_length).ids, labels

    def classify_batch(self, texts) -> dict:
        """Classifies tf.string [B] in graph; the function kerattn exports for serving.

        Returns batch-major tensors: "label" string [B], "label_id" int32 [B],
        "probabilities" float32 [B, C], "tokens" string [B, T] ("" on padding),
        "token_weights" float32 [B, T] (zero on padding), "truncated" bool [B].
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        batch = tokenize_batch(self.tokenizer, texts, self.max_length)
        encoded = self.encode(batch.ids, training=False)
        probabilities = tf.nn.softmax(tf.cast(self.head(encoded["pooled"]), tf.float32))
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "label": tf.gather(self._label_table, label_id),
            "label_id": label_id,
            "probabilities": probabilities,
            "tokens": id_strings(self.tokenizer, batch.ids, batch.lengths),
            "token_weights": tf.cast(encoded["pooling_weights"], tf.float32),
            "truncated": batch.truncated,
        }

    def classify(self, texts: str | list[str]) -> Classification | list[Classification]:
        """Classifies a string or a list of strings; see `Classification` for the fields.

        An empty or whitespace-only text has nothing to classify: its result has label None,
        no probabilities and no tokens (the model is not run on it).
        """
        batch, single = text_list(texts)
        results = [None if text.strip() else _EMPTY for text in batch]
        runnable = [text for text in batch if text.strip()]
        if runnable:
            classified = iter(self._classify_texts(runnable))
            results = [result or next(classified) for result in results]
        return results[0] if single else results

    def _classify_texts(self, batch: list[str]) -> list[Classification]:
        if self._classify_function is None:
            self._classify_function = tf.function(
                self.classify_batch, input_signature=[tf.TensorSpec([None], tf.string)]
            )
        outputs = {
            name: value.numpy()
            for name, value in self._classify_function(tf.constant(batch, tf.string)).items()
        }
        results = []
        for row in range(len(batch)):
            tokens = [token.decode() for token in outputs["tokens"][row] if token]
            results.append(
                Classification(
                    label=outputs["label"][row].decode(),
                    probabilities={
                        label: float(p) for label, p in zip(self.labels, outputs["probabilities"][row])
                    },
                    tokens=tokens,
                    token_weights=np.asarray(outputs["token_weights"][row, : len(tokens)]),
                    truncated=bool(outputs["truncated"][row]),
                )
            )
        return results

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "labels": self.labels,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "encoder_layers": self.encoder_layers,
                "dropout": self.dropout,
                "pooling": self.pooling,
                "max_length": self.max_length,
                "vocabulary_size": self.vocabulary_size,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)
