"""A TF-Serving-compatible endpoint over exported SavedModels (`kerattn serve`).

A client written against TensorFlow Serving's gRPC or REST API works unchanged
(docs/serving.md §2–4), and a request can make it read and build only what `RequestLimits`
allows (§7).

Modules:
    model_manager: version discovery, policies, labels, loading/unloading, model status.
    servable_requests: what both APIs do with a decoded request: model status, metadata,
        running a signature on named arrays.
    request_limits: `RequestLimits`: bytes, batch size, elements and rank one request may have.
    request_body: a REST body read and gzip-inflated within the byte limit.
    json_error_server: aiohttp's low-level server answering unparseable HTTP with JSON errors.
    rate_limited_log: one log line per failed request, at most 10 a second.
    json_document: iterative JSON parsing with rapidjson's behaviour; error-message dumps.
    json_tensors: predict request JSON → input arrays, outputs → response JSON.
    rest_server: the aiohttp REST application, `RestServer`.
    tensor_protos: PredictRequest TensorProtos → input arrays, outputs → TensorProtos.
    grpc_server: PredictionService and ModelService servicers, `GrpcServer`.
    model_run_queue: `ModelRunQueue`: bounded concurrent model runs behind a bounded queue,
        deadlines honoured before a run starts.
    model_warmup: a version's warm-up records replayed before it is AVAILABLE.
    model_config_poller: `--model_config_file` re-read periodically.
    model_server: `serve`: both servers until SIGTERM/SIGINT, then a drain.
    serving_error: TF Serving status codes, HTTP mapping, `ServingError`.
    command: `kerattn serve`'s flags → models and servers.
"""

from kerattn.serving.model_manager import ModelConfig, ModelManager, model_configs_from_proto
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.serving_error import ServingError

__all__ = [
    "ModelConfig",
    "ModelManager",
    "RequestLimits",
    "ServingError",
    "model_configs_from_proto",
]
