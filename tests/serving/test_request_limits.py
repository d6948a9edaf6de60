"""Requests that tried to crash the server or make it build huge tensors, against real REST and
gRPC servers on loopback: each is refused (400 / 413 / INVALID_ARGUMENT with a clear text) within
milliseconds and small memory, and the server keeps answering (docs/serving.md §7)."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import socket
import time
import zlib

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from kerattn.serving.model_manager import ModelConfig, ModelManager
from kerattn.serving.rate_limited_log import RateLimitedLog
from kerattn.serving.request_body import BodyTooLargeError, inflate_gzip
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.serving_error import ServingError
from tests.serving.conftest import assert_json_error, rest_client
from tests.serving.test_grpc_server import assert_status, outputs, predict, predict_request

PREDICT = "/v1/models/toy:predict"
CLASSIFY = "/v1/models/classifier:predict"
MiB = 1 << 20


def rss_bytes() -> int:
    """This process's resident memory (the servers under test run in it)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Bounded:
    """Times a block and the growth of this process's resident memory over it."""

    def __enter__(self):
        self.rss = rss_bytes()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_):
        self.seconds = time.perf_counter() - self.start
        self.grown = rss_bytes() - self.rss


@pytest.fixture
def default_limits_client(serving_manager):
    """A REST client of a server with the default limits (4 MiB bodies, batches of 1000)."""
    with rest_client(serving_manager, num_threads=2) as client:
        yield client


def string_proto(shape, values=(b"a",)) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=list(values))
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


# ---- 1. nesting depth and rank ---------------------------------------------------------------


def nested(depth: int, leaf: bytes) -> bytes:
    return b"[" * depth + leaf + b"]" * depth


def test_every_instance_depth_up_to_1000_is_answered_and_the_server_keeps_serving(served):
    """Strings of rank 33 used to crash the process inside TensorFlow's numpy conversion; an
    instance 64 deep used to get a 500."""
    for depth in range(1, 1001):
        body = b'{"signature_name": "lengths", "instances": [' + nested(depth, b'"ab"') + b"]}"
        reply = served.post(PREDICT, body)
        if depth + 1 <= 32:  # the batch dimension and `depth` levels
            assert reply.status == 200, (depth, reply.body)
            assert json.dumps(reply.json()["predictions"]) == "[" + "[" * depth + "2" + "]" * (
                depth + 1
            )
        else:
            assert_json_error(
                reply,
                400,
                "Failed to process element: 0 of 'instances' list. "
                "Error: INVALID_ARGUMENT: Input s has a rank above 32; kerattn serve "
                "accepts ranks up to 32.",
            )
    assert served.post(PREDICT, {"instances": [1.0]}).json() == {"predictions": [3.0]}


def test_every_columnar_depth_up_to_1000_against_known_and_unknown_ranks(served):
    for depth in range(1, 1001):
        reply = served.post(
            PREDICT, b'{"signature_name": "lengths", "inputs": ' + nested(depth, b'"ab"') + b"}"
        )
        if depth <= 32:
            assert reply.status == 200, (depth, reply.body)
        else:
            assert_json_error(
                reply, 400, "Input s has a rank above 32; kerattn serve accepts ranks up to 32."
            )
        # The classifier's `text` is declared [-1]: only rank 1 is accepted.
        reply = served.post(CLASSIFY, b'{"inputs": ' + nested(depth, b'"a film"') + b"}")
        if depth == 1:
            assert reply.status == 200, reply.body
        else:
            assert_json_error(
                reply,
                400,
                "Input text has a rank above 1; the signature accepts rank 1 (shape [-1]).",
            )
    assert_json_error(
        served.post(CLASSIFY, {"instances": [["a film"]]}),
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Input text has a rank above 1; the signature accepts rank 1 (shape [-1]).",
    )
    assert_json_error(
        served.post(CLASSIFY, {"inputs": "a film"}),
        400,
        "Input text has rank 0; the signature accepts rank 1 (shape [-1]).",
    )
    assert served.post(CLASSIFY, {"instances": ["a film"]}).status == 200


def test_every_grpc_rank_up_to_300(grpc_channel):
    for rank in range(0, 301):
        request = predict_request(signature_name="lengths", inputs={"s": string_proto([1] * rank)})
        if rank <= 32:
            assert outputs(predict(grpc_channel, request))["length"].shape == (1,) * rank
        elif rank <= 254:  # TensorFlow's own limit is 254
            assert_status(
                lambda request=request: predict(grpc_channel, request),
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Input s has rank {rank}; kerattn serve accepts ranks up to 32.",
            )
        else:
            assert_status(
                lambda request=request: predict(grpc_channel, request),
                grpc.StatusCode.INVALID_ARGUMENT,
                "tensor parsing error: s",
            )
    request = predict_request(name="classifier", inputs={"text": string_proto([1, 1])})
    assert_status(
        lambda request=request: predict(grpc_channel, request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Input text has rank 2; the signature accepts rank 1 (shape [-1]).",
    )
    assert outputs(predict(grpc_channel, predict_request()))["y"].tolist() == [3.0]


# ---- 2. values repeated to fill a shape, element counts, batch sizes --------------------------


def test_grpc_one_repeated_string_cannot_make_a_huge_batch(grpc_channel):
    """23 bytes: DT_STRING, shape [100000], one string_val; this used to run a 100 000-row batch
    (8.7 s, +2 GiB of resident memory that stayed)."""
    request = predict_request(name="classifier", inputs={"text": string_proto([100_000])})
    assert request.inputs["text"].ByteSize() < 24
    with Bounded() as bounded:
        assert_status(
            lambda request=request: predict(grpc_channel, request),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Task size 100000 is larger than maximum input batch size 1000 (kerattn "
            "serve --max_batch_size_per_request)",
        )
    assert bounded.seconds < 2 and bounded.grown < 64 * MiB


def test_grpc_shape_of_2_to_the_40_floats_is_refused_before_allocating(grpc_channel):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0])
    proto.tensor_shape.dim.add(size=2**40)
    request = predict_request(inputs={"x": proto})
    with Bounded() as bounded:
        assert_status(
            lambda request=request: predict(grpc_channel, request),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Task size 1099511627776 is larger than maximum input batch size 1000 "
            "(kerattn serve --max_batch_size_per_request)",
        )
    proto.tensor_shape.dim[0].size = 1
    proto.tensor_shape.dim.add(size=2**40)  # [1, 2^40]: batch 1, still 2^40 elements
    request = predict_request(inputs={"x": proto})
    assert_status(
        lambda request=request: predict(grpc_channel, request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Input x (shape [1,1099511627776]) brings the request to 1099511627776 tensor "
        "elements; kerattn serve accepts at most 4194304 per request "
        "(--max_request_elements).",
    )
    assert bounded.seconds < 2 and bounded.grown < 64 * MiB


def test_grpc_value_counts_follow_tensorflow_within_the_limits(grpc_channel):
    # Fewer values than the shape: the last one repeats (TF's Tensor::FromProto), here 1000 rows.
    result = outputs(
        predict(
            grpc_channel,
            predict_request(
                signature_name="lengths", inputs={"s": string_proto([1000], [b"abc", b"hello"])}
            ),
        )
    )
    assert result["length"].tolist() == [3] + [5] * 999
    # No value at all: zeros (strings: empty); more values than the shape: the first ones.
    empty = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape={"dim": [{"size": 2}]})
    assert outputs(predict(grpc_channel, predict_request(inputs={"x": empty})))["y"].tolist() == [
        1.0,
        1.0,
    ]
    extra = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0, 3.0], tensor_shape={"dim": [{"size": 2}]}
    )
    assert outputs(predict(grpc_channel, predict_request(inputs={"x": extra})))["y"].tolist() == [
        3.0,
        5.0,
    ]
    # A long string repeated past the bytes a request may carry (1 MiB here).
    request = predict_request(
        signature_name="lengths", inputs={"s": string_proto([1000], [b"x" * 600_000])}
    )
    assert_status(
        lambda request=request: predict(grpc_channel, request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Input s repeats its last string value to 600000000 bytes of strings; kerattn "
        "serve builds at most 1048576 per request (--max_body_bytes).",
    )


def test_grpc_elements_add_up_over_the_inputs_of_a_request(serving_manager):
    from kerattn.serving.grpc_server import GrpcServer

    server = GrpcServer(
        serving_manager,
        port=0,
        max_threads=1,
        limits=RequestLimits(max_request_elements=5, max_batch_size_per_request=3),
    )
    port = server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            inputs = {
                "a": np.int32([1, 2, 3]),
                "b": np.array([b"x"] * 3, object),
                "flag": np.array([True] * 3),
            }
            request = predict_request(signature_name="mixed", inputs=inputs)
            assert_status(
                lambda: predict(channel, request),
                grpc.StatusCode.INVALID_ARGUMENT,
                "Input b (shape [3]) brings the request to 6 tensor elements; kerattn "
                "serve accepts at most 5 per request (--max_request_elements).",
            )
            request = predict_request(inputs={"x": np.float32([1, 2, 3, 4])})
            assert_status(
                lambda: predict(channel, request),
                grpc.StatusCode.INVALID_ARGUMENT,
                "Task size 4 is larger than maximum input batch size 3 (kerattn serve "
                "--max_batch_size_per_request)",
            )
            assert outputs(predict(channel, predict_request(inputs={"x": np.float32([[1, 2]])})))[
                "y"
            ].tolist() == [[3.0, 5.0]]
    finally:
        server.stop()


def test_grpc_resource_and_variant_tensors_are_invalid_arguments(grpc_channel):
    for dtype, name in ((types_pb2.DT_RESOURCE, "resource"), (types_pb2.DT_VARIANT, "variant")):
        proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape={"dim": [{"size": 1}]})
        request = predict_request(inputs={"x": proto})
        assert_status(
            lambda request=request: predict(grpc_channel, request),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Expects arg[0] to be float but {name} is provided",
        )
    for dtype in (0, 101, 999):  # DT_INVALID, DT_FLOAT_REF, no DataType at all
        proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape={"dim": [{"size": 1}]})
        request = predict_request(inputs={"x": proto})
        assert_status(
            lambda request=request: predict(grpc_channel, request),
            grpc.StatusCode.INVALID_ARGUMENT,
            "tensor parsing error: x",
        )


def test_rest_batch_of_100000_instances_is_refused_quickly(default_limits_client):
    """A 2.2 MB body of 100 000 instances: 19 s and +2.75 GiB of resident memory before."""
    body = json.dumps({"instances": ["a great film and fun"] * 100_000}).encode()
    assert 2_000_000 < len(body) < 4 * MiB
    with Bounded() as bounded:
        reply = default_limits_client.post(CLASSIFY, body)
    assert_json_error(
        reply,
        400,
        "Task size 100000 is larger than maximum input batch size 1000 "
        "(kerattn serve --max_batch_size_per_request)",
    )
    assert bounded.seconds < 5 and bounded.grown < 256 * MiB
    reply = default_limits_client.post(CLASSIFY, {"instances": ["a great film"] * 1000})
    assert reply.status == 200 and len(reply.json()["predictions"]) == 1000


def test_rest_element_limit_counts_every_input(serving_manager):
    with rest_client(serving_manager, limits=RequestLimits(max_request_elements=5)) as client:
        assert_json_error(
            client.post(PREDICT, {"inputs": [[1, 2, 3], [4, 5, 6]]}),
            400,
            "Input x (shape [2,3]) brings the request to 6 tensor elements; kerattn "
            "serve accepts at most 5 per request (--max_request_elements).",
        )
        body = {
            "signature_name": "mixed",
            "instances": [{"a": 1, "b": "x", "flag": True}, {"a": 2, "b": "y", "flag": False}],
        }
        assert_json_error(
            client.post(PREDICT, body),
            400,
            "Failed to process element: 0 key: "
            "flag of 'instances' list. Error: INVALID_ARGUMENT: Input flag (shape "
            "[2]) brings the request to 6 tensor elements; kerattn serve accepts at "
            "most 5 per request (--max_request_elements).",
        )
        assert client.post(PREDICT, {"inputs": [[1, 2, 3, 4, 5]]}).status == 200


# ---- 3.–5. body sizes, gzip, Content-Length ---------------------------------------------------


def test_default_body_limit_is_4_mib(default_limits_client):
    reply = default_limits_client.post(
        PREDICT, b'{"instances": [1.0], "pad": "' + b" " * (4 * MiB) + b'"}'
    )
    assert_json_error(
        reply,
        413,
        "Request body is larger than the limit of 4194304 bytes (kerattn serve --max_body_bytes).",
    )


def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip body inflating to `inflated_mib` MiB of JSON, built without holding it inflated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(b'{"instances": [1.0], "pad": "')]
    spaces = b" " * MiB
    parts += [compressor.compress(spaces) for _ in range(inflated_mib)]
    parts += [compressor.compress(b'"}'), compressor.flush()]
    return b"".join(parts)


def test_gzip_bomb_is_inflated_only_up_to_the_limit(default_limits_client):
    """255 KB that inflate to 250 MiB were accepted (the limit counted the inflated body)."""
    bomb = gzip_bomb(250)
    assert len(bomb) < 300_000
    with Bounded() as bounded:
        reply = default_limits_client.request(
            "POST", PREDICT, bomb, headers={"Content-Encoding": "gzip"}
        )
    assert_json_error(
        reply,
        413,
        "Request body is larger than the limit of 4194304 bytes once "
        "inflated (kerattn serve --max_body_bytes).",
    )
    assert bounded.seconds < 2 and bounded.grown < 64 * MiB
    small = default_limits_client.request(
        "POST", PREDICT, gzip_bomb(1), headers={"Content-Encoding": "x-gzip"}
    )
    assert small.status == 200 and small.json() == {"predictions": [3.0]}


@pytest.mark.parametrize(
    "body, message",
    [
        (
            b'{"instances": [1.0]}',
            "Failed to uncompress the gzipped body: Error -3 while decompressing "
            "data: incorrect header check",
        ),
        (
            gzip.compress(b'{"instances": [1.0]}', mtime=0)[:-6],
            "Failed to uncompress the gzipped body: the gzip stream is truncated",
        ),
        (
            gzip.compress(b'{"instances": [1.0]}', mtime=0) + b"junk",
            "Failed to uncompress the gzipped body: "
            "Error -3 while decompressing data: incorrect header check",
        ),
    ],
    ids=["plain", "truncated", "trailing-junk"],
)  # ids stable across xdist workers
def test_body_that_is_not_the_gzip_it_claims_is_a_400(served, body, message):
    reply = served.request("POST", PREDICT, body, headers={"Content-Encoding": "gzip"})
    assert_json_error(reply, 400, message)


def test_other_content_encodings_are_not_inflated(served):
    # As in TF Serving, only an encoding naming gzip is inflated; others reach the JSON parser.
    reply = served.request(
        "POST",
        PREDICT,
        zlib.compress(b'{"instances": [1.0]}'),
        headers={"Content-Encoding": "deflate"},
    )
    assert_json_error(reply, 400, "JSON Parse error: Invalid value. at offset: 0")


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends `data` on a fresh connection; returns what comes back until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        received = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                return received
            received += chunk


def split_response(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)
    }
    return int(status_line.split()[1]), headers, body


def test_huge_content_length_gets_413_before_the_body_is_read(served):
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as connection:
        connection.sendall(
            b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 2000000000\r\n\r\n" + b'{"instances": ['
        )
        response = connection.recv(65536)
    status, headers, body = split_response(response)
    assert time.perf_counter() - started < 2
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": "Request body is larger than the limit of 1048576 bytes "
        "(kerattn serve --max_body_bytes)."
    }
    assert served.post(PREDICT, {"instances": [1.0]}).json() == {"predictions": [3.0]}


def test_chunked_body_over_the_limit_is_cut_off(served):
    chunk = b" " * 65536
    request = (
        b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n" + (b"10000\r\n" + chunk + b"\r\n") * 17 + b"0\r\n\r\n"
    )
    status, _, body = split_response(raw_exchange(served.port, request))
    assert status == 413 and "larger than the limit of 1048576 bytes" in json.loads(body)["error"]


# ---- 7. client errors: never 500/UNKNOWN, one log line each, rate-limited ---------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [1' + b"1" * 5000 + b"]}",  # more digits than Python's int() takes
        b'{"instances": [1e999999]}',
        b'{"instances": ["\xff\xfe"]}',
        b'{"inputs": {"b64": "!"}}',
        b'{"signature_name": "mixed", "inputs": {"a": [1], "b": [{"b64": "\xff"}], "flag": [true]}}',
        b'{"instances": [' + b"[" * 64 + b"1" + b"]" * 64 + b"]}",
        b'{"signature_name": "lengths", "inputs": [[["a"], ["b"]], [["c"]]]}',
        b'{"instances": [[[]], [[1]]]}',
        b'{"inputs": [[[[[]]]]]}',
        b'{"instances": [{}]}',
    ],
)
def test_malformed_predict_bodies_are_client_errors(served, body):
    reply = served.post(PREDICT, body)
    assert 400 <= reply.status < 500 or reply.status == 200, reply.body
    reply.body.decode("utf-8")  # strict: error bodies are valid UTF-8
    assert reply.headers["Content-Type"] == "application/json"


def test_bad_requests_log_one_line_each_at_most_ten_a_second(served, caplog):
    caplog.set_level(logging.INFO, logger="kerattn.serving.rest_server")
    time.sleep(1.0)  # a fresh one-second window of the log's budget
    caplog.clear()
    started = time.monotonic()
    for _ in range(30):
        served.post(PREDICT, b'{"instances": [' + b"[" * 40 + b"]" * 40 + b"]}")
    assert time.monotonic() - started < 1.0, "the 30 requests must fall in one window"
    lines = [
        record
        for record in caplog.records
        if record.name == "kerattn.serving.rest_server"
        and "more bad requests were not logged" not in record.getMessage()
    ]  # earlier tests'
    assert len(lines) == 10
    assert all(record.exc_info is None and "\n" not in record.getMessage() for record in lines)
    assert (
        lines[0]
        .getMessage()
        .startswith(
            "REST POST /v1/models/toy:predict: 400 Failed to process element: 0 of 'instances' list."
        )
    )
    time.sleep(1.0)
    caplog.clear()
    served.post(PREDICT, b"{")
    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name == "kerattn.serving.rest_server"
    ]
    assert messages == [
        "20 more bad requests were not logged (at most 10 lines a second).",
        "REST POST /v1/models/toy:predict: 400 JSON Parse error: Missing a name "
        "for object member. at offset: 1",
    ]


def test_rate_limited_log_counts_what_it_drops():
    now = [0.0]
    records = []

    class Recorder(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    test_logger = logging.getLogger("tests.rate_limited_log")
    test_logger.addHandler(Recorder())
    test_logger.propagate = False
    log = RateLimitedLog(test_logger, lines_per_second=2, clock=lambda: now[0])
    assert [log.log(logging.WARNING, "line %d", index) for index in range(5)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    now[0] = 1.5
    log.log(logging.WARNING, "later")
    assert records == [
        "line 0",
        "line 1",
        "3 more bad requests were not logged (at most 2 lines a second).",
        "later",
    ]


def test_grpc_failures_log_one_line_and_unparseable_messages_no_traceback(grpc_channel, caplog):
    caplog.set_level(logging.INFO)
    time.sleep(1.0)
    caplog.clear()
    request = predict_request(name="classifier", inputs={"text": string_proto([100_000])})
    with pytest.raises(grpc.RpcError):
        predict(grpc_channel, request)
    call = grpc_channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    with pytest.raises(grpc.RpcError) as caught:
        call(b"\xff\xff\xff\xff", timeout=30)
    assert caught.value.code() == grpc.StatusCode.INTERNAL  # as TF Serving's C++ gRPC
    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("kerattn.serving", "grpc"))
        and "more bad requests were not logged" not in record.getMessage()
    ]
    assert messages[0] == (
        "gRPC Predict: INVALID_ARGUMENT Task size 100000 is larger than "
        "maximum input batch size 1000 (kerattn serve "
        "--max_batch_size_per_request)"
    )
    assert messages[1].startswith("gRPC request message does not parse: DecodeError: ")
    assert len(messages) == 2 and all(record.exc_info is None for record in caplog.records)


# ---- 8. status texts, non-UTF-8 names, malformed HTTP ------------------------------------------


def test_status_of_a_broken_version_names_the_version_not_server_paths(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"not a protobuf")
    (tmp_path / "3").mkdir()  # no saved_model.pb
    manager = ModelManager([ModelConfig("toy", str(tmp_path), policy="all")], poll_wait_seconds=-1)
    manager.poll_once()
    with rest_client(manager, num_threads=1) as client:
        body = client.get("/v1/models/toy").body.decode("utf-8")
    assert str(tmp_path) not in body and "/tmp" not in body
    statuses = {
        status["version"]: status["status"] for status in json.loads(body)["model_version_status"]
    }
    assert statuses["3"] == {
        "error_code": "NOT_FOUND",
        "error_message": "Could not find SavedModel .pb or .pbtxt at supplied export directory path: version 3",
    }
    assert statuses["2"]["error_message"].startswith("Could not parse version 2/saved_model.pb: ")


def test_404_for_a_non_utf8_model_name_is_valid_utf8_json(served):
    reply = served.get("/v1/models/%FF%FEabc")
    assert reply.status == 404 and reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.body.decode("utf-8")) == {
        "error": "Could not find any versions of model \\xff\\xfeabc"
    }
    reply = served.post("/v1/models/%C3%28:predict", {"instances": [1.0]})
    assert json.loads(reply.body.decode("utf-8")) == {
        "error": "Servable not found for request: Latest(\\xc3()"
    }


@pytest.mark.parametrize(
    "request_bytes, reason",
    [
        (
            b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
            "Invalid header token: b'Bad Header'",
        ),
        (b"GET /v1/models/toy HTTP/1.1\r\n\r\n", "Missing 'Host' header in request."),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
            "Received HTTPS traffic on an HTTP port",
        ),
    ],
)
def test_malformed_http_gets_a_json_error(served, caplog, request_bytes, reason):
    caplog.set_level(logging.INFO)
    time.sleep(1.0)
    status, headers, body = split_response(raw_exchange(served.port, request_bytes))
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body.decode("utf-8")) == {"error": f"Malformed HTTP request: {reason}"}
    assert all(record.exc_info is None for record in caplog.records)
    assert any(
        f"400 Malformed HTTP request: {reason}" in record.getMessage() for record in caplog.records
    )


def test_header_line_over_8190_bytes_gets_a_json_error(served):
    request = b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n"
    status, headers, body = split_response(raw_exchange(served.port, request))
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"].startswith("Malformed HTTP request: Got more than 8190 bytes")


# ---- no server: the pieces -------------------------------------------------------------------


def test_inflation_stops_at_the_limit():
    bomb = gzip_bomb(64)
    with pytest.raises(BodyTooLargeError):
        inflate_gzip(bomb, 1 * MiB)
    two_members = gzip.compress(b'{"a": ') + gzip.compress(b"1}")
    assert inflate_gzip(two_members, 100) == b'{"a": 1}'
    assert inflate_gzip(b"", 100) == b""
    with pytest.raises(ServingError, match="^Failed to uncompress the gzipped body: "):
        inflate_gzip(b"\x1f\x8b\x08\x00garbage", 100)


@pytest.mark.parametrize(
    "values",
    [
        dict(max_request_bytes=0),
        dict(max_request_elements=-1),
        dict(max_batch_size_per_request=1.5),
        dict(max_batch_size_per_request=True),
    ],
)
def test_limits_must_be_positive_whole_numbers(values):
    with pytest.raises(ValueError, match="must be a whole number of at least 1"):
        RequestLimits(**values)


@pytest.mark.parametrize(
    "array",
    [
        np.float32([1.5, -2.0, 3.0]),
        np.float64([1 / 3, 2.0, 7.0]),
        np.int32([1, -2, 3]),
        np.int64([2**40, -1, 5]),
        np.uint8([0, 255, 7]),
        np.int8([-3, 7, 1]),
        np.int16([-3, 9, 2]),
        np.uint32([2**32 - 1, 0, 1]),
        np.uint64([2**64 - 1, 1, 2]),
        np.bool_([True, False, True]),
        np.float16([1.5, -0.5, 2.0]),
        np.complex64([1 + 2j, 3 - 1j, 0.5j]),
        np.complex128([1 + 2j, 3 - 1j, 2]),
        np.array([b"a", b"bc", b""], object),
    ],
)
def test_typed_fields_decode_like_tensorflow_with_padding(array):
    """The decoder agrees with tf.make_ndarray (TF's padding rule) on full and short fields."""
    from tensorflow.core.protobuf import meta_graph_pb2

    from kerattn.serving.tensor_protos import input_arrays

    signature = meta_graph_pb2.SignatureDef()
    signature.inputs["x"].dtype = tf.dtypes.as_dtype(array.dtype).as_datatype_enum
    for values in (array, array[:2], array[:0]):
        proto = tf.make_tensor_proto(values)
        if proto.tensor_content:  # move packed numbers to the typed field
            from kerattn.serving.tensor_protos import tensor_proto

            proto = tensor_proto(values)
        proto.tensor_shape.dim[0].size = 5
        decoded = input_arrays({"x": proto}, signature)["x"]
        expected = tf.make_ndarray(proto)
        assert decoded.dtype == expected.dtype and decoded.shape == (5,)
        # (tf.make_ndarray pads an empty string field with str ""; TensorFlow with bytes.)
        assert decoded.tolist() == [b"" if value == "" else value for value in expected.tolist()]
