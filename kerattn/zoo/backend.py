"""The zoo's models need the TensorFlow backend: one sentence for users on another one."""

from __future__ import annotations

import keras

from kerattn.errors import UsageError


def require_tensorflow_backend(what: str) -> None:
    """Raises UsageError naming `what` (e.g. "kerattn.Translator") unless Keras runs on
    TensorFlow.

    The translators and classifiers tokenize, decode and export inside the TensorFlow graph
    (tf-text), so they need it; the building blocks in `kerattn.layers` run on any backend.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise UsageError(
            f"{what} needs the TensorFlow backend, but Keras is running on {backend!r}; set "
            "KERAS_BACKEND=tensorflow for the zoo's models (the layers in kerattn.layers work "
            "on every backend)."
        )
