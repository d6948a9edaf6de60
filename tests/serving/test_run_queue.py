"""Queue, don't refuse (docs/serving.md §12): the model run queue, many concurrent gRPC clients
at default flags, client deadlines, and REST timeouts that cannot starve the server."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from kerattn.serving.grpc_server import GrpcServer
from kerattn.serving.model_run_queue import ModelRunQueue
from kerattn.serving.rest_server import RestServer
from kerattn.serving.serving_error import ServingError
from tests.serving.conftest import Client, assert_json_error
from tests.serving.test_lifecycle import SlowVersion, slow_manager, wait_until  # noqa: F401

# ---- the queue itself -------------------------------------------------------------------------


def test_queued_runs_past_their_deadline_are_dropped_unrun():
    runs = ModelRunQueue(num_threads=1, max_queued=10)
    ran = []
    release = threading.Event()
    blocker = runs.submit(release.wait)
    late = [runs.submit(ran.append, index, deadline=time.monotonic() + 0.05) for index in range(5)]
    on_time = runs.submit(ran.append, "on time", deadline=time.monotonic() + 30)
    time.sleep(0.2)
    release.set()
    assert blocker.result(timeout=10)
    for future in late:
        with pytest.raises(ServingError) as caught:
            future.result(timeout=10)
        assert caught.value.code == "DEADLINE_EXCEEDED"
    on_time.result(timeout=10)
    assert ran == ["on time"] and runs.dropped == 5
    runs.stop()


def test_a_full_queue_refuses_and_a_cancelled_run_never_starts():
    runs = ModelRunQueue(num_threads=1, max_queued=2)
    release = threading.Event()
    started = threading.Event()
    runs.submit(lambda: (started.set(), release.wait()))
    started.wait(10)
    ran = []
    first, second = runs.submit(ran.append, 1), runs.submit(ran.append, 2)
    with pytest.raises(ServingError) as caught:
        runs.submit(ran.append, 3)
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    assert "The model run queue is full (2 requests waiting" in caught.value.message
    assert first.cancel()
    release.set()
    second.result(timeout=10)
    assert ran == [2]
    runs.stop()


def test_call_times_out_with_deadline_exceeded():
    runs = ModelRunQueue(num_threads=1)
    with pytest.raises(ServingError) as caught:
        runs.call(time.sleep, 1.0, timeout=0.1)
    assert (caught.value.code, caught.value.message) == (
        "DEADLINE_EXCEEDED",
        "Timed out waiting for notification",
    )
    runs.stop()


# ---- gRPC: many clients, deadlines ------------------------------------------------------------


def _toy_request(x: float) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([x])))
    return request


@pytest.mark.parametrize("clients", [16, 64])
def test_many_concurrent_grpc_clients_at_default_flags_get_no_failure(serving_manager, clients):
    """Every client its own channel, 10 Predicts each, all at once, against the default
    `GrpcServer` (4 × CPUs handler threads, 256 queued RPCs)."""
    server = GrpcServer(serving_manager, port=0)
    port = server.start()
    failures, answers = [], []
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            barrier.wait(30)
            for repeat in range(10):
                try:
                    response = stub.Predict(_toy_request(index + repeat), timeout=60)
                    answers.append(
                        tf.make_ndarray(response.outputs["y"]).tolist()
                        == [2.0 * (index + repeat) + 1.0]
                    )
                except grpc.RpcError as error:
                    failures.append((error.code(), error.details()))

    try:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
    finally:
        server.stop()
    assert failures == []
    assert answers == [True] * (10 * clients)


def _slow_predict(port: int, timeout: float):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "slow"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([1.0])))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=timeout
        )


def test_grpc_request_whose_deadline_passes_while_queued_is_not_run(slow_manager):  # noqa: F811
    """Two slow runs (1 s) hold both run threads; RPCs with a 0.3 s deadline queued behind them
    get DEADLINE_EXCEEDED and never run. (On a loaded machine an RPC may reach the server after
    its deadline and be refused before it is queued, so not every one needs to be dropped from
    the queue; none may run.)"""
    server = GrpcServer(slow_manager, port=0, max_threads=8, run_queue=ModelRunQueue(2))
    port = server.start()
    SlowVersion.delay, SlowVersion.peak, SlowVersion.calls = 1.0, 0, 0
    try:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            holders = [pool.submit(_slow_predict, port, 30) for _ in range(2)]
            wait_until(lambda: SlowVersion.running == 2, "2 running slow calls")
            late = [pool.submit(_slow_predict, port, 0.3) for _ in range(4)]
            codes = []
            for future in late:
                with pytest.raises(grpc.RpcError) as caught:
                    future.result(timeout=30)
                codes.append(caught.value.code())
            for future in holders:
                future.result(timeout=30)
        wait_until(lambda: server.run_queue._queue.empty(), "the queue to drain")
        time.sleep(0.3)  # a wrongly started late run would have begun by now
        assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 4
        assert SlowVersion.calls == 2 and SlowVersion.peak == 2
    finally:
        server.stop()


# ---- REST: timed-out runs do not starve the server --------------------------------------------


def test_rest_timeouts_under_load_do_not_starve_later_requests(slow_manager):  # noqa: F811
    """20 slow predicts (1.5 s each) against a 1000 ms --rest_api_timeout_in_ms and 2 run
    threads: all get 504, only the 2 that started run, and a request sent once they have timed
    out is answered 200 as soon as the two running calls end (before: every timed-out run held
    a worker in turn, 15 s of 504s)."""
    server = RestServer(
        slow_manager, port=0, num_threads=4, timeout_in_ms=1000, run_queue=ModelRunQueue(2)
    )
    client = Client(server.start_in_thread())
    SlowVersion.delay, SlowVersion.peak = 1.5, 0
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            burst = [
                pool.submit(client.post, "/v1/models/slow:predict", {"instances": [1.0]})
                for _ in range(20)
            ]
            for future in burst:
                assert_json_error(
                    future.result(timeout=30), 504, "Timed out waiting for notification"
                )
        SlowVersion.delay = 0.01
        sent = time.monotonic()
        reply = client.post("/v1/models/slow:predict", {"instances": [1.0]})
        waited = time.monotonic() - sent
        assert reply.status == 200 and reply.json() == {"predictions": [2.0]}
        assert waited < 1.0, waited
        assert SlowVersion.peak == 2 and server.run_queue.dropped >= 17
    finally:
        SlowVersion.delay = 1.0
        server.stop_thread()
