"""An export whose graph needs a disallowed op fails, names the op, and leaves no folder behind."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from kerattn.export.exporter import ExportError, export_model
from kerattn.export.version_folder import VersionExistsError
from kerattn.zoo.classifier import Classifier
from tests.export.conftest import tiny_classifier


class PyFunctionClassifier(Classifier):
    """A classifier whose serving path lowercases its input with a Python callback."""

    def classify_batch(self, texts):
        lowered = tf.py_function(
            lambda t: tf.strings.lower(t), [tf.convert_to_tensor(texts, tf.string)], tf.string
        )
        lowered.set_shape([None])
        return super().classify_batch(lowered)


class NumpyScale(keras.layers.Layer):
    def call(self, inputs):
        outputs = tf.numpy_function(lambda x: x * 1.0, [inputs], tf.float32, stateful=False)
        outputs.set_shape(inputs.shape)
        return outputs


def test_py_function_export_fails_naming_the_op_and_leaves_nothing(review_tokenizer, tmp_path):
    keras.utils.set_random_seed(0)
    model = PyFunctionClassifier(
        review_tokenizer, ["negative", "positive"], embedding_dim=8, units=8
    )
    base = tmp_path / "models" / "bad"
    with pytest.raises(ExportError, match="EagerPyFunc") as raised:
        export_model(model, base)
    assert "nothing was exported" in str(raised.value)
    # neither a version nor the temporary folder, nor the folders the export created
    assert not (tmp_path / "models").exists()


def test_numpy_function_in_a_keras_layer_is_named(review_tokenizer, tmp_path):
    model = tiny_classifier(review_tokenizer)
    scale = NumpyScale(name="numpy_scale")
    original = model.classify_batch

    def classify_batch(texts):
        outputs = original(texts)
        outputs["probabilities"] = scale(outputs["probabilities"])
        return outputs

    model.classify_batch = classify_batch
    base = tmp_path / "models" / "bad"
    (base / "1").mkdir(parents=True)
    with pytest.raises(ExportError, match="PyFunc"):
        export_model(model, base)
    assert sorted(child.name for child in base.iterdir()) == ["1"]


def test_taken_version_is_refused_before_tracing(classifier, tmp_path):
    base = tmp_path / "models" / "classifier"
    (base / "2").mkdir(parents=True)
    with pytest.raises(VersionExistsError, match="version 2 already exists"):
        export_model(classifier, base, version=2)


def test_only_zoo_models_and_valid_settings_are_exported(translator, tmp_path):
    with pytest.raises(TypeError, match="Translator or a Classifier"):
        export_model(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "m")
    with pytest.raises(ValueError, match="beam_size"):
        export_model(translator, tmp_path / "m", beam_size=0)
    assert not (tmp_path / "m").exists()  # a refused export leaves no folder behind
