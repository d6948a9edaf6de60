"""Sentence splitting in the export: the reloaded SavedModel splits as `translate_batch` does
(slow: exports and reloads the tiny translator)."""

from __future__ import annotations

import numpy as np
import pytest

from kerattn.export import op_audit
from kerattn.export.exporter import export_model, read_export_metadata
from tests.export.conftest import call_signatures_in_fresh_process, keras_outputs
from tests.zoo.conftest import tiny_translator

pytestmark = pytest.mark.slow

SENTENCES = ["Turn off the lights.", "Open the file and save it.", "Where is the menu?"]
TEXTS = [" ".join(SENTENCES), SENTENCES[1], "", " ".join(SENTENCES[::-1])]


@pytest.fixture(scope="module")
def model(english_tokenizer, spanish_tokenizer):
    return tiny_translator(
        english_tokenizer, spanish_tokenizer, max_source_length=12, max_target_length=10
    )


def test_the_export_splits_as_python_does_and_passes_the_op_audit(model, tmp_path):
    folder = export_model(model, tmp_path / "models" / "split", beam_size=2, signatures=["sample"])
    assert op_audit.disallowed_ops(folder) == []
    seeds = np.array([3, 4, 5, 6], np.int64)
    served = call_signatures_in_fresh_process(
        folder,
        {
            "serving_default": {"text": TEXTS},
            "greedy": {"text": TEXTS},
            "sample": {"text": TEXTS, "seed": seeds},
        },
        tmp_path,
    )
    expected = {
        "serving_default": keras_outputs(
            lambda t: model.translate_batch(t, beam_size=2, length_penalty=0.6), TEXTS
        ),
        "greedy": keras_outputs(
            lambda t: model.translate_batch(t, beam_size=1, length_penalty=0.6), TEXTS
        ),
    }
    for signature, outputs in expected.items():
        assert outputs["segments"].tolist() == [3, 1, 1, 3]
        for name, value in outputs.items():
            got, where = served[f"{signature}/{name}"], f"{signature}/{name}"
            if value.dtype == object:
                np.testing.assert_array_equal(got, value, err_msg=where)
            else:
                np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6, err_msg=where)
    sampled = model.translate(TEXTS, decoding="sample", seed=3)
    assert served["sample/translation"][0].decode() == sampled[0].text
    assert served["sample/segments"].tolist() == [3, 1, 1, 3]


def test_an_export_without_splitting_cuts(model, tmp_path):
    folder = export_model(
        model,
        tmp_path / "models" / "cut",
        beam_size=1,
        decoding_options={"split_sentences": False},
    )
    metadata = read_export_metadata(folder)
    assert metadata["signatures"]["serving_default"]["split_sentences"] is False
    served = call_signatures_in_fresh_process(
        folder, {"serving_default": {"text": TEXTS}}, tmp_path
    )
    expected = keras_outputs(
        lambda t: model.translate_batch(t, beam_size=1, split_sentences=False), TEXTS
    )
    assert served["serving_default/segments"].tolist() == [1, 1, 1, 1]
    assert served["serving_default/truncated"].tolist() == [True, False, False, True]
    np.testing.assert_array_equal(served["serving_default/translation"], expected["translation"])


def test_kerattn_export_no_split_sentences_is_the_export_option():
    import kerattn_cli

    parser = kerattn_cli.build_parser()
    argv = ["export", "translator_en_es", "--base-path", "models/translator"]
    assert "split_sentences" not in kerattn_cli._export_decoding_options(parser.parse_args(argv))
    options = kerattn_cli._export_decoding_options(
        parser.parse_args([*argv, "--no-split-sentences"])
    )
    assert options == {"split_sentences": False}
