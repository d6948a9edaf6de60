"""decode_sample: the validation sample is decoded in bounded batches, in order."""

from __future__ import annotations

from types import SimpleNamespace

from kerattn.training import sample_quality


class RecordingClassifier:
    def __init__(self):
        self.batches = []

    def classify(self, texts):
        self.batches.append(list(texts))
        return [SimpleNamespace(label=f"label of {text}") for text in texts]


def test_a_large_sample_is_decoded_in_bounded_batches_and_in_order():
    texts = [f"review {i}" for i in range(2 * sample_quality.SAMPLE_BATCH_SIZE + 5)]
    model = RecordingClassifier()
    outputs = sample_quality.decode_sample(model, "classifier", texts)
    assert outputs == [f"label of {text}" for text in texts]
    assert [len(batch) for batch in model.batches] == [
        sample_quality.SAMPLE_BATCH_SIZE,
        sample_quality.SAMPLE_BATCH_SIZE,
        5,
    ]
    assert sample_quality.decode_sample(model, "classifier", []) == []
