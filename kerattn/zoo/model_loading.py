"""Resolving a command's MODEL argument (a preset name or a `.keras` file) to a loaded
`Translator` or `Classifier`: the one place `kerattn evaluate`, `export`, `translate` and
`classify` share."""

from __future__ import annotations

import os
from pathlib import Path


class ModelLoadError(ValueError):
    """MODEL cannot be loaded; the message is one sentence saying what would be accepted."""


class WrongModelKindError(ModelLoadError):
    """MODEL is a Translator where a Classifier is needed, or the other way round."""


def load_model(name_or_path: str | os.PathLike, expected_class: type | None = None):
    """Loads the zoo preset called `name_or_path`, or the `Translator` or `Classifier` saved at
    that path (a `.keras` file).

    Loaded without compiling: evaluating, exporting and inference need no optimizer state.
    expected_class: `Translator` or `Classifier`; the other kind raises `WrongModelKindError`.

    Raises:
        ModelLoadError: if the name is no preset (the message lists them), or the path is not an
            existing `.keras` file, cannot be loaded, or holds another kind of model.
    """
    path = Path(name_or_path)
    if path.suffix != ".keras":
        from kerattn.zoo import presets

        if not (isinstance(name_or_path, str) and not path.suffix and path.name == name_or_path):
            raise ModelLoadError(
                f"MODEL must be a preset name or a path to a .keras file; received "
                f"{os.fspath(name_or_path)!r}."
            )
        path = presets.get_preset(name_or_path).model_path
    model = _load_file(path)
    if expected_class is not None and not isinstance(model, expected_class):
        raise WrongModelKindError(
            f"{os.fspath(name_or_path)!r} is a {type(model).__name__}, not a "
            f"{expected_class.__name__}."
        )
    return model


def _load_file(path: Path):
    """The `Translator` or `Classifier` in the `.keras` file at `path`."""
    if not path.is_file():
        raise ModelLoadError(
            f"MODEL must be a path to an existing .keras file; received "
            f"{os.fspath(path)!r}, which does not exist."
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
