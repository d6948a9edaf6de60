"""Tiny untrained models, their exports, and the Keras models' outputs for the same inputs."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from kerattn.export.exporter import export_model
from tests.zoo.conftest import ENGLISH, SPANISH  # noqa: F401  (tokenizer fixtures below)
from tests.zoo.conftest import english_tokenizer, review_tokenizer, spanish_tokenizer  # noqa: F401
from tests.zoo.conftest import tiny_classifier, tiny_translator

TRANSLATOR_INPUTS = [ENGLISH[0], ENGLISH[2], "", "Привет 😀 ¿qué?", " ".join(ENGLISH * 3)]
CLASSIFIER_INPUTS = ["a great film", "boring", "", "Жук acting 😀", "a fine story " * 20]
BEAM_SIZE = 3


def keras_outputs(function, texts) -> dict:
    """Outputs of a model's batch method traced as TF Serving would run it (tf.function)."""
    traced = tf.function(function, input_signature=[tf.TensorSpec([None], tf.string)])
    return {name: value.numpy() for name, value in traced(tf.constant(texts)).items()}


@pytest.fixture(scope="session")
def translator(english_tokenizer, spanish_tokenizer):  # noqa: F811
    return tiny_translator(english_tokenizer, spanish_tokenizer)


@pytest.fixture(scope="session")
def classifier(review_tokenizer):  # noqa: F811
    return tiny_classifier(review_tokenizer)


@pytest.fixture(scope="session")
def exported_translator(translator, tmp_path_factory):
    """(version folder, {signature: expected outputs}) of the tiny translator, beam 3 + greedy."""
    base = tmp_path_factory.mktemp("export") / "models" / "translator"
    folder = export_model(translator, base, beam_size=BEAM_SIZE, length_penalty=0.6)
    expected = {
        "serving_default": keras_outputs(
            lambda t: translator.translate_batch(t, beam_size=BEAM_SIZE, length_penalty=0.6),
            TRANSLATOR_INPUTS,
        ),
        "greedy": keras_outputs(
            lambda t: translator.translate_batch(t, beam_size=1, length_penalty=0.6),
            TRANSLATOR_INPUTS,
        ),
    }
    return folder, expected


@pytest.fixture(scope="session")
def exported_classifier(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / "models" / "classifier"
    folder = export_model(classifier, base)
    expected = {"serving_default": keras_outputs(classifier.classify_batch, CLASSIFIER_INPUTS)}
    return folder, expected
