"""Small tokenizers and models for the zoo tests (no training, no network)."""

from __future__ import annotations

import keras
import pytest

from kerattn.text import (
    SymbolTokenizer,
    WordPieceTokenizer,
    train_symbol_vocabulary,
    train_wordpiece_vocabulary,
)
from kerattn.zoo.classifier import Classifier
from kerattn.zoo.translator import Translator

ENGLISH = [
    "Turn off the lights.",
    "Open the file and save it.",
    "The document has three pages, doesn't it?",
    "Click the button to print the document.",
    "Select the cells you want to format.",
    "Where is the menu?",
    "Choose Tools - Options to change the settings.",
]
SPANISH = [
    "Apague las luces.",
    "Abra el archivo y guárdelo.",
    "El documento tiene tres páginas, ¿verdad?",
    "Pulse el botón para imprimir el documento.",
    "Seleccione las celdas a las que desee dar formato.",
    "¿Dónde está el menú?",
    "Elija Herramientas - Opciones para cambiar la configuración.",
]


@pytest.fixture(scope="session")
def english_tokenizer():
    return WordPieceTokenizer(train_wordpiece_vocabulary(ENGLISH, 300))


@pytest.fixture(scope="session")
def spanish_tokenizer():
    return WordPieceTokenizer(train_wordpiece_vocabulary(SPANISH, 300))


@pytest.fixture(scope="session")
def review_tokenizer():
    texts = ["a great film", "a terrible film", "great acting and a fine story", "boring"]
    return WordPieceTokenizer(
        train_wordpiece_vocabulary(texts, 200, lowercase=True), lowercase=True
    )


def symbol_tokenizer(symbols: str) -> SymbolTokenizer:
    return SymbolTokenizer(
        train_symbol_vocabulary([" ".join(symbols)], split="whitespace"), split="whitespace"
    )


def tiny_translator(
    english, spanish, max_source_length: int = 24, max_target_length: int = 20
) -> Translator:
    keras.utils.set_random_seed(0)
    return Translator(
        english,
        spanish,
        embedding_dim=16,
        units=32,
        max_source_length=max_source_length,
        max_target_length=max_target_length,
    )


@pytest.fixture(scope="module")
def translator(english_tokenizer, spanish_tokenizer):
    """The tiny translator with more weight on [END], so outputs end on their own. One per
    module: a test that changes it puts it back before the next test runs."""
    model = tiny_translator(english_tokenizer, spanish_tokenizer)
    bias = model.backbone.projection.bias
    values = bias.numpy()
    values[spanish_tokenizer.end_id] += 0.7
    bias.assign(values)
    return model


def ended(result) -> bool:
    """Whether `translator`'s output ended with [END], not at max_target_length - 1 tokens."""
    return len(result.tokens) < 19


def record_translate_calls(model, monkeypatch) -> list[dict]:
    """The keyword arguments of each `model.translate` call from now on (the calls still run)."""
    calls = []
    translate = model.translate

    def spy(texts, **kwargs):
        calls.append(kwargs)
        return translate(texts, **kwargs)

    monkeypatch.setattr(model, "translate", spy)
    return calls


def tiny_classifier(tokenizer) -> Classifier:
    keras.utils.set_random_seed(0)
    return Classifier(tokenizer, ["negative", "positive"], embedding_dim=8, units=8, max_length=16)


def other_seed(model, seed: int):
    """A model of `model`'s settings and vocabularies with other random weights."""
    keras.utils.set_random_seed(seed)
    arguments = {name: getattr(model, name) for name in type(model)._argument_names()}
    return type(model)(**arguments)
