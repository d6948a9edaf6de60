"""What `Translator.translate` and `Classifier.classify` return for each input text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Hypothesis:
    """One output of a translator's search.

    text: the detokenized output.
    tokens: the output tokens, `[END]` excluded.
    attention: float32 (len(tokens), number of source tokens).
    score: the decoder's ranking score (log-probability, length-normalised in beam search).
    log_prob: the model's log-probability of the output, `[END]` included.
    confidence: exp(log_prob / n), the geometric-mean probability of the output's n tokens
        (`[END]` counted when the search produced it, as `Translator.score` counts it), in
        [0, 1]; 1.0 for the empty output of an empty input (see `Translation`).
    low_confidence: confidence < the translator's `confidence_threshold`; None when it has
        none (see `Translation`).
    """

    text: str
    tokens: list[str]
    attention: np.ndarray
    score: float
    log_prob: float
    confidence: float = field(kw_only=True)
    low_confidence: bool | None = field(kw_only=True)


@dataclass(frozen=True)
class Translation:
    """One translated text.

    text: the detokenized translation.
    tokens: the output tokens, `[END]` excluded (for an input translated in several pieces,
        each piece's own `[END]` but the last one's is kept).
    source_tokens: the source tokens the model read, `[END]` included (one per piece).
    attention: float32 (len(tokens), len(source_tokens)): row i is where output token i looked
        (block-diagonal for an input translated in several pieces).
    score: the decoder's ranking score (log-probability, length-normalised in beam search).
    log_prob: the model's log-probability of the output, `[END]` included (summed over pieces).
    truncated: True when the input was longer than the model's maximum and was cut (with
        sentence splitting: when one of its sentences still was).
    hypotheses: the search's hypotheses, best first; the first is this translation (one, unless
        `num_hypotheses` asked for more; hypotheses with a score of -inf are left out).
    confidence: exp(log_prob / n), the length-normalised probability of the output, in [0, 1]:
        n counts the output tokens plus `[END]` when the search produced it (only an output
        cut at the maximum length has none), the same tokens `Translator.score` scores. An
        empty or whitespace-only input gets the empty output by rule, not by the model, and
        confidence 1.0 (nothing was guessed).
    low_confidence: True when confidence < the translator's `confidence_threshold` (calibrated
        on validation data, stored in a preset's metadata.json: the output may be wrong);
        None when the translator has no threshold.
    segments: how many pieces the input was translated in: 1, or its number of sentences
        when it was longer than the model's maximum and split (`Translator.translate`'s
        `split_sentences`).
    """

    text: str
    tokens: list[str]
    source_tokens: list[str]
    attention: np.ndarray
    score: float
    log_prob: float
    truncated: bool
    hypotheses: tuple[Hypothesis, ...] = field(default=())
    confidence: float = field(kw_only=True)
    low_confidence: bool | None = field(kw_only=True)
    segments: int = field(default=1, kw_only=True)


@dataclass(frozen=True)
class Scoring:
    """A given translation scored by a translator (teacher forcing, `Translator.score`).

    score: the search's ranking score of this output (log_prob / length penalty + coverage
        penalty), what beam search reports when it returns the same output.
    log_prob: log P(tokens + `[END]` | source).
    tokens: the target tokens, `[END]` included.
    token_log_probs: float32 (len(tokens),), log-probability of each token given the previous.
    source_tokens: the source tokens the model read, `[END]` included.
    attention: float32 (len(tokens), len(source_tokens)).
    truncated, target_truncated: the source, the target was cut to the model's maximum.
    """

    score: float
    log_prob: float
    tokens: list[str]
    token_log_probs: np.ndarray
    source_tokens: list[str]
    attention: np.ndarray
    truncated: bool
    target_truncated: bool


@dataclass(frozen=True)
class Classification:
    """One classified text.

    label: the most probable label; None for an empty or whitespace-only text, which has
        nothing to classify (its probabilities and tokens are empty too).
    probabilities: label → probability.
    tokens: the tokens the model read.
    token_weights: attention weight of each token (they sum to 1 unless the text is empty).
    truncated: True when the input was longer than the model's maximum and was cut.
    """

    label: str | None
    probabilities: dict[str, float]
    tokens: list[str]
    token_weights: np.ndarray
    truncated: bool
