"""`Translator`: string-to-string sequence-to-sequence model with attention."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerattn.errors import UsageError
from kerattn.models.seq2seq_backbone import Seq2SeqBackbone
from kerattn.text import Tokenizer
from kerattn.zoo import decoding
from kerattn.zoo.backend import require_tensorflow_backend
from kerattn.zoo.results import Translation
from kerattn.zoo.seq2seq_preprocessor import Seq2SeqPreprocessor
from kerattn.zoo.task import HeldBy, Task

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
class Translator(Task):
    """String-to-string translation with attention: a `Seq2SeqBackbone` (embedding →
    `AttentionBiLSTMEncoder` → `AttentionDecoder` → projection) behind a `Seq2SeqPreprocessor`.

    The same class serves every string-to-string task of the zoo: English → Spanish with
    wordpiece tokenizers, grapheme → phoneme with character and phoneme-symbol tokenizers.
    Tokenization, decoding (greedy or beam search in a `tf.while_loop`) and detokenization all
    run in the TensorFlow graph, so `translate_batch` exports as a SavedModel as it is. The
    network itself is `translator.backbone`, which runs on every Keras backend.

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

    source_tokenizer = HeldBy("preprocessor")
    target_tokenizer = HeldBy("preprocessor")
    max_source_length = HeldBy("preprocessor")
    max_target_length = HeldBy("preprocessor")
    embedding_dim = HeldBy("backbone")
    units = HeldBy("backbone")
    encoder_layers = HeldBy("backbone")
    dropout = HeldBy("backbone")
    attention = HeldBy("backbone")
    input_feeding = HeldBy("backbone")
    source_vocabulary_size = HeldBy("backbone")
    target_vocabulary_size = HeldBy("backbone")

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
        decoding = _checked_decoding(decoding)
        backbone = Seq2SeqBackbone(
            source_vocabulary_size or source_tokenizer.vocabulary_size(),
            target_vocabulary_size or target_tokenizer.vocabulary_size(),
            embedding_dim=embedding_dim,
            units=units,
            encoder_layers=encoder_layers,
            dropout=dropout,
            attention=attention,
            input_feeding=input_feeding,
            name="backbone",
        )
        preprocessor = Seq2SeqPreprocessor(
            source_tokenizer,
            target_tokenizer,
            max_source_length=max_source_length,
            max_target_length=max_target_length,
            name="preprocessor",
        )
        super().__init__(backbone, preprocessor, **kwargs)
        self.decoding = decoding

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
        return self.preprocessor.prepare_batch(source_texts, target_texts)

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
        source = self.preprocessor.tokenize_source(texts)
        encoded = self.backbone.encode(source.ids, training=False)
        state = self.backbone.initial_decoder_state(encoded)
        # Empty inputs translate to empty outputs; others may be at most twice as long + 10.
        max_lengths = tf.where(
            source.text_lengths > 0,
            tf.minimum(2 * (source.lengths - 1) + 10, self.max_target_length),
            0,
        )
        start_id, end_id = self.target_tokenizer.start_id, self.target_tokenizer.end_id
        if beam_size == 1:
            # The penalties only shape greedy's reported score, so it compares with beam's.
            result = decoding.greedy_search(
                self._decoder_step,
                state,
                start_id,
                end_id,
                max_lengths,
                encoded["mask"],
                length_penalty=length_penalty,
                coverage_penalty=coverage_penalty,
            )
        else:
            result = decoding.beam_search(
                self._decoder_step,
                state,
                start_id,
                end_id,
                max_lengths,
                encoded["mask"],
                beam_size=beam_size,
                length_penalty=length_penalty,
                coverage_penalty=coverage_penalty,
            )
        return {
            "translation": self.preprocessor.detokenize(result.tokens),
            "score": result.scores,
            "log_prob": result.log_probs,
            "target_ids": result.tokens,
            "target_tokens": self.preprocessor.target_tokens(result.tokens, result.lengths),
            "source_tokens": self.preprocessor.source_tokens(source.ids, source.lengths),
            "attention": result.attention,
            "truncated": source.truncated,
        }

    def _decoder_step(self, tokens, state, step):
        """The step function of `kerattn.zoo.decoding`: the backbone's step, log-softmaxed."""
        logits, state, weights = self.backbone.decoder_step(tokens, state)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))  # (N, V)
        return log_probs, state, tf.cast(weights, tf.float32)

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
        given = {
            "beam_size": beam_size,
            "length_penalty": length_penalty,
            "coverage_penalty": coverage_penalty,
        }
        settings = {**DEFAULT_DECODING, **self.decoding}
        settings.update({name: value for name, value in given.items() if value is not None})
        settings = _checked_decoding(settings)
        key = (
            settings["beam_size"],
            float(settings["length_penalty"]),
            float(settings["coverage_penalty"]),
        )
        return self._predict_texts(
            texts, key, lambda strings: self.translate_batch(strings, *key), self._translation
        )

    def _translation(self, outputs: dict, row: int) -> Translation:
        target_tokens = [t.decode() for t in outputs["target_tokens"][row] if t]
        source_tokens = [t.decode() for t in outputs["source_tokens"][row] if t]
        end_token = self.target_tokenizer.id_to_token(self.target_tokenizer.end_id)
        if target_tokens and target_tokens[-1] == end_token:
            target_tokens = target_tokens[:-1]
        attention = outputs["attention"][row, : len(target_tokens), : len(source_tokens)]
        return Translation(
            text=outputs["translation"][row].decode(),
            tokens=target_tokens,
            source_tokens=source_tokens,
            attention=np.asarray(attention, np.float32),
            score=float(outputs["score"][row]),
            log_prob=float(outputs["log_prob"][row]),
            truncated=bool(outputs["truncated"][row]),
        )
