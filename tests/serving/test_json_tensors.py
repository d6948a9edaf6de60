"""JSON parsing, tensor conversion and response text without a server (docs/serving.md §3.4–3.5, §9)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerattn.serving.json_document import JsonParseError, dump, parse, parse_request_body
from kerattn.serving.json_tensors import (
    absl_base64_decode,
    convert_leaf,
    format_float,
    json_to_tensor,
    predict_response_json,
)
from kerattn.serving.serving_error import ServingError

FLOAT, DOUBLE, INT32, UINT8, STRING, INT64, BOOL, HALF, UINT64 = 1, 2, 3, 4, 7, 9, 10, 19, 23


@pytest.mark.parametrize(
    "value, double, text",
    [
        (3.0, False, "3.0"),
        (9e6, False, "9e+06"),
        (3e-5, False, "3e-05"),
        (999999.0, False, "999999.0"),
        (555557.5, False, "555557.5"),
        (1 / 3, False, "0.333333343"),
        (1 / 3, True, "0.33333333333333331"),
        (1435774336.0, False, "1.43577434e+09"),
        (0.5, True, "0.5"),
        (-2.0, True, "-2.0"),
        (float("nan"), False, "NaN"),
        (float("inf"), True, "Infinity"),
        (float("-inf"), False, "-Infinity"),
    ],
)
def test_float_text(value, double, text):
    assert format_float(np.float64(value) if double else np.float32(value), double) == text


@pytest.mark.parametrize(
    "encoded, decoded",
    [
        ("aGVsbG8=", b"hello"),
        ("aGVsbG8", b"hello"),
        ("aGVs\nbG8 =", b"hello"),
        ("aGVsbG8.", b"hello"),
        ("", b""),
        ("+/8=", b"\xfb\xff"),
        ("!!!!", None),
        ("aGVsbG8==", None),
        ("aGVsbG8=x", None),
        ("a", None),
        ("-_8=", None),
        ("aGVsbG8=\x00", None),
    ],
)
def test_absl_base64(encoded, decoded):
    assert absl_base64_decode(encoded) == decoded


def test_parser_accepts_rapidjson_extensions_and_ignores_trailing_data():
    assert parse(b'{"a": [NaN, Inf, -Inf, Infinity, -Infinity]} }}} garbage')["a"][1:] == [
        float("inf"),
        float("-inf"),
        float("inf"),
        float("-inf"),
    ]
    assert parse(b'"\\ud83d\\ude00\\u00e9"') == "😀é"
    assert parse('"Жук"'.encode()) == "Жук"
    assert parse(b'{"a": 1, "a": 2}') == {"a": 1}  # rapidjson's FindMember: first wins
    assert isinstance(parse(b"1"), int) and isinstance(parse(b"1.0"), float)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{", "Missing a name for object member. at offset: 1"),
        (b'{"a": tru}', "Invalid value. at offset: 6"),
        (b"[1,2", "Missing a comma or ']' after an array element. at offset: 4"),
        (b'"a\\x"', "Invalid escape character in string. at offset: 2"),
        (b'"\\u12G4"', "Incorrect hex digit after \\u escape in string. at offset: 3"),
        (b'"\\ud83d"', "The surrogate pair in string is invalid. at offset: 7"),
        (b'"a\x01"', "Invalid encoding in string. at offset: 2"),
        (b"1e999", "Number too big to be stored in double. at offset: 0"),
    ],
)
def test_parse_errors(body, message):
    with pytest.raises(JsonParseError) as error:
        parse(body)
    assert str(error.value) == message


def test_empty_body_texts():
    with pytest.raises(ServingError, match=r"^JSON Parse error: The document is empty$"):
        parse_request_body(b"")
    with pytest.raises(ServingError, match=r"empty\. at offset: 2$"):
        parse_request_body(b" \n")


def test_deep_nesting_needs_no_recursion():
    depth = 100_000  # far beyond json.loads's recursion limit
    value = parse(b"[" * depth + b"]" * depth)
    assert len(dump(value)) <= 256 + 64
    with pytest.raises(
        ServingError,
        match=r"^Input inputs has a rank above 32; kerattn serve "
        r"accepts ranks up to 32\.$",
    ):
        json_to_tensor(value, FLOAT)
    assert json_to_tensor(parse(b"[" * 32 + b"1" + b"]" * 32), FLOAT).ndim == 32


def test_dump_format():
    assert dump({"a": [1, 2.5, "x"], "b": {}}) == '{\n    "a": [1, 2.5, "x"],\n    "b": {}\n}'
    assert dump([1, float("nan"), 2]) == "[1, "
    assert len(dump(list(range(10_000)))) < 400


@pytest.mark.parametrize(
    "value, dtype, expected",
    [
        (1, FLOAT, 1.0),
        (1435774380, FLOAT, 1435774380.0),
        (float("nan"), DOUBLE, None),
        (-5, INT32, -5),
        (300, UINT8, 300),
        (2**63 - 1, INT64, 2**63 - 1),
        (2**64 - 1, UINT64, 2**64 - 1),
        (True, BOOL, True),
        ("é", STRING, "é".encode()),
        ({"b64": "aGk="}, STRING, b"hi"),
    ],
)
def test_leaf_conversion(value, dtype, expected):
    result = convert_leaf(value, dtype)
    assert result == expected or (expected is None and np.isnan(result))


@pytest.mark.parametrize(
    "value, dtype, message",
    [
        (1.0, INT32, "JSON Value: 1.0 Type: Number is not of expected type: int32"),
        (1e3, INT64, "JSON Value: 1000.0 Type: Number is not of expected type: int64"),
        (
            2**63,
            INT64,
            "JSON Value: 9223372036854775808 Type: Number is not of expected type: int64",
        ),
        (-1, UINT64, "JSON Value: -1 Type: Number is not of expected type: uint64"),
        (1, BOOL, "JSON Value: 1 Type: Number is not of expected type: bool"),
        (None, FLOAT, "JSON Value: null Type: Null is not of expected type: float"),
        (True, FLOAT, "JSON Value: true Type: True is not of expected type: float"),
        (float("nan"), INT32, "JSON Value:  Type: Number is not of expected type: int32"),
        (
            {"b64": "aGk="},
            FLOAT,
            'JSON Value: {\n    "b64": "aGk="\n} Type: Object is not of expected type: float',
        ),
    ],
)
def test_leaf_type_errors(value, dtype, message):
    with pytest.raises(ServingError) as error:
        convert_leaf(value, dtype)
    assert (error.value.code, error.value.message) == ("INVALID_ARGUMENT", message)


def test_unsupported_dtype_is_unimplemented():
    with pytest.raises(ServingError) as error:
        convert_leaf(1.0, HALF)
    assert (error.value.code, error.value.http_status) == ("UNIMPLEMENTED", 501)
    assert error.value.message == "Conversion of JSON Value: 1.0 to type: half"


def test_tensor_values_and_narrowing():
    array = json_to_tensor([[1e39, 1e-50], [1435774380, -1]], FLOAT)
    assert array.dtype == np.float32 and array.shape == (2, 2)
    assert np.isinf(array[0, 0]) and array[0, 1] == 0 and array[1, 0] == 1435774336
    assert json_to_tensor([300], UINT8).tolist() == [44]
    assert json_to_tensor([[], []], FLOAT).shape == (2, 0)
    assert json_to_tensor("x", STRING).shape == ()


def test_response_formats():
    # The layout byte for byte: tests/serving/test_response_layout.py.
    two = {"a": np.array([1, 2], np.int64), "b": np.array([[0.5], [1.5]], np.float32)}
    assert json.loads(predict_response_json(two, row_format=True)) == {
        "predictions": [{"a": 1, "b": [0.5]}, {"a": 2, "b": [1.5]}]
    }
    assert json.loads(predict_response_json(two, row_format=False)) == {
        "outputs": {"a": [1, 2], "b": [[0.5], [1.5]]}
    }
    assert json.loads(predict_response_json({"a": np.zeros((0, 3), np.float32)}, True)) == {
        "predictions": []
    }
    strings = {"s": np.array(['é"\n'.encode()], object), "s_bytes": np.array([b"\x00"], object)}
    body = predict_response_json(strings, False)
    assert 'é\\"\\n'.encode() in body  # raw UTF-8, as TF Serving writes it
    assert json.loads(body) == {"outputs": {"s": ['é"\n'], "s_bytes": [{"b64": "AA=="}]}}
    with pytest.raises(ServingError, match="inconsistent batch size: 3 expecting: 2"):
        predict_response_json({"a": np.zeros(2), "b": np.zeros(3)}, True)
    with pytest.raises(ServingError, match="^Cannot convert empty tensor map to JSON$"):
        predict_response_json({}, True)
    with pytest.raises(ServingError, match="tensor type: half"):
        predict_response_json({"h": np.zeros(2, np.float16)}, False)
