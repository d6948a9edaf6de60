"""Learning vocabularies from a corpus, with exactly the splitting the tokenizers use.

Both learners run the tokenizer's own in-graph normalisation and splitting (eagerly, in
batches) to count words or symbols, so a vocabulary can never disagree with the tokenizer about
what a word is. Output is deterministic for a given corpus and settings: counts are sorted by
(word) before learning and ties are broken alphabetically; neither input order nor Python's
hash seed changes the result.

WordPiece vocabularies come from tf-text's learner (`tensorflow_text.tools.wordpiece_vocab.
wordpiece_tokenizer_learner_lib`, the algorithm behind `bert_vocab_from_dataset`, reached through
`kerattn.compat`) at one frequency threshold; the threshold is ours to find: the lowest one whose
vocabulary fits the target size (`_search_threshold`). We drive the search ourselves because
tf-text's `learn` can end on a vocabulary larger than the target, and because each learner call
is slow: it is pure Python and single-threaded, ~45 s for 80,000 distinct words on this project's
CPU whatever the threshold. A binary search needs ~18 calls (14 minutes per side on the
localisation corpus); interpolating on the size's power law in the threshold finds the same
threshold in 3-6. We call it on our own word counts rather than through
`bert_vocab_from_dataset`, whose BERT pre-tokenizer would split "don't" differently from
`normalization.split_words`. `kerattn.training.model_factory.cached_vocabulary` keeps what a
recipe learned in the user cache.
"""

from __future__ import annotations

import collections
import math
import unicodedata
from collections.abc import Iterable

import tensorflow as tf

from kerattn import compat
from kerattn.text import normalization
from kerattn.text.vocabulary import RESERVED_TOKENS


def train_wordpiece_vocabulary(
    texts: Iterable[str | bytes] | tf.data.Dataset,
    vocabulary_size: int,
    *,
    normalization_form: str | None = "NFC",
    lowercase: bool = False,
    min_frequency: int = 1,
    max_unique_characters: int = 1000,
    max_distinct_words: int | None = None,
    max_token_length: int = 50,
    num_iterations: int = 4,
    batch_size: int = 1024,
) -> list[str]:
    """Learns a WordPiece vocabulary for `WordPieceTokenizer`.

    Args:
        texts: raw strings, or a `tf.data.Dataset` of `tf.string` scalars or [B] batches.
        vocabulary_size: upper bound on the size, reserved tokens included; the result is the
            largest vocabulary the threshold search finds within it.
        normalization_form, lowercase: must equal the tokenizer's settings.
        min_frequency: lowest token frequency the threshold search may go down to (tf-text's
            `lower_thresh`; its default of 10 suits large corpora, 1 lets small ones learn words).
        max_unique_characters: alphabet size; words with rarer characters are not learned from
            (they still tokenize, to `[UNK]` where a character is missing).
        max_distinct_words: learn pieces only from this many most frequent distinct words
            (None: all); bounds the learner's time, which grows with the number of distinct
            words. The alphabet still comes from every word.
        max_token_length: longest wordpiece, in characters.
        num_iterations: refinement passes of the learner.
        batch_size: strings normalised per in-graph call.

    Returns:
        Tokens in id order: `[PAD]`, `[UNK]`, `[START]`, `[END]`, every character of the kept
        alphabet (as itself, and as "##" continuation if it occurs inside a word), then learned
        pieces by frequency.

    Raises:
        ValueError: if even the alphabet does not fit in `vocabulary_size`.
    """
    if not isinstance(vocabulary_size, int) or vocabulary_size <= len(RESERVED_TOKENS):
        raise ValueError(
            f"vocabulary_size={vocabulary_size!r} must be an integer larger than the "
            f"{len(RESERVED_TOKENS)} reserved tokens."
        )
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency={min_frequency!r} must be a positive integer.")
    if max_distinct_words is not None and (
        not isinstance(max_distinct_words, int) or max_distinct_words < 1
    ):
        raise ValueError(
            f"max_distinct_words={max_distinct_words!r} must be None or a positive integer."
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split(batch: tf.Tensor) -> tf.RaggedTensor:
        return normalization.split_words(
            normalization.normalize(batch, normalization_form, lowercase)
        )

    word_counts = _count(texts, split, batch_size)
    if not word_counts:
        return list(RESERVED_TOKENS)
    return _learn_wordpiece(
        word_counts,
        vocabulary_size,
        min_frequency=min_frequency,
        max_unique_characters=max_unique_characters,
        max_distinct_words=max_distinct_words,
        max_token_length=max_token_length,
        num_iterations=num_iterations,
    )


def _learn_wordpiece(
    word_counts: collections.Counter,
    vocabulary_size: int,
    *,
    min_frequency: int,
    max_unique_characters: int,
    max_distinct_words: int | None,
    max_token_length: int,
    num_iterations: int,
) -> list[str]:
    """tf-text's WordPiece learner, with a threshold search that never exceeds the size.

    tf-text's own `learn` binary-searches the frequency threshold but, when the search space
    runs out, returns the last vocabulary it tried, which can be larger than requested. Here the
    search keeps the largest vocabulary that fits (vocabulary size falls as the threshold rises).
    """
    # Sorted input: the learner's own tie-breaking then depends on nothing but the counts.
    counts, allowed_characters = compat.wordpiece_learner_words(
        sorted(word_counts.items()),
        reserved_tokens=list(RESERVED_TOKENS),
        max_token_length=max_token_length,
        max_unique_characters=max_unique_characters,
        max_distinct_words=max_distinct_words,
    )
    # The learner's alphabet is the characters of the words it learns from; a character of the
    # allowed alphabet seen only in words cut by `max_distinct_words` (or by the alphabet
    # filter) would otherwise be missing, and every word containing it would become [UNK].
    covered = {character for word, _ in counts for character in word}
    counts += [(character, 1) for character in sorted(allowed_characters - covered)]
    if not counts:
        return list(RESERVED_TOKENS)
    # The learner adds "##c" for every character c. Punctuation and symbols that never occur
    # inside a word ("##!", "##¿") cannot be produced by `split_words`; dropping them frees those
    # slots and keeps a decoder from learning tokens no target contains. Letters and digits keep
    # theirs even if unseen inside words: "OK" needs "##K" although "K" began every word seen.
    inner_characters = {character for word in word_counts for character in word[1:]}
    dead_continuations = {
        "##" + character
        for character in allowed_characters
        if unicodedata.category(character)[0] in "PS" and character not in inner_characters
    }

    def learn(threshold: int) -> list[str]:
        vocabulary = compat.wordpiece_learner_vocabulary(
            counts,
            threshold,
            reserved_tokens=list(RESERVED_TOKENS),
            max_token_length=max_token_length,
            num_iterations=num_iterations,
        )
        return [token for token in vocabulary if token not in dead_continuations]

    # Every allowed character is a token of its own: a size below that cannot be reached.
    if len(RESERVED_TOKENS) + len(allowed_characters) > vocabulary_size:
        raise _too_small(vocabulary_size, "more tokens", len(allowed_characters))
    floor = len(RESERVED_TOKENS) + len(allowed_characters)
    return _search_threshold(learn, counts, vocabulary_size, min_frequency, floor)


def _too_small(vocabulary_size: int, needed: str, characters: int) -> ValueError:
    return ValueError(
        f"vocabulary_size={vocabulary_size} is too small for this corpus: its alphabet alone "
        f"needs {needed} ({len(RESERVED_TOKENS)} reserved + {characters} characters, most of "
        "them twice, as word start and as continuation). Raise vocabulary_size or lower "
        "max_unique_characters."
    )


# Above the alphabet, vocabulary size against threshold is close to a power law (measured on
# the localisation corpus: size ~ threshold^-0.54 between thresholds 30 and 300); the exponent
# only guides the first guesses, the bracket below guarantees the result.
_SIZE_EXPONENT = 0.54


def _search_threshold(
    learn, counts, vocabulary_size: int, min_frequency: int, floor: int = 0
) -> list[str]:
    """The vocabulary of the lowest threshold whose vocabulary fits in `vocabulary_size`.

    Size falls as the threshold rises, so the answer is the lowest threshold t with
    `len(learn(t)) <= vocabulary_size`: the vocabulary closest to the target from below. Each
    `learn` call costs the same (tens of seconds on a large corpus), so the search interpolates
    the number of pieces above the alphabet (`floor`: at most the alphabet's size, the tokens
    every threshold keeps) in log-log space between the nearest thresholds known to be too low
    and high enough, and bisects (in log space) whenever interpolation has not halved the
    bracket twice in a row. It ends on the same threshold as a plain binary search, usually in
    3-6 calls instead of ~18.
    """
    # low: the lowest threshold that may still fit; high: a threshold known (or, above the
    # highest count where only the alphabet survives, assumed) to fit.
    low, high = min_frequency, max(count for _, count in counts) + 1
    best = None
    # (threshold, size) of the highest threshold known too low, and the lowest known to fit.
    below = above = None
    guess = _first_guess(counts, vocabulary_size, low, high)
    stalled = 0
    while low < high:
        threshold = min(max(guess, low), high - 1)
        vocabulary = learn(threshold)
        width = math.log(high / low)
        if len(vocabulary) <= vocabulary_size:
            best, high, above = vocabulary, threshold, (threshold, len(vocabulary))
        else:
            low, below = threshold + 1, (threshold, len(vocabulary))
        stalled = stalled + 1 if 2 * math.log(high / low) > width else 0
        if low >= high:
            break
        guess = _interpolate(below, above, vocabulary_size, floor)
        if guess is None or stalled >= 2:
            guess = round(math.sqrt(low * high))  # bisection in log space
            stalled = 0
    if best is None:  # nothing tried fits: the answer is `high`, the alphabet alone
        best = learn(high)
        if len(best) > vocabulary_size:
            characters = sum(1 for token in best if len(token) == 1)
            raise _too_small(vocabulary_size, f"{len(best)} tokens", characters)
    return best


def _first_guess(counts, vocabulary_size: int, low: int, high: int) -> int:
    """The threshold at which as many whole words are frequent enough as the vocabulary holds
    (a vocabulary also holds pieces, so this errs low, which the next guess corrects)."""
    frequencies = sorted((count for _, count in counts), reverse=True)
    if len(frequencies) <= vocabulary_size:
        return low
    return min(max(frequencies[vocabulary_size], low), high - 1)


def _interpolate(below, above, vocabulary_size: int, floor: int) -> int | None:
    """The threshold the power law puts at `vocabulary_size`, from the nearest known points."""

    def pieces(size: float) -> float:  # the log of the learned part, above the alphabet
        return math.log(max(size - floor, 0.5))

    # Aim between the target and the next size up: the lowest threshold that fits is where
    # the size steps from above the target to at most the target.
    aim = pieces(vocabulary_size + 0.5)
    if below and above and pieces(below[1]) != pieces(above[1]):
        (t0, n0), (t1, n1) = below, above
        slope = (math.log(t1) - math.log(t0)) / (pieces(n1) - pieces(n0))
        return round(math.exp(math.log(t0) + slope * (aim - pieces(n0))))
    point = below or above
    if point is None:
        return None
    threshold, size = point
    return round(threshold * math.exp((pieces(size) - aim) / _SIZE_EXPONENT))


def train_symbol_vocabulary(
    texts: Iterable[str | bytes] | tf.data.Dataset,
    *,
    split: str = "characters",
    normalization_form: str | None = "NFC",
    lowercase: bool = False,
    min_frequency: int = 1,
    max_size: int | None = None,
    batch_size: int = 1024,
) -> list[str]:
    """Learns the symbol set for `SymbolTokenizer`: every symbol seen, most frequent first.

    Args:
        texts: raw strings, or a `tf.data.Dataset` of `tf.string` scalars or [B] batches.
        split: "characters" or "whitespace"; must equal the tokenizer's setting.
        normalization_form, lowercase: must equal the tokenizer's settings.
        min_frequency: symbols seen fewer times are left out (they tokenize to `[UNK]`).
        max_size: upper bound on the vocabulary size, reserved tokens included; None = no bound.
        batch_size: strings normalised per in-graph call.

    Returns:
        Tokens in id order: the reserved tokens, then symbols by descending count, ties
        alphabetically.
    """
    normalization.check_symbol_split(split)
    if max_size is not None and (not isinstance(max_size, int) or max_size < len(RESERVED_TOKENS)):
        raise ValueError(
            f"max_size={max_size!r} must be None or an integer of at least "
            f"{len(RESERVED_TOKENS)} (the reserved tokens)."
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split_batch(batch: tf.Tensor) -> tf.RaggedTensor:
        return normalization.split_symbols(
            normalization.normalize(batch, normalization_form, lowercase), split
        )

    counts = _count(texts, split_batch, batch_size)
    symbols = sorted(
        (symbol for symbol, count in counts.items() if count >= min_frequency),
        key=lambda symbol: (-counts[symbol], symbol),
    )
    symbols = [symbol for symbol in symbols if symbol not in RESERVED_TOKENS]
    vocabulary = list(RESERVED_TOKENS) + symbols
    return vocabulary if max_size is None else vocabulary[:max_size]


def _count(texts, split_batch, batch_size: int) -> collections.Counter:
    """Counts the pieces `split_batch` makes of `texts`, decoded to `str`."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")
    counts: collections.Counter = collections.Counter()
    for batch in _batches(texts, batch_size):
        counts.update(split_batch(batch).flat_values.numpy().tolist())
    return collections.Counter({piece.decode("utf-8"): count for piece, count in counts.items()})


def _batches(texts, batch_size: int):
    """Yields `tf.string` [B] tensors from strings or a `tf.data.Dataset`."""
    if isinstance(texts, tf.data.Dataset):
        for element in texts:
            yield tf.reshape(element, [-1])
        return
    if isinstance(texts, str | bytes):
        raise ValueError(
            f"texts must be an iterable of strings, received a single string {texts[:50]!r}."
        )
    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            yield tf.constant(batch, dtype=tf.string)
            batch = []
    if batch:
        yield tf.constant(batch, dtype=tf.string)
