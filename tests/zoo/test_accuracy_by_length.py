"""Accuracy by text length: hand-counted buckets, the evaluation report's table."""

from __future__ import annotations

import pytest

from kerattn.zoo import metrics


def test_accuracy_by_length_counts_each_bucket():
    texts = ["good", "a b c", "one two three four", "x " * 30, "y " * 900]
    predicted = ["pos", "neg", "pos", "neg", "pos"]
    expected = ["pos", "pos", "pos", "neg", "neg"]
    buckets = metrics.accuracy_by_length(texts, predicted, expected, edges=(0, 4, 25, 100))
    assert [b["bucket"] for b in buckets] == ["0-4", "4-25", "25-100", "100+"]
    assert [b["count"] for b in buckets] == [2, 1, 1, 1]  # a 4-word text is in "4-25"
    assert [b["accuracy"] for b in buckets] == [0.5, 1.0, 1.0, 0.0]
    default = metrics.accuracy_by_length(texts, predicted, expected)
    assert [b["bucket"] for b in default] == [
        "0-25",
        "25-100",
        "100-250",
        "250-500",
        "500-800",
        "800+",
    ]
    assert default[2]["count"] == 0 and default[2]["accuracy"] is None
    assert default[-1] == {
        "bucket": "800+",
        "lower": 800,
        "upper": None,
        "count": 1,
        "accuracy": 0.0,
    }


def test_accuracy_by_length_errors_are_one_clear_sentence():
    with pytest.raises(
        ValueError, match=r"such as \(0, 25, 100, 250, 500, 800\); received edges=\[0, 9, 9\]"
    ):
        metrics.accuracy_by_length(["a"], ["p"], ["p"], edges=[0, 9, 9])
    with pytest.raises(ValueError, match=r"received 2 texts, 1 predictions and 2 labels"):
        metrics.accuracy_by_length(["a", "b"], ["p"], ["p", "q"])
