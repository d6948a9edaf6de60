"""kerattn: attention-based recurrent models for Keras 3.

Importing kerattn registers every kerattn layer, tokenizer and model with Keras's serialization
registry, so `.keras` files that contain them load with `keras.saving.load_model` and no
`custom_objects`.
"""

from kerattn import layers, text, zoo
from kerattn.version import __version__
from kerattn.zoo.classifier import Classifier
from kerattn.zoo.translator import Translator

__all__ = ["Classifier", "Translator", "layers", "text", "zoo", "__version__"]
