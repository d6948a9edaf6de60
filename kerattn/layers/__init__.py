"""Keras layers for attention-based recurrent models, used exactly like `keras.layers`.

Every layer is registered with Keras's serialization under the package "kerattn", so models
that contain them save to `.keras` and load back with `keras.saving.load_model` once kerattn is
imported — no `custom_objects` needed.
"""

from kerattn.layers.attention_bilstm_encoder import AttentionBiLSTMEncoder
from kerattn.layers.attention_decoder import AttentionDecoder
from kerattn.layers.attention_pooling import AttentionPooling
from kerattn.layers.bahdanau_attention import BahdanauAttention
from kerattn.layers.base_attention import BaseAttention
from kerattn.layers.luong_attention import LuongAttention
from kerattn.layers.masked_attention import attend, masked_softmax
from kerattn.layers.monotonic_attention import (
    BahdanauMonotonicAttention,
    LuongMonotonicAttention,
    MonotonicAttention,
    monotonic_alignment,
)

__all__ = [
    "AttentionBiLSTMEncoder",
    "AttentionDecoder",
    "AttentionPooling",
    "BahdanauAttention",
    "BahdanauMonotonicAttention",
    "BaseAttention",
    "LuongAttention",
    "LuongMonotonicAttention",
    "MonotonicAttention",
    "attend",
    "masked_softmax",
    "monotonic_alignment",
]
