"""`--monitoring_config_file`: TF Serving's metrics on the REST port in Prometheus text format,
scraped from real servers and parsed with prometheus_client's parser (docs/serving.md §10)."""

from __future__ import annotations

import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import kerattn_cli as cli
from kerattn.errors import UsageError
from kerattn.serving import model_server, monitoring
from kerattn.serving.grpc_server import GrpcServer
from kerattn.serving.model_manager import ModelConfig, ModelManager
from kerattn.serving.rest_server import RestServer
from tests.serving.conftest import Client

# TF Serving's servables/tensorflow/testdata/monitoring_config.txt.
TF_SERVING_CONFIG = (
    'prometheus_config: {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n'
)
PATH = "/monitoring/prometheus/metrics"


@pytest.fixture
def prometheus():
    """Metrics cleared and served at PATH for one test."""
    monitoring.METRICS.clear()
    monitoring.enable_prometheus(PATH)
    yield
    monitoring.enable_prometheus(None)
    monitoring.METRICS.clear()


def _samples(page: str) -> dict:
    """{(sample name, sorted label items): value} of a page, through prometheus_client (whose
    parser names counter samples `<name>_total`; TF Serving's page has no suffix)."""
    return {
        (
            family.name if family.type == "counter" else sample.name,
            tuple(sorted(sample.labels.items())),
        ): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def _grpc_predict(port: int, model: str, values) -> grpc.StatusCode:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.asarray(values, np.float32)))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            stub.Predict(request, timeout=60)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_metrics_page_counts_every_request_with_tf_servings_names(
    prometheus, toy_model_dir, tmp_path
):
    shutil.copytree(toy_model_dir, tmp_path / "7")
    manager = ModelManager([ModelConfig("toy", str(tmp_path))], poll_wait_seconds=-1)
    manager.poll_once()
    rest = RestServer(manager, port=0, num_threads=2)
    client = Client(rest.start_in_thread())
    grpc_server = GrpcServer(manager, port=0, max_threads=2)
    grpc_port = grpc_server.start()
    try:
        for _ in range(5):
            assert client.post("/v1/models/toy:predict", {"instances": [1.0, 2.0]}).status == 200
        for _ in range(3):
            assert client.post("/v1/models/toy:predict", {"instances": ["a"]}).status == 400
        assert client.post("/v1/models/toy:predict", "{").status == 400
        assert client.post("/v1/models/nothing:predict", {"instances": [1.0]}).status == 404
        assert client.get("/v1/models/toy").status == 200
        assert client.get("/v1/models/toy/metadata").status == 200
        assert client.get("/v1/nothing").status == 400  # no model name: counted under ""
        for _ in range(4):
            assert _grpc_predict(grpc_port, "toy", [1.0]) == grpc.StatusCode.OK
        assert _grpc_predict(grpc_port, "nothing", [1.0]) == grpc.StatusCode.NOT_FOUND
        reply = client.get(PATH)
        assert client.get(PATH + "?x=1").status == 400  # TF Serving: "Unexpected path"
    finally:
        grpc_server.stop()
        rest.stop_thread()

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    page = reply.body.decode("utf-8")
    assert "# TYPE :tensorflow:serving:request_count counter\n" in page
    assert "# TYPE :tensorflow:serving:request_latency histogram\n" in page
    assert "# TYPE :tensorflow:cc:saved_model:load_latency counter\n" in page
    samples = _samples(page)
    counts = {
        labels: value
        for (name, labels), value in samples.items()
        if name == ":tensorflow:serving:request_count"
    }
    assert counts == {
        (("model_name", "toy"), ("status", "OK")): 5 + 2 + 4,
        (("model_name", "toy"), ("status", "INVALID_ARGUMENT")): 3 + 1,
        (("model_name", "nothing"), ("status", "NOT_FOUND")): 1 + 1,
        (("model_name", ""), ("status", "INVALID_ARGUMENT")): 1,
    }
    # Latency is recorded for successful requests only, by API and entrypoint.
    latency_counts = {
        labels: value
        for (name, labels), value in samples.items()
        if name == ":tensorflow:serving:request_latency_count"
    }
    assert latency_counts == {
        (("API", "predict"), ("entrypoint", "REST"), ("model_name", "toy")): 5,
        (("API", ""), ("entrypoint", "REST"), ("model_name", "toy")): 2,
        (("API", "Predict"), ("entrypoint", "GRPC"), ("model_name", "toy")): 4,
    }
    buckets = [
        (dict(labels)["le"], value)
        for (name, labels), value in samples.items()
        if name == ":tensorflow:serving:request_latency_bucket" and dict(labels)["API"] == "Predict"
    ]
    assert len(buckets) == 34 and buckets[0][0] == "10" and buckets[-1] == ("+Inf", 4)
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)
    version_path = str(tmp_path / "7")
    assert (
        samples[
            (
                ":tensorflow:cc:saved_model:load_attempt_count",
                (("model_path", version_path), ("status", "success")),
            )
        ]
        == 1
    )
    assert samples[(":tensorflow:cc:saved_model:load_latency", (("model_path", version_path),))] > 0


def test_histogram_text_is_tf_servings_layout():
    metrics = monitoring.ServingMetrics()
    metrics.record_request('m"\\', "predict", "REST", "OK", 15)
    lines = metrics.prometheus_page().splitlines()
    assert lines[0] == "# TYPE :tensorflow:serving:request_count counter"
    assert lines[1] == ':tensorflow:serving:request_count{model_name="m\\"\\\\",status="OK"} 1'
    assert lines[2] == "# TYPE :tensorflow:serving:request_latency histogram"
    prefix = ':tensorflow:serving:request_latency_bucket{model_name="m\\"\\\\",API="predict",'
    assert lines[3:6] == [
        f'{prefix}entrypoint="REST",le="10"}} 0',
        f'{prefix}entrypoint="REST",le="18"}} 1',
        f'{prefix}entrypoint="REST",le="32.4"}} 1',
    ]
    assert lines[-3] == f'{prefix}entrypoint="REST",le="+Inf"}} 1'
    assert lines[-2].endswith("} 15") and lines[-1].endswith("} 1")
    assert monitoring.prometheus_name("/tensorflow/serving/request_count") == (
        ":tensorflow:serving:request_count"
    )


def test_failed_load_is_counted_and_not_timed(prometheus, tmp_path):
    (tmp_path / "3").mkdir()  # no saved_model.pb
    ModelManager([ModelConfig("broken", str(tmp_path))], poll_wait_seconds=-1).poll_once()
    samples = _samples(monitoring.METRICS.prometheus_page())
    path = str(tmp_path / "3")
    assert (
        samples[
            (
                ":tensorflow:cc:saved_model:load_attempt_count",
                (("model_path", path), ("status", "fail")),
            )
        ]
        == 1
    )
    assert (":tensorflow:cc:saved_model:load_latency", (("model_path", path),)) not in samples


def test_metrics_path_is_not_served_unless_enabled(served):
    assert monitoring.prometheus_path() is None
    assert served.get(PATH).status == 404


@pytest.mark.parametrize(
    "text, path",
    [
        (TF_SERVING_CONFIG, PATH),
        ("prometheus_config { enable: true }", PATH),
        ('prometheus_config { enable: true path: "/metrics" }', "/metrics"),
        ('prometheus_config { enable: false path: "/metrics" }', None),
        ("", None),
    ],
)
def test_read_monitoring_config(tmp_path, text, path):
    config = tmp_path / "monitoring.config"
    config.write_text(text)
    assert monitoring.read_monitoring_config(config) == path


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "prometheus_config { enable: tru }",
            "Error parsing text-format tensorflow.serving.MonitoringConfig",
        ),
        ("prometheus_config { enable: true path: 'metrics' }", "must start with '/'"),
    ],
)
def test_unreadable_monitoring_config(tmp_path, text, message):
    config = tmp_path / "monitoring.config"
    config.write_text(text)
    with pytest.raises(UsageError, match=message):
        monitoring.read_monitoring_config(config)


def test_monitoring_config_flag_enables_the_page(tmp_path, monkeypatch, capsys):
    config = tmp_path / "monitoring.config"
    config.write_text('prometheus_config { enable: true path: "/m" }')
    seen = {}
    monkeypatch.setattr(
        model_server,
        "serve",
        lambda manager, **given: seen.update(path=monitoring.prometheus_path()),
    )
    try:
        assert (
            cli.main(
                [
                    "serve",
                    "--model_base_path",
                    str(tmp_path),
                    "--monitoring_config_file",
                    str(config),
                ]
            )
            == 0
        )
    finally:
        monitoring.enable_prometheus(None)
    assert seen == {"path": "/m"}
    config.write_text("prometheus_config {")
    assert (
        cli.main(
            ["serve", "--model_base_path", str(tmp_path), "--monitoring-config-file", str(config)]
        )
        == 2
    )
    assert "Error parsing text-format tensorflow.serving.MonitoringConfig" in (
        capsys.readouterr().err
    )
