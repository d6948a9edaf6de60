"""Predict response bodies byte for byte as TF Serving writes them (json_tensor.cc's
MakeJsonFromTensors with rapidjson's PrettyWriter, docs/serving.md §3.5), and the row-format key
errors in json_tensor.cc's order (§3.4)."""

from __future__ import annotations

import numpy as np
import pytest

from kerattn.serving.json_tensors import predict_response_json
from tests.serving.conftest import assert_json_error

INTS = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2], np.int32).reshape(2, 3, 2)
WORDS = np.array([b"hello", b"world", b"tf", b"serving"], object).reshape(2, 2)
TWO = {"a": np.array([1, 2], np.int64), "b": np.array([[0.5], [1.5]], np.float32)}


@pytest.mark.parametrize(
    "outputs, row_format, body",
    [
        # json_tensor_test.cc FromJsonSingleTensor: the items follow `[`, `]` on a line of its own.
        (
            {"int_tensor": INTS},
            True,
            '{\n    "predictions": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]\n    ]\n}',
        ),
        (
            {"int_tensor": INTS[:, :1, :]},
            False,
            '{\n    "outputs": [\n        [\n            [\n                1,\n                2\n'
            "            ]\n        ],\n        [\n            [\n                7,\n                8\n"
            "            ]\n        ]\n    ]\n}",
        ),
        (
            {"x": np.array([1, 2, 3, 4, 5], np.int32)},
            True,
            '{\n    "predictions": [1, 2, 3, 4, 5\n    ]\n}',
        ),
        # FromJsonSingleBytesTensor: a {"b64": …} object is pretty-printed even in a one-line array.
        (
            {"str_tensor_bytes": WORDS},
            True,
            '{\n    "predictions": [[{\n                "b64": "aGVsbG8="\n            }, {\n'
            '                "b64": "d29ybGQ="\n            }], [{\n                "b64": "dGY="\n'
            '            }, {\n                "b64": "c2VydmluZw=="\n            }]\n    ]\n}',
        ),
        # FromJsonMultipleNamedTensors: one object an item, its members one a line.
        (
            TWO,
            True,
            '{\n    "predictions": [\n        {\n            "a": 1,\n            "b": [0.5]\n'
            '        },\n        {\n            "a": 2,\n            "b": [1.5]\n        }\n    ]\n}',
        ),
        (
            TWO,
            False,
            '{\n    "outputs": {\n        "a": [\n            1,\n            2\n        ],\n'
            '        "b": [\n            [\n                0.5\n            ],\n            [\n'
            "                1.5\n            ]\n        ]\n    }\n}",
        ),
        # FromJsonSingleFloatTensorNonFinite and SixDigitPrecision.
        (
            {"f": np.array([[np.nan, np.inf], [3, -np.inf]], np.float32)},
            True,
            '{\n    "predictions": [[NaN, Infinity], [3.0, -Infinity]\n    ]\n}',
        ),
        (
            {"f": np.array([9000000, 999999, 0.5, 0.0003, 0.00003, 555557.5], np.float32)},
            True,
            '{\n    "predictions": [9e+06, 999999.0, 0.5, 0.0003, 3e-05, 555557.5\n    ]\n}',
        ),
        (
            {"f": np.array([np.nan, -np.inf], np.float64)},
            False,
            '{\n    "outputs": [\n        NaN,\n        -Infinity\n    ]\n}',
        ),
        # Zero batch, empty inner dimensions, a scalar.
        ({"f": np.zeros((0, 2), np.float32)}, True, '{\n    "predictions": []\n}'),
        ({"f": np.zeros((2, 0), np.float32)}, True, '{\n    "predictions": [[], []\n    ]\n}'),
        (
            {"f": np.zeros((2, 0), np.float32)},
            False,
            '{\n    "outputs": [\n        [],\n        []\n    ]\n}',
        ),
        ({"f": np.float32(3)}, False, '{\n    "outputs": 3.0\n}'),
        (
            {"s": np.array(['é"\n'.encode()], object)},
            False,
            '{\n    "outputs": [\n        "é\\"\\n"\n    ]\n}',
        ),
    ],
)
def test_response_body_is_tf_servings_layout(outputs, row_format, body):
    assert predict_response_json(outputs, row_format).decode("utf-8") == body


def test_served_response_body_is_tf_servings_layout(served):
    reply = served.post("/v1/models/toy:predict", {"instances": [1.0, 2.0]})
    assert reply.body == b'{\n    "predictions": [3.0, 5.0\n    ]\n}'
    reply = served.post("/v1/models/toy:predict", {"inputs": [1.0, 2.0]})
    assert reply.body == b'{\n    "outputs": [\n        3.0,\n        5.0\n    ]\n}'


PREDICT = "/v1/models/toy:predict"
MIXED = {"a": 1, "b": "x", "flag": True}


@pytest.mark.parametrize(
    "signature, instance, message",
    [
        # RowExtraKeyRejected: every key is read in order, so an extra key fails as that key, before
        # the set of keys is compared.
        (
            "serving_default",
            {"x": 1, "z": 2},
            "Failed to process element: 0 key: z of 'instances' "
            "list. Error: INVALID_ARGUMENT: JSON object: does not have named input: z",
        ),
        (
            "mixed",
            {**MIXED, "extra": 1},
            "Failed to process element: 0 key: extra of 'instances' "
            "list. Error: INVALID_ARGUMENT: JSON object: does not have named input: extra",
        ),
        # B64ExtraKeyTopLevelRow: {"b64": …} with another key is a named-input object, not bytes.
        (
            "serving_default",
            {"b64": "aGk=", "x": 1},
            "Failed to process element: 0 key: b64 of "
            "'instances' list. Error: INVALID_ARGUMENT: JSON object: does not have named input: b64",
        ),
        # A key's own error comes before the missing keys.
        (
            "mixed",
            {"a": "one"},
            "Failed to process element: 0 key: a of 'instances' list. Error: "
            'INVALID_ARGUMENT: JSON Value: "one" Type: String is not of expected type: int32',
        ),
        (
            "mixed",
            {"a": 1, "b": "x"},
            "Failed to process element: 0 of 'instances' list. JSON object: "
            '{\n    "a": 1,\n    "b": "x"\n} keys must be equal to: a,b,flag',
        ),
    ],
)
def test_row_format_key_errors_in_tf_servings_order(served, signature, instance, message):
    body = {"signature_name": signature, "instances": [instance]}
    assert_json_error(served.post(PREDICT, body), 400, message)
