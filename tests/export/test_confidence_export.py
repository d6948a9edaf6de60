"""The export's "confidence" and "low_confidence" outputs (issue 18 §3): a translator with a
confidence threshold exports both from every translating signature, records the threshold,
passes the op audit, and a fresh process without kerattn gets the Python outputs. Slow: traces
beam search several times."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerattn.export import op_audit
from kerattn.export.exporter import export_model, read_export_metadata
from kerattn.export.serving_module import NBEST_OUTPUTS, TRANSLATOR_OUTPUTS
from tests.conftest import run_fresh_python
from tests.export.conftest import TRANSLATOR_INPUTS, keras_outputs
from tests.zoo.conftest import tiny_translator

pytestmark = pytest.mark.slow

SEEDS = [3, 3, 4, 5, 9]
LOADER = """
import json
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the tf-text ops, as TF Serving links them in
data = json.loads(open({inputs!r}, encoding="utf-8").read())
loaded = tf.saved_model.load({directory!r})
text = tf.constant(data["text"])
calls = {{
    "serving_default": {{}},
    "greedy": {{}},
    "nbest": {{}},
    "sample": {{"seed": tf.constant(data["seed"], tf.int64)}},
}}
arrays = {{}}
for name, extra in calls.items():
    outputs = loaded.signatures[name](text=text, **extra)
    arrays.update({{name + "/" + k: v.numpy() for k, v in outputs.items()}})
np.savez({result!r}, **arrays)
"""


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
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"text": TRANSLATOR_INPUTS, "seed": SEEDS}), encoding="utf-8")
    result = tmp_path / "outputs.npz"
    run_fresh_python(LOADER.format(inputs=str(inputs), directory=str(exported), result=str(result)))
    reloaded = np.load(result, allow_pickle=True)
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
