"""Model compositions (translator, classifier), in-graph decoding and pretrained presets.

    >>> import kerattn
    >>> kerattn.zoo.list()                     # the presets that ship with kerattn
    >>> translator = kerattn.zoo.load("translator_en_es")
    >>> translator.translate("Turn off the lights", beam_size=4).text
"""

from kerattn.zoo.model_loading import load_preset as load
from kerattn.zoo.presets import Preset, UnknownPresetError, get_preset
from kerattn.zoo.presets import list_presets as list  # noqa: A001 (kerattn.zoo.list())

__all__ = ["Preset", "UnknownPresetError", "get_preset", "list", "load"]
