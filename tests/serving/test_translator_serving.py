"""The tiny translator export served over REST (slow: exporting traces beam search twice)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerattn.serving.model_manager import ModelConfig, ModelManager
from tests.serving.conftest import rest_client
from tests.zoo.conftest import ENGLISH

pytestmark = pytest.mark.slow


def test_row_request_gives_translation_and_attention(translator_base):
    texts = [ENGLISH[0], "Привет 😀 ¿qué?"]
    expected = tf.saved_model.load(str(translator_base / "1")).signatures["greedy"](
        text=tf.constant(texts)
    )
    manager = ModelManager([ModelConfig("translator", str(translator_base))])
    manager.poll_once()
    with rest_client(manager, num_threads=2) as client:
        reply = client.post(
            "/v1/models/translator:predict", {"signature_name": "greedy", "instances": texts}
        )
        assert reply.status == 200, reply.body
        predictions = reply.json()["predictions"]
        assert len(predictions) == 2
        for index, prediction in enumerate(predictions):
            assert prediction["translation"] == expected["translation"][index].numpy().decode()
            np.testing.assert_allclose(
                np.array(prediction["attention"], np.float32),
                expected["attention"][index].numpy(),
                rtol=1e-6,
                atol=1e-7,
            )
        beam = client.post("/v1/models/translator:predict", {"instances": [ENGLISH[2]]})
        assert beam.status == 200 and isinstance(beam.json()["predictions"][0]["translation"], str)
