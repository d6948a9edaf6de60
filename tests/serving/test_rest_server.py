"""REST endpoint over real HTTP on loopback: routes, status, metadata, predict, error texts."""

from __future__ import annotations

import base64
import json

import pytest

from tests.serving.conftest import assert_json_error

PREDICT = "/v1/models/toy:predict"


# ---- model status and metadata ---------------------------------------------------------------


def test_status_lists_versions_descending(served):
    reply = served.get("/v1/models/toy")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }


def test_status_of_one_version_and_label_ignored(served):
    assert [
        s["version"] for s in served.get("/v1/models/toy/versions/1").json()["model_version_status"]
    ] == ["1"]
    # Status ignores labels, even undefined ones (get_model_status_impl.cc).
    reply = served.get("/v1/models/toy/labels/nonexistent")
    assert reply.status == 200 and len(reply.json()["model_version_status"]) == 2


def test_status_errors(served):
    assert_json_error(
        served.get("/v1/models/toy/versions/9"), 404, "Could not find version 9 of model toy"
    )
    assert_json_error(
        served.get("/v1/models/nope"), 404, "Could not find any versions of model nope"
    )
    assert_json_error(served.get("/v1/models"), 400, "Missing model name in request.")


def test_metadata(served):
    reply = served.get("/v1/models/toy/metadata")
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    assert body["model_spec"] == {"name": "toy", "signature_name": "", "version": "2"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) >= {"serving_default", "mixed", "scalar", "lengths"}
    x = signatures["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert x["tensor_shape"] == {"dim": [], "unknown_rank": True}
    assert signatures["mixed"]["inputs"]["a"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}],
        "unknown_rank": False,
    }
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert served.get("/v1/models/toy/versions/1/metadata").json()["model_spec"]["version"] == "1"
    assert (
        served.get("/v1/models/toy/labels/stable/metadata").json()["model_spec"]["version"] == "1"
    )


def test_metadata_errors(served):
    assert_json_error(
        served.get("/v1/models/nope/metadata"), 404, "Servable not found for request: Latest(nope)"
    )
    assert_json_error(
        served.get("/v1/models/toy/versions/5/metadata"),
        404,
        "Servable not found for request: Specific(toy, 5)",
    )
    assert_json_error(
        served.get("/v1/models/toy/labels/beta/metadata"),
        400,
        "Unrecognized servable version label: beta",
    )


# ---- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/foo"),
        ("POST", "/v1/models"),
        ("GET", "/v1/models/foo:predict"),
        ("GET", "/v1/models/foo/version/50"),
        ("GET", "/v1/models/foo/label/x"),
        ("GET", "/v1/models/foo/versions/HELLO"),
        ("GET", "/v1/models/foo/versions/50/labels/x"),
        ("POST", "/v1/models/foo/metadata"),
        ("GET", "/v1/models/debug/model_name"),
        ("POST", "/v1/models/toy:PREDICT"),
        ("POST", "/v1/models/toy:predict?x=1"),
        ("PUT", "/v1/models/toy:predict"),
        ("DELETE", "/v1/models/toy"),
    ],
)
def test_malformed_requests(served, method, path):
    reply = served.request(method, path, b"{}" if method in ("POST", "PUT") else None)
    assert_json_error(reply, 400, f"Malformed request: {method} {path}")


def test_query_string_is_part_of_the_model_name(served):
    assert_json_error(
        served.get("/v1/models/toy?x=1"), 404, "Could not find any versions of model toy?x=1"
    )


@pytest.mark.parametrize("path", ["/", "/statuspage", "/v2/models/toy"])
def test_non_v1_paths_get_html_404(served, path):
    reply = served.get(path)
    assert reply.status == 404
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"Not Found" in reply.body


def test_case_insensitive_path_and_metadata_quirk(served):
    reply = served.post("/V1/MODELS/toy:predict", {"instances": [1.0]})
    assert reply.status == 200 and reply.json() == {"predictions": [3.0]}
    # `/METADATA` matches the regex but is compared case-sensitively: served as status.
    assert "model_version_status" in served.get("/v1/models/toy/METADATA").json()


def test_percent_decoding_after_matching(served):
    assert_json_error(
        served.get("/v1/models/modelname%21%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D"),
        404,
        "Could not find any versions of model modelname!#$%&'()*+,/:;=?@[]",
    )


def test_unconvertible_version_and_bad_escape_give_empty_400(served):
    for path in ("/v1/models/toy/versions/99999999999999999999", "/v1/models/to%zzy"):
        reply = served.get(path)
        assert reply.status == 400 and reply.body == b""


def test_head_and_options(served):
    reply = served.request("HEAD", "/v1/models/toy")
    assert reply.status == 400 and reply.body == b""
    assert (
        served.request("OPTIONS", "/v1/models/toy", headers={"Origin": "http://example.com"}).status
        == 200
    )
    assert served.request("OPTIONS", "/v1/models/toy").status == 400


# ---- predict ---------------------------------------------------------------------------------


def test_predict_row_and_columnar(served):
    reply = served.post(PREDICT, {"instances": [[1.0, 2.0], [3.0, 4.5]]})
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"predictions": [[3.0, 5.0], [7.0, 10.0]]}
    assert served.post(PREDICT, {"inputs": [[1, 2]]}).json() == {"outputs": [[3.0, 5.0]]}
    assert served.post(PREDICT, {"inputs": 5}).json() == {"outputs": 11.0}
    assert served.post(PREDICT, {"inputs": {"x": [1], "ignored": "extra"}}).json() == {
        "outputs": [3.0]
    }
    assert served.post(PREDICT, {"instances": [{"x": 1}, {"x": 2}]}).json() == {
        "predictions": [3.0, 5.0]
    }
    assert served.post(PREDICT, {"instances": [[], []]}).json() == {"predictions": [[], []]}


def test_float_text_nan_and_trailing_data(served):
    reply = served.post(PREDICT, b'{"instances": [NaN, Inf, -Infinity, 0.1]} trailing garbage')
    assert reply.status == 200
    assert b"".join(reply.body.split()) == b'{"predictions":[NaN,Infinity,-Infinity,1.2]}'


def test_predict_several_outputs_signature_name_b64(served):
    text = "héllo"
    body = {
        "signature_name": "mixed",
        "instances": [
            {"a": 1, "b": text, "flag": True},
            {"a": 2, "b": {"b64": base64.b64encode(b"\x00\xffraw").decode()}, "flag": False},
        ],
    }
    reply = served.post(PREDICT, body)
    assert reply.status == 200, reply.body
    assert "héllo".encode() in reply.body  # raw UTF-8, not \u escapes
    first, second = reply.json()["predictions"]
    assert first == {
        "doubled": 2,
        "text": text,
        "negated": False,
        "half": 0.33333333333333331,
        "text_bytes": {"b64": base64.b64encode(text.encode()).decode()},
    }
    assert second["text_bytes"] == {"b64": base64.b64encode(b"\x00\xffraw").decode()}
    columnar = served.post(
        PREDICT,
        {"signature_name": "mixed", "inputs": {"a": [3], "b": [{"b64": "aGk"}], "flag": [True]}},
    ).json()["outputs"]
    assert columnar["doubled"] == [6] and columnar["text"] == ["hi"]


def test_versions_and_labels_route_predict(served):
    for path in ("/v1/models/toy/versions/1:predict", "/v1/models/toy/labels/stable:predict"):
        assert served.post(path, {"instances": [1.0]}).json() == {"predictions": [3.0]}
    assert_json_error(
        served.post("/v1/models/toy/versions/3:predict", {"instances": [1.0]}),
        404,
        "Servable not found for request: Specific(toy, 3)",
    )
    assert_json_error(
        served.post("/v1/models/toy/labels/beta:predict", {"instances": [1.0]}),
        400,
        "Unrecognized servable version label: beta",
    )
    assert_json_error(
        served.post("/v1/models/toy/labels/gone:predict", {"instances": [1.0]}),
        404,
        "Servable not found for request: Specific(toy, 7)",
    )


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"", 400, "JSON Parse error: The document is empty"),
        (b"   ", 400, "JSON Parse error: The document is empty. at offset: 3"),
        (b'{"instances": [1,}', 400, "JSON Parse error: Invalid value. at offset: 17"),
        (
            b'{"instances" [1]}',
            400,
            "JSON Parse error: Missing a colon after a name of object member. at offset: 13",
        ),
        (b"[1]", 400, "JSON Value: [1] Is not object"),
        (
            b'{"signature_name": 1, "instances": [1]}',
            400,
            'JSON Value: {\n    "signature_name": 1,\n    "instances": [1]\n} not formatted correctly. '
            "'signature_name' key must be a string value.",
        ),
        (
            b'{"signature_name": "nope", "instances": [1]}',
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            b'{"instances": [1], "inputs": [1]}',
            400,
            'JSON Value: {\n    "instances": [1],\n    "inputs": [1]\n} Not formatted correctly expecting'
            " only one of 'inputs' or 'instances' keys to exist ",
        ),
        (b'{"foo": [1]}', 400, "Missing 'inputs' or 'instances' key"),
        (b'{"instances": 1}', 400, "JSON Value: 1 Expecting 'instances' to be an list/array"),
        (b'{"instances": []}', 400, "JSON Value: [] No values in 'instances' array"),
        (
            b'{"instances": ["a"]}',
            400,
            "Failed to process element: 0 of 'instances' list. Error: "
            'INVALID_ARGUMENT: JSON Value: "a" Type: String is not of expected type: float',
        ),
        (
            b'{"instances": [[1, 2], [3]]}',
            400,
            "Failed to process element: 1 of 'instances' list. "
            "Error: INVALID_ARGUMENT: Expecting tensor size: 2 but got: 1",
        ),
        (
            b'{"instances": [[1, 2], [[3], [4]]]}',
            400,
            "Failed to process element: 1 of 'instances' "
            "list. Error: INVALID_ARGUMENT: Expecting shape [2] but got: [2,1]",
        ),
        (
            b'{"inputs": [[1, 2], [3]]}',
            400,
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
        ),
        (
            b'{"inputs": [[1], 2]}',
            400,
            "JSON Value: 2 found at incorrect level: 2 in the JSON DOM. Expected at level: 2",
        ),
        (b'{"inputs": [1, [2]]}', 400, "Encountered list at unexpected level: 1 expected < 1"),
        (b'{"inputs": null}', 400, "JSON Value: null Type: Null is not of expected type: float"),
        (
            b'{"instances": [{"x": 1, "z": 2}]}',
            400,
            "Failed to process element: 0 key: z of "
            "'instances' list. Error: INVALID_ARGUMENT: JSON object: does not have named input: z",
        ),
        (
            b'{"instances": [{"z": 2}]}',
            400,
            "Failed to process element: 0 key: z of 'instances' "
            "list. Error: INVALID_ARGUMENT: JSON object: does not have named input: z",
        ),
        (
            b'{"instances": [{"x": 1}, 2]}',
            400,
            "Expecting object but got list at item 1 of input list",
        ),
        (
            b'{"instances": [1, {"x": 2}]}',
            400,
            "Expecting value/list but got object at item 1 of input list",
        ),
    ],
)
def test_predict_errors(served, body, status, message):
    assert_json_error(served.post(PREDICT, body), status, message)


@pytest.mark.parametrize(
    "inputs, message",
    [
        (
            {"a": [1.5], "b": ["x"], "flag": [True]},
            "JSON Value: 1.5 Type: Number is not of expected type: int32",
        ),
        (
            {"a": [1], "b": [1], "flag": [True]},
            "JSON Value: 1 Type: Number is not of expected type: string",
        ),
        (
            {"a": [1], "b": ["x"], "flag": [1]},
            "JSON Value: 1 Type: Number is not of expected type: bool",
        ),
        (
            {"a": [2147483648], "b": ["x"], "flag": [True]},
            "JSON Value: 2147483648 Type: Number is not of expected type: int32",
        ),
        ({"a": [1], "b": [{"b64": "!!!!"}], "flag": [True]}, "Unable to base64 decode"),
        (
            {"a": [1], "b": [{"b64": "aGk", "x": 1}], "flag": [True]},
            'JSON Value: {\n    "b64": "aGk",\n    "x": 1\n} not formatted correctly for base64 data',
        ),
        ({"a": [1], "flag": [True]}, "Missing named input: b in 'inputs' object."),
    ],
)
def test_mixed_signature_dtype_errors(served, inputs, message):
    assert_json_error(
        served.post(PREDICT, {"signature_name": "mixed", "inputs": inputs}), 400, message
    )


def test_multi_input_plain_values_rejected(served):
    assert_json_error(
        served.post(PREDICT, {"signature_name": "mixed", "instances": [1]}),
        400,
        "instances is a plain list, but expecting list of objects as multiple input "
        "tensors required as per tensorinfo_map",
    )
    assert_json_error(
        served.post(PREDICT, {"signature_name": "mixed", "inputs": [1]}),
        400,
        "inputs is a plain value/list, but expecting an object as multiple input "
        "tensors required as per tensorinfo_map",
    )


def test_scalar_output_needs_columnar_format(served):
    body = {"signature_name": "scalar", "instances": [1.0, 2.0]}
    assert_json_error(
        served.post(PREDICT, body), 400, "Tensor name: total has no shape information "
    )
    assert served.post(PREDICT, {"signature_name": "scalar", "inputs": [1.0, 2.0]}).json() == {
        "outputs": 3.0
    }


def test_unknown_model_valid_body_404_but_bad_body_400(served):
    assert_json_error(
        served.post("/v1/models/nope:predict", {"instances": [1]}),
        404,
        "Servable not found for request: Latest(nope)",
    )
    assert served.post("/v1/models/nope:predict", b"{").status == 400


def test_deeply_nested_body_is_a_clean_error(served):
    depth = 50_000
    body = b'{"inputs": ' + b"[" * depth + b"1" + b"]" * depth + b"}"
    reply = served.post(PREDICT, body)
    assert_json_error(
        reply, 400, "Input x has a rank above 32; kerattn serve accepts ranks up to 32."
    )
    # Deep nesting in an ignored key parses fine (iterative parser).
    body = b'{"instances": [1.0], "extra": ' + b"[" * depth + b"]" * depth + b"}"
    assert served.post(PREDICT, body).json() == {"predictions": [3.0]}


def test_body_too_large_is_413(served):
    reply = served.post(PREDICT, b'{"instances": [' + b"1.0, " * 300_000 + b"1.0]}")
    assert reply.status == 413
    assert reply.headers["Content-Type"] == "application/json"
    assert "larger than the limit" in reply.error


def test_classify_is_not_implemented_yet(served):
    assert served.post("/v1/models/toy:classify", {"examples": []}).status == 501


def test_classifier_export_row_format(served):
    reply = served.post("/v1/models/classifier:predict", {"instances": ["a great film", "Жук 😀"]})
    assert reply.status == 200, reply.body
    predictions = reply.json()["predictions"]
    assert len(predictions) == 2
    assert predictions[0]["label"] in ("negative", "positive")
    assert len(predictions[0]["probabilities"]) == 2
    columnar = served.post("/v1/models/classifier:predict", {"inputs": {"text": ["boring"]}})
    assert columnar.status == 200 and set(columnar.json()["outputs"]) >= {"label", "label_id"}
    assert (
        json.loads(served.get("/v1/models/classifier").body)["model_version_status"][0]["state"]
        == "AVAILABLE"
    )


def test_gzip_request_body_is_inflated(served):
    import gzip

    reply = served.request(
        "POST",
        PREDICT,
        gzip.compress(b'{"instances": [1.0]}'),
        headers={"Content-Encoding": "gzip"},
    )
    assert reply.status == 200 and reply.json() == {"predictions": [3.0]}
