"""`from_preset` and `save_to_preset`, shared by the zoo's models (Translator, Classifier)."""

from __future__ import annotations

import os


class PresetModel:
    """Mixin giving a zoo model keras-hub's preset methods; mixed in before `keras.Model`."""

    @classmethod
    def from_preset(cls, name_or_folder: str | os.PathLike):
        """Loads a zoo preset by name (see `kerattn.zoo.list()`), or a preset folder of your own
        (see `save_to_preset`); it must hold a model of this class."""
        from kerattn.zoo.model_loading import load_preset

        return load_preset(name_or_folder, expected_class=cls)

    def save_to_preset(
        self, folder: str | os.PathLike, description: str = "", overwrite: bool = False,
        **metadata,
    ):
        """Writes this model as a preset folder that `from_preset(folder)` loads back; see
        `kerattn.zoo.presets.save_preset` for what is written and when it refuses."""
        from kerattn.zoo import presets

        return presets.save_preset(self, folder, description, overwrite=overwrite, **metadata)
