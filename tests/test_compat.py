"""kerattn.compat: each wrapped private API exercised for real, and the versions it was checked on."""

from __future__ import annotations

import importlib.metadata

import keras
import pytest
import tensorflow as tf

from kerattn import compat


@pytest.mark.parametrize("distribution", sorted(compat.CHECKED_AGAINST))
def test_installed_versions_are_the_ones_compat_was_checked_against(distribution):
    checked, functions = compat.CHECKED_AGAINST[distribution]
    installed = importlib.metadata.version(distribution)
    assert ".".join(installed.split(".")[:2]) == checked, (
        f"kerattn.compat was checked against {distribution} {checked}, but {distribution} "
        f"{installed} is installed: re-check {', '.join(functions)} in kerattn/compat.py on it "
        f"(tests/test_compat.py exercises each), then set CHECKED_AGAINST[{distribution!r}]."
    )


def test_every_public_function_of_compat_is_pinned():
    pinned = {name for _, functions in compat.CHECKED_AGAINST.values() for name in functions}
    public = {
        name
        for name, value in vars(compat).items()
        if callable(value) and not name.startswith("_") and value.__module__ == compat.__name__
    }
    assert public == pinned


# ---------------------------------------------------------------------------------- keras
def test_nested_layers_reaches_layers_inside_nested_models_and_excludes_the_model():
    inner = keras.Sequential(
        [keras.layers.Dense(3, name="inner_dense"), keras.layers.Dropout(0.1, name="inner_drop")],
        name="inner",
    )
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, name="head")(inner(inputs))
    model = keras.Model(inputs, outputs, name="outer")

    names = [layer.name for layer in compat.nested_layers(model)]
    assert {"inner", "inner_dense", "inner_drop", "head"} <= set(names)
    assert "outer" not in names
    # The public API lists only the direct children; the nested walk is what compat adds.
    assert "inner_dense" not in [layer.name for layer in model.layers]


class _Echo(keras.layers.Layer):
    def call(self, inputs):
        return tf.strings.upper(inputs)


def test_keras_refuses_a_string_positional_argument_without_the_flag():
    with pytest.raises(ValueError, match="positional"):
        _Echo()("text")


def test_allow_non_tensor_positional_args_lets_strings_through():
    layer = _Echo()
    compat.allow_non_tensor_positional_args(layer)
    assert layer("text").numpy() == b"TEXT"
    assert layer(["a", "b"]).numpy().tolist() == [b"A", b"B"]


# ----------------------------------------------------------------------------- tensorflow
def test_registered_op_names_lists_the_op_registry():
    names = compat.registered_op_names()
    assert names == sorted(names)
    assert {"Const", "MatMul", "StatefulPartitionedCall", "PyFunc"} <= set(names)


def test_registered_op_names_includes_tf_text_ops_once_tf_text_is_imported():
    import tensorflow_text  # noqa: F401  (registers its ops in this process)

    assert "WordpieceTokenizeWithOffsets" in compat.registered_op_names()


def test_library_op_names_lists_what_a_tf_text_library_registers():
    import glob
    import os

    import tensorflow_text

    library = os.path.join(
        os.path.dirname(tensorflow_text.__file__), "python", "ops", "_wordpiece_tokenizer.so"
    )
    assert glob.glob(library), library
    assert compat.library_op_names(library) == ["WordpieceTokenizeWithOffsets"]


def test_an_xla_compilation_failure_is_recognised():
    @tf.function(jit_compile=True)
    def gradient_through_growing_list(x, steps):
        # The trainer's case: a gradient through a TensorArray of unbounded size.
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            _, values = tf.while_loop(
                lambda i, _: i < steps,
                lambda i, values: (i + 1, values.write(i, x * tf.cast(i, tf.float32))),
                [0, values],
            )
            total = tf.reduce_sum(values.stack())
        return tape.gradient(total, x)

    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        gradient_through_growing_list(tf.constant(2.0), tf.constant(3))
    assert compat.is_xla_compilation_error(raised.value)


def test_other_errors_are_not_taken_for_xla_failures():
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        tf.reshape(tf.range(6), [4, 4])
    assert not compat.is_xla_compilation_error(raised.value)
    assert not compat.is_xla_compilation_error(ValueError("XLA"))


# ------------------------------------------------------------------------ tensorflow-text
RESERVED = ["[PAD]", "[UNK]", "[START]", "[END]"]


def test_wordpiece_learner_words_filters_long_reserved_and_rare_character_words():
    counts = [("[UNK]", 9), ("aaab", 5), ("ab", 7), ("abcdefgh", 3), ("az", 1), ("ba", 4)]
    words, alphabet = compat.wordpiece_learner_words(
        counts,
        reserved_tokens=RESERVED,
        max_token_length=5,
        max_unique_characters=2,
        max_distinct_words=None,
    )
    assert alphabet == {"a", "b"}
    # Most frequent first; reserved, too long and "z"-containing words dropped.
    assert words == [("ab", 7), ("aaab", 5), ("ba", 4)]

    limited, _ = compat.wordpiece_learner_words(
        counts,
        reserved_tokens=RESERVED,
        max_token_length=5,
        max_unique_characters=2,
        max_distinct_words=1,
    )
    assert limited == [("ab", 7)]


def test_wordpiece_learner_vocabulary_learns_pieces_above_the_threshold():
    words = [("low", 20), ("lower", 10), ("lowest", 8), ("new", 2)]

    def learn(threshold):
        return compat.wordpiece_learner_vocabulary(
            words, threshold, reserved_tokens=RESERVED, max_token_length=10, num_iterations=4
        )

    vocabulary = learn(5)
    assert vocabulary[:4] == RESERVED
    assert {"l", "o", "w", "##o", "##w", "low"} <= set(vocabulary)
    assert "new" not in vocabulary  # seen twice, under the threshold
    assert len(learn(100)) < len(vocabulary) < len(learn(1))
    assert learn(5) == vocabulary  # deterministic


def test_store_float16_weights_halves_the_file_and_loads_rounded_float32_weights(tmp_path):
    import keras
    import numpy as np

    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(64)(keras.layers.Dense(256)(inputs)))
    path = tmp_path / "model.keras"
    model.save(path)
    size = path.stat().st_size
    compat.store_float16_weights(path)
    assert path.stat().st_size < 0.6 * size
    loaded = keras.saving.load_model(path)
    for original, stored in zip(model.weights, loaded.weights, strict=True):
        assert stored.dtype == "float32"
        np.testing.assert_array_equal(
            np.asarray(stored), np.asarray(original).astype(np.float16).astype(np.float32)
        )


def test_store_float16_weights_refuses_weights_beyond_float16_and_keeps_the_file(tmp_path):
    import keras

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.layers[1].kernel.assign([[1e6, 0.0], [0.0, 1.0]])
    path = tmp_path / "model.keras"
    model.save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"beyond float16's range .* store this model's"):
        compat.store_float16_weights(path)
    assert path.read_bytes() == before
