"""Classifier: labels, token weights, batch invariance, round trips and bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn.zoo.classifier import Classifier
from kerattn.zoo.model_load_error import ModelLoadError
from kerattn.zoo.model_loading import load_model

REVIEWS = ["A great film.", "A terrible, boring film!", "great acting", "Boring."]


@pytest.fixture(scope="module", params=["bahdanau", "luong"])
def classifier(request, review_tokenizer):
    keras.utils.set_random_seed(0)
    return Classifier(
        review_tokenizer,
        ["negative", "positive"],
        embedding_dim=8,
        units=8,
        pooling=request.param,
        max_length=12,
    )


def test_classify_returns_label_probabilities_and_token_weights(classifier):
    results = classifier.classify(REVIEWS)
    assert len(results) == len(REVIEWS)
    for result in results:
        assert result.label in ("negative", "positive")
        assert result.label == max(result.probabilities, key=result.probabilities.get)
        np.testing.assert_allclose(sum(result.probabilities.values()), 1.0, atol=1e-6)
        assert len(result.token_weights) == len(result.tokens) > 0
        np.testing.assert_allclose(result.token_weights.sum(), 1.0, atol=1e-5)
    assert classifier.classify(REVIEWS[0]).label == results[0].label


def test_batch_composition_never_changes_a_result(classifier):
    alone = classifier.classify([REVIEWS[2]])[0]
    batched = classifier.classify([" ".join(REVIEWS * 5), REVIEWS[2], REVIEWS[0]])[1]
    assert batched.tokens == alone.tokens and batched.label == alone.label
    for label in classifier.labels:
        np.testing.assert_allclose(
            batched.probabilities[label], alone.probabilities[label], atol=1e-6
        )
    np.testing.assert_allclose(batched.token_weights, alone.token_weights, atol=1e-6)


def test_empty_long_and_unknown_inputs(classifier):
    empty, long, foreign = classifier.classify(["  ", " ".join(REVIEWS * 5), "Привет 你好"])
    assert empty.tokens == [] and len(empty.token_weights) == 0 and not empty.truncated
    assert empty.label is None and empty.probabilities == {}  # nothing to classify, no guess
    assert long.truncated and len(long.tokens) == classifier.max_length
    assert "[UNK]" in foreign.tokens


def test_keras_file_round_trip_classifies_identically(classifier, tmp_path):
    classifier.save(tmp_path / "classifier.keras")
    restored = keras.saving.load_model(tmp_path / "classifier.keras")
    assert isinstance(restored, Classifier) and restored.labels == classifier.labels
    for a, b in zip(classifier.classify(REVIEWS), restored.classify(REVIEWS)):
        assert a.label == b.label and a.tokens == b.tokens
        np.testing.assert_array_equal(a.token_weights, b.token_weights)


def test_a_file_saved_before_the_backbone_split_is_named_as_such(classifier, tmp_path):
    import zipfile

    import h5py

    classifier.save(tmp_path / "new.keras")
    old = tmp_path / "old.keras"  # the same archive with the weights laid out without a backbone
    with zipfile.ZipFile(tmp_path / "new.keras") as new, zipfile.ZipFile(old, "w") as archive:
        for item in new.namelist():
            if item != "model.weights.h5":
                archive.writestr(item, new.read(item))
        (tmp_path / "weights.h5").write_bytes(new.read("model.weights.h5"))
        with h5py.File(tmp_path / "weights.h5", "r+") as weights:
            for group in list(weights["backbone/layers"]):
                weights.move(f"backbone/layers/{group}", group)
            del weights["backbone"]
        archive.write(tmp_path / "weights.h5", "model.weights.h5")
    assert load_model(tmp_path / "new.keras").labels == classifier.labels
    with pytest.raises(
        ModelLoadError,
        match=r"holds a Classifier saved before kerattn split its "
        r"models into backbone, preprocessor and task, .* zoo/README.md",
    ):
        load_model(old)


def test_fit_step_runs_on_prepared_batches(classifier):
    # A config carries no vocabulary (it is an asset), so the clone shares the tokenizer.
    config = {**classifier.get_config(), "tokenizer": classifier.tokenizer}
    clone = Classifier(
        **{k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")}
    )
    clone.set_weights(classifier.get_weights())
    clone.compile()
    dataset = (
        tf.data.Dataset.from_tensor_slices((REVIEWS, [1, 0, 1, 0]))
        .batch(2)
        .map(clone.prepare_batch)
    )
    history = clone.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "accuracy" in history.history


@pytest.mark.parametrize(
    "labels",
    [["only"], ["a", "a"], ["a", ""]],
)
def test_invalid_labels_fail_clearly(review_tokenizer, labels):
    with pytest.raises(
        ValueError, match=r"`labels` must be at least two unique, non-empty strings"
    ):
        Classifier(review_tokenizer, labels)


def test_bad_classify_input_fails_clearly(classifier):
    with pytest.raises(TypeError, match=r"`texts` must be a string or a list of strings"):
        classifier.classify([b"bytes"])
