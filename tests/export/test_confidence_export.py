"""The export's "confidence" and "low_confidence" outputs (issue 18 §3): a translator with a
confidence threshold exports both from every translating signature, records the threshold,
passes the op audit, and a fresh process without kerattn gets the Python outputs. Slow: traces
beam search several times."""

from __future__ import annotations

import numpy as np
import pytest

from kerattn.export import op_audit
from kerattn.export.exporter import export_model, read_export_metadata
from kerattn.export.serving_module import NBEST_OUTPUTS, TRANSLATOR_OUTPUTS
from tests.export.conftest import (
    TRANSLATOR_INPUTS,
    call_signatures_in_fresh_process,
    keras_outputs,
)
from tests.zoo.conftest import tiny_translator

pytestmark = pytest.mark.slow

SEEDS = [3, 3, 4, 5, 9]


@pytest.fixture(scope="module")
def calibrated(english_tokenizer, spanish_tokenizer):
    """The tiny translator with a threshold that flags some of TRANSLATOR_INPUTS, not all."""
    model = tiny_translator(english_tokenizer, spanish_tokenizer)
    confidences = sorted(result.confidence for result in model.translate(TRANSLATOR_INPUTS[:2]))
    model.confidence_threshold = float(np.mean(confidences))
    return model


@pytest.fixture(scope="module")
def exported(calibrated, tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / "models" / "translator"
    return export_model(calibrated, base, beam_size=2, signatures=("nbest", "sample"))


def test_every_translating_signature_describes_both_outputs(exported, calibrated):
    assert op_audit.disallowed_ops(exported) == []
    metadata = read_export_metadata(exported)
    assert metadata["confidence_threshold"] == calibrated.confidence_threshold
    assert metadata["model_config"]["confidence_threshold"] == calibrated.confidence_threshold
    signatures = metadata["signatures"]
    for name in ("serving_default", "greedy", "sample"):
        assert signatures[name]["outputs"] == [*TRANSLATOR_OUTPUTS, "low_confidence"]
    assert signatures["nbest"]["outputs"] == [*NBEST_OUTPUTS, "low_confidence"]
    assert "confidence" in TRANSLATOR_OUTPUTS


def test_a_fresh_process_gets_the_python_confidences(exported, calibrated, tmp_path):
    text = {"text": TRANSLATOR_INPUTS}
    calls = {
        "serving_default": text,
        "greedy": text,
        "nbest": text,
        "sample": {**text, "seed": np.array(SEEDS, np.int64)},
    }
    reloaded = call_signatures_in_fresh_process(exported, calls, tmp_path)
    expected = {
        "serving_default": keras_outputs(
            lambda t: calibrated.translate_batch(t, beam_size=2, length_penalty=0.6),
            TRANSLATOR_INPUTS,
        ),
        "greedy": keras_outputs(
            lambda t: calibrated.translate_batch(t, beam_size=1, length_penalty=0.6),
            TRANSLATOR_INPUTS,
        ),
        "nbest": keras_outputs(
            lambda t: calibrated.translate_batch(t, beam_size=2, num_hypotheses=2),
            TRANSLATOR_INPUTS,
        ),
    }
    for signature, outputs in expected.items():
        for name in ("confidence", "low_confidence"):
            np.testing.assert_allclose(
                reloaded[f"{signature}/{name}"], outputs[name], atol=1e-6, err_msg=signature
            )
    confidence = reloaded["serving_default/confidence"]
    assert confidence.shape == (len(TRANSLATOR_INPUTS),)
    assert np.all((confidence >= 0) & (confidence <= 1))
    assert confidence[TRANSLATOR_INPUTS.index("")] == 1.0  # the empty input
    np.testing.assert_array_equal(
        reloaded["serving_default/low_confidence"], confidence < calibrated.confidence_threshold
    )
    flagged = reloaded["serving_default/low_confidence"].tolist()
    assert True in flagged and False in flagged
    assert reloaded["nbest/confidence"].shape == (len(TRANSLATOR_INPUTS), 2)
    python = calibrated.translate(TRANSLATOR_INPUTS, beam_size=2)
    np.testing.assert_allclose(confidence, [r.confidence for r in python], atol=1e-6)
    for row, (text, seed) in enumerate(zip(TRANSLATOR_INPUTS, SEEDS)):
        sampled = calibrated.translate(text, decoding="sample", seed=seed)
        assert reloaded["sample/confidence"][row] == pytest.approx(sampled.confidence, abs=1e-6)
        assert bool(reloaded["sample/low_confidence"][row]) is sampled.low_confidence
