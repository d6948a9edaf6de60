"""Resolving a command's MODEL argument to a loaded `Translator` or `Classifier`: the one place
`kerattn evaluate`, `kerattn export` (and the zoo's preset names, when they come) share."""

from __future__ import annotations

import os
from pathlib import Path


class ModelLoadError(ValueError):
    """MODEL cannot be loaded; the message is one sentence saying what would be accepted."""


def load_model(name_or_path: str | os.PathLike):
    """Loads the `Translator` or `Classifier` saved at `name_or_path` (a `.keras` file).

    Loaded without compiling: evaluating and exporting need no optimizer state.

    Raises:
        ModelLoadError: if the path is not an existing `.keras` file, cannot be loaded, or holds
            another kind of model.
    """
    path = Path(name_or_path)
    if path.suffix != ".keras":
        raise ModelLoadError(
            f"MODEL must be a path to a .keras file; received {os.fspath(name_or_path)!r}."
        )
    if not path.is_file():
        raise ModelLoadError(
            f"MODEL must be a path to an existing .keras file; received "
            f"{os.fspath(name_or_path)!r}, which does not exist."
        )
    import keras

    import kerattn  # registers kerattn's layers, tokenizers and models with Keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged or foreign file.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelLoadError(
            f"Could not load the model {os.fspath(path)!r} ({reason}); pass a .keras file "
            "saved from a kerattn Translator or Classifier."
        ) from None
    if not isinstance(model, (kerattn.Translator, kerattn.Classifier)):
        raise ModelLoadError(
            f"The model {os.fspath(path)!r} is a {type(model).__name__}; kerattn expects "
            "a Translator or a Classifier."
        )
    return model
