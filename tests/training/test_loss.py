"""The masked token cross-entropy with label smoothing against numpy."""

import numpy as np
import pytest

from kerattn.training.loss import token_cross_entropy


def _numpy_reference(logits, targets, weights, smoothing):
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    vocabulary = logits.shape[-1]
    soft = np.full(logits.shape, smoothing / vocabulary)
    np.put_along_axis(soft, targets[..., None], 1 - smoothing + smoothing / vocabulary, axis=-1)
    return -(soft * log_probs).sum(-1) * weights


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_matches_cross_entropy_against_a_smoothed_target(smoothing):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    targets = np.array([[1, 4, 0], [2, 0, 0]], "int32")
    weights = (targets != 0).astype("float32")
    result = np.asarray(token_cross_entropy(logits, targets, weights, smoothing))
    np.testing.assert_allclose(
        result, _numpy_reference(logits, targets, weights, smoothing), rtol=1e-5, atol=1e-6
    )
    assert (result[weights == 0] == 0).all()  # padding contributes nothing


def test_float16_logits_are_computed_in_float32():
    logits = np.array([[[30.0, -30.0]]], "float16")
    result = token_cross_entropy(logits, np.array([[1]], "int32"), np.ones((1, 1), "float32"))
    assert result.dtype.name == "float32"
    assert np.asarray(result)[0, 0] == pytest.approx(60.0, rel=1e-3)
