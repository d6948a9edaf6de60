"""Server lifecycle: draining in-flight requests on stop and on SIGTERM, concurrency limits,
the REST timeout, hot reload under traffic."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from kerattn.export.exporter import export_model
from kerattn.serving.grpc_server import GrpcServer
from kerattn.serving.model_manager import ModelConfig, ModelManager, read_signature_defs
from kerattn.serving.model_run_queue import ModelRunQueue
from kerattn.serving.model_server import serve
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.rest_server import RestServer
from tests.conftest import free_port
from tests.export.conftest import tiny_classifier
from tests.serving.conftest import Client, assert_json_error, rest_client


class SlowVersion:
    """The toy model's signature defs with a `serving_default` that takes `delay` seconds."""

    delay = 1.0
    running = 0
    peak = 0
    calls = 0
    lock = threading.Lock()

    def __init__(self, name, version, path):
        self.model_name, self.version, self.path = name, version, path
        self.signature_defs = read_signature_defs(path)

        def slow(x):
            with SlowVersion.lock:
                SlowVersion.running += 1
                SlowVersion.calls += 1
                SlowVersion.peak = max(SlowVersion.peak, SlowVersion.running)
            time.sleep(SlowVersion.delay)
            with SlowVersion.lock:
                SlowVersion.running -= 1
            return {"y": x + 1.0}

        self.signatures = {"serving_default": slow}
        self.padded_axes = {}

    def signature_def(self, name):
        return self.signature_defs.get(name)


def wait_until(condition, what: str, seconds: float = 30) -> None:
    """Waits until `condition()` is true; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def wait_until_running(requests: int) -> None:
    """Waits until `requests` calls of the slow signature are running."""
    wait_until(lambda: SlowVersion.running >= requests, f"{requests} running requests")


def grpc_predict(port: int, model: str = "slow", x: float = 1.0) -> list[float]:
    """The `y` a gRPC Predict of `x` gets from the server on `port`."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([x])))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=60
        )
    return tf.make_ndarray(response.outputs["y"]).tolist()


@pytest.fixture
def slow_manager(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    manager = ModelManager([ModelConfig("slow", str(tmp_path))], loader=SlowVersion)
    manager.poll_once()
    return manager


@pytest.fixture
def slow_server(slow_manager):
    server = RestServer(slow_manager, port=0, num_threads=2, run_queue=ModelRunQueue(2))
    client = Client(server.start_in_thread())
    yield server, client
    server.stop_thread()


@pytest.fixture
def slow_grpc_server(slow_manager):
    server = GrpcServer(
        slow_manager, port=0, max_threads=2, max_queued_requests=0, run_queue=ModelRunQueue(2)
    )
    server.start()
    yield server
    server.stop()


def test_stop_drains_in_flight_requests(slow_server):
    server, client = slow_server
    replies = []
    thread = threading.Thread(
        target=lambda: replies.append(client.post("/v1/models/slow:predict", {"instances": [1.0]}))
    )
    thread.start()
    wait_until_running(1)
    server.stop_thread()
    thread.join()
    assert replies[0].status == 200 and replies[0].json() == {"predictions": [2.0]}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", client.port), timeout=2)


def call_concurrently(call, times: int, delay: float) -> None:
    """Runs `call` in `times` threads at once against a slow signature taking `delay` seconds."""
    SlowVersion.peak = 0
    SlowVersion.delay = delay
    try:
        threads = [threading.Thread(target=call) for _ in range(times)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        SlowVersion.delay = 1.0


def test_thread_pool_limits_concurrency(slow_server):
    _, client = slow_server
    call_concurrently(
        lambda: client.post("/v1/models/slow:predict", {"instances": [1.0]}), times=5, delay=0.3
    )
    assert SlowVersion.peak == 2


def test_grpc_stop_drains_in_flight_rpcs(slow_grpc_server):
    results = []
    thread = threading.Thread(target=lambda: results.append(grpc_predict(slow_grpc_server.port)))
    thread.start()
    wait_until_running(1)
    slow_grpc_server.stop()
    thread.join()
    assert results == [[2.0]]
    with pytest.raises(grpc.RpcError) as caught:
        grpc_predict(slow_grpc_server.port)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_rpcs_beyond_max_threads_and_the_queue_are_resource_exhausted(slow_grpc_server):
    """With `max_queued_requests=0` no RPC may wait: the third of five is refused."""
    outcomes = []

    def call() -> None:
        try:
            outcomes.append(grpc_predict(slow_grpc_server.port))
        except grpc.RpcError as error:
            outcomes.append((error.code(), error.details()))

    call_concurrently(call, times=5, delay=0.5)
    assert SlowVersion.peak == 2
    assert outcomes.count([2.0]) == 2
    assert (
        outcomes.count((grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")) == 3
    )


def serve_until_sigterm(manager: ModelManager, port: int, client, **serve_args) -> None:
    """Runs `serve(manager, **serve_args)` here and `client()` in a thread once `port` accepts
    connections; SIGTERM (to this process) follows the client whatever it did, and what the
    client raised is raised here once `serve` has returned."""
    served = threading.Event()
    client_errors = []

    def run_client() -> None:
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and not served.is_set()
                    time.sleep(0.1)
            client()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            client_errors.append(error)
        finally:
            if not served.is_set():  # serve() handles SIGTERM once its ports are open
                os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=run_client)
    thread.start()
    try:
        serve(manager, **serve_args)
    finally:
        served.set()
        thread.join()
    if client_errors:
        raise client_errors[0]


def test_sigterm_drains_both_servers_and_serve_returns(slow_manager):
    grpc_port, rest_port = free_port(), free_port()
    results = {}
    requests = [
        threading.Thread(target=lambda: results.update(grpc=grpc_predict(grpc_port))),
        threading.Thread(
            target=lambda: results.update(
                rest=Client(rest_port).post("/v1/models/slow:predict", {"instances": [1.0]}).json()
            )
        ),
    ]

    def start_requests() -> None:
        for request in requests:
            request.start()
        wait_until_running(2)

    # REST opens after gRPC.
    serve_until_sigterm(
        slow_manager, rest_port, start_requests, grpc_port=grpc_port, rest_api_port=rest_port
    )
    for request in requests:
        request.join()
    assert results == {"grpc": [2.0], "rest": {"predictions": [2.0]}}
    for port in (grpc_port, rest_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2)


def test_rest_port_equal_to_grpc_port_serves_grpc_only(slow_manager, caplog):
    port = free_port()
    results = []
    SlowVersion.delay = 0.0
    try:
        serve_until_sigterm(
            slow_manager,
            port,
            lambda: results.append(grpc_predict(port)),
            grpc_port=port,
            rest_api_port=port,
        )
    finally:
        SlowVersion.delay = 1.0
    assert results == [[2.0]]
    assert (
        "--rest_api_port cannot be the same as --port (%d); skipped exporting the HTTP/REST "
        "API." % port
    ) in caplog.messages


@pytest.mark.slow  # a fresh interpreter importing TensorFlow: ~10-20 s
def test_cli_serve_answers_rest_and_grpc_and_exits_cleanly_on_sigterm(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    rest_port, grpc_port = free_port(), free_port()
    code = (
        "import sys\nimport kerattn_cli as cli\n"
        f"sys.exit(cli.main(['serve', '--model_name', 'toy', '--model_base_path', "
        f"{str(tmp_path)!r}, '--rest_api_port', '{rest_port}', '--port', '{grpc_port}']))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        client = Client(rest_port)
        deadline = time.monotonic() + 120
        while True:
            try:
                reply = client.post("/v1/models/toy:predict", {"instances": [1.0]})
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()[-3000:]
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert reply.json() == {"predictions": [3.0]}
        assert grpc_predict(grpc_port, model="toy") == [3.0]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, process.stderr.read()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_to_start_without_an_available_version(tmp_path):
    (tmp_path / "1").mkdir()  # no saved_model.pb
    with pytest.raises(RuntimeError, match=r"^1 model\(s\) did not become available: .*m.*"):
        serve(ModelManager([ModelConfig("m", str(tmp_path))], poll_wait_seconds=0))


def test_cors_headers_when_enabled(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    manager = ModelManager([ModelConfig("toy", str(tmp_path))])
    manager.poll_once()
    with rest_client(manager, num_threads=1, enable_cors=True) as client:
        for reply in (
            client.get("/v1/models/toy"),
            client.post("/v1/models/toy:predict", b"{"),
            client.request("OPTIONS", "/v1/models/toy", headers={"Origin": "https://example.com"}),
        ):
            assert reply.headers["Access-Control-Allow-Origin"] == "*"
            assert reply.headers["Access-Control-Allow-Methods"] == "POST, GET"
            assert reply.headers["Access-Control-Allow-Headers"] == "Content-Type"


# ---- the REST timeout -------------------------------------------------------------------------


def test_rest_predict_running_past_the_timeout_gets_504_and_the_server_keeps_serving(
    serving_manager,
):
    """A real run (the tiny classifier on 20 000 texts, a batch the limits are raised for:
    about half a second here) against a 100 ms --rest_api_timeout_in_ms."""
    port = free_port()
    replies = {}

    def requests() -> None:
        client = Client(port)
        replies["slow"] = client.post(
            "/v1/models/classifier:predict",
            {"instances": ["a great film and a fine story"] * 20_000},
        )
        # The timed-out run goes on in one worker thread; the other one answers these.
        replies["status"] = client.get("/v1/models/classifier")
        replies["toy"] = client.post("/v1/models/toy:predict", {"instances": [1.0]})

    serve_until_sigterm(
        serving_manager,
        port,
        requests,
        grpc_port=0,
        rest_api_port=port,
        rest_api_num_threads=2,
        rest_api_timeout_in_ms=100,
        limits=RequestLimits(max_batch_size_per_request=20_000),
    )
    assert_json_error(replies["slow"], 504, "Timed out waiting for notification")
    assert replies["status"].status == 200
    assert replies["toy"].json() == {"predictions": [3.0]}


@pytest.mark.parametrize("timeout_in_ms", [0, -1])
def test_rest_timeout_of_zero_or_less_is_no_limit(serving_manager, timeout_in_ms):
    with rest_client(serving_manager, timeout_in_ms=timeout_in_ms) as client:
        assert client.post("/v1/models/toy:predict", {"instances": [1.0]}).json() == {
            "predictions": [3.0]
        }


# ---- hot reload under traffic -----------------------------------------------------------------

REVIEW = "a great film and a fine story"


def classify_over_grpc(stub) -> tuple[str, int]:
    """(label, version that answered) of a gRPC Predict of REVIEW."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "classifier"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto([REVIEW]))
    response = stub.Predict(request, timeout=60)
    return tf.make_ndarray(response.outputs["label"])[0].decode(), response.model_spec.version.value


def classify_over_rest(port: int) -> tuple[str, None]:
    """(label, None: REST does not say which version answered) of a REST predict of REVIEW."""
    reply = Client(port).post("/v1/models/classifier:predict", {"instances": [REVIEW]})
    assert reply.status == 200, reply.body
    return reply.json()["predictions"][0]["label"], None


def model_states(port: int) -> list[tuple[str, str]]:
    statuses = Client(port).get("/v1/models/classifier").json()["model_version_status"]
    return [(status["version"], status["state"]) for status in statuses]


def test_hot_reload_under_rest_and_grpc_traffic_fails_no_request(
    classifier_base, review_tokenizer, tmp_path
):
    shutil.copytree(classifier_base / "1", tmp_path / "1")
    version_2 = tiny_classifier(review_tokenizer)  # version 1's weights ...
    for weight in version_2.head.weights:  # ... with the head negated: the other label
        weight.assign(-weight)
    manager = ModelManager([ModelConfig("classifier", str(tmp_path))], poll_wait_seconds=0.2)
    grpc_port, rest_port = free_port(), free_port()
    stop = threading.Event()
    answers = []  # (API, monotonic time sent, label, version or None)
    failures = []
    switched = []  # when the status first showed version 2 AVAILABLE and version 1 END

    def keep_requesting(api: str, classify) -> None:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                answers.append((api, sent, *classify()))
            except Exception as error:  # noqa: BLE001 - every failure is counted
                failures.append((api, repr(error)))
            time.sleep(0.05)

    def answers_sent_after(moment: float, api: str) -> int:
        return sum(answer[0] == api and answer[1] > moment for answer in answers)

    def traffic_during_reload() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            clients = [
                ("rest", lambda: classify_over_rest(rest_port)),
                ("grpc", lambda: classify_over_grpc(stub)),
            ] * 2
            threads = [threading.Thread(target=keep_requesting, args=client) for client in clients]
            for thread in threads:
                thread.start()
            try:
                wait_until(
                    lambda: {answer[0] for answer in answers} == {"rest", "grpc"},
                    "answers over both APIs",
                )
                export_model(version_2, tmp_path, version=2)  # temporary folder, then rename
                wait_until(
                    lambda: model_states(rest_port) == [("2", "AVAILABLE"), ("1", "END")],
                    "version 2 AVAILABLE and version 1 END",
                    seconds=120,
                )
                switched.append(time.monotonic())
                wait_until(
                    lambda: (
                        min(answers_sent_after(switched[0], api) for api in ("rest", "grpc")) >= 3
                    ),
                    "3 more answers over each API",
                )
            finally:
                stop.set()
                for thread in threads:
                    thread.join()

    serve_until_sigterm(
        manager, rest_port, traffic_during_reload, grpc_port=grpc_port, rest_api_port=rest_port
    )
    assert failures == []
    # gRPC answers name their version: one label per version, a different one for each.
    version_labels = {(version, label) for api, _, label, version in answers if api == "grpc"}
    assert sorted(version for version, _ in version_labels) == [1, 2]
    version_of_label = {label: version for version, label in version_labels}
    assert len(version_of_label) == 2
    answered_by = [
        (api, sent, version if api == "grpc" else version_of_label.get(label))
        for api, sent, label, version in answers
    ]
    for api in ("rest", "grpc"):
        assert {version for answer_api, _, version in answered_by if answer_api == api} == {1, 2}
        assert {
            version
            for answer_api, sent, version in answered_by
            if answer_api == api and sent > switched[0]
        } == {2}
