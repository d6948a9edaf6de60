"""What the REST and gRPC endpoints both do once a request is decoded (docs/serving.md §3–4).

* `model_status_response`: GetModelStatusResponse of a model or one version
  (get_model_status_impl.cc);
* `model_metadata`: the resolved ModelSpec and the SignatureDefMap of the version a request
  names (get_model_metadata_impl.cc);
* `find_signature` and `run_signature`: the signature a predict request names, run on named
  input arrays (predict_util.cc RunPredict, after the transport-specific input checks).

Errors are `ServingError`s with TF Serving's codes; each transport words its own errors about
request syntax and about an unknown signature, as TF Serving's REST and gRPC handlers do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kerattn.serving.json_tensors import dtype_name
from kerattn.serving.model_manager import ModelManager
from kerattn.serving.serving_error import CODE_NUMBERS, from_exception, invalid_argument


def model_status_response(manager: ModelManager, name: str, version: int | None):
    """GetModelStatusResponse: every version of `name` ever seen (descending), or `version`.

    Raises:
        ServingError: NOT_FOUND for an unknown model or version.
    """
    from tensorflow_serving.apis import get_model_status_pb2

    response = get_model_status_pb2.GetModelStatusResponse()
    for status in manager.version_statuses(name, version):
        entry = response.model_version_status.add()
        entry.version = status.version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state)
        entry.status.error_code = CODE_NUMBERS[status.error_code]
        entry.status.error_message = status.error_message
    return response


def model_metadata(manager: ModelManager, name: str, version: int | None, label: str | None):
    """(ModelSpec {name, version}, SignatureDefMap) of the version a request names.

    Raises:
        ServingError: as `ModelManager.servable`.
    """
    from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

    loaded = manager.servable(name, version, label)
    spec = model_pb2.ModelSpec(name=name)
    spec.version.value = loaded.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature_def in loaded.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature_def)
    return spec, signature_map


def find_signature(loaded, key: str) -> tuple[Any, Any] | None:
    """(SignatureDef proto, callable) of signature `key` of a loaded version, or None."""
    signature_def = loaded.signature_def(key)
    if signature_def is None or key not in loaded.signatures:
        return None
    return signature_def, loaded.signatures[key]


def run_signature(
    function, signature_def, inputs: Mapping[str, np.ndarray], output_aliases: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Runs a signature on every one of its inputs; returns the outputs `output_aliases` names
    (all outputs, in SignatureDef order, when empty).

    As in TF Serving, shapes are not checked against the SignatureDef (the model's ops may still
    reject them); an input of another dtype gets the TF runtime's INVALID_ARGUMENT
    `Expects arg[<i>] to be <signature dtype> but <dtype> is provided` (FunctionCallFrame, with
    the arguments in sorted alias order); runtime errors keep their code.
    """
    import tensorflow as tf

    feed = {}
    for index, alias in enumerate(sorted(inputs)):
        expected = signature_def.inputs[alias].dtype
        given = tf.dtypes.as_dtype(inputs[alias].dtype).as_datatype_enum
        if given != expected:
            raise invalid_argument(
                f"Expects arg[{index}] to be {dtype_name(expected)} but "
                f"{dtype_name(given)} is provided"
            )
        feed[alias] = tf.constant(inputs[alias], dtype=tf.dtypes.as_dtype(expected))
    try:
        outputs = function(**feed)
    except Exception as error:  # noqa: BLE001 - runtime errors pass through with their code
        raise from_exception(error) from None
    return {
        alias: outputs[alias].numpy()
        for alias in (output_aliases or signature_def.outputs)
        if alias in outputs
    }
