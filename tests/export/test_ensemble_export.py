"""An ensemble exports as one SavedModel that answers as the Python ensemble does, in a fresh
process without kerattn (slow: traces beam search)."""

from __future__ import annotations

import numpy as np
import pytest

from kerattn.export.exporter import export_model
from kerattn.zoo import ensembles
from tests.export.conftest import (
    BEAM_SIZE,
    CLASSIFIER_INPUTS,
    TRANSLATOR_INPUTS,
    call_signatures_in_fresh_process,
    keras_outputs,
)
from tests.zoo.conftest import other_seed

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["translator", "classifier"])
def test_ensemble_export_answers_as_the_python_ensemble(kind, translator, classifier, tmp_path):
    model = translator if kind == "translator" else classifier
    ensemble = ensembles.join([model, other_seed(model, 1)])
    folder = export_model(ensemble, tmp_path / "models" / kind, beam_size=BEAM_SIZE)
    if kind == "translator":
        function = lambda t: ensemble.translate_batch(t, beam_size=BEAM_SIZE)  # noqa: E731
        inputs, keys = TRANSLATOR_INPUTS, ("translation", "score", "attention")
    else:
        function, inputs, keys = ensemble.classify_batch, CLASSIFIER_INPUTS, ("probabilities",)
    expected = keras_outputs(function, inputs)
    outputs = call_signatures_in_fresh_process(
        folder, {"serving_default": {"text": inputs}}, tmp_path
    )
    for key in keys:
        got, want = outputs[f"serving_default/{key}"], expected[key]
        if want.dtype == object:
            assert list(got) == list(want), key
        else:
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=key)
