"""Strings → padded id batches with explicit truncation: the one place the zoo models turn
text into model inputs (in graph, for decoding, serving and tf.data pipelines alike)."""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from kerattn.errors import UsageError
from kerattn.text import Tokenizer


class TokenBatch(NamedTuple):
    """A tokenized batch.

    ids: int32 [B, S], right-padded with 0; S >= 1 even when every text is empty.
    lengths: int32 [B], real tokens per row (after truncation, `[END]` included if appended).
    text_lengths: int32 [B], tokens of the text itself before truncation, framing excluded.
    truncated: bool [B], True where tokens were cut to fit `max_length`.
    """

    ids: tf.Tensor
    lengths: tf.Tensor
    text_lengths: tf.Tensor
    truncated: tf.Tensor


def tokenize_batch(
    tokenizer: Tokenizer,
    texts: tf.Tensor,
    max_length: int,
    add_start: bool = False,
    add_end: bool = False,
) -> TokenBatch:
    """Tokenizes `texts` (tf.string [B]), keeps at most `max_length` ids per row (framing
    included: the text is cut, `[START]`/`[END]` are kept), and pads to a dense batch."""
    budget = max_length - int(add_start) - int(add_end)
    if budget < 1:
        raise ValueError(
            f"max_length={max_length} leaves no room for text after the "
            f"{int(add_start) + int(add_end)} framing token(s); use a larger max_length."
        )
    pieces = tokenizer.tokenize(texts)  # [B, (T)]
    text_lengths = tf.cast(pieces.row_lengths(), tf.int32)  # [B]
    pieces = pieces[:, :budget]  # [B, (≤ budget)]
    batch_shape = tf.shape(texts, out_type=tf.int64)[:1]
    framing = []
    if add_start:
        starts = tf.fill(tf.concat([batch_shape, [1]], 0), tokenizer.start_id)  # [B, 1]
        framing.append(tf.RaggedTensor.from_tensor(starts))
    framing.append(pieces)
    if add_end:
        ends = tf.fill(tf.concat([batch_shape, [1]], 0), tokenizer.end_id)  # [B, 1]
        framing.append(tf.RaggedTensor.from_tensor(ends))
    framed = tf.concat(framing, axis=1) if len(framing) > 1 else pieces  # [B, (S)]
    ids = framed.to_tensor(default_value=0)  # [B, S]
    # Keep one column even for a batch of empty texts: recurrent layers need a time step.
    missing = tf.maximum(1 - tf.shape(ids)[1], 0)
    ids = tf.pad(ids, [[0, 0], [0, missing]])  # [B, max(S, 1)]
    return TokenBatch(
        ids=tf.cast(ids, tf.int32),
        lengths=tf.cast(framed.row_lengths(), tf.int32),
        text_lengths=text_lengths,
        truncated=text_lengths > budget,
    )


def id_strings(tokenizer: Tokenizer, ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """Token strings [B, T] for ids [B, T]; positions at or after `lengths` read ""."""
    tokens = tokenizer.id_to_token(ids)  # [B, T]
    valid = tf.sequence_mask(lengths, tf.shape(ids)[1])  # [B, T]
    return tf.where(valid, tokens, tf.zeros_like(tokens))


def text_list(texts: str | list[str]) -> tuple[list[str], bool]:
    """A user's text argument as a list, and whether it was a single string."""
    single = isinstance(texts, str)
    batch = [texts] if single else list(texts)
    if not all(isinstance(text, str) for text in batch):
        raise TypeError(
            "`texts` must be a string or a list of strings; received "
            f"{', '.join(sorted({type(t).__name__ for t in batch if not isinstance(t, str)}))}."
        )
    for index, text in enumerate(batch):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:  # e.g. undecodable bytes of a command-line argument
            where = "The text" if single else f"Text {index}"
            raise UsageError(
                f"{where} is not valid Unicode (character {error.start} is an undecodable "
                f"byte or a lone surrogate, {text[error.start]!r}); pass UTF-8 text."
            ) from None
    return batch, single
