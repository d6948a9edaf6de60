"""Exports served in the serving tests, and REST and gRPC servers on loopback over them.

The tiny classifier/translator come from tests/export/conftest.py's builders; the toy model is a
plain tf.Module SavedModel with numeric and string inputs (fast to write and load) for the
request-format tests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
import tensorflow as tf

from kerattn.export.exporter import export_model
from kerattn.serving.grpc_server import GrpcServer
from kerattn.serving.model_manager import ModelConfig, ModelManager
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.rest_server import RestServer
from tests.export.conftest import tiny_classifier, tiny_translator
from tests.zoo.conftest import english_tokenizer, review_tokenizer, spanish_tokenizer  # noqa: F401


def write_toy_saved_model(folder) -> None:
    """serving_default: x (float, any shape) → y = 2x + 1; "mixed": a int32 [B], b string [B],
    flag bool [B] → several outputs incl. a `_bytes` one; "scalar": x float → rank-0 output;
    "lengths": s (string, any shape) → its byte lengths (strings of any rank reach TensorFlow)."""

    class Toy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="x")])
        def affine(self, x):
            return {"y": 2.0 * x + 1.0}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.int32, name="a"),
                tf.TensorSpec([None], tf.string, name="b"),
                tf.TensorSpec([None], tf.bool, name="flag"),
            ]
        )
        def mixed(self, a, b, flag):
            return {
                "doubled": a * 2,
                "text": b,
                "text_bytes": b,
                "negated": tf.logical_not(flag),
                "half": tf.cast(a, tf.float64) / 3.0,
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def scalar(self, x):
            return {"total": tf.reduce_sum(x)}

        @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name="s")])
        def lengths(self, s):
            return {"length": tf.strings.length(s)}

    toy = Toy()
    tf.saved_model.save(
        toy,
        str(folder),
        signatures={
            "serving_default": toy.affine,
            "mixed": toy.mixed,
            "scalar": toy.scalar,
            "lengths": toy.lengths,
        },
    )


@pytest.fixture(scope="session")
def toy_model_dir(tmp_path_factory):
    """A toy SavedModel folder (not under a base path; copy it to version folders)."""
    folder = tmp_path_factory.mktemp("toy") / "saved"
    write_toy_saved_model(folder)
    return folder


@pytest.fixture(scope="session")
def classifier_base(review_tokenizer, tmp_path_factory):  # noqa: F811
    base = tmp_path_factory.mktemp("serving") / "classifier"
    export_model(tiny_classifier(review_tokenizer), base, version=1)
    return base


@pytest.fixture(scope="session")
def translator_base(english_tokenizer, spanish_tokenizer, tmp_path_factory):  # noqa: F811
    """Base path of the tiny translator exported as version 1 (beam 2 + greedy); slow to build."""
    base = tmp_path_factory.mktemp("serving") / "translator"
    export_model(
        tiny_translator(english_tokenizer, spanish_tokenizer), base, version=1, beam_size=2
    )
    return base


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8", "surrogateescape"))

    @property
    def error(self) -> str:
        return self.json()["error"]


class Client:
    """Raw HTTP/1.1 requests to the loopback server (paths sent exactly as given)."""

    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, body=None, headers=None) -> Reply:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body) -> Reply:
        return self.request("POST", path, body)


def assert_json_error(reply: Reply, status: int, message: str) -> None:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.error == message


@contextlib.contextmanager
def rest_client(manager: ModelManager, **server_args) -> Iterator[Client]:
    """A client of a REST server over `manager` on a free loopback port, for a `with` block."""
    server = RestServer(manager, port=0, **server_args)
    client = Client(server.start_in_thread())
    try:
        yield client
    finally:
        server.stop_thread()


@pytest.fixture(scope="session")
def serving_manager(toy_model_dir, classifier_base, tmp_path_factory):
    """Models `toy` (versions 1 and 2, labels stable → 1 and gone → 7, policy all) and
    `classifier` (version 1), loaded."""
    toy_base = tmp_path_factory.mktemp("serving") / "toy"
    shutil.copytree(toy_model_dir, toy_base / "1")
    shutil.copytree(toy_model_dir, toy_base / "0002")
    (toy_base / "tmp").mkdir()
    manager = ModelManager(
        [
            ModelConfig("toy", str(toy_base), policy="all", labels={"stable": 1, "gone": 7}),
            ModelConfig("classifier", str(classifier_base)),
        ],
        poll_wait_seconds=-1,
    )
    manager.poll_once()
    return manager


@pytest.fixture(scope="session")
def served(serving_manager):
    """A REST server over `serving_manager` (2 threads, 1 MiB bodies) and its client."""
    server = RestServer(
        serving_manager, port=0, num_threads=2, limits=RequestLimits(max_request_bytes=1 << 20)
    )
    port = server.start_in_thread()
    yield Client(port)
    server.stop_thread()


@pytest.fixture(scope="session")
def grpc_channel(serving_manager):
    """A channel to a gRPC server over `serving_manager` (2 threads, 1 MiB messages)."""
    server = GrpcServer(
        serving_manager, port=0, max_threads=2, limits=RequestLimits(max_request_bytes=1 << 20)
    )
    port = server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop()
