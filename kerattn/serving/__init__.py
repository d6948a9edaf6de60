"""A TF-Serving-compatible endpoint over exported SavedModels (`kerattn serve`).

A client written against TensorFlow Serving's REST API works unchanged (SERVING-SPEC.md §2–3).

Modules:
    model_manager: version discovery, policies, labels, loading/unloading, model status.
    json_document: iterative JSON parsing with rapidjson's behaviour; error-message dumps.
    json_tensors: predict request JSON → input arrays, outputs → response JSON.
    rest_server: the aiohttp REST application, `RestServer` and `serve`.
    serving_error: TF Serving status codes, HTTP mapping, `ServingError`.
    command: `kerattn serve`'s flags → models and server.

gRPC (PredictionService / ModelService) is to reuse `ModelManager.servable`,
`ModelManager.version_statuses`, `read_signature_defs` and the numpy arrays of `json_tensors`.
"""

from kerattn.serving.model_manager import ModelConfig, ModelManager, model_configs_from_proto
from kerattn.serving.serving_error import ServingError

__all__ = ["ModelConfig", "ModelManager", "ServingError", "model_configs_from_proto"]
