"""kerattn: attention-based recurrent models for Keras 3.

Importing kerattn registers every layer with Keras's serialization registry, so `.keras` files
that contain kerattn layers load with `keras.saving.load_model` and no `custom_objects`.
"""

from kerattn import layers

__version__ = "0.1.0"

__all__ = ["layers", "__version__"]
