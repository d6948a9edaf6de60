"""The zoo's pretrained presets: `list()` what ships with kerattn, `load(name)` a model.

A preset is a folder of the top-level `zoo/` (packaged as `kerattn/zoo/presets`) holding:

- `model.keras`: the `Translator` or `Classifier` (config, weights and vocabularies), no
  optimizer state;
- `metadata.json`: name, task, description, license, size, decoding defaults, and the measured
  metrics with the evaluation command that reproduces them;
- `README.md`: the model card; `recipe.toml`: the training recipe; `attention.png`: a heatmap.

A folder without `model.keras` and `metadata.json` (a recipe still training) is not listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kerattn.zoo.model_loading import ModelLoadError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
TASKS = ("translation", "g2p", "classification")


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


def get_preset(name: str) -> Preset:
    """The preset called `name`; raises `UnknownPresetError` listing the available names."""
    presets = {preset.name: preset for preset in list_presets()}
    if name not in presets:
        available = ", ".join(presets) or "none (this installation has no presets)"
        raise UnknownPresetError(
            f"Unknown preset {name!r}; available presets: {available}."
        )
    return presets[name]


def load(name: str, expected_class: type | None = None):
    """Loads the preset `name` as a ready `Translator` or `Classifier`.

    expected_class: if given, a preset of another class raises `ModelLoadError`
    (`Translator.from_preset` and `Classifier.from_preset` pass themselves).

    The metrics on a translator's card use its `Preset.decoding` settings (e.g. beam size 4);
    pass them to `translate` to get the same outputs (`kerattn translate` does).
    """
    from kerattn.zoo.model_loading import load_model

    get_preset(name)  # only preset names here, not paths
    return load_model(name, expected_class)
