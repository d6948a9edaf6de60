"""`Translator`: string-to-string sequence-to-sequence model with attention."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerattn.errors import UsageError
from kerattn.models import ensembles
from kerattn.models.ensembles import Seq2SeqEnsemble, build_backbone
from kerattn.text import Tokenizer
from kerattn.zoo import confidence as certainty
from kerattn.zoo import decoding as search
from kerattn.zoo import sentences, teacher_forcing
from kerattn.zoo.backend import require_tensorflow_backend
from kerattn.zoo.results import Hypothesis, Scoring, Translation
from kerattn.zoo.seq2seq_preprocessor import Seq2SeqPreprocessor
from kerattn.zoo.task import HeldBy, Task
from kerattn.zoo.token_batch import text_list, tokenize_batch

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
        confidence_threshold: a number in [0, 1] or None: results whose `confidence` is below
            it say `low_confidence=True` (the output may be wrong). Calibrated on validation
            data by `kerattn calibrate` and stored in a preset's metadata.json (which sets it
            when the preset loads); None (the default) flags nothing.
        ensemble_size: 1 (one network), or the number of networks of these settings whose
            mean next-token distribution is decoded (`kerattn.models.Seq2SeqEnsemble`; built
            from trained translators by `kerattn.zoo.ensembles.join`).

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
    ensemble_size = HeldBy("backbone")

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
        confidence_threshold: float | None = None,
        ensemble_size: int = 1,
        **kwargs,
    ):
        require_tensorflow_backend(f"kerattn.{type(self).__name__}")
        decoding = _checked_decoding(decoding)
        confidence_threshold = certainty.checked_threshold(confidence_threshold)
        backbone = build_backbone(
            Seq2SeqEnsemble,
            ensemble_size,
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
        self.confidence_threshold = confidence_threshold

    @property
    def confidence_threshold(self) -> float | None:
        """The confidence below which a result is `low_confidence` (None: no flag)."""
        return self._confidence_threshold

    @confidence_threshold.setter
    def confidence_threshold(self, value: float | None) -> None:
        self._confidence_threshold = certainty.checked_threshold(value)

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
        num_hypotheses: int | None = None,
        decoding: str = "beam",
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seeds=None,
        min_length: int = 0,
        max_length_ratio: float | None = None,
        no_repeat_ngram_size: int = 0,
        avoid_ids: tuple = (),
        target_prefix=None,
        replace_unknown: bool = False,
        split_sentences: bool = True,
    ) -> dict:
        """Translates tf.string [B] in graph; the function kerattn exports for serving.

        Returns a dict of batch-major tensors: "translation" string [B], "score" [B],
        "log_prob" [B], "confidence" float32 [B] (`kerattn.zoo.confidence`), "target_ids"
        int32 [B, T], "target_tokens" string [B, T], "source_tokens" string [B, S],
        "attention" float32 [B, T, S] (zero on padding), "truncated" bool [B], and
        "low_confidence" bool [B] (confidence < `confidence_threshold`) when the translator
        has a threshold. Beam size 1 is greedy search. With `num_hypotheses=H` (beam
        search) the hypothesis outputs get an axis of H after the batch one, best first
        ("translation" [B, H], "attention" [B, H, T, S], ...) and "rank" int32 [B, H] (1 … H).

        `decoding="sample"` draws each token (`kerattn.zoo.decoding.Sampling`: `temperature`,
        `top_k`, `top_p`, `seeds` int64 [B], one per text). `min_length`,
        `no_repeat_ngram_size`, `avoid_ids` (token-id phrases) and `target_prefix` (tf.string
        [B], forced first words) are `kerattn.zoo.decoding.Constraints`; `max_length_ratio`
        limits the output to ceil(ratio × source tokens) tokens, END included, instead of
        2 × source tokens + 10 (both within `max_target_length`). `replace_unknown` replaces
        each `[UNK]` output token by the source token it attends to most (`[END]` excluded).

        With `split_sentences` (the default), an input of more than `max_source_length`
        source tokens is split into sentences (`kerattn.zoo.sentences`), each translated on
        its own in the same batch (sampled, constrained and `replace_unknown`-ed like any
        input), and the non-empty translations are joined with one space; "segments" int32
        [B] counts the pieces each input was translated in (1 for an input that fits, whose
        outputs are exactly those without splitting). For a split input the token outputs
        are the sentences' concatenated, each sentence's source and target `[END]` kept;
        "attention" is block-diagonal (each sentence's target tokens attend to its own
        source tokens only); "log_prob" is the sum, "confidence" exp(Σ log_prob / Σ output
        tokens), "score" the GNMT score of the joined output as one hypothesis (Σ log_prob
        over the length penalty of Σ output tokens, plus the coverage penalty over all
        source tokens); "truncated" says a sentence still had to be cut. n-best
        (`num_hypotheses`) and `target_prefix` never split: their inputs are cut as without
        it.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        options = dict(
            beam_size=beam_size,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
            num_hypotheses=num_hypotheses,
            decoding=decoding,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            min_length=min_length,
            max_length_ratio=max_length_ratio,
            no_repeat_ngram_size=no_repeat_ngram_size,
            avoid_ids=avoid_ids,
            replace_unknown=replace_unknown,
        )
        hypotheses = num_hypotheses is not None and decoding != "sample"
        if not split_sentences or hypotheses or target_prefix is not None:
            outputs, _, _ = self._decode_batch(
                texts, seeds=seeds, target_prefix=target_prefix, **options
            )
            outputs["segments"] = tf.ones(tf.shape(texts), tf.int32)
            return outputs
        too_long = self.preprocessor.tokenize_source(texts).truncated
        pieces, rows = sentences.sentence_pieces(texts, too_long)
        if seeds is not None:
            seeds = tf.gather(tf.convert_to_tensor(seeds, tf.int64), rows)
        outputs, target_lengths, source_lengths = self._decode_batch(pieces, seeds=seeds, **options)
        return self._joined(
            outputs,
            target_lengths,
            source_lengths,
            rows,
            tf.shape(texts)[0],
            length_penalty,
            coverage_penalty,
        )

    def _decode_batch(
        self,
        texts,
        beam_size,
        length_penalty,
        coverage_penalty,
        num_hypotheses,
        decoding,
        temperature,
        top_k,
        top_p,
        seeds,
        min_length,
        max_length_ratio,
        no_repeat_ngram_size,
        avoid_ids,
        target_prefix=None,
        replace_unknown=False,
    ) -> tuple[dict, tf.Tensor, tf.Tensor]:
        """`translate_batch` without sentence splitting: (its outputs, target lengths [B]
        (`[END]` counted), source lengths [B] (`[END]` included))."""
        source = self.preprocessor.tokenize_source(texts)
        encoded = self.backbone.encode(source.ids, training=False)
        state = self.backbone.initial_decoder_state(encoded)
        words = source.lengths - 1  # source tokens, [END] excluded
        if max_length_ratio is None:
            limit = 2 * words + 10
        else:
            limit = tf.maximum(
                tf.cast(tf.math.ceil(max_length_ratio * tf.cast(words, tf.float32)), tf.int32), 1
            )
        # Empty inputs translate to empty outputs.
        max_lengths = tf.where(
            source.text_lengths > 0, tf.minimum(limit, self.max_target_length), 0
        )
        prefix_ids = None
        if target_prefix is not None:
            prefix_ids = tokenize_batch(
                self.target_tokenizer,
                tf.convert_to_tensor(target_prefix, tf.string),
                self.max_target_length,
            ).ids
        constraints = search.Constraints(
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
            avoid=avoid_ids,
            prefix_ids=prefix_ids,
        )
        start_id, end_id = self.target_tokenizer.start_id, self.target_tokenizer.end_id
        arguments = (self._decoder_step, state, start_id, end_id, max_lengths, encoded["mask"])
        if decoding == "sample":
            if seeds is None:
                seeds = tf.zeros(tf.shape(texts), tf.int64)
            seeds = search.sequence_seeds(seeds, source.ids)
            sampling = search.Sampling(seeds, temperature, top_k, top_p)
            result = search.greedy_search(
                *arguments,
                length_penalty=length_penalty,
                coverage_penalty=coverage_penalty,
                constraints=constraints,
                sampling=sampling,
            )
        elif beam_size == 1 and num_hypotheses is None:
            # The penalties only shape greedy's reported score, so it compares with beam's.
            result = search.greedy_search(
                *arguments,
                length_penalty=length_penalty,
                coverage_penalty=coverage_penalty,
                constraints=constraints,
            )
        else:
            result = search.beam_search(
                *arguments,
                beam_size=beam_size,
                length_penalty=length_penalty,
                coverage_penalty=coverage_penalty,
                num_hypotheses=num_hypotheses,
                constraints=constraints,
            )
        source_tokens = self.preprocessor.source_tokens(source.ids, source.lengths)
        tokens, lengths, attention = result.tokens, result.lengths, result.attention
        hypotheses = num_hypotheses is not None and decoding != "sample"
        if hypotheses:
            batch_size, count = tf.shape(tokens)[0], tf.shape(tokens)[1]
            tokens = tf.reshape(tokens, [batch_size * count, -1])  # (B·H, T)
            lengths = tf.reshape(lengths, [-1])  # (B·H,)
        target_tokens = self.preprocessor.target_tokens(tokens, lengths)  # (N, T)
        if replace_unknown:
            target_tokens, translation = self._replaced_unknown(
                tokens, lengths, target_tokens, attention, source, source_tokens, hypotheses
            )
        else:
            translation = self.preprocessor.detokenize(tokens)
        confidence = certainty.sequence_confidence(result.log_probs, result.lengths)
        outputs = {
            "translation": translation,
            "score": result.scores,
            "log_prob": result.log_probs,
            "confidence": confidence,
            "target_ids": result.tokens,
            "target_tokens": target_tokens,
            "source_tokens": source_tokens,
            "attention": result.attention,
            "truncated": source.truncated,
        }
        if self.confidence_threshold is not None:
            outputs["low_confidence"] = confidence < self.confidence_threshold
        if hypotheses:
            shape = tf.shape(result.tokens)
            outputs["translation"] = tf.reshape(translation, shape[:2])  # (B, H)
            outputs["target_tokens"] = tf.reshape(target_tokens, shape)  # (B, H, T)
            outputs["rank"] = tf.tile(tf.range(1, num_hypotheses + 1)[None, :], [shape[0], 1])
        return outputs, result.lengths, source.lengths

    def _joined(
        self,
        outputs,
        target_lengths,
        source_lengths,
        rows,
        batch_size,
        length_penalty,
        coverage_penalty,
    ) -> dict:
        """The outputs of `translate_batch` for each input from those of its pieces (rows
        int32 [N] ascending: the input of each piece)."""
        ones = tf.ones_like(rows)
        segments = tf.math.unsorted_segment_sum(ones, rows, batch_size)  # (B,)
        starts = tf.cumsum(segments, exclusive=True)  # (B,) first piece of each input
        whole = tf.equal(segments, 1)  # translated in one piece: its outputs as they are

        def total(values):
            return tf.math.unsorted_segment_sum(values, rows, batch_size)

        def offsets(lengths):  # position of each piece's first token within its input
            return tf.cumsum(lengths, exclusive=True) - tf.gather(
                tf.cumsum(total(lengths), exclusive=True), rows
            )

        def concatenated(values, lengths, fill):  # (N, W) → (B, longest input's sum)
            ragged = tf.RaggedTensor.from_tensor(values, lengths=tf.cast(lengths, tf.int64))
            grouped = tf.RaggedTensor.from_value_rowids(
                ragged, tf.cast(rows, tf.int64), nrows=tf.cast(batch_size, tf.int64)
            )
            return grouped.merge_dims(1, 2).to_tensor(default_value=fill)

        def single_or(piece_values, joined_values):
            return tf.where(whole, tf.gather(piece_values, starts), joined_values)

        target_total, source_total = total(target_lengths), total(source_lengths)
        attention = outputs["attention"]  # (N, T, S)
        shape = tf.shape(attention)
        real = (
            tf.sequence_mask(target_lengths, shape[1])[:, :, None]
            & tf.sequence_mask(source_lengths, shape[2])[:, None, :]
        )
        where = tf.cast(tf.where(real), tf.int32)  # (K, 3): piece, target, source
        piece = where[:, 0]
        indices = tf.stack(
            [
                tf.gather(rows, piece),
                tf.gather(offsets(target_lengths), piece) + where[:, 1],
                tf.gather(offsets(source_lengths), piece) + where[:, 2],
            ],
            axis=1,
        )
        target_width = tf.reduce_max(tf.concat([target_total, [0]], 0))
        source_width = tf.reduce_max(tf.concat([source_total, [1]], 0))
        attention = tf.scatter_nd(
            indices,
            tf.gather_nd(attention, tf.cast(where, tf.int64)),
            tf.stack([batch_size, target_width, source_width]),
        )  # (B, T', S'), block-diagonal
        log_prob = single_or(outputs["log_prob"], total(outputs["log_prob"]))
        confidence = single_or(
            outputs["confidence"], certainty.sequence_confidence(log_prob, target_total)
        )
        source_mask = tf.sequence_mask(source_total, source_width)
        score = single_or(
            outputs["score"],
            search.hypothesis_scores(
                log_prob,
                target_total,
                tf.reduce_sum(attention, axis=1),
                source_mask,
                length_penalty,
                coverage_penalty,
            ),
        )
        said = tf.not_equal(outputs["translation"], "")  # an empty piece adds no space
        joined = {
            "translation": tf.strings.unsorted_segment_join(
                tf.boolean_mask(outputs["translation"], said),
                tf.boolean_mask(rows, said),
                batch_size,
                separator=" ",
            ),
            "score": score,
            "log_prob": log_prob,
            "confidence": confidence,
            "target_ids": concatenated(outputs["target_ids"], target_lengths, 0),
            "target_tokens": concatenated(outputs["target_tokens"], target_lengths, ""),
            "source_tokens": concatenated(outputs["source_tokens"], source_lengths, ""),
            "attention": attention,
            "truncated": tf.math.unsorted_segment_max(
                tf.cast(outputs["truncated"], tf.int32), rows, batch_size
            )
            > 0,
        }
        if self.confidence_threshold is not None:
            joined["low_confidence"] = confidence < self.confidence_threshold
        joined["segments"] = segments
        return joined

    def _replaced_unknown(
        self, tokens, lengths, target_tokens, attention, source, source_tokens, hypotheses
    ):
        """(target tokens, text) with each `[UNK]` output replaced by its most attended
        source token; tokens (N, T) are the rows of `attention` (B[, H], T, S)."""
        if hypotheses:
            count = tf.shape(attention)[1]
            attention = tf.reshape(attention, tf.concat([[-1], tf.shape(attention)[2:]], 0))
            source_tokens = tf.repeat(source_tokens, count, axis=0)  # (N, S)
            source_ids = tf.repeat(source.ids, count, axis=0)
        else:
            source_ids = source.ids
        # [END] and padding are never copied: their weight is pushed below every real one.
        copyable = (source_ids != 0) & (source_ids != self.source_tokenizer.end_id)  # (N, S)
        weights = tf.where(copyable[:, None, :], attention, -1.0)  # (N, T, S)
        attended = tf.argmax(weights, axis=-1, output_type=tf.int32)  # (N, T)
        copied = tf.gather(source_tokens, attended, batch_dims=1)  # (N, T)
        unknown = tf.equal(tokens, self.target_tokenizer.unknown_id) & tf.reduce_any(
            copyable, axis=1, keepdims=True
        )
        target_tokens = tf.where(unknown, copied, target_tokens)
        end_id = self.target_tokenizer.end_id
        is_end = tf.cast(tf.equal(tokens, end_id), tf.int32)
        keep = (
            tf.equal(tf.cumsum(is_end, axis=1), 0)
            & tf.not_equal(tokens, 0)
            & tf.not_equal(tokens, self.target_tokenizer.start_id)
        )
        text = self.target_tokenizer._join_tokens(tf.ragged.boolean_mask(target_tokens, keep))
        return target_tokens, text

    def score_batch(
        self, texts, targets, length_penalty: float = 0.0, coverage_penalty: float = 0.0
    ) -> dict:
        """Scores given translations under teacher forcing (forced decoding), in graph.

        Args:
            texts: tf.string [B], the sources.
            targets: tf.string [B], their translations (tokenized with the target tokenizer,
                `[END]` appended; cut to `max_target_length` tokens).
            length_penalty, coverage_penalty: α and β of the returned "score" (GNMT, as in
                `kerattn.zoo.decoding`); the search's own "score" of the same output with the
                same α, β equals it.

        Returns:
            dict of batch-major tensors: "score" [B], "log_prob" [B] (END included),
            "token_log_probs" float32 [B, T] (0 after the end), "target_ids" int32 [B, T],
            "target_tokens" string [B, T], "source_tokens" string [B, S], "attention"
            float32 [B, T, S], "truncated" bool [B] (the source was cut), "target_truncated"
            bool [B].
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        targets = tf.convert_to_tensor(targets, tf.string)
        source = self.preprocessor.tokenize_source(texts)
        target = tokenize_batch(
            self.target_tokenizer,
            targets,
            self.max_target_length + 1,
            add_start=True,
            add_end=True,
        )
        target_input_ids = target.ids[:, :-1]  # (B, T): [START] y_1 … y_n
        target_ids = target.ids[:, 1:]  # (B, T): y_1 … y_n [END]
        encoded = self.backbone.encode(source.ids, training=False)
        token_log_probs, weights = self._teacher_forced(encoded, target_input_ids, target_ids)
        real_target = tf.not_equal(target_ids, 0)  # (B, T)
        real_source = tf.cast(encoded["mask"], tf.float32)[:, None, :]  # (B, 1, S)
        attention = tf.cast(weights, tf.float32) * real_source
        attention = tf.where(real_target[..., None], attention, 0.0)  # (B, T, S)
        lengths = tf.reduce_sum(tf.cast(real_target, tf.int32), axis=1)
        log_prob = tf.reduce_sum(token_log_probs, axis=1)
        score = search.hypothesis_scores(
            log_prob,
            lengths,
            tf.reduce_sum(attention, axis=1),
            encoded["mask"],
            length_penalty,
            coverage_penalty,
        )
        return {
            "score": score,
            "log_prob": log_prob,
            "token_log_probs": token_log_probs,
            "target_ids": target_ids,
            "target_tokens": self.preprocessor.target_tokens(target_ids, lengths),
            "source_tokens": self.preprocessor.source_tokens(source.ids, source.lengths),
            "attention": attention,
            "truncated": source.truncated,
            "target_truncated": target.truncated,
        }

    def _teacher_forced(self, encoded: dict, target_input_ids, target_ids) -> tuple:
        """log p(target_ids) (B, T), 0 at padding, and the attention (B, T, S) under teacher
        forcing; for an ensemble the log of its members' mean probability and their mean
        attention, as its search steps compute them."""
        backbone = self.backbone
        if backbone.ensemble_size == 1:
            members = [(backbone, encoded)]
        else:
            members = list(zip(backbone.members, encoded["members"]))
        token_log_probs, attention = [], []
        for member, member_encoded in members:
            decoded, weights = member.decode(
                member_encoded, target_input_ids, training=False, return_attention_scores=True
            )  # (B, T, units), (B, T, S)
            token_log_probs.append(
                teacher_forcing.target_log_probs(
                    member.projection, decoded, target_ids, member.target_vocabulary_size
                )
            )  # (B, T), 0 at padding
            attention.append(tf.cast(weights, tf.float32))
        if len(members) == 1:
            return token_log_probs[0], attention[0]
        return ensembles.log_mean_exp(token_log_probs), ensembles.mean_weights(attention)

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
        *,
        num_hypotheses: int | None = None,
        decoding: str = "beam",
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
        min_length: int = 0,
        max_length_ratio: float | None = None,
        no_repeat_ngram_size: int = 0,
        avoid: list[str] | tuple[str, ...] = (),
        target_prefix: str | list[str] | None = None,
        replace_unknown: bool = False,
        split_sentences: bool = True,
        batch_size: int | None = None,
    ) -> Translation | list[Translation]:
        """Translates a string or a list of strings; see `Translation` for the fields.

        Settings left as None come from the model's `decoding` (for a preset: those its model
        card reports, the same ones `kerattn translate` uses), else greedy decoding
        (beam_size 1), length_penalty 0.6, coverage_penalty 0.

        Args:
            num_hypotheses: H ≥ 1 returns the H best hypotheses of beam search in each
                result's `hypotheses`, best first (the first is the translation itself); the
                beam is widened to H when `beam_size` is not given and is smaller.
            decoding: "beam" (beam search; greedy with beam size 1) or "sample".
            temperature, top_k, top_p, seed: sampling settings (`decoding="sample"`); each
                text is sampled with `seed` (a fresh random seed when None), so the same seed
                gives the same output for the same text, in any batch and in the export.
            min_length: fewest output tokens before `[END]` may be produced.
            max_length_ratio: at most ceil(ratio × source tokens) output tokens (`[END]`
                included) instead of 2 × source tokens + 10.
            no_repeat_ngram_size: n ≥ 1 forbids repeating any n-gram of output tokens.
            avoid: words or phrases that must not appear (tokenized as targets).
            target_prefix: text the translation must start with (one for every text, or a
                list with one per text); the model continues it.
            replace_unknown: replace each `[UNK]` output token by the source token the model
                attended to most.
            split_sentences: translate a text longer than `max_source_length` source tokens
                sentence by sentence (`kerattn.zoo.sentences` has the rule) and join the
                translations with a space, instead of cutting it (`segments` says into how
                many pieces; see `translate_batch` for the joined fields). Texts that fit are
                not affected. n-best (`num_hypotheses`) and `target_prefix` never split.
            batch_size: texts per model call (default 64, `kerattn.zoo.task.
                PREDICT_BATCH_SIZE`); a longer list runs in several calls, with the same
                results.
        """
        batch, single = text_list(texts)
        settings = {**DEFAULT_DECODING, **self.decoding}
        given = {
            "beam_size": beam_size,
            "length_penalty": length_penalty,
            "coverage_penalty": coverage_penalty,
        }
        settings.update({name: value for name, value in given.items() if value is not None})
        settings = _checked_decoding(settings)
        options = self._checked_options(
            settings,
            beam_given=beam_size is not None,
            num_hypotheses=num_hypotheses,
            decoding=decoding,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            min_length=min_length,
            max_length_ratio=max_length_ratio,
            no_repeat_ngram_size=no_repeat_ngram_size,
            avoid=avoid,
            replace_unknown=replace_unknown,
            split_sentences=split_sentences,
        )
        prefixes = _per_text("target_prefix", target_prefix, len(batch))
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**63 - 1))
        elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise UsageError(f"`seed` must be an int from 0 to 2**63 - 1; received seed={seed!r}.")
        key = (
            "translate",
            tuple(sorted(options.items())),
            prefixes is not None,
            self.confidence_threshold,
        )

        def batch_function(strings, prefix_strings, seeds):
            return self.translate_batch(
                strings,
                **options,
                seeds=seeds,
                target_prefix=prefix_strings if prefixes is not None else None,
            )

        with_hypotheses = options["num_hypotheses"] is not None
        results = self._run_rows(
            key,
            batch_function,
            batch,
            prefixes if prefixes is not None else [""] * len(batch),
            [seed] * len(batch),
            lambda outputs, row: self._translation(outputs, row, with_hypotheses),
            batch_size,
        )
        return results[0] if single else results

    def score(
        self,
        sources: str | list[str],
        targets: str | list[str],
        length_penalty: float | None = None,
        coverage_penalty: float | None = None,
        batch_size: int | None = None,
    ) -> Scoring | list[Scoring]:
        """Scores given translations (teacher forcing): per-sentence and per-token
        log-probabilities and the attention; see `Scoring`.

        `score` uses `length_penalty` and `coverage_penalty` (default: the model's `decoding`,
        else 0.6 and 0), so a hypothesis of `translate` scores here as it did there. It never
        splits sentences: a source longer than `max_source_length` is cut (`truncated`).
        `batch_size`: pairs per model call (default 64, as for `translate`).
        """
        batch, single = text_list(sources)
        target_batch, target_single = text_list(targets)
        if single != target_single or len(batch) != len(target_batch):
            raise UsageError(
                f"`targets` must match `sources` (a string for a string, a list of the same "
                f"length for a list); received {len(batch)} source(s) and "
                f"{len(target_batch)} target(s)."
            )
        settings = {**DEFAULT_DECODING, **self.decoding}
        if length_penalty is not None:
            settings["length_penalty"] = length_penalty
        if coverage_penalty is not None:
            settings["coverage_penalty"] = coverage_penalty
        settings = _checked_decoding(settings)
        penalties = (float(settings["length_penalty"]), float(settings["coverage_penalty"]))
        results = self._run_rows(
            ("score", penalties),
            lambda strings, target_strings, seeds: self.score_batch(
                strings, target_strings, *penalties
            ),
            batch,
            target_batch,
            [0] * len(batch),
            self._scoring,
            batch_size,
        )
        return results[0] if single else results

    def _run_rows(
        self, key, function, texts, second_texts, seeds, row_result, batch_size=None
    ) -> list:
        """`row_result(outputs, row)` of every text, `function(texts, second strings, seeds)`
        traced once per `key` and run `batch_size` texts at a time (numpy outputs).
        A text's result does not depend on the others in its batch: a sampling seed is mixed
        with the text's own ids (`decoding.sequence_seeds`), not its row."""
        if key not in self._batch_functions:
            self._batch_functions[key] = tf.function(
                function,
                input_signature=[
                    tf.TensorSpec([None], tf.string),
                    tf.TensorSpec([None], tf.string),
                    tf.TensorSpec([None], tf.int64),
                ],
            )
        return self._run_in_batches(
            self._batch_functions[key],
            [(texts, tf.string), (second_texts, tf.string), (seeds, tf.int64)],
            row_result,
            batch_size,
        )

    def _checked_options(self, settings: dict, beam_given: bool, **options) -> dict:
        """The keyword arguments of `translate_batch` for `translate`'s options, each checked
        (one sentence naming the bad value and what is accepted)."""
        return checked_options(
            settings, beam_given, self._avoid_ids(options.pop("avoid")), **options
        )

    def _avoid_ids(self, avoid) -> tuple:
        """Token-id phrases of the `avoid` words and phrases."""
        if isinstance(avoid, str) or not all(isinstance(phrase, str) for phrase in avoid):
            raise UsageError(
                f"`avoid` must be a list of words or phrases (strings); received {avoid!r}."
            )
        phrases = []
        for phrase in avoid:
            ids = self.target_tokenizer.tokenize(tf.constant([phrase]))[0].numpy().tolist()
            if not ids:
                raise UsageError(f"`avoid` phrase {phrase!r} has no tokens; remove it.")
            if self.target_tokenizer.unknown_id in ids:
                raise UsageError(
                    f"`avoid` phrase {phrase!r} has words the target vocabulary does not hold "
                    "(they would read [UNK]); the model cannot produce them anyway."
                )
            phrases.append(tuple(int(token) for token in ids))
        return tuple(phrases)

    def _hypothesis(self, outputs: dict, index: tuple, source_tokens: list[str]) -> Hypothesis:
        target_tokens = [t.decode() for t in outputs["target_tokens"][index] if t]
        end_token = self.target_tokenizer.id_to_token(self.target_tokenizer.end_id)
        if target_tokens and target_tokens[-1] == end_token:
            target_tokens = target_tokens[:-1]
        attention = outputs["attention"][index][: len(target_tokens), : len(source_tokens)]
        low_confidence = outputs.get("low_confidence")
        return Hypothesis(
            text=outputs["translation"][index].decode(),
            tokens=target_tokens,
            attention=np.asarray(attention, np.float32),
            score=float(outputs["score"][index]),
            log_prob=float(outputs["log_prob"][index]),
            confidence=float(outputs["confidence"][index]),
            low_confidence=None if low_confidence is None else bool(low_confidence[index]),
        )

    def _translation(self, outputs: dict, row: int, with_hypotheses: bool = False) -> Translation:
        source_tokens = [t.decode() for t in outputs["source_tokens"][row] if t]
        if with_hypotheses:
            hypotheses = [
                self._hypothesis(outputs, (row, rank), source_tokens)
                for rank in range(outputs["score"].shape[1])
                if np.isfinite(outputs["score"][row, rank])
            ]
        else:
            hypotheses = [self._hypothesis(outputs, (row,), source_tokens)]
        best = hypotheses[0]
        return Translation(
            text=best.text,
            tokens=best.tokens,
            source_tokens=source_tokens,
            attention=best.attention,
            score=best.score,
            log_prob=best.log_prob,
            truncated=bool(outputs["truncated"][row]),
            hypotheses=tuple(hypotheses),
            confidence=best.confidence,
            low_confidence=best.low_confidence,
            segments=int(outputs["segments"][row]),
        )

    def _scoring(self, outputs: dict, row: int) -> Scoring:
        source_tokens = [t.decode() for t in outputs["source_tokens"][row] if t]
        target_tokens = [t.decode() for t in outputs["target_tokens"][row] if t]
        count = len(target_tokens)
        return Scoring(
            score=float(outputs["score"][row]),
            log_prob=float(outputs["log_prob"][row]),
            tokens=target_tokens,
            token_log_probs=np.asarray(outputs["token_log_probs"][row, :count], np.float32),
            source_tokens=source_tokens,
            attention=np.asarray(
                outputs["attention"][row, :count, : len(source_tokens)], np.float32
            ),
            truncated=bool(outputs["truncated"][row]),
            target_truncated=bool(outputs["target_truncated"][row]),
        )


DECODINGS = ("beam", "sample")


def checked_options(settings: dict, beam_given: bool, avoid_ids: tuple, **options) -> dict:
    """`translate_batch` keyword arguments from decoding `settings` (beam_size, penalties) and
    the options of `Translator.translate`, each checked with one sentence; shared by the export
    so that both accept and refuse the same values."""

    def number(name, low, high=None, integer=False, low_open=False, none=False):
        value = options[name]
        if none and value is None:
            return None
        kinds = (int,) if integer else (int, float)
        valid = not isinstance(value, bool) and isinstance(value, kinds)
        valid = valid and (value > low if low_open else value >= low)
        valid = valid and (high is None or value <= high)
        if not valid:
            bounds = f"> {low}" if low_open else f">= {low}"
            if high is not None:
                bounds += f" and <= {high}"
            kind = "an int" if integer else "a number"
            raise UsageError(f"`{name}` must be {kind} {bounds}; received {name}={value!r}.")
        return value

    decoding = options["decoding"]
    if decoding not in DECODINGS:
        raise UsageError(
            f"`decoding` must be one of {', '.join(map(repr, DECODINGS))}; "
            f"received decoding={decoding!r}."
        )
    beam_size = settings["beam_size"]
    num_hypotheses = number("num_hypotheses", 1, integer=True, none=True)
    if num_hypotheses is not None:
        if decoding == "sample":
            raise UsageError(
                "`num_hypotheses` lists beam search's hypotheses; it does not apply to "
                "decoding='sample' (sample again with other seeds instead)."
            )
        if num_hypotheses > beam_size:
            if beam_given:
                raise UsageError(
                    f"`num_hypotheses` must be at most the beam size; received "
                    f"num_hypotheses={num_hypotheses} with beam_size={beam_size}."
                )
            beam_size = num_hypotheses
    for flag in ("replace_unknown", "split_sentences"):
        if not isinstance(options[flag], bool):
            raise UsageError(f"`{flag}` must be True or False; received {flag}={options[flag]!r}.")
    return {
        "beam_size": beam_size,
        "length_penalty": float(settings["length_penalty"]),
        "coverage_penalty": float(settings["coverage_penalty"]),
        "num_hypotheses": num_hypotheses,
        "decoding": decoding,
        "temperature": float(number("temperature", 0, low_open=True)),
        "top_k": number("top_k", 0, integer=True),
        "top_p": float(number("top_p", 0, 1, low_open=True)),
        "min_length": number("min_length", 0, integer=True),
        "max_length_ratio": (
            None
            if options["max_length_ratio"] is None
            else float(number("max_length_ratio", 0, low_open=True))
        ),
        "no_repeat_ngram_size": number("no_repeat_ngram_size", 0, integer=True),
        "avoid_ids": avoid_ids,
        "replace_unknown": options["replace_unknown"],
        "split_sentences": options["split_sentences"],
    }


def _per_text(name: str, value, count: int) -> list[str] | None:
    """A per-text string option as a list of `count` strings (a string applies to all)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value] * count
    values = list(value)
    if len(values) != count or not all(isinstance(item, str) for item in values):
        raise UsageError(
            f"`{name}` must be a string or a list of {count} strings (one per text); "
            f"received {value!r}."
        )
    return values
