"""Request batching (`kerattn serve --enable_batching`, docs/serving.md §15).

The scheduler is checked on a controllable signature (a Python function over a real
SignatureDef proto) that records each merged call; the equivalence of batched and unbatched
answers on the tiny translator export, through real gRPC and REST servers, with sentences of
different lengths sent at the same time.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from kerattn.errors import UsageError
from kerattn.serving import command, model_server
from kerattn.serving.grpc_server import GrpcServer
from kerattn.serving.model_manager import ModelConfig, ModelManager
from kerattn.serving.request_batching import (
    QUEUE_FULL_MESSAGE,
    BatchingParameters,
    RequestBatcher,
    read_batching_parameters,
    trim_padded_axes,
)
from kerattn.serving.serving_error import ServingError
from kerattn_cli import main as cli_main
from tests.serving.conftest import rest_client

# ---- the parameters file -------------------------------------------------------------------


def test_tf_servings_example_parameters_file_is_read(tmp_path):
    path = tmp_path / "batching.txt"  # servables/tensorflow/testdata/batching_config.txt's form
    path.write_text(
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 8 }\n"
        "thread_pool_name { value: 'pool' }\n"
        "allowed_batch_sizes: 32\nallowed_batch_sizes: 128\n"
        "pad_variable_length_inputs: true\n"
    )
    assert read_batching_parameters(path) == BatchingParameters(
        max_batch_size=128,
        batch_timeout_micros=0,
        max_enqueued_batches=1000000,
        num_batch_threads=8,
        thread_pool_name="pool",
        allowed_batch_sizes=(32, 128),
        pad_variable_length_inputs=True,
    )


def test_unset_fields_take_the_shared_batch_schedulers_defaults(tmp_path):
    path = tmp_path / "batching.txt"
    path.write_text("batch_timeout_micros { value: 500 }\n")
    parameters = read_batching_parameters(path)
    assert (
        parameters.max_batch_size,
        parameters.max_enqueued_batches,
        parameters.batch_timeout_micros,
        parameters.thread_pool_name,
    ) == (1000, 10, 500, "batch_threads")


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_batch_size: 5\n", "Error parsing text-format tensorflow.serving.BatchingParameters"),
        ("max_batch_size { value: 0 }\n", "BatchingParameters.max_batch_size must be >= 1"),
        (
            "max_batch_size { value: 8 }\nallowed_batch_sizes: 4\nallowed_batch_sizes: 2\n",
            "allowed_batch_sizes entries must be monotonically increasing",
        ),
        (
            "max_batch_size { value: 8 }\nallowed_batch_sizes: 4\n",
            "Final entry in allowed_batch_sizes must equal max_batch_size",
        ),
        ("enable_large_batch_splitting { value: true }\n", "asks for large-batch splitting"),
    ],
)
def test_a_bad_parameters_file_is_one_sentence(tmp_path, text, message):
    path = tmp_path / "batching.txt"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_batching_parameters(path)


def test_the_flags_reach_serve_and_a_bad_file_exits_2(tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(model_server, "serve", lambda manager, **given: seen.update(given))
    base = ["serve", "--model_base_path", str(tmp_path)]
    assert cli_main([*base, "--enable_batching"]) == 0
    assert seen["batching"] == BatchingParameters()
    path = tmp_path / "batching.txt"
    path.write_text("max_batch_size { value: 16 }\n")
    assert cli_main([*base, "--enable_batching=true", "--batching_parameters_file", str(path)]) == 0
    assert seen["batching"].max_batch_size == 16
    assert cli_main([*base, "--enable_batching=false"]) == 0
    assert seen["batching"] is None
    path.write_text("max_batch_size: [\n")
    assert cli_main([*base, "--enable_batching", "--batching_parameters_file", str(path)]) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith(
            "kerattn serve: Error parsing text-format tensorflow.serving.BatchingParameters"
        )
        and error.count("\n") == 1
    )
    assert cli_main([*base, "--batching_parameters_file", str(path)]) == 2
    assert capsys.readouterr().err == (
        "kerattn serve: " + command.BATCHING_FILE_WITHOUT_BATCHING.format(path=path) + "\n"
    )


# ---- the scheduler, on a signature that records its calls -----------------------------------


def _signature_def() -> meta_graph_pb2.SignatureDef:
    signature = meta_graph_pb2.SignatureDef()
    signature.inputs["x"].dtype = tf.float32.as_datatype_enum
    signature.outputs["y"].dtype = tf.float32.as_datatype_enum
    signature.outputs["rows"].dtype = tf.int32.as_datatype_enum
    return signature


class RecordingSignature:
    """y = 2x; `rows` = the merged batch size; fails for any x < 0; can be held to let
    requests pile up."""

    def __init__(self):
        self.calls: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, x):
        self.release.wait(10)
        x = x.numpy()
        self.calls.append(len(x))
        if (x < 0).any():
            raise tf.errors.InvalidArgumentError(None, None, "x must not be negative")
        return {"y": tf.constant(2 * x), "rows": tf.fill([len(x)], len(x))}


def _rows(value: float, count: int = 1) -> dict[str, np.ndarray]:
    return {"x": np.full((count,), value, np.float32)}


def _hold_then_submit(batcher, signature, requests, **kwargs):
    """Holds the model, submits one request so a batch thread is busy with it, then the rest;
    returns the futures of `requests` once released."""
    signature.release.clear()
    first = batcher.submit_signature(signature, _signature_def(), _rows(0.0), **kwargs)
    time.sleep(0.2)  # the batch thread has taken the first batch and waits in the model
    futures = [
        batcher.submit_signature(signature, _signature_def(), inputs, **kwargs)
        for inputs in requests
    ]
    signature.release.set()
    first.result(10)
    return futures


def test_requests_that_wait_for_a_busy_thread_run_as_one_merged_call():
    batcher = RequestBatcher(BatchingParameters(num_batch_threads=1))
    signature = RecordingSignature()
    try:
        futures = _hold_then_submit(batcher, signature, [_rows(i, count=i) for i in (1, 2, 3)])
        answers = [future.result(10) for future in futures]
    finally:
        batcher.stop()
    assert signature.calls == [1, 6]  # the held request, then the three merged
    for count, answer in zip((1, 2, 3), answers):
        np.testing.assert_array_equal(answer["y"], np.full(count, 2.0 * count, np.float32))
        np.testing.assert_array_equal(answer["rows"], np.full(count, 6))
    assert batcher.merged_runs == 1


def test_max_batch_size_splits_batches_and_a_larger_request_is_refused():
    batcher = RequestBatcher(BatchingParameters(num_batch_threads=1, max_batch_size=4))
    signature = RecordingSignature()
    try:
        futures = _hold_then_submit(batcher, signature, [_rows(1, 3), _rows(1, 2), _rows(1, 2)])
        [future.result(10) for future in futures]
        with pytest.raises(
            ServingError, match="^Task size 5 is larger than maximum input batch size 4$"
        ):
            batcher.submit_signature(signature, _signature_def(), _rows(1, 5))
    finally:
        batcher.stop()
    assert signature.calls == [1, 3, 4]


def test_a_full_queue_refuses_with_tf_servings_text():
    batcher = RequestBatcher(
        BatchingParameters(num_batch_threads=1, max_batch_size=1, max_enqueued_batches=2)
    )
    signature = RecordingSignature()
    signature.release.clear()
    try:
        batcher.submit_signature(signature, _signature_def(), _rows(0))
        time.sleep(0.2)
        queued = [batcher.submit_signature(signature, _signature_def(), _rows(1)) for _ in range(2)]
        with pytest.raises(ServingError) as caught:
            batcher.submit_signature(signature, _signature_def(), _rows(1))
        assert (caught.value.code, str(caught.value)) == ("UNAVAILABLE", QUEUE_FULL_MESSAGE)
        signature.release.set()
        assert [future.result(10)["y"].tolist() for future in queued] == [[2.0], [2.0]]
    finally:
        signature.release.set()
        batcher.stop()


def test_allowed_batch_sizes_pad_with_the_first_row_and_drop_its_outputs():
    batcher = RequestBatcher(
        BatchingParameters(num_batch_threads=1, max_batch_size=8, allowed_batch_sizes=(4, 8))
    )
    signature = RecordingSignature()
    try:
        futures = _hold_then_submit(batcher, signature, [_rows(1), _rows(2, 2)])
        answers = [future.result(10) for future in futures]
    finally:
        batcher.stop()
    assert signature.calls == [4, 4]  # 1 → 4, then 1 + 2 = 3 → 4
    assert [answer["y"].tolist() for answer in answers] == [[2.0], [4.0, 4.0]]


def test_one_bad_request_in_a_merged_batch_fails_alone():
    batcher = RequestBatcher(BatchingParameters(num_batch_threads=1))
    signature = RecordingSignature()
    try:
        good, bad, other = _hold_then_submit(batcher, signature, [_rows(1), _rows(-1), _rows(3)])
        assert good.result(10)["y"].tolist() == [2.0]
        assert other.result(10)["y"].tolist() == [6.0]
        with pytest.raises(ServingError, match="x must not be negative") as caught:
            bad.result(10)
        assert caught.value.code == "INVALID_ARGUMENT"
    finally:
        batcher.stop()


def test_requests_past_their_deadline_or_cancelled_are_dropped_unrun():
    batcher = RequestBatcher(BatchingParameters(num_batch_threads=1))
    signature = RecordingSignature()
    try:
        signature.release.clear()
        first = batcher.submit_signature(signature, _signature_def(), _rows(0))
        time.sleep(0.2)
        late = batcher.submit_signature(
            signature, _signature_def(), _rows(1), deadline=time.monotonic() + 0.05
        )
        gone = batcher.submit_signature(signature, _signature_def(), _rows(2))
        kept = batcher.submit_signature(signature, _signature_def(), _rows(3, 2))
        gone.cancel()
        time.sleep(0.1)
        signature.release.set()
        first.result(10)
        assert kept.result(10)["y"].tolist() == [6.0, 6.0]
        with pytest.raises(ServingError, match="Timed out waiting for notification"):
            late.result(10)
    finally:
        batcher.stop()
    assert signature.calls == [1, 2] and batcher.dropped == 2


def test_inputs_of_another_shape_are_never_merged_and_scalars_are_refused():
    batcher = RequestBatcher(BatchingParameters(num_batch_threads=1))
    signature = RecordingSignature()
    try:
        with pytest.raises(ServingError, match="input tensors must have equal 0th-dimension"):
            batcher.submit_signature(signature, _signature_def(), {"x": np.float32(1.0)})
        wide = {"x": np.ones((1, 3), np.float32)}
        futures = _hold_then_submit(batcher, signature, [_rows(1), wide, _rows(2)])
        answers = [future.result(10) for future in futures]
    finally:
        batcher.stop()
    assert signature.calls == [1, 2, 1]  # the two [n] requests merged, the [1, 3] one alone
    assert answers[1]["y"].shape == (1, 3)


def test_trimming_reads_lengths_from_ids_and_tokens_never_from_weights():
    rows = {  # two rows of a batch padded to target 4, source 5 by a longer request
        "target_ids": np.array([[5, 2, 0, 0], [7, 0, 0, 0]], np.int32),
        "source_tokens": np.array(
            [[b"a", b"b", b"", b"", b""], [b"c", b"", b"", b"", b""]], object
        ),
        "attention": np.zeros((2, 4, 5), np.float32),  # all 0: must not shorten anything
        "score": np.array([0.5, 0.25], np.float32),
    }
    trimmed = trim_padded_axes(
        rows,
        {"target_ids": ["target"], "source_tokens": ["source"], "attention": ["target", "source"]},
    )
    assert trimmed["target_ids"].tolist() == [[5, 2], [7, 0]]
    assert trimmed["source_tokens"].tolist() == [[b"a", b"b"], [b"c", b""]]
    assert trimmed["attention"].shape == (2, 2, 2)
    assert trimmed["score"] is rows["score"]


# ---- the translator, through real servers ---------------------------------------------------

SENTENCES = [
    "the cat",
    "open the file menu and save the document as a new file",
    "close",
    "the window shows the current page of the document",
    "save",
    "print the page",
]


def _predict_request(text: str, signature: str = "") -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "translator"
    request.model_spec.signature_name = signature
    request.inputs["text"].CopyFrom(tf.make_tensor_proto([text], dtype=tf.string))
    return request


def _assert_same_outputs(batched: dict, alone: dict) -> None:
    assert sorted(batched) == sorted(alone)
    for alias, expected in alone.items():
        got = batched[alias]
        assert got.shape == expected.shape, alias
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=alias)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=alias)


@pytest.fixture(scope="module")
def translator_manager(translator_base, tmp_path_factory):
    base = tmp_path_factory.mktemp("batching") / "translator"
    shutil.copytree(translator_base, base)
    manager = ModelManager([ModelConfig("translator", str(base))], poll_wait_seconds=-1)
    manager.poll_once()
    return manager


@pytest.mark.parametrize("signature", ["", "greedy"])
def test_batched_translations_equal_unbatched_ones_over_grpc(translator_manager, signature):
    from kerattn.serving.servable_requests import run_signature

    loaded = translator_manager.servable("translator")
    key = signature or "serving_default"
    signature_def, function = loaded.signature_def(key), loaded.signatures[key]
    alone = [
        run_signature(function, signature_def, {"text": np.array([text.encode()], object)})
        for text in SENTENCES
    ]
    batcher = RequestBatcher(BatchingParameters(num_batch_threads=1, batch_timeout_micros=200_000))
    server = GrpcServer(
        translator_manager, port=0, max_threads=len(SENTENCES) + 2, run_queue=batcher
    )
    port = server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            with concurrent.futures.ThreadPoolExecutor(len(SENTENCES)) as pool:
                replies = list(
                    pool.map(
                        lambda text: stub.Predict(_predict_request(text, signature), timeout=60),
                        SENTENCES,
                    )
                )
    finally:
        server.stop()
        batcher.stop()
    assert batcher.merged_runs >= 1
    for reply, expected in zip(replies, alone):
        _assert_same_outputs(
            {alias: tf.make_ndarray(proto) for alias, proto in reply.outputs.items()}, expected
        )


def test_batched_rest_answers_equal_unbatched_ones(translator_manager):
    batcher = RequestBatcher(BatchingParameters(num_batch_threads=1, batch_timeout_micros=200_000))
    path = "/v1/models/translator:predict"

    def ask(client, texts):
        reply = client.post(path, json.dumps({"instances": texts}))
        assert reply.status == 200, reply.body
        return reply.json()["predictions"]

    with rest_client(translator_manager) as client:
        alone = [ask(client, [text]) for text in SENTENCES] + [ask(client, SENTENCES[:2])]
    with rest_client(
        translator_manager, num_threads=len(SENTENCES) + 2, run_queue=batcher
    ) as client:
        with concurrent.futures.ThreadPoolExecutor(len(SENTENCES) + 1) as pool:
            batched = list(
                pool.map(
                    lambda texts: ask(client, texts),
                    [[text] for text in SENTENCES] + [SENTENCES[:2]],
                )
            )
    batcher.stop()
    assert batcher.merged_runs >= 1
    for got, expected in zip(batched, alone):
        assert len(got) == len(expected)
        for got_row, expected_row in zip(got, expected):
            assert got_row.keys() == expected_row.keys()
            for key in expected_row:
                if key in ("score", "log_prob", "attention"):
                    np.testing.assert_allclose(
                        got_row[key], expected_row[key], rtol=1e-5, atol=1e-6
                    )
                else:
                    assert got_row[key] == expected_row[key], key
