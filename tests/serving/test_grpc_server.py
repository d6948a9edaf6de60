"""gRPC endpoint over a real channel on loopback, driven with tensorflow-serving-api's stubs:
Predict, GetModelMetadata, GetModelStatus, status codes and messages, and agreement with REST."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from kerattn.serving.grpc_server import GrpcServer
from kerattn.serving.model_manager import ModelConfig, ModelManager
from tests.serving.conftest import rest_client
from tests.zoo.conftest import ENGLISH

MIXED_OUTPUTS = "{doubled,half,negated,text,text_bytes}"


def predict_request(
    name: str = "toy",
    inputs: dict | None = None,
    signature_name: str = "",
    version: int | None = None,
    label: str | None = None,
    output_filter: tuple[str, ...] = (),
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for alias, value in (inputs if inputs is not None else {"x": np.float32([1.0])}).items():
        request.inputs[alias].CopyFrom(
            value if isinstance(value, tensor_pb2.TensorProto) else tf.make_tensor_proto(value)
        )
    request.output_filter.extend(output_filter)
    return request


def predict(channel, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=120)


def outputs(response) -> dict[str, np.ndarray]:
    return {alias: tf.make_ndarray(proto) for alias, proto in response.outputs.items()}


def assert_same_outputs(grpc_outputs: dict[str, np.ndarray], rest_outputs: dict) -> None:
    """gRPC's arrays hold exactly the values of REST's columnar `outputs` (REST's float text
    round-trips float32 exactly)."""
    assert set(grpc_outputs) == set(rest_outputs)
    for alias, array in grpc_outputs.items():
        if array.dtype == object:
            texts = np.vectorize(bytes.decode, otypes=[object])(array)
            assert texts.tolist() == rest_outputs[alias]
        else:
            np.testing.assert_array_equal(array, np.asarray(rest_outputs[alias], array.dtype))


def assert_status(call, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert (caught.value.code(), caught.value.details()) == (code, message)


def mixed_inputs(**overrides) -> dict:
    inputs = {
        "a": np.int32([1, 2]),
        "b": np.array(["héllo".encode(), b"\x00\xff"], object),
        "flag": np.array([True, False]),
    }
    inputs.update(overrides)
    return {alias: value for alias, value in inputs.items() if value is not None}


# ---- Predict ---------------------------------------------------------------------------------


def test_predict_default_signature_latest_version(grpc_channel):
    response = predict(grpc_channel, predict_request(inputs={"x": np.float32([[1, 2], [3, 4.5]])}))
    assert response.model_spec.name == "toy"
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == 2
    y = response.outputs["y"]
    # Typed values and the full shape, as Tensor::AsProtoField writes them.
    assert y.dtype == tf.float32.as_datatype_enum and y.tensor_content == b""
    assert list(y.float_val) == [3.0, 5.0, 7.0, 10.0]
    assert [dim.size for dim in y.tensor_shape.dim] == [2, 2]


def test_predict_inputs_as_tensor_content_or_short_typed_fields(grpc_channel):
    packed = tf.make_tensor_proto(np.float32([1.0, 2.0, 3.0]))
    assert packed.tensor_content  # make_tensor_proto packs several numbers
    assert outputs(predict(grpc_channel, predict_request(inputs={"x": packed})))["y"].tolist() == [
        3.0,
        5.0,
        7.0,
    ]
    # Typed fields shorter than the shape repeat the last value (Tensor::FromProto).
    short = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum, float_val=[1.0, 4.0])
    short.tensor_shape.dim.add(size=3)
    assert outputs(predict(grpc_channel, predict_request(inputs={"x": short})))["y"].tolist() == [
        3.0,
        9.0,
        9.0,
    ]
    scalar = predict(grpc_channel, predict_request(inputs={"x": np.float32(5.0)}))
    assert outputs(scalar)["y"].shape == () and outputs(scalar)["y"] == 11.0


@pytest.mark.parametrize(
    "version, label, expected", [(1, None, 1), (2, None, 2), (None, "stable", 1)]
)
def test_predict_version_and_label_select_the_version(grpc_channel, version, label, expected):
    response = predict(grpc_channel, predict_request(version=version, label=label))
    assert response.model_spec.version.value == expected
    assert response.model_spec.signature_name == "serving_default"
    assert outputs(response)["y"].tolist() == [3.0]


def test_predict_several_outputs_and_output_filter(grpc_channel):
    response = predict(grpc_channel, predict_request(signature_name="mixed", inputs=mixed_inputs()))
    assert response.model_spec.signature_name == "mixed"
    result = outputs(response)
    assert set(result) == {"doubled", "half", "negated", "text", "text_bytes"}
    assert list(response.outputs["doubled"].int_val) == [2, 4]
    assert list(response.outputs["negated"].bool_val) == [False, True]
    assert list(response.outputs["text"].string_val) == ["héllo".encode(), b"\x00\xff"]
    assert result["half"].dtype == np.float64 and result["half"].tolist() == [1 / 3, 2 / 3]
    filtered = predict(
        grpc_channel,
        predict_request(
            signature_name="mixed", inputs=mixed_inputs(), output_filter=("half", "doubled")
        ),
    )
    assert set(filtered.outputs) == {"half", "doubled"}


@pytest.mark.parametrize(
    "request_fields, code, message",
    [
        (
            {"name": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            {"version": 3},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(toy, 3)",
        ),
        (
            {"label": "beta"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: beta",
        ),
        (
            {"label": "gone"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(toy, 7)",
        ),
        ({"name": ""}, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (
            {"signature_name": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            {"inputs": {"x": np.float32([1]), "z": np.float32([2])}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. "
            "Missing but required: {}.",
        ),
        (
            {"inputs": {"x": np.int32([1])}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Expects arg[0] to be float but int32 is provided",
        ),
        (
            {
                "inputs": {
                    "x": tensor_pb2.TensorProto(
                        dtype=tf.float32.as_datatype_enum,
                        tensor_content=b"\x00" * 6,
                        tensor_shape={"dim": [{"size": 2}]},
                    )
                }
            },
            grpc.StatusCode.INVALID_ARGUMENT,
            "tensor parsing error: x",
        ),
        (
            {"output_filter": ("y", "y")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "duplicate output tensor alias: y",
        ),
    ],
)
def test_predict_errors(grpc_channel, request_fields, code, message):
    assert_status(lambda: predict(grpc_channel, predict_request(**request_fields)), code, message)


@pytest.mark.parametrize(
    "inputs, output_filter, message",
    [
        (
            mixed_inputs(flag=None),
            (),
            "input size does not match signature: 2!=3 len({a,b}) != len({a,b,flag}). Sent extra: {}. "
            "Missing but required: {flag}.",
        ),
        (
            {**mixed_inputs(flag=None), "flags": np.array([True, False])},
            (),
            "Signature input alias: flag(feed name: mixed_flag:0) not found in request and no default "
            "value provided. Inputs expected to be in the request {a,b,flags}, or default input alias "
            "set: ",
        ),
        (
            mixed_inputs(a=np.float32([1, 2])),
            (),
            "Expects arg[0] to be int32 but float is provided",
        ),
        (
            mixed_inputs(flag=np.int64([1, 0])),
            (),
            "Expects arg[2] to be bool but int64 is provided",
        ),
        (
            mixed_inputs(),
            ("half", "nope"),
            "output tensor alias not found in signature: nope Outputs "
            f"expected to be in the set {MIXED_OUTPUTS}.",
        ),
    ],
)
def test_predict_input_and_output_errors(grpc_channel, inputs, output_filter, message):
    request = predict_request(signature_name="mixed", inputs=inputs, output_filter=output_filter)
    assert_status(lambda: predict(grpc_channel, request), grpc.StatusCode.INVALID_ARGUMENT, message)


def test_missing_model_spec_and_truncated_long_messages(grpc_channel):
    assert_status(
        lambda: predict(grpc_channel, predict_pb2.PredictRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )
    message = "Servable not found for request: Latest(" + "m" * 2000 + ")"
    assert_status(
        lambda: predict(grpc_channel, predict_request(name="m" * 2000)),
        grpc.StatusCode.NOT_FOUND,
        message[:1024] + "...TRUNCATED",
    )


def test_message_above_the_limit_is_resource_exhausted(grpc_channel):
    request = predict_request(inputs={"x": np.zeros(300_000, np.float32)})
    assert_status(
        lambda: predict(grpc_channel, request),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"SERVER: Received message larger than max ({request.ByteSize()} vs. 1048576)",
    )


def test_predict_equals_rest_for_the_classifier(grpc_channel, served):
    texts = ["a great film", "Жук 😀", ""]
    response = predict(
        grpc_channel,
        predict_request(
            name="classifier", inputs={"text": np.array([t.encode() for t in texts], object)}
        ),
    )
    assert response.model_spec.version.value == 1
    rest = served.post("/v1/models/classifier:predict", {"inputs": {"text": texts}}).json()
    assert_same_outputs(outputs(response), rest["outputs"])


# ---- GetModelMetadata and GetModelStatus -----------------------------------------------------


def metadata_request(name: str = "toy", fields=("signature_def",), **spec):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = name
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]
    request.metadata_field.extend(fields)
    return request


def get_metadata(channel, request):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(
        request, timeout=60
    )


def test_metadata_packs_the_signature_def_map_like_rest(grpc_channel, served):
    response = get_metadata(grpc_channel, metadata_request())
    assert (
        response.model_spec.name,
        response.model_spec.version.value,
        response.model_spec.signature_name,
    ) == ("toy", 2, "")
    assert list(response.metadata) == ["signature_def"]
    any_value = response.metadata["signature_def"]
    assert any_value.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert any_value.Unpack(signature_map)
    # Every SignatureDef of the MetaGraph, the SavedModel's init op included, as in TF Serving.
    assert set(signature_map.signature_def) == {
        "serving_default",
        "mixed",
        "scalar",
        "lengths",
        "__saved_model_init_op",
    }
    rest = served.get("/v1/models/toy/metadata").json()["metadata"]["signature_def"]
    assert (
        json_format.MessageToDict(
            signature_map,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
        )
        == rest
    )
    for spec, version in (({"version": 1}, 1), ({"label": "stable"}, 1)):
        assert get_metadata(grpc_channel, metadata_request(**spec)).model_spec.version.value == (
            version
        )


@pytest.mark.parametrize(
    "request_args, code, message",
    [
        (
            {"fields": ()},
            grpc.StatusCode.INVALID_ARGUMENT,
            "GetModelMetadataRequest must specify at least one metadata_field",
        ),
        (
            {"fields": ("signature_def", "graph")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Metadata field graph is not supported",
        ),
        (
            {"name": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            {"version": 5},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(toy, 5)",
        ),
        (
            {"label": "beta"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: beta",
        ),
    ],
)
def test_metadata_errors(grpc_channel, request_args, code, message):
    assert_status(
        lambda: get_metadata(grpc_channel, metadata_request(**request_args)), code, message
    )


def get_status(channel, name: str = "toy", version: int | None = None, label: str | None = None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    return model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=60)


def test_model_status_like_rest(grpc_channel, served):
    response = get_status(grpc_channel)
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
    ]
    assert (
        json_format.MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        == served.get("/v1/models/toy").json()
    )
    assert [s.version for s in get_status(grpc_channel, version=1).model_version_status] == [1]
    # Status ignores the label, even an undefined one (get_model_status_impl.cc).
    assert len(get_status(grpc_channel, label="nonexistent").model_version_status) == 2


def test_model_status_errors(grpc_channel):
    assert_status(
        lambda: get_status(grpc_channel, version=9),
        grpc.StatusCode.NOT_FOUND,
        "Could not find version 9 of model toy",
    )
    assert_status(
        lambda: get_status(grpc_channel, name="nope"),
        grpc.StatusCode.NOT_FOUND,
        "Could not find any versions of model nope",
    )
    stub = model_service_pb2_grpc.ModelServiceStub(grpc_channel)
    assert_status(
        lambda: stub.GetModelStatus(get_model_status_pb2.GetModelStatusRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )


def test_unimplemented_methods(grpc_channel):
    prediction = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    assert_status(
        lambda: prediction.Classify(classification_pb2.ClassificationRequest()),
        grpc.StatusCode.UNIMPLEMENTED,
        "kerattn serve does not implement Classify; use Predict.",
    )
    models = model_service_pb2_grpc.ModelServiceStub(grpc_channel)
    assert_status(
        lambda: models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest()),
        grpc.StatusCode.UNIMPLEMENTED,
        "kerattn serve does not implement "
        "HandleReloadConfigRequest; restart it with the new --model_config_file.",
    )


# ---- the translator --------------------------------------------------------------------------


@pytest.mark.slow  # exporting the translator traces beam search twice
def test_predict_equals_rest_for_the_translator(translator_base):
    texts = [ENGLISH[0], "Привет 😀 ¿qué?", ""]
    manager = ModelManager([ModelConfig("translator", str(translator_base))])
    manager.poll_once()
    grpc_server = GrpcServer(manager, port=0, max_threads=1)
    grpc_address = f"127.0.0.1:{grpc_server.start()}"
    try:
        with (
            rest_client(manager, num_threads=1) as client,
            grpc.insecure_channel(grpc_address) as channel,
        ):
            for signature_name in ("serving_default", "greedy"):
                response = predict(
                    channel,
                    predict_request(
                        name="translator",
                        signature_name=signature_name,
                        inputs={"text": np.array([t.encode() for t in texts], object)},
                    ),
                )
                rest = client.post(
                    "/v1/models/translator:predict",
                    {"signature_name": signature_name, "inputs": texts},
                ).json()
                assert_same_outputs(outputs(response), rest["outputs"])
    finally:
        grpc_server.stop()
