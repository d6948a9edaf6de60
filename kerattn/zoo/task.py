"""`Task`: the base of the zoo's models (Translator, Classifier), keras-hub's task.

A task holds a **backbone** (`kerattn.models`: the network, token ids to logits, any backend)
and a **preprocessor** (tf-text tokenization and detokenization, TensorFlow graph), and adds
what users call: prediction on strings with a result per text, presets (`from_preset`,
`save_to_preset`), a default loss. Training runs the backbone: `task(inputs)` is
`task.backbone(inputs)`, on ids from `task.prepare_batch` (the preprocessor's).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from kerattn.errors import UsageError
from kerattn.text import Tokenizer
from kerattn.zoo.backend import require_tensorflow_backend
from kerattn.zoo.token_batch import text_list

STRINGS_SPEC = tf.TensorSpec([None], tf.string)

# Texts per model call of `translate`, `classify`, `score` and `logits` unless their
# `batch_size` says otherwise: a longer list runs in batches of this many, so memory stays
# bounded however many texts are passed (1,729 reviews of 1,024 pieces in one batch need an
# 11 GB encoder output).
PREDICT_BATCH_SIZE = 64


def batch_ranges(count: int, batch_size: int | None = None) -> list[range]:
    """The rows of each model call for `count` texts, `batch_size` (default
    `PREDICT_BATCH_SIZE`) at a time; UsageError for a batch size that is not an int >= 1."""
    if batch_size is None:
        batch_size = PREDICT_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(
            f"`batch_size` (texts per model call) must be an int >= 1; received "
            f"batch_size={batch_size!r}."
        )
    return [range(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


class HeldBy:
    """A task's constructor argument that its backbone or its preprocessor holds:
    `units = HeldBy("backbone")` makes `task.units` read `task.backbone.units`, so each setting
    is stored once."""

    def __init__(self, part: str):
        self.part = part

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, task, owner=None):
        if task is None:
            return self
        return getattr(getattr(task, self.part), self.name)

    def __set__(self, task, value) -> None:
        raise AttributeError(
            f"`{self.name}` is fixed when the {type(task).__name__} is built (its {self.part} "
            f"holds it); build a new {type(task).__name__} with {self.name}={value!r} instead."
        )


class Task(keras.Model):
    """A backbone and a preprocessor behind the zoo's text-in, results-out methods.

    Subclasses build both from their constructor arguments and pass them here. Their config is
    their constructor arguments, each read from the task (`get_config`), so a `.keras` file
    rebuilds the task and then restores the weights and the vocabularies.

    Args:
        backbone: a `kerattn.models` backbone (a functional `keras.Model`).
        preprocessor: the matching preprocessor (a layer holding the tokenizers).
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    def __init__(self, backbone: keras.Model, preprocessor: keras.layers.Layer, **kwargs):
        require_tensorflow_backend(f"kerattn.{type(self).__name__}")
        super().__init__(**kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self._batch_functions: dict = {}
        self.built = True  # the backbone is built at construction

    def call(self, inputs, training=None):
        return self.backbone(inputs, training=training)

    # -- predicting on strings ---------------------------------------------------------------

    def _predict_texts(
        self,
        texts: str | list[str],
        key,
        batch_function: Callable[[tf.Tensor], dict],
        row_result: Callable[[dict, int], object],
        empty_result=None,
        batch_size: int | None = None,
    ):
        """The result loop of `classify` and `logits`.

        `batch_function` (tf.string [B] → dict of batch-major tensors) is traced once per `key`
        and run on the texts, `batch_size` (default `PREDICT_BATCH_SIZE`) at a time;
        `row_result(outputs, row)` turns row `row` of the numpy outputs into a result. With
        `empty_result`, empty and whitespace-only texts get it without running the model.
        Returns one result for a string, a list for a list.
        """
        batch, single = text_list(texts)
        rows = [index for index, text in enumerate(batch) if empty_result is None or text.strip()]
        if key not in self._batch_functions:
            self._batch_functions[key] = tf.function(batch_function, input_signature=[STRINGS_SPEC])
        run = self._run_in_batches(
            self._batch_functions[key],
            [([batch[i] for i in rows], tf.string)],
            row_result,
            batch_size,
        )
        results = [empty_result] * len(batch)
        for index, result in zip(rows, run):
            results[index] = result
        return results[0] if single else results

    @staticmethod
    def _run_in_batches(function, inputs, row_result, batch_size: int | None) -> list:
        """`row_result(outputs, row)` for every row of `inputs` ((values, tf dtype) pairs, one
        per argument of `function`, all of one length), `function` run on `batch_size` rows
        at a time (`batch_ranges`) with numpy outputs."""
        results = []
        for part in batch_ranges(len(inputs[0][0]), batch_size):
            outputs = function(*(tf.constant([v[i] for i in part], dtype) for v, dtype in inputs))
            outputs = {name: np.asarray(value) for name, value in outputs.items()}
            results += [row_result(outputs, row) for row in range(len(part))]
        return results

    # -- presets -----------------------------------------------------------------------------

    @classmethod
    def from_preset(cls, name_or_folder: str | os.PathLike):
        """Loads a zoo preset by name (see `kerattn.zoo.list()`), or a preset folder of your own
        (see `save_to_preset`); it must hold a model of this class."""
        from kerattn.zoo.model_loading import load_preset

        return load_preset(name_or_folder, expected_class=cls)

    def save_to_preset(
        self,
        folder: str | os.PathLike,
        description: str = "",
        overwrite: bool = False,
        **metadata,
    ):
        """Writes this model as a preset folder that `from_preset(folder)` loads back; see
        `kerattn.zoo.presets.save_preset` for what is written and when it refuses."""
        from kerattn.zoo import presets

        return presets.save_preset(self, folder, description, overwrite=overwrite, **metadata)

    # -- saving ------------------------------------------------------------------------------

    @classmethod
    def _argument_names(cls) -> list[str]:
        parameters = inspect.signature(cls.__init__).parameters
        return [
            name
            for name, parameter in parameters.items()
            if name != "self" and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        ]

    def get_config(self):
        """The constructor arguments, read from the task; tokenizers serialized (their
        vocabularies are assets, saved apart from the config)."""
        config = super().get_config()
        for name in self._argument_names():
            value = getattr(self, name)
            if isinstance(value, Tokenizer):
                value = keras.saving.serialize_keras_object(value)
            elif isinstance(value, dict):
                value = dict(value)
            elif isinstance(value, (list, tuple)):
                value = list(value)
            config[name] = value
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls._argument_names():
            value = config.get(name)
            if isinstance(value, dict) and "class_name" in value and "config" in value:
                config[name] = keras.saving.deserialize_keras_object(value)
        return cls(**config)
