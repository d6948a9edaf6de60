"""The translator export's signatures, metadata and warm-up (slow: traces beam search twice)."""

from __future__ import annotations

import pytest
import tensorflow as tf

from kerattn.export.exporter import checkpoint_variable_names, read_export_metadata
from kerattn.export.warmup import WARMUP_FILE_NAME, read_warmup_requests
from tests.export.conftest import BEAM_SIZE

pytestmark = pytest.mark.slow


def test_signatures_metadata_and_variables(exported_translator, translator):
    folder, _ = exported_translator
    loaded = tf.saved_model.load(str(folder))
    assert sorted(loaded.signatures) == ["greedy", "serving_default"]
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert outputs["attention"].shape.as_list() == [None, None, None]
    assert outputs["attention"].dtype == tf.float32
    assert outputs["translation"].shape.as_list() == [None]
    metadata = read_export_metadata(folder)
    assert metadata["signatures"]["serving_default"]["beam_size"] == BEAM_SIZE
    assert metadata["signatures"]["greedy"]["beam_size"] == 1
    assert metadata["signatures"]["serving_default"]["length_penalty"] == 0.6
    assert metadata["max_source_length"] == translator.max_source_length
    assert metadata["max_target_length"] == translator.max_target_length
    assert len(checkpoint_variable_names(folder)) == len(translator.weights)
    logs = read_warmup_requests(folder / "assets.extra" / WARMUP_FILE_NAME)
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        "serving_default", "greedy", "serving_default"
    ]  # fmt: skip
