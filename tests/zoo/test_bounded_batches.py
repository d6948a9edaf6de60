"""A long list of texts runs in batches of at most `batch_size` (default `PREDICT_BATCH_SIZE`:
bounded memory), and every text gets the result it gets alone: translate (beam and sampling),
score, classify, logits."""

from __future__ import annotations

import numpy as np
import pytest

from kerattn.errors import UsageError
from kerattn.zoo import task
from tests.zoo.conftest import tiny_classifier

SOURCES = ["the cat", "a dog runs", "", "the house is big", "cat", "dogs and cats", "run"]


@pytest.fixture
def batches_of_three(monkeypatch):
    """PREDICT_BATCH_SIZE 3, and the sizes of the batches each traced function receives."""
    monkeypatch.setattr(task, "PREDICT_BATCH_SIZE", 3)
    sizes = []
    original = task.batch_ranges

    def recording(count, batch_size=None):
        parts = original(count, batch_size)
        sizes.extend(len(part) for part in parts)
        return parts

    monkeypatch.setattr(task, "batch_ranges", recording)
    return sizes


def test_batch_ranges_cover_every_row_once_in_order():
    assert task.batch_ranges(0) == []
    rows = task.batch_ranges(2 * task.PREDICT_BATCH_SIZE + 5)
    assert [len(part) for part in rows] == [task.PREDICT_BATCH_SIZE] * 2 + [5]
    assert [row for part in rows for row in part] == list(range(2 * task.PREDICT_BATCH_SIZE + 5))
    assert [list(part) for part in task.batch_ranges(5, 2)] == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("batch_size", [0, -3, 2.0, True, "64"])
def test_a_batch_size_that_is_not_a_positive_int_is_refused(translator, batch_size):
    message = (
        "`batch_size` (texts per model call) must be an int >= 1; received "
        f"batch_size={batch_size!r}."
    )
    with pytest.raises(UsageError) as error:
        translator.translate(["the cat", "a dog"], batch_size=batch_size)
    assert str(error.value) == message
    with pytest.raises(UsageError):
        translator.score(["the cat"], ["el gato"], batch_size=batch_size)
    for call in (  # an empty list is checked too
        lambda: translator.translate([], batch_size=batch_size),
        lambda: translator.score([], [], batch_size=batch_size),
    ):
        with pytest.raises(UsageError, match="^`batch_size` .texts per model call. must be"):
            call()


def test_an_explicit_batch_size_sets_the_size_of_each_call(translator, batches_of_three):
    batches_of_three.clear()
    results = translator.translate(SOURCES, batch_size=5)
    assert batches_of_three == [5, 2]
    assert [r.text for r in results] == [r.text for r in translator.translate(SOURCES)]


@pytest.mark.parametrize(
    "options", [{"beam_size": 2}, {"decoding": "sample", "seed": 7, "top_k": 5}]
)
def test_translate_runs_a_long_list_in_bounded_batches(translator, batches_of_three, options):
    alone = [translator.translate(text, **options) for text in SOURCES]
    batches_of_three.clear()
    together = translator.translate(SOURCES, **options)
    assert batches_of_three == [3, 3, 1]
    assert [r.text for r in together] == [r.text for r in alone]
    for a, b in zip(alone, together):
        np.testing.assert_allclose(b.attention, a.attention, atol=1e-5)


def test_score_runs_a_long_list_in_bounded_batches(translator, batches_of_three):
    targets = [result.text for result in translator.translate(SOURCES)]
    alone = [translator.score(s, t) for s, t in zip(SOURCES, targets)]
    batches_of_three.clear()
    together = translator.score(SOURCES, targets)
    assert batches_of_three == [3, 3, 1]
    for a, b in zip(alone, together):
        assert b.log_prob == pytest.approx(a.log_prob, abs=1e-5)


def test_classify_and_logits_run_a_long_list_in_bounded_batches(review_tokenizer, batches_of_three):
    model = tiny_classifier(review_tokenizer)
    reviews = ["a wonderful film", "dull", "", "far too long and dull", "superb", "bad", "ok"]
    alone = [model.classify(text) for text in reviews]
    batches_of_three.clear()
    together = model.classify(reviews)
    assert batches_of_three == [3, 3]  # the empty text is not run
    assert [r.label for r in together] == [r.label for r in alone]
    for a, b in zip(alone, together):
        if a.label is not None:
            for label in model.labels:
                assert b.probabilities[label] == pytest.approx(a.probabilities[label], abs=1e-6)
    batches_of_three.clear()
    logits = model.logits(reviews)
    assert batches_of_three == [3, 3, 1] and logits.shape == (7, 2)
    batches_of_three.clear()
    assert [r.label for r in model.classify(reviews, batch_size=4)] == [r.label for r in alone]
    assert batches_of_three == [4, 2]
    np.testing.assert_allclose(logits, [model.logits(text) for text in reviews], atol=1e-5)
