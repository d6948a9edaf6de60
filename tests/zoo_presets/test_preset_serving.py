"""The translator_en_es preset exported and served over REST by `kerattn serve`'s server: the
served translation is the Keras model's, and its attention is a distribution over the source."""

from __future__ import annotations

import numpy as np
import pytest

import kerattn
from kerattn.export.exporter import export_model
from kerattn.serving.model_manager import ModelConfig, ModelManager
from tests.serving.conftest import rest_client

pytestmark = pytest.mark.zoo

TEXT = "Turn off the lights"
# Longer than TEXT, so TEXT's row in a batch with it has padded source tokens.
LONGER_TEXT = "Choose Format - Cells and click the Borders tab to change the borders."


def assert_attention_over_real_source(prediction: dict, padded: bool) -> None:
    """`attention` is [T, S] (target tokens × source tokens): every row of a real target token
    sums to 1 over the real source tokens; padding, source columns and target rows, is 0."""
    attention = np.array(prediction["attention"], np.float64)
    real_target = np.array(prediction["target_tokens"]) != ""
    real_source = np.array(prediction["source_tokens"]) != ""
    assert attention.shape == (len(real_target), len(real_source))
    assert real_target.any() and real_source.any()
    assert (~real_source).any() == padded
    np.testing.assert_allclose(
        attention[real_target][:, real_source].sum(axis=1), 1.0, rtol=0, atol=1e-5
    )
    assert not attention[:, ~real_source].any()
    assert not attention[~real_target].any()


def test_translator_preset_served_over_rest(tmp_path):
    model = kerattn.zoo.load("translator_en_es")
    base = tmp_path / "translator_en_es"
    export_model(model, base, beam_size=4)
    manager = ModelManager([ModelConfig("translator_en_es", str(base))])
    manager.poll_once()
    with rest_client(manager) as client:
        reply = client.post("/v1/models/translator_en_es:predict", {"instances": [TEXT]})
        batch_reply = client.post(
            "/v1/models/translator_en_es:predict", {"instances": [TEXT, LONGER_TEXT]}
        )
    assert reply.status == 200, reply.body
    (prediction,) = reply.json()["predictions"]
    assert prediction["translation"] == model.translate(TEXT, beam_size=4).text
    assert_attention_over_real_source(prediction, padded=False)
    assert batch_reply.status == 200, batch_reply.body
    assert_attention_over_real_source(batch_reply.json()["predictions"][0], padded=True)
