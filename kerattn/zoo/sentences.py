"""Sentence splitting of over-long translator inputs, in the TensorFlow graph (tf.strings, RE2).

The rule (`Translator.translate_batch` applies it to inputs longer than `max_source_length`
source tokens only): a sentence ends after a run of `.`, `!` or `?`, optionally followed by
closing quotes or brackets (`"` `'` `”` `’` `»` `)` `]`), when whitespace follows and then an
uppercase letter, a digit, or an opening quote or bracket (`"` `'` `“` `‘` `«` `(` `[` `¿`
`¡`). The whitespace between two sentences is dropped. A period never ends a sentence after
a one-letter word ("e.g.", "i.e.", "U.S.", initials "J. Smith") or after one of the
abbreviations in `ABBREVIATIONS` ("Mr. Smith", "et al. The").

So "3.5", "file.txt" and "end.Next" are never split (no whitespace after the period);
"e.g. The" and "Dr. Who" are not split (protected word before the period); "in 2020. The"
and "Edit file.txt. Then" are (the period ends a longer word); "see below. the" is not (lower
case follows). A one-letter word ending a sentence ("plan B. Then") or a protected
abbreviation that does end one is not split either: the sentence simply stays longer.
`:` and `;` never end a sentence: before an uppercase word they mostly introduce a label, a
command or a list item ("Note: Run ...", "Usage: ..."), and the piece before them alone would
be translated without its context.

RE2 has no lookahead, so the boundary is rewritten into a separator character (U+001F) and the
text split on it; U+001E and U+001F already in a split text are replaced by spaces first.
"""

from __future__ import annotations

import tensorflow as tf

SEPARATOR = "\x1f"
_PROTECTED_DOT = "\x1e"
ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "Prof", "St", "vs", "cf", "al", "approx", "Fig")
_SENTENCE_END = "[.!?]+[\"'”’»)\\]]*"
_SENTENCE_START = "[\\p{Lu}\\p{Nd}\"'“‘«(\\[¿¡]"
_PROTECTED = "\\b(\\pL|" + "|".join(ABBREVIATIONS) + ")\\."
_BOUNDARY = "(" + _SENTENCE_END + ")\\s+(" + _SENTENCE_START + ")"


def mark_boundaries(texts: tf.Tensor) -> tf.Tensor:
    """tf.string [B] with `SEPARATOR` in place of the whitespace at each sentence boundary."""
    texts = tf.strings.regex_replace(texts, "[\x1e\x1f]", " ")
    texts = tf.strings.regex_replace(texts, _PROTECTED, "\\1" + _PROTECTED_DOT)
    texts = tf.strings.regex_replace(texts, _BOUNDARY, "\\1" + SEPARATOR + "\\2")
    return tf.strings.regex_replace(texts, _PROTECTED_DOT, ".")


def split_sentences(texts: tf.Tensor) -> tf.RaggedTensor:
    """tf.string [B] → its sentences [B, (P)], P >= 1 (a text without a boundary is one)."""
    return tf.strings.split(mark_boundaries(texts), SEPARATOR)


def sentence_pieces(texts: tf.Tensor, split: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(pieces tf.string [N], their text's row int32 [N], rows ascending): the sentences of
    each text where `split` bool [B] is True, the text itself, unchanged, elsewhere."""
    sentences = split_sentences(tf.where(split, texts, ""))  # "" → [""]: one piece
    rows = tf.cast(sentences.value_rowids(), tf.int32)
    pieces = tf.where(tf.gather(split, rows), sentences.values, tf.gather(texts, rows))
    return pieces, rows
