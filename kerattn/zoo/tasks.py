"""The zoo's tasks, and which one a model performs (one definition for presets and evaluation)."""

from __future__ import annotations

TASKS = ("translation", "g2p", "classification")

__all__ = ["TASKS", "detect_task"]


def detect_task(model) -> str:
    """ "classification" for a `Classifier`, "g2p" for a `Translator` whose target tokenizer is a
    whitespace `SymbolTokenizer` (phoneme symbols), "translation" for any other `Translator`.

    Raises:
        TypeError: `model` is neither.
    """
    from kerattn.text import SymbolTokenizer
    from kerattn.zoo.classifier import Classifier
    from kerattn.zoo.translator import Translator

    if isinstance(model, Classifier):
        return "classification"
    if isinstance(model, Translator):
        target = model.target_tokenizer
        if isinstance(target, SymbolTokenizer) and target.split == "whitespace":
            return "g2p"
        return "translation"
    raise TypeError(
        f"The model is a {type(model).__name__}; kerattn's tasks need a Translator or a Classifier."
    )
