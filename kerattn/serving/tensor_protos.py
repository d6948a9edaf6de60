"""TF Serving's gRPC tensors: PredictRequest inputs to named arrays, output arrays to TensorProtos.

Follows `predict_util.cc` PreProcessPrediction and `tensorflow/cc/saved_model/util.cc`
GetInputValues as SERVING-SPEC.md §4 describes them, with their error texts (all
INVALID_ARGUMENT):

* more inputs than the signature has, or fewer and no `defaults` → `input size does not match
  signature: …`; a signature input neither sent nor defaulted → `Signature input alias: …`; a
  TensorProto that does not parse → `tensor parsing error: <alias>`;
* `output_filter` names outputs, each once; empty means every output;
* outputs are written as `Tensor::AsProtoField` does: typed `*_val` fields and the full shape.

Where TF Serving iterates a protobuf map (unspecified order), kerattn goes through the aliases in
sorted order, so the alias an error names is deterministic.
"""

from __future__ import annotations

import numpy as np

from kerattn.serving.serving_error import invalid_argument

# DataType enum number → the TensorProto field `Tensor::AsProtoField` writes its values to.
_VALUE_FIELDS = {
    1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
    9: "int64_val", 10: "bool_val", 14: "half_val", 17: "int_val", 19: "half_val",
    22: "uint32_val", 23: "uint64_val",
}
_HALF_TYPES = (14, 19)  # DT_BFLOAT16, DT_HALF: half_val holds the 16-bit patterns


def _joined(names) -> str:
    return ",".join(sorted(names))


def _parse(proto, alias: str) -> np.ndarray:
    import tensorflow as tf

    if any(dim.size < 0 for dim in proto.tensor_shape.dim):
        raise invalid_argument(f"tensor parsing error: {alias}")
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError):
        raise invalid_argument(f"tensor parsing error: {alias}") from None


def input_arrays(request_inputs, signature_def) -> dict[str, np.ndarray]:
    """Every signature input as an array, from the request's TensorProtos or the defaults.

    Args:
        request_inputs: the PredictRequest's `inputs` map (alias → TensorProto).
        signature_def: the SignatureDef proto of the signature to run.

    Raises:
        ServingError: INVALID_ARGUMENT with predict_util.cc's and util.cc's texts.
    """
    sent, expected = set(request_inputs), set(signature_def.inputs)
    defaults = signature_def.defaults
    if len(sent) > len(expected) or (len(sent) < len(expected) and not defaults):
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{_joined(sent)}}}) != len({{{_joined(expected)}}}). "
            f"Sent extra: {{{_joined(sent - expected)}}}. "
            f"Missing but required: {{{_joined(expected - sent)}}}.")
    arrays = {}
    for alias in sorted(expected):
        if alias in sent:
            proto = request_inputs[alias]
        elif alias in defaults:
            proto = defaults[alias]
        else:
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {signature_def.inputs[alias].name}) "
                "not found in request and no default value provided. Inputs expected to be in "
                f"the request {{{_joined(sent)}}}, or default input alias set: {_joined(defaults)}")
        arrays[alias] = _parse(proto, alias)
    if sent - expected:  # only possible when defaults made up for the count
        raise invalid_argument(
            f"Inputs contains invalid name. Used request inputs: {_joined(sent & expected)}, "
            f"request input: {_joined(sent)}")
    return arrays


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
                f"the set {{{_joined(signature_def.outputs)}}}.")
        if alias in aliases:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        aliases.append(alias)
    return aliases


def tensor_proto(array: np.ndarray):
    """`array` as a TensorProto with its values in the typed `*_val` field, as TF Serving answers
    (`tf.make_tensor_proto` packs numbers into `tensor_content`; clients read either)."""
    import tensorflow as tf

    proto = tf.make_tensor_proto(array)
    field = _VALUE_FIELDS.get(proto.dtype)
    if proto.tensor_content and field is not None:
        values = array.view(np.uint16) if proto.dtype in _HALF_TYPES else array
        proto.ClearField("tensor_content")
        getattr(proto, field).extend(values.ravel().tolist())
    return proto
