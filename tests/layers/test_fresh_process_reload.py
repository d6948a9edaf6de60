"""A `.keras` file with every kerattn layer reloads in a new process after only `import kerattn`."""

from __future__ import annotations

import keras
import numpy as np

from kerattn import layers
from tests.conftest import run_fresh_python


def every_layer_model() -> keras.Model:
    source = keras.Input((None,), dtype="int32")
    previous = keras.Input((None,), dtype="int32")
    source_embedded = keras.layers.Embedding(20, 6, mask_zero=True)(source)
    encoded = layers.AttentionBiLSTMEncoder(4, num_layers=2, output_units=8, pooling="bahdanau")(
        source_embedded
    )
    target_embedded = keras.layers.Embedding(20, 6, mask_zero=True)(previous)
    decoded = layers.AttentionDecoder(8, attention="luong_concat", attention_units=3)(
        target_embedded,
        encoded["sequence"],
        initial_state=[encoded["state_h"], encoded["state_c"]],
        memory_mask=encoded["mask"],
    )
    bahdanau = layers.BahdanauAttention(5, normalize=True, use_bias=True)(
        decoded, encoded["sequence"], value_mask=encoded["mask"]
    )
    luong = layers.LuongAttention("general", use_scale=True)(
        decoded, encoded["sequence"], value_mask=encoded["mask"]
    )
    pooled = layers.AttentionPooling(attention="luong")(bahdanau + luong)
    return keras.Model([source, previous], [decoded, pooled + encoded["pooled"]])


def test_keras_file_reloads_in_fresh_process_with_identical_outputs(tmp_path):
    model = every_layer_model()
    data = [
        np.array([[3, 4, 5, 0], [6, 7, 8, 9]], "int32"),
        np.array([[1, 2, 0], [1, 3, 4]], "int32"),
    ]
    expected = model.predict(data, verbose=0)
    model.save(tmp_path / "every_layer.keras")
    np.savez(tmp_path / "data.npz", source=data[0], previous=data[1])
    output = run_fresh_python(
        f"""
import numpy as np, keras
import kerattn  # registers the layers; nothing else
data = np.load({str(tmp_path / "data.npz")!r})
model = keras.saving.load_model({str(tmp_path / "every_layer.keras")!r})
decoded, pooled = model.predict([data["source"], data["previous"]], verbose=0)
np.savez({str(tmp_path / "reloaded.npz")!r}, decoded=decoded, pooled=pooled)
print("reloaded", keras.backend.backend())
"""
    )
    assert f"reloaded {keras.backend.backend()}" in output
    reloaded = np.load(tmp_path / "reloaded.npz")
    np.testing.assert_array_equal(reloaded["decoded"], expected[0])
    np.testing.assert_array_equal(reloaded["pooled"], expected[1])
