"""Every preset exports to a SavedModel that passes the op audit and, loaded the way TF Serving
loads it (TF1 session, tag "serve", the SignatureDef's tensor names) in a fresh process without
kerattn, gives the Keras model's outputs."""

from __future__ import annotations

import pytest

import kerattn
from kerattn.export import op_audit
from kerattn.export.exporter import export_model
from tests.export.conftest import keras_outputs
from tests.export.test_fresh_process_serving import (
    TF1_LOADER,
    assert_same_outputs,
    reload_in_fresh_process,
)

pytestmark = pytest.mark.zoo

TRANSLATOR_INPUTS = [
    "Turn off the lights",
    "",
    "Choose Format - Cells and click the Borders tab to change the borders of the selected cells.",
]
INPUTS = {
    "translator_en_es": TRANSLATOR_INPUTS,
    "translator_en_de": TRANSLATOR_INPUTS + ['Click "%s" to delete the file %1$s.'],
    "g2p_en": ["attention", "", "kerattn", "phonemes"],
    "sentiment_en": ["A wonderful film.", "", "Dull, predictable and far too long."],
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_preset_export_serves_the_keras_outputs(name, tmp_path):
    preset = kerattn.zoo.get_preset(name)
    model = kerattn.zoo.load(name)
    if isinstance(model, kerattn.Translator):
        decoding = {"beam_size": 1, "length_penalty": 0.6, **preset.decoding}
        folder = export_model(model, tmp_path / "models" / name, **decoding)
        expected = {
            "serving_default": keras_outputs(
                lambda texts: model.translate_batch(texts, **decoding), INPUTS[name]
            )
        }
    else:
        folder = export_model(model, tmp_path / "models" / name)
        expected = {"serving_default": keras_outputs(model.classify_batch, INPUTS[name])}
    assert op_audit.disallowed_ops(folder) == []
    assert not any(op.startswith("CudnnRNN") for op in op_audit.saved_model_op_types(folder))
    reloaded = reload_in_fresh_process(TF1_LOADER, folder, expected, INPUTS[name], tmp_path)
    assert_same_outputs(reloaded, expected)
