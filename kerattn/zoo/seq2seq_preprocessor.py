"""`Seq2SeqPreprocessor`: text to token ids and back for a `Seq2SeqBackbone`, in graph."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerattn.text import Tokenizer
from kerattn.zoo.token_batch import TokenBatch, id_strings, tokenize_batch


@keras.saving.register_keras_serializable(package="kerattn")
class Seq2SeqPreprocessor(keras.layers.Layer):
    """The source and target tokenizers of a translator, with its length limits.

    Everything runs in the TensorFlow graph (tf-text), so a function that tokenizes, decodes and
    detokenizes exports as one SavedModel; it is TensorFlow-only, unlike the backbone.

    Args:
        source_tokenizer, target_tokenizer: `kerattn.text` tokenizers with their vocabularies.
        max_source_length: source tokens read, `[END]` included; longer inputs are cut (their
            `TokenBatch.truncated` is True).
        max_target_length: target tokens per training example, `[END]` included.
        **kwargs: `keras.layers.Layer` arguments (`name`, ...).
    """

    def __init__(
        self,
        source_tokenizer: Tokenizer,
        target_tokenizer: Tokenizer,
        max_source_length: int = 64,
        max_target_length: int = 96,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for argument, value in (
            ("max_source_length", max_source_length),
            ("max_target_length", max_target_length),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ValueError(f"`{argument}` must be an int >= 2; received {value!r}.")
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.built = True  # no weights; the tokenizers' vocabularies are assets

    def tokenize_source(self, texts: tf.Tensor) -> TokenBatch:
        """Source texts tf.string [B] → ids [B, S] with `[END]`, at most `max_source_length`."""
        return tokenize_batch(self.source_tokenizer, texts, self.max_source_length, add_end=True)

    def prepare_batch(self, source_texts, target_texts):
        """Text pairs → (inputs, target ids) for teacher forcing (tf.data-ready).

        Returns `({"source_ids": (B, S), "target_input_ids": (B, T)}, target_output_ids (B, T))`
        where target input = `[START]` + tokens and target output = tokens + `[END]`.
        """
        source = self.tokenize_source(source_texts)
        target = tokenize_batch(
            self.target_tokenizer,
            target_texts,
            self.max_target_length + 1,
            add_start=True,
            add_end=True,
        )
        target_input_ids = target.ids[:, :-1]  # (B, T): [START] y_1 … y_n
        target_output_ids = target.ids[:, 1:]  # (B, T): y_1 … y_n [END]
        inputs = {"source_ids": source.ids, "target_input_ids": target_input_ids}
        return inputs, target_output_ids

    def detokenize(self, target_ids: tf.Tensor) -> tf.Tensor:
        """Target ids [B, T] → text tf.string [B]."""
        return self.target_tokenizer.detokenize(target_ids)

    def source_tokens(self, ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """Source token strings [B, S]; "" at or after `lengths`."""
        return id_strings(self.source_tokenizer, ids, lengths)

    def target_tokens(self, ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """Target token strings [B, T]; "" at or after `lengths`."""
        return id_strings(self.target_tokenizer, ids, lengths)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_tokenizer": keras.saving.serialize_keras_object(self.source_tokenizer),
                "target_tokenizer": keras.saving.serialize_keras_object(self.target_tokenizer),
                "max_source_length": self.max_source_length,
                "max_target_length": self.max_target_length,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("source_tokenizer", "target_tokenizer"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)
