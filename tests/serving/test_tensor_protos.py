"""PredictRequest TensorProtos → arrays and arrays → TensorProtos, without a server."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from kerattn.serving.serving_error import ServingError
from kerattn.serving.tensor_protos import input_arrays, tensor_proto


def signature_with_default() -> meta_graph_pb2.SignatureDef:
    """Inputs x (float) and y (float, default [5.0]), as a TF1 export may have."""
    signature = meta_graph_pb2.SignatureDef()
    for alias in ("x", "y"):
        signature.inputs[alias].name = f"{alias}:0"
        signature.inputs[alias].dtype = tf.float32.as_datatype_enum
    signature.defaults["y"].CopyFrom(tf.make_tensor_proto(np.float32([5.0])))
    return signature


def test_defaults_fill_inputs_the_request_leaves_out():
    arrays = input_arrays({"x": tf.make_tensor_proto(np.float32([1.0]))}, signature_with_default())
    assert {alias: array.tolist() for alias, array in arrays.items()} == {"x": [1.0], "y": [5.0]}


def test_unknown_input_next_to_a_default_is_an_invalid_name():
    request = {alias: tf.make_tensor_proto(np.float32([1.0])) for alias in ("x", "bogus")}
    with pytest.raises(ServingError) as caught:
        input_arrays(request, signature_with_default())
    assert (caught.value.code, caught.value.message) == (
        "INVALID_ARGUMENT",
        "Inputs contains invalid name. Used request inputs: x, request input: bogus,x",
    )


def test_negative_dimension_does_not_parse():
    proto = tf.make_tensor_proto(np.float32([1.0, 2.0]))
    proto.tensor_shape.dim[0].size = -1
    with pytest.raises(ServingError, match=r"^tensor parsing error: x$"):
        input_arrays({"x": proto, "y": proto}, signature_with_default())


@pytest.mark.parametrize(
    "array, field",
    [
        (np.float32([[1.5, -2.0], [3.0, 0.25]]), "float_val"),
        (np.float64([1 / 3, 2.0]), "double_val"),
        (np.int8([-3, 7]), "int_val"),
        (np.uint8([0, 255]), "int_val"),
        (np.int32([1, -2]), "int_val"),
        (np.int64([2**40, -1]), "int64_val"),
        (np.uint32([2**32 - 1, 0]), "uint32_val"),
        (np.uint64([2**64 - 1, 1]), "uint64_val"),
        (np.float16([1.5, -0.5]), "half_val"),
        (np.array([True, False, True]), "bool_val"),
        (np.array([b"a", "é".encode()], object), "string_val"),
    ],
)
def test_outputs_use_typed_fields_and_round_trip(array, field):
    proto = tensor_proto(array)
    assert proto.tensor_content == b""
    assert len(getattr(proto, field)) == array.size
    assert [dim.size for dim in proto.tensor_shape.dim] == list(array.shape)
    round_trip = tf.make_ndarray(tensor_pb2.TensorProto.FromString(proto.SerializeToString()))
    assert round_trip.dtype == array.dtype
    np.testing.assert_array_equal(round_trip, array)
