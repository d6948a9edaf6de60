"""Model warm-up (docs/serving.md §13): warm-up records replayed before a version is AVAILABLE,
so the first request after a load or reload does not pay for graph initialisation."""

from __future__ import annotations

import shutil
import statistics
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from kerattn.export.warmup import WARMUP_FILE_NAME
from kerattn.serving.model_manager import ModelConfig, ModelManager
from kerattn.serving.model_warmup import warm_up
from tests.serving.conftest import rest_client
from tests.zoo.conftest import ENGLISH


def write_toy_warmup(version_dir, signature_name: str, inputs: dict) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.model_spec.signature_name = signature_name
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    (version_dir / "assets.extra").mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(version_dir / "assets.extra" / WARMUP_FILE_NAME)) as writer:
        log = prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)
        )
        writer.write(log.SerializeToString())


def test_records_are_replayed_and_a_failing_record_fails_the_load(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    write_toy_warmup(tmp_path / "1", "", {"x": np.float32([1.0, 2.0])})
    shutil.copytree(toy_model_dir, tmp_path / "2")
    write_toy_warmup(tmp_path / "2", "nowhere", {"x": np.float32([1.0])})
    manager = ModelManager([ModelConfig("toy", str(tmp_path), policy="all")], poll_wait_seconds=-1)
    manager.poll_once()
    statuses = {status.version: status for status in manager.version_statuses("toy")}
    assert statuses[1].state == "AVAILABLE"
    assert warm_up(manager.servable("toy", 1)) == 1
    assert (statuses[2].state, statuses[2].error_code) == ("END", "FAILED_PRECONDITION")
    assert statuses[2].error_message == (
        'Warm-up record 0: serving signature key "nowhere" not found.'
    )


def test_warmup_off_loads_without_replaying(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    write_toy_warmup(tmp_path / "1", "nowhere", {"x": np.float32([1.0])})
    manager = ModelManager(
        [ModelConfig("toy", str(tmp_path))], poll_wait_seconds=-1, enable_model_warmup=False
    )
    manager.poll_once()
    assert manager.servable("toy").version == 1


def _timed_first_and_warm_median(client, body) -> tuple[float, float]:
    started = time.perf_counter()
    assert client.post("/v1/models/translator:predict", body).status == 200
    first = time.perf_counter() - started
    warm = []
    for _ in range(15):
        started = time.perf_counter()
        assert client.post("/v1/models/translator:predict", body).status == 200
        warm.append(time.perf_counter() - started)
    return first, statistics.median(warm)


@pytest.mark.slow
def test_warm_up_takes_the_first_request_cost_away_after_load_and_reload(translator_base, tmp_path):
    """The tiny translator's export (beam 2 + greedy) and inputs unlike the warm-up texts.

    Timing on a shared machine is noisy, so the test compares against the same server without
    warm-up (about 40x the warm median here) with a wide margin; the issue's target (first
    request <= 2x the warm median) is what bench/RESULTS.md reports.
    """
    body = {"instances": [ENGLISH[0], ENGLISH[1] + " " + ENGLISH[2]]}

    def first_request_costs(warmup: bool) -> list[tuple[float, float]]:
        base = tmp_path / f"translator-{warmup}"
        shutil.copytree(translator_base / "1", base / "1")
        manager = ModelManager(
            [ModelConfig("translator", str(base))], poll_wait_seconds=-1, enable_model_warmup=warmup
        )
        manager.poll_once()
        costs = []
        with rest_client(manager) as client:
            costs.append(_timed_first_and_warm_median(client, body))
            shutil.copytree(translator_base / "1", base / "2")
            manager.poll_once()  # loads (and warms up) version 2, then unloads version 1
            assert manager.servable("translator").version == 2
            costs.append(_timed_first_and_warm_median(client, body))
        return costs

    cold = first_request_costs(warmup=False)
    warmed = first_request_costs(warmup=True)
    for (cold_first, _), (first, warm) in zip(cold, warmed):
        assert first <= cold_first / 4, (first, warm, cold_first)
