"""The models learn real toy tasks on CPU: reversal (attention vs none) and keyword sentiment."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn.text import WordPieceTokenizer, train_wordpiece_vocabulary
from kerattn.zoo.classifier import Classifier
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import symbol_tokenizer

pytestmark = pytest.mark.slow

SYMBOLS = "abcdefghij"


def reversal_pairs(count, shortest, longest, seed):
    rng = np.random.default_rng(seed)
    sources, targets = [], []
    for _ in range(count):
        words = list(rng.choice(list(SYMBOLS), size=rng.integers(shortest, longest + 1)))
        sources.append(" ".join(words))
        targets.append(" ".join(words[::-1]))
    return sources, targets


def train_reverser(attention: str) -> Translator:
    keras.utils.set_random_seed(0)
    tokenizer = symbol_tokenizer(SYMBOLS)
    model = Translator(
        tokenizer,
        tokenizer,
        embedding_dim=32,
        units=64,
        dropout=0.0,
        attention=attention,
        max_source_length=24,
        max_target_length=24,
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0))
    sources, targets = reversal_pairs(64 * 800, 3, 8, seed=0)
    dataset = (
        tf.data.Dataset.from_tensor_slices((sources, targets)).batch(64).map(model.prepare_batch)
    )
    model.fit(dataset, epochs=1, verbose=0)
    return model


def exact_match(model, sources, targets):
    return float(np.mean([r.text == t for r, t in zip(model.translate(sources), targets)]))


@pytest.fixture(scope="module")
def reversers():
    return {attention: train_reverser(attention) for attention in ("luong_general", "none")}


def test_attention_reverses_sequences_and_aligns_on_the_anti_diagonal(reversers):
    model = reversers["luong_general"]
    sources, targets = reversal_pairs(400, 3, 8, seed=1)
    assert exact_match(model, sources, targets) >= 0.99
    on_anti_diagonal = []
    for result in model.translate(sources[:100]):
        length = len(result.source_tokens) - 1  # [END] excluded
        argmax = result.attention[:length].argmax(-1)
        on_anti_diagonal.append(np.mean(argmax == np.arange(length)[::-1]))
    assert np.mean(on_anti_diagonal) >= 0.95


def test_the_no_attention_baseline_does_worse_on_long_sequences(reversers):
    short, short_targets = reversal_pairs(200, 3, 4, seed=2)
    long, long_targets = reversal_pairs(200, 7, 8, seed=3)
    with_attention = exact_match(reversers["luong_general"], long, long_targets)
    without = exact_match(reversers["none"], long, long_targets)
    assert exact_match(reversers["none"], short, short_targets) >= 0.9  # it did learn
    assert without <= with_attention - 0.05, (without, with_attention)


def test_classifier_learns_a_keyword_task_and_attends_to_the_keyword():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    fillers = "the a film story actor scene plot it was and then with of".split()
    keywords = {"excellent": 1, "awful": 0}

    def sample(count):
        texts, labels = [], []
        for _ in range(count):
            words = list(rng.choice(fillers, size=rng.integers(4, 12)))
            keyword = rng.choice(list(keywords))
            words.insert(rng.integers(0, len(words) + 1), keyword)
            texts.append(" ".join(words))
            labels.append(keywords[keyword])
        return texts, labels

    texts, labels = sample(3000)
    tokenizer = WordPieceTokenizer(
        train_wordpiece_vocabulary(texts[:500], 100, lowercase=True), lowercase=True
    )
    model = Classifier(tokenizer, ["negative", "positive"], embedding_dim=16, units=8, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    dataset = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(32).map(model.prepare_batch)
    model.fit(dataset, epochs=4, verbose=0)
    test_texts, test_labels = sample(200)
    results = model.classify(test_texts)
    accuracy = np.mean(
        [r.label == ["negative", "positive"][y] for r, y in zip(results, test_labels)]
    )
    on_keyword = np.mean([r.tokens[int(np.argmax(r.token_weights))] in keywords for r in results])
    weight_on_keyword = np.mean(
        [sum(w for t, w in zip(r.tokens, r.token_weights) if t in keywords) for r in results]
    )
    assert accuracy >= 0.97
    assert on_keyword >= 0.9
    assert weight_on_keyword > 0.5  # most of the weight, not merely the largest share
