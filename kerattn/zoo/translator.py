"""`Translator`: string-to-string sequence-to-sequence model with attention."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerattn import layers
from kerattn.errors import UsageError
from kerattn.layers.attention_decoder import ATTENTIONS
from kerattn.text import Tokenizer
from kerattn.zoo import decoding
from kerattn.zoo.backend import require_tensorflow_backend
from kerattn.zoo.preset_model import PresetModel
from kerattn.zoo.results import Translation
from kerattn.zoo.token_batch import id_strings, text_list, tokenize_batch

DEFAULT_DECODING = {"beam_size": 1, "length_penalty": 0.6, "coverage_penalty": 0.0}


def _checked_decoding(decoding: dict | None) -> dict:
    """A copy of `decoding` with every key and value checked (one sentence if one is wrong)."""
    decoding = dict(decoding or {})
    unknown = sorted(set(decoding) - set(DEFAULT_DECODING))
    if unknown:
        raise UsageError(
            f"Unknown decoding setting {unknown[0]!r}; accepted: {', '.join(DEFAULT_DECODING)}."
        )
    beam_size = decoding.get("beam_size", 1)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise UsageError(f"`beam_size` must be an int >= 1; received beam_size={beam_size!r}.")
    for name in ("length_penalty", "coverage_penalty"):
        value = decoding.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise UsageError(f"`{name}` must be a number >= 0; received {name}={value!r}.")
    return decoding


@keras.saving.register_keras_serializable(package="kerattn")
class Translator(PresetModel, keras.Model):
    """Embedding → `AttentionBiLSTMEncoder` → `AttentionDecoder` → projection, text in and out.

    The same class serves every string-to-string task of the zoo: English → Spanish with
    wordpiece tokenizers, grapheme → phoneme with character and phoneme-symbol tokenizers.
    Tokenization, decoding (greedy or beam search in a `tf.while_loop`) and detokenization all
    run in the TensorFlow graph, so `translate_batch` exports as a SavedModel as it is.

    Args:
        source_tokenizer, target_tokenizer: `kerattn.text` tokenizers with their vocabularies.
        embedding_dim: width of the source and target token embeddings.
        units: decoder LSTM units; the encoder has units // 2 per direction, projected to
            `units`, so annotations, context and decoder state all have width `units`.
        encoder_layers: stacked bidirectional layers in the encoder.
        dropout: dropout on the encoder LSTM inputs and the decoder outputs.
        attention: "bahdanau", "luong_dot", "luong_general", "luong_concat", or "none" (the
            encoder-decoder without attention, the baseline every attention model is
            compared against).
        input_feeding: Luong styles only; False runs a teacher-forced target as one LSTM pass
            plus one batched attention (the TensorFlow NMT tutorial's structure; faster).
        max_source_length: source tokens read, `[END]` included; longer inputs are cut and
            their result says `truncated`.
        max_target_length: most output tokens; decoding also stops at 2 × source length + 10.
        source_vocabulary_size, target_vocabulary_size: default to the tokenizers'; stored in
            the config because a `.keras` file restores vocabularies after the layers exist.
        decoding: the default settings of `translate` (any of "beam_size", "length_penalty",
            "coverage_penalty"), e.g. the ones a preset's model card was measured with; saved
            with the model. Arguments given to `translate` override them.

    Call arguments (teacher forcing):
        inputs: dict with "source_ids" int32 (B, S) and "target_input_ids" int32 (B, T),
            right-padded with 0 (see `prepare_batch`).

    Returns:
        logits (B, T, target vocabulary).
    """

    def __init__(
        self,
        source_tokenizer: Tokenizer,
        target_tokenizer: Tokenizer,
        embedding_dim: int = 128,
        units: int = 256,
        encoder_layers: int = 1,
        dropout: float = 0.1,
        attention: str = "bahdanau",
        input_feeding: bool = True,
        max_source_length: int = 64,
        max_target_length: int = 96,
        source_vocabulary_size: int | None = None,
        target_vocabulary_size: int | None = None,
        decoding: dict | None = None,
        **kwargs,
    ):
        require_tensorflow_backend(f"kerattn.{type(self).__name__}")
        super().__init__(**kwargs)
        if attention not in ATTENTIONS:
            raise ValueError(
                f"`attention` must be one of {', '.join(repr(a) for a in ATTENTIONS)}; "
                f"received attention={attention!r}."
            )
        if not isinstance(units, int) or units < 2 or units % 2:
            raise ValueError(f"`units` must be an even int >= 2; received units={units!r}.")
        for argument, value in (
            ("max_source_length", max_source_length),
            ("max_target_length", max_target_length),
        ):
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"`{argument}` must be an int >= 2; received {value!r}.")
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.dropout = dropout
        self.attention = attention
        self.input_feeding = input_feeding
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.source_vocabulary_size = source_vocabulary_size or source_tokenizer.vocabulary_size()
        self.target_vocabulary_size = target_vocabulary_size or target_tokenizer.vocabulary_size()
        self.decoding = _checked_decoding(decoding)

        self.source_embedding = keras.layers.Embedding(
            self.source_vocabulary_size, embedding_dim, mask_zero=True, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            self.target_vocabulary_size, embedding_dim, mask_zero=True, name="target_embedding"
        )
        self.encoder = layers.AttentionBiLSTMEncoder(
            units // 2, num_layers=encoder_layers, dropout=dropout, output_units=units,
            name="encoder",
        )
        self.decoder = layers.AttentionDecoder(
            units, attention=attention, input_feeding=input_feeding, dropout=dropout,
            name="decoder",
        )
        self.projection = keras.layers.Dense(self.target_vocabulary_size, name="projection")
        self._translate_functions: dict = {}
        self.build()

    def build(self, input_shape=None):
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))
        self.decoder.build(
            (None, None, self.embedding_dim), (None, None, self.units), [(None, self.units)] * 2
        )
        self.projection.build((None, None, self.units))
        self.built = True

    # -- training ----------------------------------------------------------------------------

    def encode(self, source_ids, training=None) -> dict:
        """Encoder outputs for source ids (B, S): see `AttentionBiLSTMEncoder`."""
        source_mask = tf.not_equal(source_ids, 0)
        return self.encoder(self.source_embedding(source_ids), mask=source_mask, training=training)

    def call(self, inputs, training=None, return_attention_scores=False):
        encoded = self.encode(inputs["source_ids"], training=training)
        target_ids = inputs["target_input_ids"]
        decoded, weights = self.decoder(
            self.target_embedding(target_ids),
            encoded["sequence"],
            initial_state=[encoded["state_h"], encoded["state_c"]],
            target_mask=tf.not_equal(target_ids, 0),
            memory_mask=encoded["mask"],
            training=training,
            return_attention_scores=True,
        )
        logits = self.projection(decoded)  # (B, T, V)
        return (logits, weights) if return_attention_scores else logits

    def compile(self, optimizer="adam", loss=None, **kwargs):
        """`keras.Model.compile` with a default loss that ignores padded target positions."""
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def prepare_batch(self, source_texts, target_texts):
        """Text pairs → (inputs, target ids) for teacher forcing, in graph (tf.data-ready).

        Returns `({"source_ids": (B, S), "target_input_ids": (B, T)}, target_output_ids (B, T))`
        where target input = `[START]` + tokens and target output = tokens + `[END]`.
        """
        source = tokenize_batch(
            self.source_tokenizer, source_texts, self.max_source_length, add_end=True
        )
        target = tokenize_batch(
            self.target_tokenizer, target_texts, self.max_target_length + 1,
            add_start=True, add_end=True,
        )
        target_input_ids = target.ids[:, :-1]  # (B, T): [START] y_1 … y_n
        target_output_ids = target.ids[:, 1:]  # (B, T): y_1 … y_n [END]
        inputs = {"source_ids": source.ids, "target_input_ids": target_input_ids}
        return inputs, target_output_ids

    # -- translating -------------------------------------------------------------------------

    def translate_batch(
        self,
        texts,
        beam_size: int = 1,
        length_penalty: float = 0.6,
        coverage_penalty: float = 0.0,
    ) -> dict:
        """Translates tf.string [B] in graph; the function kerattn exports for serving.

        Returns a dict of batch-major tensors: "translation" string [B], "score" [B],
        "log_prob" [B], "target_ids" int32 [B, T], "target_tokens" string [B, T],
        "source_tokens" string [B, S], "attention" float32 [B, T, S] (zero on padding),
        "truncated" bool [B]. Beam size 1 is greedy search.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        source = tokenize_batch(
            self.source_tokenizer, texts, self.max_source_length, add_end=True
        )
        encoded = self.encode(source.ids, training=False)
        batch_size = tf.shape(source.ids)[0]
        state = {
            "memory": encoded["sequence"],
            "projected_memory": self.decoder.prepare_memory(encoded["sequence"]),
            "memory_mask": encoded["mask"],
            "decoder": self.decoder.get_initial_state(
                batch_size, [encoded["state_h"], encoded["state_c"]]
            ),
        }
        # Empty inputs translate to empty outputs; others may be at most twice as long + 10.
        max_lengths = tf.where(
            source.text_lengths > 0,
            tf.minimum(2 * (source.lengths - 1) + 10, self.max_target_length),
            0,
        )
        if beam_size == 1:
            # The penalties only shape greedy's reported score, so it compares with beam's.
            result = decoding.greedy_search(
                self._decoder_step, state, self.target_tokenizer.start_id,
                self.target_tokenizer.end_id, max_lengths, encoded["mask"],
                length_penalty=length_penalty, coverage_penalty=coverage_penalty,
            )
        else:
            result = decoding.beam_search(
                self._decoder_step, state, self.target_tokenizer.start_id,
                self.target_tokenizer.end_id, max_lengths, encoded["mask"],
                beam_size=beam_size, length_penalty=length_penalty,
                coverage_penalty=coverage_penalty,
            )
        return {
            "translation": self.target_tokenizer.detokenize(result.tokens),
            "score": result.scores,
            "log_prob": result.log_probs,
            "target_ids": result.tokens,
            "target_tokens": id_strings(self.target_tokenizer, result.tokens, result.lengths),
            "source_tokens": id_strings(self.source_tokenizer, source.ids, source.lengths),
            "attention": result.attention,
            "truncated": source.truncated,
        }

    def _decoder_step(self, tokens, state, step):
        output, decoder_states, weights = self.decoder.step(
            self.target_embedding(tokens),
            state["decoder"],
            state["memory"],
            state["projected_memory"],
            state["memory_mask"],
        )
        log_probs = tf.nn.log_softmax(tf.cast(self.projection(output), tf.float32))  # (N, V)
        return log_probs, {**state, "decoder": decoder_states}, tf.cast(weights, tf.float32)

    def translate(
        self,
        texts: str | list[str],
        beam_size: int | None = None,
        length_penalty: float | None = None,
        coverage_penalty: float | None = None,
    ) -> Translation | list[Translation]:
        """Translates a string or a list of strings; see `Translation` for the fields.

        Settings left as None come from the model's `decoding` (for a preset: those its model
        card reports, the same ones `kerattn translate` uses), else greedy decoding
        (beam_size 1), length_penalty 0.6, coverage_penalty 0.
        """
        given = {"beam_size": beam_size, "length_penalty": length_penalty,
                 "coverage_penalty": coverage_penalty}
        settings = {**DEFAULT_DECODING, **self.decoding}
        settings.update({name: value for name, value in given.items() if value is not None})
        settings = _checked_decoding(settings)
        beam_size = settings["beam_size"]
        length_penalty, coverage_penalty = settings["length_penalty"], settings["coverage_penalty"]
        batch, single = text_list(texts)
        key = (beam_size, float(length_penalty), float(coverage_penalty))
        if key not in self._translate_functions:
            self._translate_functions[key] = tf.function(
                lambda strings: self.translate_batch(strings, *key),
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        outputs = {
            name: value.numpy()
            for name, value in self._translate_functions[key](tf.constant(batch, tf.string)).items()
        }
        results = []
        for row in range(len(batch)):
            target_tokens = [t.decode() for t in outputs["target_tokens"][row] if t]
            source_tokens = [t.decode() for t in outputs["source_tokens"][row] if t]
            if target_tokens and target_tokens[-1] == self.target_tokenizer.id_to_token(
                self.target_tokenizer.end_id
            ):
                target_tokens = target_tokens[:-1]
            attention = outputs["attention"][row, : len(target_tokens), : len(source_tokens)]
            results.append(
                Translation(
                    text=outputs["translation"][row].decode(),
                    tokens=target_tokens,
                    source_tokens=source_tokens,
                    attention=np.asarray(attention, np.float32),
                    score=float(outputs["score"][row]),
                    log_prob=float(outputs["log_prob"][row]),
                    truncated=bool(outputs["truncated"][row]),
                )
            )
        return results[0] if single else results

    # -- saving ------------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_tokenizer": keras.saving.serialize_keras_object(self.source_tokenizer),
                "target_tokenizer": keras.saving.serialize_keras_object(self.target_tokenizer),
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "encoder_layers": self.encoder_layers,
                "dropout": self.dropout,
                "attention": self.attention,
                "input_feeding": self.input_feeding,
                "max_source_length": self.max_source_length,
                "max_target_length": self.max_target_length,
                "source_vocabulary_size": self.source_vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary_size,
                "decoding": dict(self.decoding),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("source_tokenizer", "target_tokenizer"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)
