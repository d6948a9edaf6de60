"""Tokenizers in `.keras` files: config + vocabulary asset restore the vocabulary and ids."""

from __future__ import annotations

import json
import os
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn import text


@keras.saving.register_keras_serializable(package="kerattn_tests")
class TokenBagModel(keras.Model):
    """Embeds the wordpieces and the characters of a string; holds both tokenizers."""

    def __init__(self, tokenizer, characters, vocabulary_size, characters_size, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.characters = characters
        # Sizes are config of their own: a tokenizer restored from config gets its vocabulary
        # only afterwards, from the asset (as in keras-hub, where backbones carry the size).
        self.vocabulary_size = vocabulary_size
        self.characters_size = characters_size
        self.embedding = keras.layers.Embedding(vocabulary_size, 3, name="embedding")
        self.character_embedding = keras.layers.Embedding(characters_size, 3, name="chars")

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        self.character_embedding.build((None, None))
        self.built = True

    def call(self, strings):
        pieces = self.tokenizer(strings).to_tensor()  # [B, T]
        characters = self.characters(strings).to_tensor()  # [B, C]
        return keras.ops.concatenate(
            [
                keras.ops.sum(self.embedding(pieces), axis=1),
                keras.ops.sum(self.character_embedding(characters), axis=1),
            ],
            axis=-1,
        )  # [B, 6]

    def get_config(self):
        return {
            **super().get_config(),
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "characters": keras.saving.serialize_keras_object(self.characters),
            "vocabulary_size": self.vocabulary_size,
            "characters_size": self.characters_size,
        }

    @classmethod
    def from_config(cls, config):
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        config["characters"] = keras.saving.deserialize_keras_object(config["characters"])
        return cls(**config)


def test_keras_file_round_trip_restores_vocabularies_and_ids(tmp_path, tokenizer, corpus):
    characters = text.SymbolTokenizer(
        text.train_symbol_vocabulary(corpus, lowercase=True), lowercase=True, name="characters"
    )
    model = TokenBagModel(
        tokenizer, characters, tokenizer.vocabulary_size(), characters.vocabulary_size()
    )
    model.build()
    strings = tf.constant(corpus[:5] + ["", "Жук 😀"])
    expected = model(strings)
    path = tmp_path / "token_bag.keras"
    keras.saving.save_model(model, path)

    with zipfile.ZipFile(path) as archive:
        vocabulary_files = [name for name in archive.namelist() if name.endswith("vocabulary.txt")]
        config = json.loads(archive.read("config.json"))
    assert len(vocabulary_files) == 2
    assert config["config"]["tokenizer"]["config"]["vocabulary"] is None

    restored = keras.saving.load_model(path)
    assert restored.tokenizer is not tokenizer
    assert restored.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert restored.characters.get_vocabulary() == characters.get_vocabulary()
    assert restored.characters.lowercase and restored.characters.split == "characters"
    assert restored.tokenizer(strings).to_list() == tokenizer(strings).to_list()
    assert restored.characters(strings).to_list() == characters(strings).to_list()
    np.testing.assert_array_equal(restored(strings), expected)


def test_serialized_layer_plus_assets_restores_the_tokenizer(tmp_path, tokenizer, corpus):
    serialized = keras.saving.serialize_keras_object(tokenizer)
    json.dumps(serialized)  # plain JSON: the vocabulary lives in the asset, not here
    tokenizer.save_assets(str(tmp_path))

    restored = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(restored, text.WordPieceTokenizer)
    restored.load_assets(str(tmp_path))
    assert restored.get_config() == tokenizer.get_config()
    assert restored.get_vocabulary() == tokenizer.get_vocabulary()
    assert restored.tokenize(corpus).to_list() == tokenizer.tokenize(corpus).to_list()


def test_config_holds_exactly_the_constructor_arguments(phoneme_tokenizer):
    config = phoneme_tokenizer.get_config()
    for name in ("vocabulary", "split", "normalization_form", "lowercase"):
        assert name in config
    restored = text.SymbolTokenizer.from_config(config)
    restored.set_vocabulary(phoneme_tokenizer.get_vocabulary())
    assert restored.get_config() == config


def test_vocabulary_file_keeps_space_and_unusual_line_separators(tmp_path):
    vocabulary = list(text.RESERVED_TOKENS) + [" ", "\u2028", "\u0085", "é", "\t"]
    path = tmp_path / "vocabulary.txt"
    text.write_vocabulary_file(vocabulary, path)
    assert text.read_vocabulary_file(path) == vocabulary


def test_vocabulary_file_is_written_durably_and_atomically(tmp_path, monkeypatch):
    from kerattn import atomic_files

    vocabulary = list(text.RESERVED_TOKENS) + ["hola"]
    path = tmp_path / "vocabulary.txt"
    text.write_vocabulary_file(vocabulary, path)
    synced = []
    real = atomic_files.fsync_path
    monkeypatch.setattr(
        atomic_files, "fsync_path", lambda target: (synced.append(os.fspath(target)), real(target))
    )
    text.write_vocabulary_file(vocabulary + ["adiós"], path)
    assert os.fspath(tmp_path) in synced  # the rename is durable
    assert any(os.path.basename(name).startswith(".kerattn-") for name in synced)  # the data too

    def full_disk(target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files, "fsync_path", full_disk)
    with pytest.raises(OSError, match="No space left") as raised:
        text.write_vocabulary_file(vocabulary, path)
    assert raised.value.filename == os.fspath(path)
    assert text.read_vocabulary_file(path) == vocabulary + ["adiós"]  # the old file, whole
    assert sorted(child.name for child in tmp_path.iterdir()) == ["vocabulary.txt"]
