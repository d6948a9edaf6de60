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


def tiny_translator(english, spanish) -> Translator:
    keras.utils.set_random_seed(0)
    return Translator(
        english,
        spanish,
        embedding_dim=16,
        units=32,
        max_source_length=24,
        max_target_length=20,
    )


def tiny_classifier(tokenizer) -> Classifier:
    keras.utils.set_random_seed(0)
    return Classifier(tokenizer, ["negative", "positive"], embedding_dim=8, units=8, max_length=16)
