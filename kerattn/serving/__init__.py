"""A TF-Serving-compatible endpoint over exported SavedModels (`kerattn serve`).

A client written against TensorFlow Serving's gRPC or REST API works unchanged
(SERVING-SPEC.md §2–4).

Modules:
    model_manager: version discovery, policies, labels, loading/unloading, model status.
    servable_requests: what both APIs do with a decoded request: model status, metadata,
        running a signature on named arrays.
    json_document: iterative JSON parsing with rapidjson's behaviour; error-message dumps.
    json_tensors: predict request JSON → input arrays, outputs → response JSON.
    rest_server: the aiohttp REST application, `RestServer`.
    tensor_protos: PredictRequest TensorProtos → input arrays, outputs → TensorProtos.
    grpc_server: PredictionService and ModelService servicers, `GrpcServer`.
    model_server: `serve`: both servers until SIGTERM/SIGINT, then a drain.
    serving_error: TF Serving status codes, HTTP mapping, `ServingError`.
    command: `kerattn serve`'s flags → models and servers.
"""

from kerattn.serving.model_manager import ModelConfig, ModelManager, model_configs_from_proto
from kerattn.serving.serving_error import ServingError

__all__ = ["ModelConfig", "ModelManager", "ServingError", "model_configs_from_proto"]
