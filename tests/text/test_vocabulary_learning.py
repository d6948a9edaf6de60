"""Vocabulary learners: determinism, size bound, reserved tokens first, input kinds."""

from __future__ import annotations

import random

import pytest
import tensorflow as tf

from kerattn import text


def test_wordpiece_learning_is_deterministic(corpus):
    first = text.train_wordpiece_vocabulary(corpus, 200)
    shuffled = list(corpus)
    random.Random(7).shuffle(shuffled)
    assert text.train_wordpiece_vocabulary(shuffled, 200) == first
    assert text.train_wordpiece_vocabulary(corpus, 200, batch_size=5) == first


def test_wordpiece_vocabulary_respects_size_and_reserved_tokens(corpus):
    for size in (170, 200, 300):
        vocabulary = text.train_wordpiece_vocabulary(corpus, size)
        assert len(vocabulary) <= size
        assert vocabulary[:4] == list(text.RESERVED_TOKENS)
        assert len(set(vocabulary)) == len(vocabulary)


def test_wordpiece_vocabulary_from_dataset_equals_from_list(corpus):
    from_list = text.train_wordpiece_vocabulary(corpus, 200)
    dataset = tf.data.Dataset.from_tensor_slices(corpus).batch(7)
    assert text.train_wordpiece_vocabulary(dataset, 200) == from_list
    assert text.train_wordpiece_vocabulary(dataset.unbatch(), 200) == from_list


def test_every_character_is_in_the_vocabulary_and_continuations_where_possible(corpus):
    vocabulary = set(text.train_wordpiece_vocabulary(corpus, 200))
    for character in "ñáéíóú¿¡«»'%.,:-":
        assert character in vocabulary
    # Continuation forms exist for characters that occur inside words ("don't", "3.5", "e-mail")
    for character in "ñáéíóú'.,:-":
        assert "##" + character in vocabulary
    # ... and for letters seen only at the start of words ("OK" needs "##K")...
    assert "##K" in vocabulary and "##W" in vocabulary
    # ... but not for punctuation that split_words always separates.
    for character in "¿¡«»%!?;()":
        assert "##" + character not in vocabulary


def test_symbol_learning_is_deterministic_and_ordered_by_frequency():
    words = ["abc", "aab", "cab", "a"]
    vocabulary = text.train_symbol_vocabulary(words)
    assert vocabulary == ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b", "c"]
    assert text.train_symbol_vocabulary(list(reversed(words))) == vocabulary
    assert text.train_symbol_vocabulary(words, max_size=5) == vocabulary[:5]
    assert text.train_symbol_vocabulary(words, min_frequency=3) == vocabulary[:6]


def test_empty_corpus_gives_only_reserved_tokens():
    assert text.train_wordpiece_vocabulary(["", "  "], 100) == list(text.RESERVED_TOKENS)
    assert text.train_symbol_vocabulary([]) == list(text.RESERVED_TOKENS)


def test_too_small_vocabulary_size_is_an_error_not_a_bigger_vocabulary(corpus):
    with pytest.raises(ValueError, match=r"vocabulary_size=100 is too small.*\d+ characters"):
        text.train_wordpiece_vocabulary(corpus, 100)
    # Fewer characters fit: rare ones are left out of the alphabet (and tokenize to [UNK]).
    vocabulary = text.train_wordpiece_vocabulary(corpus, 100, max_unique_characters=40)
    assert len(vocabulary) <= 100


def test_max_distinct_words_learns_from_the_most_frequent_words_only(corpus):
    vocabulary = text.train_wordpiece_vocabulary(corpus, 400, max_distinct_words=5)
    pieces = [token for token in vocabulary[4:] if len(token.removeprefix("##")) > 1]
    assert pieces == ["the", "and"]
    # The alphabet still covers the whole corpus: no word becomes [UNK].
    tokenizer = text.WordPieceTokenizer(vocabulary)
    assert text.UNKNOWN_ID not in tokenizer.tokenize(corpus).flat_values.numpy()
    assert text.train_wordpiece_vocabulary(corpus, 400, max_distinct_words=5) == vocabulary


def test_bad_arguments_are_rejected(corpus):
    with pytest.raises(ValueError, match="vocabulary_size=3 must be an integer larger"):
        text.train_wordpiece_vocabulary(corpus, 3)
    with pytest.raises(ValueError, match="single string"):
        text.train_wordpiece_vocabulary("Hello world", 100)
    with pytest.raises(ValueError, match="max_size=2"):
        text.train_symbol_vocabulary(corpus, max_size=2)


def test_threshold_search_finds_the_lowest_fitting_threshold_in_few_calls():
    # Sizes like a learner's: an alphabet plus a power law in the threshold, in steps.
    from kerattn.text.vocabulary_learning import _search_threshold

    rng = random.Random(0)
    calls_per_search = []
    for _ in range(200):
        highest_count = rng.choice([50, 1000, 160_000])
        scale, exponent = rng.uniform(800, 40_000), rng.uniform(0.3, 0.9)
        alphabet = rng.randint(50, 900)
        floor = alphabet // 2  # what the search knows: a lower bound (the characters alone)

        def size(threshold, scale=scale, exponent=exponent, alphabet=alphabet):
            return alphabet + int(scale * threshold**-exponent)

        counts = [(f"w{i}", max(1, highest_count // (i + 1))) for i in range(5000)]
        target = rng.randint(alphabet, alphabet + int(scale))
        calls = []

        def learn(threshold, size=size, calls=calls):
            calls.append(threshold)
            return ["x"] * size(threshold)

        fitting = [t for t in range(1, highest_count + 2) if size(t) <= target]
        if fitting:
            assert len(_search_threshold(learn, counts, target, 1, floor)) == size(fitting[0])
        else:
            with pytest.raises(ValueError, match=f"vocabulary_size={target} is too small"):
                _search_threshold(learn, counts, target, 1, floor)
        calls_per_search.append(len(calls))
    # A binary search over thresholds 1..160,001 needs 18 calls.
    assert max(calls_per_search) <= 18
    assert sum(calls_per_search) / len(calls_per_search) < 5
