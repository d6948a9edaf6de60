"""The zoo's pretrained presets: `list()` what ships with kerattn, `load(name)` a model.

A preset is a folder of the top-level `zoo/` (packaged as `kerattn/zoo/presets`) holding:

- `model.keras`: the `Translator` or `Classifier` (config, weights and vocabularies), no
  optimizer state;
- `metadata.json`: name, task, description, license, size, decoding defaults, the measured
  metrics with the evaluation command that reproduces them, and for a translator calibrated
  with `kerattn calibrate` its "confidence_threshold" (results below it are `low_confidence`);
- `README.md`: the model card; `recipe.toml`: the training recipe; `attention.png`: a heatmap.

A folder without `model.keras` and `metadata.json` (a recipe still training) is not listed.
`kerattn.zoo.load` (`model_loading.load_preset`), `Translator.from_preset` and
`Classifier.from_preset` also take the path of a preset
folder of your own, such as one written by `save_to_preset`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from kerattn import compat
from kerattn.atomic_files import atomic_write_text, atomic_write_with
from kerattn.errors import UsageError
from kerattn.zoo.model_load_error import ModelLoadError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


class UnknownPresetError(ModelLoadError, KeyError):
    """A preset name the zoo does not have; the message lists the available ones."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Preset:
    """One pretrained model of the zoo, as described by its `metadata.json`.

    name: what `load` takes. task: "translation", "g2p" or "classification".
    description: one line. metrics: the headline test-set metrics (fractions, BLEU in points).
    decoding: keyword arguments `translate` uses by default (e.g. {"beam_size": 4}).
    metadata: the whole `metadata.json`. path: the preset folder.
    """

    name: str
    task: str
    description: str
    metrics: dict
    decoding: dict
    metadata: dict
    path: Path

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def size_bytes(self) -> int:
        return self.model_path.stat().st_size


def _read_preset(folder: Path) -> Preset | None:
    metadata_path = folder / "metadata.json"
    if not (metadata_path.is_file() and (folder / "model.keras").is_file()):
        return None
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    return Preset(
        name=folder.name,
        task=metadata["task"],
        description=metadata["description"],
        metrics=metadata.get("metrics", {}),
        decoding=metadata.get("decoding", {}),
        metadata=metadata,
        path=folder,
    )


def list_presets() -> list[Preset]:
    """The presets that ship with this installation, sorted by name."""
    if not PRESETS_DIR.is_dir():
        return []
    presets = (_read_preset(folder) for folder in sorted(PRESETS_DIR.iterdir()) if folder.is_dir())
    return [preset for preset in presets if preset is not None]


def is_preset_name(name: str | os.PathLike) -> bool:
    """Whether `name` has the form of a shipped preset's name (no folder part, no suffix)."""
    return (
        isinstance(name, str)
        and bool(name)
        and "/" not in name
        and os.sep not in name
        and not Path(name).suffix
    )


def get_preset(name_or_folder: str | os.PathLike) -> Preset:
    """The shipped preset called `name_or_folder`, or the preset folder at that path.

    A bare name is looked up among the shipped presets first; anything else must be a folder
    holding `model.keras` and `metadata.json`.

    Raises:
        UnknownPresetError: neither; the message lists the shipped presets.
    """
    if is_preset_name(name_or_folder):
        presets = {preset.name: preset for preset in list_presets()}
        if name_or_folder in presets:
            return presets[name_or_folder]
    folder = Path(name_or_folder)
    if folder.is_dir():
        preset = _read_preset(folder)
        if preset is None:
            raise UnknownPresetError(
                f"The folder {os.fspath(folder)!r} is not a preset: a preset folder holds "
                "model.keras and metadata.json (kerattn writes them with save_to_preset)."
            )
        return preset
    available = ", ".join(p.name for p in list_presets()) or "none (no presets are installed)"
    raise UnknownPresetError(
        f"Unknown preset {os.fspath(name_or_folder)!r}; available presets: {available}, "
        "or the path of a preset folder."
    )


def save_preset(
    model,
    folder: str | os.PathLike,
    description: str = "",
    overwrite: bool = False,
    weights_dtype: str = "float32",
    **metadata,
) -> Preset:
    """Writes `model` (a `Translator` or `Classifier`) as a preset folder that `load` reads.

    The folder gets `model.keras` (no optimizer state) and `metadata.json` (name, family, task,
    description, decoding settings, parameter count, size, a translator's
    "confidence_threshold" when it has one, and any `metadata` given, e.g. license or
    metrics). Each file is written atomically.

    Args:
        model: the model to save.
        folder: the preset folder; its name becomes the preset's name.
        description: one line for `kerattn zoo list`.
        overwrite: whether `model.keras` and `metadata.json` may be written into a folder
            that is not empty (replacing them if they exist). Other files in the folder (a
            model card, a recipe) are never touched.
        weights_dtype: "float32", or "float16" for a file half the size: the weights are
            stored rounded to float16 (relative error at most 2^-11) and load as float32, so
            the model computes as before on the rounded values (recorded in metadata.json as
            "weights_dtype"). Measure the quality change before shipping a float16 preset.

    Raises:
        UsageError: `folder` is a file, or a folder that is not empty and `overwrite` is
            False.
        ValueError: an unknown `weights_dtype`, or a weight beyond float16's range.
    """
    from kerattn.zoo.tasks import detect_task

    if weights_dtype not in ("float32", "float16"):
        raise ValueError(
            f"weights_dtype must be 'float32' or 'float16'; received {weights_dtype!r}."
        )

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(
            f"Cannot save a preset to {os.fspath(folder)!r}: it is a file; pass a folder."
        )
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        what = "already holds a preset" if _read_preset(folder) else "is not empty"
        raise UsageError(
            f"The folder {os.fspath(folder)!r} {what}; pass overwrite=True to write its "
            "model.keras and metadata.json (nothing else in it is touched), or a new folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / "model.keras"

    def write(temporary: Path) -> None:
        model.save(temporary)
        if weights_dtype == "float16":
            compat.store_float16_weights(temporary)

    atomic_write_with(model_path, write)
    content = {
        "name": folder.resolve().name,
        "family": type(model).__name__,
        "task": detect_task(model),
        "description": description,
        "parameters": int(model.count_params()),
        "model_bytes": model_path.stat().st_size,
        "decoding": dict(getattr(model, "decoding", {})),
        "weights_dtype": weights_dtype,
        **metadata,
    }
    if getattr(model, "confidence_threshold", None) is not None:
        content["confidence_threshold"] = model.confidence_threshold
    atomic_write_text(
        folder / "metadata.json", json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    )
    return _read_preset(folder)
