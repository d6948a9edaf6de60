"""`kerattn demo`: trains a tiny attention model to reverse digit sequences and shows where it
looks. The main job until the pretrained zoo ships; it exercises the layers end to end."""

from __future__ import annotations

import numpy as np

_VOCABULARY = ["<pad>", "<start>"] + [str(digit) for digit in range(10)]
_LENGTH = 6


def _reversal_data(count: int, rng: np.random.Generator):
    """Sources of 3..6 digits (right-padded) and their reversals, as token ids."""
    source = np.zeros((count, _LENGTH), "int32")
    target = np.zeros((count, _LENGTH), "int32")
    for row, length in enumerate(rng.integers(3, _LENGTH + 1, size=count)):
        digits = rng.integers(2, len(_VOCABULARY), size=length)
        source[row, :length] = digits
        target[row, :length] = digits[::-1]
    previous = np.concatenate([np.ones((count, 1), "int32"), target[:, :-1]], axis=1)
    previous *= target > 0
    return source, previous, target


def _build_model():
    import keras

    from kerattn import layers

    source = keras.Input((None,), dtype="int32", name="source")
    previous = keras.Input((None,), dtype="int32", name="previous_target")
    encoded = layers.AttentionBiLSTMEncoder(32, output_units=64, name="encoder")(
        keras.layers.Embedding(len(_VOCABULARY), 16, mask_zero=True)(source)
    )
    decoded, attention = layers.AttentionDecoder(64, attention="bahdanau", name="decoder")(
        keras.layers.Embedding(len(_VOCABULARY), 16, mask_zero=True)(previous),
        encoded["sequence"],
        initial_state=[encoded["state_h"], encoded["state_c"]],
        memory_mask=encoded["mask"],
        return_attention_scores=True,
    )
    logits = keras.layers.Dense(len(_VOCABULARY), name="logits")(decoded)
    return keras.Model([source, previous], logits), keras.Model([source, previous], attention)


def run(steps: int = 300, seed: int = 0) -> int:
    """Trains for `steps` batches of 64 and prints the attention matrix of one example."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model, attention_model = _build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    source, previous, target = _reversal_data(64 * steps, rng)
    print(f"Training a BiLSTM + Bahdanau attention model to reverse digits ({steps} steps)...")
    history = model.fit([source, previous], target, batch_size=64, epochs=1, verbose=0)
    print(f"loss: {history.history['loss'][-1]:.4f}")

    test_source, test_previous, test_target = _reversal_data(1, np.random.default_rng(seed + 1))
    prediction = model.predict([test_source, test_previous], verbose=0).argmax(-1)[0]
    weights = attention_model.predict([test_source, test_previous], verbose=0)[0]
    length = int((test_source[0] > 0).sum())
    source_tokens = [_VOCABULARY[i] for i in test_source[0, :length]]
    output_tokens = [_VOCABULARY[i] for i in prediction[:length]]
    print(f"source:    {' '.join(source_tokens)}")
    print(f"reversed:  {' '.join(output_tokens)} (teacher-forced)")
    print("attention (rows: output tokens, columns: source tokens):")
    print("      " + " ".join(f"{token:>5}" for token in source_tokens))
    for token, row in zip(output_tokens, weights[:length, :length]):
        print(f"{token:>5} " + " ".join(f"{weight:5.2f}" for weight in row))
    return 0
