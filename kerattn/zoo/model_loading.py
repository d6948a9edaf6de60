"""Resolving a command's MODEL argument (a preset name or a `.keras` file) to a loaded
`Translator` or `Classifier`: the one place `kerattn evaluate`, `export`, `translate` and
`classify` share."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from kerattn.zoo import presets
from kerattn.zoo.model_load_error import ModelLoadError, WrongModelKindError


def load_preset(name_or_folder: str | os.PathLike, expected_class: type | None = None):
    """Loads a shipped preset, or a preset folder, as a ready `Translator` or `Classifier`
    (`kerattn.zoo.load`).

    expected_class: if given, a preset of another class raises `ModelLoadError`
    (`Translator.from_preset` and `Classifier.from_preset` pass themselves).

    A translator decodes by default with the preset's `decoding` settings (e.g. beam size 4),
    those its model card was measured with and `kerattn translate` uses.
    """
    presets.get_preset(name_or_folder)  # only presets here, not .keras files
    return load_model(name_or_folder, expected_class)


def load_model(name_or_path: str | os.PathLike, expected_class: type | None = None):
    """Loads the zoo preset called `name_or_path`, the preset folder at that path, or the
    `Translator` or `Classifier` saved at that path (a `.keras` file).

    A translator from a preset decodes by default with the preset's `decoding` settings and
    flags `low_confidence` below the preset's "confidence_threshold" (metadata.json), if any.

    Loaded without compiling: evaluating, exporting and inference need no optimizer state.
    expected_class: `Translator` or `Classifier`; the other kind raises `WrongModelKindError`.

    Raises:
        ModelLoadError: if the name is no preset (the message lists them), or the path is not an
            existing `.keras` file, cannot be loaded, or holds another kind of model.
    """
    path = Path(name_or_path)
    preset = None
    if path.suffix != ".keras":
        if not (presets.is_preset_name(name_or_path) or path.is_dir()):
            raise ModelLoadError(
                f"MODEL must be a preset name, a preset folder or a path to a .keras file; "
                f"received {os.fspath(name_or_path)!r}."
            )
        preset = presets.get_preset(name_or_path)
        path = preset.model_path
    model = _load_file(path)
    if preset is not None and preset.decoding and not getattr(model, "decoding", True):
        model.decoding = dict(preset.decoding)  # a preset saved before models kept their own
    if preset is not None and hasattr(model, "confidence_threshold"):
        _set_confidence_threshold(model, preset)
    if expected_class is not None and not isinstance(model, expected_class):
        raise WrongModelKindError(
            f"{os.fspath(name_or_path)!r} is a {type(model).__name__}, not a "
            f"{expected_class.__name__}."
        )
    return model


def _set_confidence_threshold(model, preset: presets.Preset) -> None:
    """A translator from a preset flags `low_confidence` below the threshold its metadata.json
    stores (`kerattn calibrate`); the metadata, not the `.keras` config, decides."""
    from kerattn.errors import UsageError
    from kerattn.zoo.confidence import METADATA_KEY

    if METADATA_KEY not in preset.metadata:
        return
    value = preset.metadata[METADATA_KEY]
    try:
        model.confidence_threshold = value
    except UsageError:
        raise ModelLoadError(
            f"The preset {os.fspath(preset.path)!r} has {METADATA_KEY}={value!r} in its "
            "metadata.json; it must be a number from 0 to 1, or null for no low-confidence "
            "flag (kerattn calibrate writes it)."
        ) from None


def _load_file(path: Path):
    """The `Translator` or `Classifier` in the `.keras` file at `path`."""
    if not path.exists():
        raise ModelLoadError(f"MODEL {os.fspath(path)!r} not found; pass an existing .keras file.")
    import keras

    from kerattn.zoo.backend import require_tensorflow_backend
    from kerattn.zoo.classifier import Classifier  # (and the Translator: registered with Keras,
    from kerattn.zoo.translator import Translator  # with the layers and tokenizers they use)

    require_tensorflow_backend(f"Loading {os.fspath(path)!r}")

    try:
        if path.is_dir():
            raise IsADirectoryError("it is a folder")
        with open(path, "rb"):  # an unreadable file says why (permission) ...
            pass
        if not zipfile.is_zipfile(path):  # ... a damaged or foreign one, rather than Keras's
            raise ValueError("not a zip archive")  # misleading "File not found"
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged or foreign file.
        if (saved_class := _class_saved_before_the_split(path)) is not None:
            raise ModelLoadError(
                f"{os.fspath(path)!r} holds a {saved_class} saved before kerattn split its "
                "models into backbone, preprocessor and task, so its weights are laid out for "
                "the old class; convert it once as zoo/README.md describes."
            ) from None
        reason = (
            error.strerror
            if isinstance(error, OSError) and error.strerror
            else (str(error).strip().splitlines() or [type(error).__name__])[0]
        )
        raise ModelLoadError(
            f"{os.fspath(path)!r} is not a readable .keras file ({reason.rstrip('.')}); pass a "
            ".keras file saved from a kerattn Translator or Classifier."
        ) from None
    if not isinstance(model, (Translator, Classifier)):
        raise ModelLoadError(
            f"The model {os.fspath(path)!r} is a {type(model).__name__}; kerattn expects "
            "a Translator or a Classifier."
        )
    return model


def _class_saved_before_the_split(path: Path) -> str | None:
    """ "Translator" or "Classifier" if the `.keras` file at `path` holds one saved before the
    backbone split (its weights have no "backbone" group), else None."""
    import json

    import h5py

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            with archive.open("model.weights.h5") as weights, h5py.File(weights, "r") as file:
                has_backbone = "backbone" in file
    except Exception:  # not a kerattn archive at all: the caller's message covers it
        return None
    saved_class = config.get("registered_name", "")
    if saved_class in ("kerattn>Translator", "kerattn>Classifier") and not has_backbone:
        return saved_class.partition(">")[2]
    return None
