"""TF Serving's REST JSON ⇄ tensors: predict requests to named inputs, outputs to response JSON.

Follows `tensorflow_serving/util/json_tensor.cc` as docs/serving.md §3.4–3.5 describes it: row
(`instances`) and columnar (`inputs`) request formats, shape inference from the first element of
each level (ragged lists rejected), the dtype rules and their error texts, `{"b64": ...}` strings
decoded like `absl::Base64Unescape`, and responses as `predictions` (row) or `outputs` (columnar)
with TF Serving's float text (`%.6g` if it round-trips, else `%.9g`/`%.17g`, `.0` appended),
bare NaN/Infinity tokens, raw UTF-8 strings and `{"b64": ...}` for `*_bytes` outputs, laid out
byte for byte as rapidjson's PrettyWriter writes them there.

Request bodies are parsed by `json_document.parse_request_body` (iterative, any depth). Tensors
here are numpy arrays (strings: object arrays of bytes), the form `servable_requests.run_signature`
runs for both APIs. Each input's shape is read from the first element of each level, no deeper
than the input may be, and checked against `RequestLimits` (its rank against the signature's and
`MAX_RANK`, the batch size, the request's element count; docs/serving.md §7) before any value is
read or any array is built, which also bounds all later work on deeply nested values.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from kerattn.serving.json_document import dump, json_string, type_name
from kerattn.serving.request_limits import MAX_RANK, RequestLimits, shape_text
from kerattn.serving.serving_error import ServingError, invalid_argument

# DataType enum number → (DataTypeString name, numpy dtype; None: JSON conversion unsupported).
DTYPES = {
    1: ("float", np.float32),
    2: ("double", np.float64),
    3: ("int32", np.int32),
    4: ("uint8", np.uint8),
    5: ("int16", np.int16),
    6: ("int8", np.int8),
    7: ("string", object),
    8: ("complex64", None),
    9: ("int64", np.int64),
    10: ("bool", np.bool_),
    14: ("bfloat16", None),
    17: ("uint16", None),
    18: ("complex128", None),
    19: ("half", None),
    22: ("uint32", np.uint32),
    23: ("uint64", np.uint64),
}
_INTEGER_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "int16": (-(2**31), 2**31 - 1),
    "int8": (-(2**31), 2**31 - 1),
    "uint8": (-(2**31), 2**31 - 1),  # no narrower check
    "int64": (-(2**63), 2**63 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/]*")
_ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]")


def dtype_name(dtype_enum: int) -> str:
    """TensorFlow's DataTypeString for a DataType enum number."""
    if dtype_enum in DTYPES:
        return DTYPES[dtype_enum][0]
    import tensorflow as tf

    try:
        return tf.dtypes.as_dtype(dtype_enum).name
    except TypeError:  # a number no DataType has
        return f"unknown dtype enum ({dtype_enum})"


def absl_base64_decode(text: str) -> bytes | None:
    """Decodes like `absl::Base64Unescape`: standard alphabet, padding optional (`=` or `.`, but
    correct if present), ASCII whitespace skipped, anything else rejected (None)."""
    compact = _ASCII_WHITESPACE.sub("", text)
    body = _BASE64_BODY.match(compact).group()
    padding = compact[len(body) :]
    if padding.strip("=."):
        return None
    remainder = len(body) % 4
    if remainder == 1:
        return None
    if padding and (remainder == 0 or len(body) + len(padding) != len(body) + 4 - remainder):
        return None
    try:
        return base64.b64decode(body + "=" * ((4 - remainder) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def is_base64_object(value) -> bool:
    """A `{"b64": "<string>"}` object: exactly one member `b64` whose value is a string."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and "b64" in value
        and isinstance(value["b64"], str)
    )


def _type_error(value, expected: str) -> ServingError:
    return invalid_argument(
        f"JSON Value: {dump(value)} Type: {type_name(value)} is not of expected type: {expected}"
    )


def convert_leaf(value, dtype_enum: int):
    """The Python value a JSON leaf gives for `dtype_enum` (AddValueToTensor)."""
    name, numpy_dtype = DTYPES.get(dtype_enum, (dtype_name(dtype_enum), None))
    if numpy_dtype is None:
        raise ServingError(
            "UNIMPLEMENTED", f"Conversion of JSON Value: {dump(value)} to type: {name}"
        )
    if name == "string":
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, dict):
            if not is_base64_object(value):
                raise invalid_argument(
                    f"JSON Value: {dump(value)} not formatted correctly for base64 data"
                )
            decoded = absl_base64_decode(value["b64"])
            if decoded is None:
                raise invalid_argument("Unable to base64 decode")
            return decoded
        raise _type_error(value, name)
    if name == "bool":
        if isinstance(value, bool):
            return value
        raise _type_error(value, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(value, name)
    if name in ("float", "double"):
        return float(value)
    low, high = _INTEGER_RANGES[name]
    if isinstance(value, float) or not low <= value <= high:
        raise _type_error(value, name)
    return value


def dense_shape(value, max_rank: int = MAX_RANK) -> list[int]:
    """Shape read from the first element at each nesting level (GetDenseTensorShape), read no
    deeper than `max_rank` + 1 levels: a longer result means "nested deeper than `max_rank`"."""
    shape = []
    while isinstance(value, list) and len(shape) <= max_rank:
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def fill_values(value, shape: list[int], dtype_enum: int, out: list) -> None:
    """Appends the leaves of `value` (checked against `shape`) to `out` (FillTensorProto)."""
    rank = len(shape)
    # Depth-first with an explicit stack of (value, level), leaves in order.
    stack = [(value, 0)]
    while stack:
        current, level = stack.pop()
        if not isinstance(current, list):
            if level != rank:
                raise invalid_argument(
                    f"JSON Value: {dump(current)} found at incorrect level: {level + 1} in the "
                    f"JSON DOM. Expected at level: {rank}"
                )
            out.append(convert_leaf(current, dtype_enum))
            continue
        if level >= rank:
            raise invalid_argument(
                f"Encountered list at unexpected level: {level} expected < {rank}"
            )
        if len(current) != shape[level]:
            raise invalid_argument(
                f"Encountered list at unexpected size: {len(current)} at level: {level} "
                f"expected size: {shape[level]}"
            )
        stack.extend((item, level + 1) for item in reversed(current))


def _array(values: list, shape: list[int], dtype_enum: int) -> np.ndarray:
    numpy_dtype = DTYPES[dtype_enum][1]
    if numpy_dtype is object:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    if numpy_dtype in (np.float32, np.float64):
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(values, dtype=np.float64).astype(numpy_dtype).reshape(shape)
    if numpy_dtype in (np.int8, np.int16, np.uint8):
        # TF narrows int32 values to the smaller type without a range check (300 → 44 as uint8).
        return np.asarray(values, dtype=np.int64).astype(numpy_dtype).reshape(shape)
    return np.asarray(values, dtype=numpy_dtype).reshape(shape)


class _RequestInputs:
    """The signature inputs one request feeds, the limits their shapes are checked against, and
    the elements the request's inputs add up to so far."""

    def __init__(
        self,
        dtypes: Mapping[str, int],
        tensor_infos: Mapping[str, Any],
        limits: RequestLimits | None,
    ):
        self.dtypes = dict(dtypes)
        self.tensor_infos = dict(tensor_infos)
        self.limits = limits or RequestLimits()
        self.elements = 0

    def checked_shape(
        self, name: str, value, batch_size: int | None = None, count: bool = True
    ) -> list[int]:
        """The shape of `value`, read no deeper than input `name` may be and checked against the
        limits; with `batch_size`, `value` is one of that many instances and the checked shape
        is `[batch_size] + its shape`. `count` adds the elements to the request's total."""
        info = self.tensor_infos.get(name)
        limit = self.limits.rank_limit(info)
        outer = [] if batch_size is None else [batch_size]
        shape = dense_shape(value, max(limit - len(outer), 0))
        full_shape = outer + shape
        if len(full_shape) > limit:
            self.limits.check_rank(name, limit, info, deeper=True)
        if count:
            self.elements = self.limits.check_input(name, full_shape, info, self.elements)
        else:
            self.limits.check_rank(name, len(full_shape), info)
        return shape

    def tensor(self, name: str, value) -> np.ndarray:
        """A columnar value (any rank) as an array of the input's dtype."""
        shape = self.checked_shape(name, value)
        values: list = []
        fill_values(value, shape, self.dtypes[name], values)
        return _array(values, shape, self.dtypes[name])


def json_to_tensor(
    value,
    dtype_enum: int,
    limits: RequestLimits | None = None,
    name: str = "inputs",
    tensor_info=None,
) -> np.ndarray:
    """One JSON value as an array of `dtype_enum`, its shape checked against `limits` (default
    `RequestLimits()`) and `tensor_info`'s shape (None: any rank) before its values are read."""
    return _RequestInputs({name: dtype_enum}, {name: tensor_info}, limits).tensor(name, value)


def _status_text(error: ServingError) -> str:
    return f"{error.code}: {error.message}"


def input_tensors(
    document: dict, signature_def, limits: RequestLimits | None = None
) -> tuple[dict[str, np.ndarray], bool]:
    """Named input arrays for a predict request, and whether it used the row format.

    Args:
        document: the parsed body (a dict).
        signature_def: the SignatureDef proto whose `inputs` the request feeds.
        limits: what one request may build (default `RequestLimits()`).

    Raises:
        ServingError: with json_tensor.cc's texts (INVALID_ARGUMENT, or UNIMPLEMENTED for a
            columnar value of an unsupported dtype), or INVALID_ARGUMENT for an input over the
            limits.
    """
    infos = _RequestInputs(
        {name: info.dtype for name, info in signature_def.inputs.items()},
        signature_def.inputs,
        limits,
    )
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise invalid_argument(
            f"JSON Value: {dump(document)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if not has_instances and not has_inputs:
        raise invalid_argument("Missing 'inputs' or 'instances' key")
    if has_instances:
        return _instances_to_tensors(document["instances"], infos), True
    return _inputs_to_tensors(document["inputs"], infos), False


def _is_element_object(value) -> bool:
    return isinstance(value, dict) and not is_base64_object(value)


def _inputs_to_tensors(inputs, infos: _RequestInputs) -> dict[str, np.ndarray]:
    if not _is_element_object(inputs):
        if len(infos.dtypes) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        (name,) = infos.dtypes
        return {name: infos.tensor(name, inputs)}
    tensors = {}
    for name in infos.dtypes:
        if name not in inputs:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = infos.tensor(name, inputs[name])
    return tensors


def _instances_to_tensors(instances, infos: _RequestInputs) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise invalid_argument(
            f"JSON Value: {dump(instances)} Expecting 'instances' to be an list/array"
        )
    if not instances:
        raise invalid_argument(f"JSON Value: {dump(instances)} No values in 'instances' array")
    infos.limits.check_batch(len(instances))
    # Per input: [item shape, item size, flat values of all items].
    collected: dict[str, list] = {}

    def add_item(name: str, item, dtype: int) -> None:
        # The first item's shape is checked for the whole batch; later items must match it.
        shape = infos.checked_shape(name, item, len(instances), count=name not in collected)
        values: list = []
        fill_values(item, shape, dtype, values)
        if name not in collected:
            collected[name] = [shape, len(values), values]
            return
        first_shape, first_size, all_values = collected[name]
        if len(values) != first_size:
            raise invalid_argument(f"Expecting tensor size: {first_size} but got: {len(values)}")
        if shape != first_shape:
            raise invalid_argument(
                f"Expecting shape {shape_text(first_shape)} but got: {shape_text(shape)}"
            )
        all_values.extend(values)

    dtypes = infos.dtypes
    names = sorted(dtypes)
    if _is_element_object(instances[0]):
        for index, element in enumerate(instances):
            if not _is_element_object(element):
                raise invalid_argument(
                    f"Expecting object but got list at item {index} of input list"
                )
            # As json_tensor.cc: every key in the object's order first (an unknown one, e.g.
            # the `b64` of `{"b64": …, "x": …}`, fails as that key), then the set of keys.
            for key, item in element.items():
                try:
                    if key not in dtypes:
                        raise invalid_argument(f"JSON object: does not have named input: {key}")
                    add_item(key, item, dtypes[key])
                except ServingError as error:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {key} of 'instances' list. "
                        f"Error: {_status_text(error)}"
                    ) from None
            if len(element) != len(dtypes):  # every key is an input name: some are missing
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{dump(element)} keys must be equal to: {','.join(names)}"
                )
    else:
        if len(dtypes) > 1:
            raise invalid_argument(
                "instances is a plain list, but expecting list of objects as multiple input "
                "tensors required as per tensorinfo_map"
            )
        ((name, dtype),) = dtypes.items()
        for index, element in enumerate(instances):
            if _is_element_object(element):
                raise invalid_argument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                add_item(name, element, dtype)
            except ServingError as error:
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {_status_text(error)}"
                ) from None
    return {
        name: _array(values, [len(instances)] + shape, dtypes[name])
        for name, (shape, _, values) in collected.items()
    }


# ---- responses ------------------------------------------------------------------------------


def format_float(value, double: bool) -> str:
    """TF Serving's float text: `%.6g` if it parses back to the same value, else `%.9g` (float)
    or `%.17g` (double); `.0` appended when the text has no `.` or `e`; NaN/±Infinity tokens."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = "%.6g" % value
    same = float(text) == value if double else np.float32(float(text)) == np.float32(value)
    if not same:
        text = ("%.17g" if double else "%.9g") % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def float_texts(flat: np.ndarray, double: bool) -> list[str]:
    """`format_float` of every element of a 1-D float32 (`double` False) or float64 array, with
    the round-trip check done on the whole array at once."""
    values = flat.tolist()
    texts = ["%.6g" % value for value in values]
    with np.errstate(over="ignore", invalid="ignore"):
        parsed = np.array([float(text) for text in texts], dtype=np.float64)
        same = (parsed == flat) if double else (parsed.astype(np.float32) == flat)
    long_format = "%.17g" if double else "%.9g"
    for index, value in enumerate(values):
        if value != value:
            texts[index] = "NaN"
            continue
        if value in (math.inf, -math.inf):
            texts[index] = "Infinity" if value > 0 else "-Infinity"
            continue
        text = texts[index] if same[index] else long_format % value
        if "." not in text and "e" not in text:
            text += ".0"
        texts[index] = text
    return texts


# rapidjson's PrettyWriter indents by 4 spaces per open container.
_INDENT = "    "


def _leaf_texts(name: str, array: np.ndarray, depth: int) -> list[str]:
    """The texts of every element, written with `depth` containers open (a `*_bytes` element
    is a pretty-printed `{"b64": …}` object, so its layout depends on the depth)."""
    kind = array.dtype
    flat = array.reshape(-1)
    if kind == np.float32 or kind == np.float64:
        return float_texts(flat, double=kind == np.float64)
    if kind == np.bool_:
        return ["true" if x else "false" for x in flat]
    if kind.kind in "iu":
        return [str(int(x)) for x in flat]
    if kind.kind in "OS":
        if name.endswith("_bytes"):
            opening = "{\n" + _INDENT * (depth + 1) + '"b64": "'
            closing = '"\n' + _INDENT * depth + "}"
            return [opening + base64.b64encode(bytes(x)).decode("ascii") + closing for x in flat]
        return [json_string(bytes(x).decode("utf-8", "surrogateescape")) for x in flat]
    tf_name = {
        np.dtype(np.float16): "half",
        np.dtype(np.complex64): "complex64",
        np.dtype(np.complex128): "complex128",
        np.dtype(np.uint16): "uint16",
    }.get(kind, str(kind))
    raise invalid_argument(f"Failed to write JSON value for tensor type: {tf_name}")


def _tensor_text(name: str, array, depth: int, single_line: bool) -> str:
    """A tensor as json_tensor.cc's AddTensorValues writes it with rapidjson's PrettyWriter,
    `depth` containers open: nested arrays on one line (`[1, 2]`, kFormatSingleLineArray) or one
    element a line, indented (kFormatDefault); an empty array is `[]`. Built a level at a time
    from the innermost dimension (no recursion)."""
    array = np.asarray(array)
    shape = array.shape
    if array.size == 0:  # arrays down to the first 0-sized dimension, which are `[]`
        shape = shape[: shape.index(0)]
        level = ["[]"] * int(np.prod(shape))
    else:
        level = _leaf_texts(name, array, depth + len(shape))
    for axis in range(len(shape) - 1, -1, -1):  # the arrays of `axis` have depth + axis open
        size = shape[axis]
        if single_line:
            level = ["[" + ", ".join(level[i : i + size]) + "]" for i in range(0, len(level), size)]
        else:
            inner, outer = "\n" + _INDENT * (depth + axis + 1), "\n" + _INDENT * (depth + axis)
            level = [
                "[" + ",".join(inner + text for text in level[i : i + size]) + outer + "]"
                for i in range(0, len(level), size)
            ]
    return level[0]


def predict_response_json(outputs: dict[str, Any], row_format: bool) -> bytes:
    """The response body for predict outputs, byte for byte as json_tensor.cc's
    MakeJsonFromTensors writes it with rapidjson's PrettyWriter (docs/serving.md §3.5):
    `{"predictions": …}` for a row request, `{"outputs": …}` for a columnar one; raw UTF-8,
    NaN/Infinity tokens.

    Row format writes each item with single-line arrays and switches back to the default
    layout after it, so the items of a one-output response follow `[` on its line and the
    closing `]` gets a line of its own (`{\n    "predictions": [3.0, 5.0\n    ]\n}`); with
    several outputs each item is an object, its members one a line. Columnar format keeps
    the default layout: one array element a line.
    """
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    if row_format:
        batch = None
        for name, array in arrays.items():
            if array.ndim == 0:
                raise invalid_argument(f"Tensor name: {name} has no shape information ")
            if batch is None:
                batch = array.shape[0]
            elif array.shape[0] != batch:
                raise invalid_argument(
                    f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                    f"expecting: {batch}"
                )
        if len(arrays) == 1:
            ((name, array),) = arrays.items()
            items = ", ".join(_tensor_text(name, item, 2, single_line=True) for item in array)
        else:
            member = "\n" + _INDENT * 3
            items = ",".join(
                "\n"
                + _INDENT * 2
                + "{"
                + ",".join(
                    f"{member}{json_string(name)}: "
                    f"{_tensor_text(name, array[index], 3, single_line=True)}"
                    for name, array in arrays.items()
                )
                + "\n"
                + _INDENT * 2
                + "}"
                for index in range(batch)
            )
        closing = "\n" + _INDENT + "]" if batch else "]"
        body = "{\n" + _INDENT + '"predictions": [' + items + closing + "\n}"
    elif len(arrays) == 1:
        ((name, array),) = arrays.items()
        body = "{\n" + _INDENT + '"outputs": ' + _tensor_text(name, array, 1, False) + "\n}"
    else:
        members = ",".join(
            f"\n{_INDENT * 2}{json_string(name)}: {_tensor_text(name, array, 2, False)}"
            for name, array in arrays.items()
        )
        body = "{\n" + _INDENT + '"outputs": {' + members + "\n" + _INDENT + "}\n}"
    return body.encode("utf-8", "surrogateescape")
