"""`ClassifierPreprocessor`: text to token ids for a `ClassifierBackbone`, in graph."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerattn.text import Tokenizer
from kerattn.zoo.token_batch import TokenBatch, id_strings, tokenize_batch


@keras.saving.register_keras_serializable(package="kerattn")
class ClassifierPreprocessor(keras.layers.Layer):
    """The tokenizer of a classifier, with its length limit; TensorFlow graph only (tf-text).

    Args:
        tokenizer: a `kerattn.text` tokenizer with its vocabulary.
        max_length: tokens read per text; longer texts are cut (`TokenBatch.truncated`).
        **kwargs: `keras.layers.Layer` arguments (`name`, ...).
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int = 256, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            raise ValueError(f"`max_length` must be a positive int; received {max_length!r}.")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.built = True  # no weights; the tokenizer's vocabulary is an asset

    def tokenize(self, texts: tf.Tensor) -> TokenBatch:
        """Texts tf.string [B] → ids [B, T], at most `max_length`."""
        return tokenize_batch(self.tokenizer, texts, self.max_length)

    def prepare_batch(self, texts, labels):
        """Texts and integer labels → (token ids (B, T), labels) (tf.data-ready)."""
        return self.tokenize(texts).ids, labels

    def tokens(self, ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """Token strings [B, T]; "" at or after `lengths`."""
        return id_strings(self.tokenizer, ids, lengths)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "max_length": self.max_length,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)
