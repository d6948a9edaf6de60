"""SymbolTokenizer for grapheme→phoneme: a word's characters, its pronunciation's ARPAbet."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerattn import text


def decode(tensor: tf.Tensor) -> list[str]:
    return [value.decode("utf-8") for value in np.atleast_1d(tensor.numpy())]


def test_characters_of_hello_to_ids_and_back(grapheme_tokenizer):
    ids = grapheme_tokenizer.tokenize("hello")
    assert [grapheme_tokenizer.id_to_token(int(i)) for i in ids.numpy()] == list("hello")
    assert decode(grapheme_tokenizer.detokenize(ids)) == ["hello"]
    # CMUdict spells words in capitals; the tokenizer lowercases.
    assert grapheme_tokenizer.tokenize("HELLO").numpy().tolist() == ids.numpy().tolist()


def test_phoneme_strings_round_trip(phoneme_tokenizer):
    phonemes = tf.constant(["HH AH0 L OW1", "W ER1 L D", "D AA1 L"])
    ids = phoneme_tokenizer.tokenize(phonemes, add_start_end=True)
    assert ids.row_lengths().numpy().tolist() == [6, 6, 5]
    assert decode(phoneme_tokenizer.detokenize(ids)) == ["HH AH0 L OW1", "W ER1 L D", "D AA1 L"]
    assert decode(phoneme_tokenizer.detokenize(ids.to_tensor())) == decode(phonemes)


def test_phoneme_whitespace_is_normalized(phoneme_tokenizer):
    ids = phoneme_tokenizer.tokenize("  HH\tAH0  L OW1 ")
    assert decode(phoneme_tokenizer.detokenize(ids)) == ["HH AH0 L OW1"]


def test_vocabulary_is_the_set_seen_in_training(phoneme_tokenizer, grapheme_tokenizer):
    assert sorted(phoneme_tokenizer.get_vocabulary()[4:]) == sorted(
        ["HH", "AH0", "L", "OW1", "W", "ER1", "D", "EH1", "P", "AA1"]
    )
    assert sorted(grapheme_tokenizer.get_vocabulary()[4:]) == sorted(set("helloworldhelpdoll"))
    # Most frequent first: "L" is in every pronunciation.
    assert phoneme_tokenizer.get_vocabulary()[4] == "L"


def test_unknown_symbols_and_reserved_spellings_give_unknown(phoneme_tokenizer, grapheme_tokenizer):
    assert phoneme_tokenizer.tokenize("HH ZH [END] [PAD]").numpy().tolist() == [
        phoneme_tokenizer.token_to_id("HH"), 1, 1, 1,
    ]  # fmt: skip
    ids = grapheme_tokenizer.tokenize("hé!😀").numpy().tolist()
    assert ids == [grapheme_tokenizer.token_to_id("h"), 1, 1, 1]


def test_empty_whitespace_and_non_latin_inputs(grapheme_tokenizer, phoneme_tokenizer):
    for tokenizer in (grapheme_tokenizer, phoneme_tokenizer):
        ids = tokenizer.tokenize(tf.constant(["", "   ", "Привет 你好 😀", "hello"]))
        assert ids.row_lengths().numpy().tolist()[:2] == [0, 0]
        assert np.all(ids.flat_values.numpy() >= 0)
        tokenizer.detokenize(ids)


def test_batch_and_single_give_the_same_ids(grapheme_tokenizer):
    words = ["hello", "world", "", "doll"]
    batch = grapheme_tokenizer.tokenize(tf.constant(words))
    for index, word in enumerate(words):
        assert grapheme_tokenizer.tokenize(word).numpy().tolist() == batch[index].numpy().tolist()


def test_spaces_are_character_tokens_when_seen_in_training():
    vocabulary = text.train_symbol_vocabulary(["new york", "la paz"])
    assert " " in vocabulary
    tokenizer = text.SymbolTokenizer(vocabulary)
    assert decode(tokenizer.detokenize(tokenizer.tokenize("new  york"))) == ["new york"]


def test_invalid_settings_and_vocabularies_are_rejected():
    with pytest.raises(ValueError, match="split='words'.*characters"):
        text.SymbolTokenizer(split="words")
    with pytest.raises(ValueError, match="'ab' is not a single character"):
        text.SymbolTokenizer(list(text.RESERVED_TOKENS) + ["ab"], split="characters")
    with pytest.raises(ValueError, match="'A B' contains whitespace"):
        text.SymbolTokenizer(list(text.RESERVED_TOKENS) + ["A B"], split="whitespace")
