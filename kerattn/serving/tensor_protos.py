"""TF Serving's gRPC tensors: PredictRequest inputs to named arrays, output arrays to TensorProtos.

Follows `predict_util.cc` PreProcessPrediction and `tensorflow/cc/saved_model/util.cc`
GetInputValues as docs/serving.md §4 describes them, with their error texts (all
INVALID_ARGUMENT):

* more inputs than the signature has, or fewer and no `defaults` → `input size does not match
  signature: …`; a signature input neither sent nor defaulted → `Signature input alias: …`; a
  TensorProto that does not parse → `tensor parsing error: <alias>`; a dtype other than the
  signature's (DT_RESOURCE and DT_VARIANT included) → the runtime's
  `Expects arg[<i>] to be <dtype> but <dtype> is provided`;
* `output_filter` names outputs, each once; empty means every output;
* outputs are written as `Tensor::AsProtoField` does: typed `*_val` fields and the full shape.

Inputs are decoded as `Tensor::FromProto` does (docs/serving.md §7): `tensor_content` must hold
exactly the shape's elements; a typed `*_val` field may hold fewer (the last value is repeated,
an empty field means zeros or empty strings) or more (the first ones are used). Unlike
`tf.make_ndarray`, nothing is built before the declared shape and dtype have passed
`RequestLimits` (rank, batch size, element count, and the bytes repeated strings would take), so
a few bytes cannot make the server build a huge array.

Where TF Serving iterates a protobuf map (unspecified order), kerattn goes through the aliases in
sorted order, so the alias an error names is deterministic.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kerattn.serving.json_tensors import dtype_name
from kerattn.serving.request_limits import RequestLimits, is_valid_tensorflow_shape
from kerattn.serving.serving_error import invalid_argument

# DataType enum number → the TensorProto field `Tensor::AsProtoField` writes its values to.
_VALUE_FIELDS = {
    1: "float_val",
    2: "double_val",
    3: "int_val",
    4: "int_val",
    5: "int_val",
    6: "int_val",
    9: "int64_val",
    10: "bool_val",
    14: "half_val",
    17: "int_val",
    19: "half_val",
    22: "uint32_val",
    23: "uint64_val",
}
_HALF_TYPES = (14, 19)  # DT_BFLOAT16, DT_HALF: half_val holds the 16-bit patterns
DT_STRING, DT_RESOURCE, DT_VARIANT = 7, 20, 21
_FIRST_REFERENCE_TYPE = 101  # DT_FLOAT_REF: reference types never come from a TensorProto
# DataType → (typed field, the dtype its values are read as, values per element) for the dtypes
# requests are decoded here; others (quantized types) go through tf.make_ndarray once checked.
_DECODED_FIELDS = {
    1: ("float_val", np.float32, 1),
    2: ("double_val", np.float64, 1),
    3: ("int_val", np.int32, 1),
    4: ("int_val", np.int32, 1),
    5: ("int_val", np.int32, 1),
    6: ("int_val", np.int32, 1),
    17: ("int_val", np.int32, 1),
    9: ("int64_val", np.int64, 1),
    10: ("bool_val", np.bool_, 1),
    14: ("half_val", np.int32, 1),
    19: ("half_val", np.int32, 1),
    22: ("uint32_val", np.uint32, 1),
    23: ("uint64_val", np.uint64, 1),
    8: ("scomplex_val", np.float32, 2),
    18: ("dcomplex_val", np.float64, 2),
    DT_STRING: ("string_val", object, 1),
}


def _joined(names) -> str:
    return ",".join(sorted(names))


def _numpy_dtype(dtype_enum: int) -> np.dtype | None:
    """The numpy dtype of a DataType, or None if it has none (or is no DataType)."""
    import tensorflow as tf

    try:
        return np.dtype(tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype)
    except (TypeError, KeyError):
        return None


@dataclasses.dataclass(frozen=True)
class _CheckedInput:
    """A request TensorProto whose shape, dtype and value count were checked (nothing built)."""

    alias: str
    proto: object
    shape: tuple[int, ...]
    numpy_dtype: np.dtype | None


def _parse_error(alias: str):
    return invalid_argument(f"tensor parsing error: {alias}")


def _check_input(
    proto, alias: str, tensor_info, limits: RequestLimits, elements_so_far: int
) -> tuple[_CheckedInput, int]:
    """Checks what `Tensor::FromProto` checks and what `limits` allow, from the declared shape
    and dtype only; returns the checked input and the request's elements so far."""
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if proto.dtype == 0 or proto.tensor_shape.unknown_rank or not is_valid_tensorflow_shape(shape):
        raise _parse_error(alias)
    numpy_dtype = None if proto.dtype in (DT_RESOURCE, DT_VARIANT) else _numpy_dtype(proto.dtype)
    if proto.dtype >= _FIRST_REFERENCE_TYPE or (
        numpy_dtype is None and proto.dtype not in (DT_RESOURCE, DT_VARIANT)
    ):
        raise _parse_error(alias)  # a reference type, or a number no DataType has
    elements = limits.check_input(alias, shape, tensor_info, elements_so_far)
    count = math.prod(shape)
    if count and proto.tensor_content:
        if (
            proto.dtype == DT_STRING
            or numpy_dtype is None
            or (len(proto.tensor_content) != count * numpy_dtype.itemsize)
        ):
            raise _parse_error(alias)
    elif count and proto.dtype == DT_STRING:
        strings = proto.string_val
        if len(strings) < count:  # the last value (or "") repeated up to `count`
            last = len(strings[-1]) if strings else 0
            sent = sum(len(value) for value in strings)
            limits.check_string_bytes(alias, sent + (count - len(strings)) * last)
    return _CheckedInput(alias, proto, shape, numpy_dtype), elements


def _decode(checked: _CheckedInput) -> np.ndarray:
    """The array of a checked input, as `Tensor::FromProto` fills it."""
    proto, shape, count = checked.proto, checked.shape, math.prod(checked.shape)
    if checked.numpy_dtype is None:
        raise _parse_error(checked.alias)  # DT_RESOURCE/DT_VARIANT: never built from a request
    if count == 0:
        return np.empty(shape, checked.numpy_dtype)
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, checked.numpy_dtype).copy().reshape(shape)
    if proto.dtype not in _DECODED_FIELDS:
        import tensorflow as tf

        try:
            return tf.make_ndarray(proto)
        except Exception:  # noqa: BLE001 - any failure is a parsing error
            raise _parse_error(checked.alias) from None
    field_name, read_dtype, per_element = _DECODED_FIELDS[proto.dtype]
    field = getattr(proto, field_name)
    given = min(len(field) // per_element, count)
    if proto.dtype == DT_STRING:
        values = np.empty(count, object)
        values[:given] = list(field[:given])
        values[given:] = field[given - 1] if given else b""
        return values.reshape(shape)
    values = np.fromiter(field, read_dtype, count=given * per_element)
    if per_element == 2:  # (real, imaginary) pairs
        values = values[0::2] + 1j * values[1::2]
    if given == 0:
        values = np.zeros(count, values.dtype)
    elif given < count:
        values = np.concatenate([values, np.full(count - given, values[-1], values.dtype)])
    if proto.dtype in _HALF_TYPES:
        values = values.astype(np.uint16).view(checked.numpy_dtype)
    return values.astype(checked.numpy_dtype, copy=False).reshape(shape)


def input_arrays(
    request_inputs, signature_def, limits: RequestLimits | None = None
) -> dict[str, np.ndarray]:
    """Every signature input as an array, from the request's TensorProtos or the defaults.

    Args:
        request_inputs: the PredictRequest's `inputs` map (alias → TensorProto).
        signature_def: the SignatureDef proto of the signature to run.
        limits: what one request may build (default `RequestLimits()`), checked for every
            input before any array is built.

    Raises:
        ServingError: INVALID_ARGUMENT with predict_util.cc's and util.cc's texts, the
            runtime's dtype text, or a limit's text.
    """
    limits = limits or RequestLimits()
    sent, expected = set(request_inputs), set(signature_def.inputs)
    defaults = signature_def.defaults
    if len(sent) > len(expected) or (len(sent) < len(expected) and not defaults):
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{_joined(sent)}}}) != len({{{_joined(expected)}}}). "
            f"Sent extra: {{{_joined(sent - expected)}}}. "
            f"Missing but required: {{{_joined(expected - sent)}}}."
        )
    checked = []
    elements = 0
    for alias in sorted(expected):
        if alias in sent:
            proto = request_inputs[alias]
        elif alias in defaults:
            proto = defaults[alias]
        else:
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {signature_def.inputs[alias].name}) "
                "not found in request and no default value provided. Inputs expected to be in "
                f"the request {{{_joined(sent)}}}, or default input alias set: {_joined(defaults)}"
            )
        checked_input, elements = _check_input(
            proto, alias, signature_def.inputs[alias], limits, elements
        )
        checked.append(checked_input)
    if sent - expected:  # only possible when defaults made up for the count
        raise invalid_argument(
            f"Inputs contains invalid name. Used request inputs: {_joined(sent & expected)}, "
            f"request input: {_joined(sent)}"
        )
    for index, checked_input in enumerate(checked):  # FunctionCallFrame's check, sorted aliases
        expected_dtype = signature_def.inputs[checked_input.alias].dtype
        if checked_input.proto.dtype != expected_dtype:
            raise invalid_argument(
                f"Expects arg[{index}] to be {dtype_name(expected_dtype)} but "
                f"{dtype_name(checked_input.proto.dtype)} is provided"
            )
    return {checked_input.alias: _decode(checked_input) for checked_input in checked}


def output_aliases(output_filter, signature_def) -> list[str]:
    """The outputs a request's `output_filter` asks for, in its order (empty: all outputs).

    Raises:
        ServingError: INVALID_ARGUMENT for an alias not in the signature or named twice.
    """
    aliases: list[str] = []
    for alias in output_filter:
        if alias not in signature_def.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                f"the set {{{_joined(signature_def.outputs)}}}."
            )
        if alias in aliases:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        aliases.append(alias)
    return aliases


# numpy dtype → (DataType, typed field) of the outputs `tensor_proto` writes without
# `tf.make_tensor_proto` (a tenth of its time); other dtypes take that path.
_DIRECT_FIELDS = {
    np.dtype(np.float32): (1, "float_val"),
    np.dtype(np.float64): (2, "double_val"),
    np.dtype(np.int32): (3, "int_val"),
    np.dtype(np.int64): (9, "int64_val"),
    np.dtype(np.bool_): (10, "bool_val"),
}


def _direct_tensor_proto(array: np.ndarray):
    """The TensorProto `tensor_proto` gives, built directly, or None for a dtype or value it
    does not build (then `tf.make_tensor_proto` is the reference)."""
    from tensorflow.core.framework import tensor_pb2

    if not isinstance(array, np.ndarray):
        return None
    if array.dtype == object:
        values = array.ravel().tolist()
        if not all(type(value) is bytes for value in values):
            return None
        proto = tensor_pb2.TensorProto(dtype=DT_STRING)
        proto.string_val.extend(values)
    else:
        known = _DIRECT_FIELDS.get(array.dtype)
        if known is None or not array.size:
            return None
        proto = tensor_pb2.TensorProto(dtype=known[0])
        getattr(proto, known[1]).extend(array.ravel().tolist())
    proto.tensor_shape.SetInParent()  # present also for a scalar, as make_tensor_proto sets it
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    return proto


def tensor_proto(array: np.ndarray):
    """`array` as a TensorProto with its values in the typed `*_val` field, as TF Serving answers
    (`tf.make_tensor_proto` packs numbers into `tensor_content`; clients read either)."""
    direct = _direct_tensor_proto(array)
    if direct is not None:
        return direct
    import tensorflow as tf

    proto = tf.make_tensor_proto(array)
    field = _VALUE_FIELDS.get(proto.dtype)
    if proto.tensor_content and field is not None:
        values = array.view(np.uint16) if proto.dtype in _HALF_TYPES else array
        proto.ClearField("tensor_content")
        getattr(proto, field).extend(values.ravel().tolist())
    return proto
