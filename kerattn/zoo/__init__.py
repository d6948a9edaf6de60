"""The zoo: tasks (Translator, Classifier), their preprocessors, in-graph decoding and presets.

keras-hub's split: each task (`task.Task`: `Translator`, `Classifier`) holds a **backbone**
(`kerattn.models`: the network, token ids to logits, any Keras backend) and a
**preprocessor** (`Seq2SeqPreprocessor`, `ClassifierPreprocessor`: tf-text tokenization and
detokenization in the TensorFlow graph), and adds decoding, results per text and presets.

    >>> import kerattn
    >>> [preset.name for preset in kerattn.zoo.list()]  # the presets that ship with kerattn
    ['g2p_en', 'sentiment_en', 'translator_en_de', 'translator_en_es']
    >>> translator = kerattn.zoo.load("translator_en_es")
    >>> translator.translate("Save the document as PDF.").text
    'Guardar el documento como PDF.'
"""

from kerattn.zoo.model_loading import load_preset as load
from kerattn.zoo.presets import Preset, UnknownPresetError, get_preset
from kerattn.zoo.presets import list_presets as list  # noqa: A001 (kerattn.zoo.list())

__all__ = ["Preset", "UnknownPresetError", "get_preset", "list", "load"]
