"""What `Translator.translate` and `Classifier.classify` return for each input text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Translation:
    """One translated text.

    text: the detokenized translation.
    tokens: the output tokens, `[END]` excluded.
    source_tokens: the source tokens the model read, `[END]` included.
    attention: float32 (len(tokens), len(source_tokens)): row i is where output token i looked.
    score: the decoder's ranking score (log-probability, length-normalised in beam search).
    log_prob: the model's log-probability of the output, `[END]` included.
    truncated: True when the input was longer than the model's maximum and was cut.
    """

    text: str
    tokens: list[str]
    source_tokens: list[str]
    attention: np.ndarray
    score: float
    log_prob: float
    truncated: bool


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
