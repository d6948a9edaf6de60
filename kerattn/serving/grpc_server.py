"""TF Serving's gRPC API (port `--port`) on `grpc.server`, with the servicers generated in the
`tensorflow-serving-api` package.

Methods, status codes and messages follow docs/serving.md §4 (`predict_impl.cc`,
`predict_util.cc`, `get_model_metadata_impl.cc`, `get_model_status_impl.cc`, `server_core.cc`):

* `PredictionService/Predict`: ModelSpec name, version or version_label, signature_name (empty →
  `serving_default`); inputs as TensorProtos; `output_filter`; the response's model_spec carries
  the version that ran and the resolved signature name; outputs in typed `*_val` fields;
* `PredictionService/GetModelMetadata`: `metadata_field` "signature_def" → a SignatureDefMap
  packed in an Any;
* `ModelService/GetModelStatus`: every version ever seen, or the one asked for (labels ignored);
* `Classify`, `Regress`, `MultiInference` and `HandleReloadConfigRequest` → UNIMPLEMENTED.

Status codes are TF Serving's internal codes unchanged; messages above 1024 characters are cut
and suffixed `...TRUNCATED` (grpc_status_util.cc).

RPCs are handled in a pool of `max_threads` threads; RPCs beyond those wait, up to
`max_queued_requests` of them, and only an RPC beyond that gets RESOURCE_EXHAUSTED (`Concurrent
RPC limit exceeded!`, from grpcio). The model runs themselves go through a `ModelRunQueue`
(shared with REST in `kerattn serve`): bounded concurrency, a bounded FIFO queue, and the client's
deadline honoured: an RPC whose deadline passed before its turn, or whose client cancelled it, is
never run (DEADLINE_EXCEEDED / CANCELLED), as TF Serving's session run follows the deadline
(docs/serving.md §12). Messages above
`limits.max_request_bytes` get RESOURCE_EXHAUSTED from gRPC (TF Serving accepts up to 2 GiB);
Predict inputs are checked against `limits` before any array is built (`tensor_protos`,
`request_limits`). Every failed RPC is logged on one line, without a traceback, at most 10 lines a
second (`rate_limited_log`), a request message that does not parse included (gRPC's own
traceback for it is replaced by that line); only server faults (UNKNOWN) log a traceback.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os
import time

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from kerattn.serving.model_manager import DEFAULT_SIGNATURE, ModelManager
from kerattn.serving.model_run_queue import DEFAULT_MAX_QUEUED, ModelRunQueue
from kerattn.serving.monitoring import record_grpc_request
from kerattn.serving.rate_limited_log import RateLimitedLog, one_line
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.servable_requests import (
    find_signature,
    model_metadata,
    model_status_response,
)
from kerattn.serving.serving_error import (
    ServingError,
    from_exception,
    invalid_argument,
    valid_unicode,
)
from kerattn.serving.tensor_protos import input_arrays, output_aliases, tensor_proto

logger = logging.getLogger(__name__)

_MESSAGE_LIMIT = 1024
_SIGNATURE_DEF_FIELD = "signature_def"
# What grpcio logs, with a traceback, for a request message that does not parse.
_DESERIALIZING_FAILURE = "Exception deserializing message!"
# grpcio's time_remaining() without a client deadline is the distance to gpr's infinite future.
_NO_DEADLINE_SECONDS = 1e8


def _time_remaining(context: grpc.ServicerContext) -> float | None:
    """Seconds left before the client's deadline, or None when the client set none."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > _NO_DEADLINE_SECONDS else remaining


def _answer(
    context: grpc.ServicerContext, handler, request, request_log: RateLimitedLog, method: str
):
    """`handler(request)`, or the call aborted with the ServingError's code and message (and
    one line logged); counted and timed in `monitoring.METRICS`."""
    started = time.monotonic()
    try:
        response = handler(request)
    except Exception as error:  # noqa: BLE001 - every failure becomes a status
        failure = from_exception(error)
        record_grpc_request(method, request, failure.code, started)
        if isinstance(error, ServingError):
            request_log.log(
                logging.INFO, "gRPC %s: %s %s", method, failure.code, one_line(failure.message)
            )
        else:
            request_log.log(logging.ERROR, "Unexpected failure in gRPC %s", method, exc_info=error)
        message = valid_unicode(failure.message)
        if len(message) > _MESSAGE_LIMIT:
            message = message[:_MESSAGE_LIMIT] + "...TRUNCATED"
        context.abort(grpc.StatusCode[failure.code], message)
    record_grpc_request(method, request, "OK", started)
    return response


class _UnparseableRequestFilter(logging.Filter):
    """Replaces grpcio's traceback for a request message that does not parse (the client gets
    INTERNAL `Exception deserializing request!`, as from TF Serving's C++ gRPC) by one line."""

    def __init__(self, request_log: RateLimitedLog):
        super().__init__()
        self.request_log = request_log

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _DESERIALIZING_FAILURE:
            return True
        error = record.exc_info[1] if record.exc_info else None
        self.request_log.log(
            logging.INFO,
            "gRPC request message does not parse: %s",
            one_line(f"{type(error).__name__}: {error}" if error else "?"),
        )
        return False


def _unimplemented(context: grpc.ServicerContext, method: str, instead: str):
    context.abort(
        grpc.StatusCode.UNIMPLEMENTED, f"kerattn serve does not implement {method}; {instead}."
    )


def _model_spec(request):
    """The request's ModelSpec; INVALID_ARGUMENT `Missing ModelSpec` if it has none."""
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    return request.model_spec


def _version_and_label(spec) -> tuple[int | None, str | None]:
    """The ModelSpec's version choice: (version, None), (None, label) or (None, None) = latest."""
    choice = spec.WhichOneof("version_choice")
    return (
        spec.version.value if choice == "version" else None,
        spec.version_label if choice == "version_label" else None,
    )


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """`tensorflow.serving.PredictionService` over a `ModelManager`."""

    def __init__(
        self,
        manager: ModelManager,
        limits: RequestLimits | None = None,
        request_log: RateLimitedLog | None = None,
        run_queue: ModelRunQueue | None = None,
    ):
        self.manager = manager
        self.limits = limits or RequestLimits()
        self.request_log = request_log or RateLimitedLog(logger)
        self.run_queue = run_queue or ModelRunQueue()

    def Predict(self, request, context):  # noqa: N802 - the generated servicer's method names
        return _answer(
            context,
            functools.partial(self._predict, context=context),
            request,
            self.request_log,
            "Predict",
        )

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _answer(context, self._model_metadata, request, self.request_log, "GetModelMetadata")

    def Classify(self, request, context):  # noqa: N802
        _unimplemented(context, "Classify", "use Predict")

    def Regress(self, request, context):  # noqa: N802
        _unimplemented(context, "Regress", "use Predict")

    def MultiInference(self, request, context):  # noqa: N802
        _unimplemented(context, "MultiInference", "use Predict")

    def _predict(self, request, context: grpc.ServicerContext):
        remaining = _time_remaining(context)
        if remaining is not None and remaining <= 0:  # it waited for a thread past its deadline
            raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded")
        spec = _model_spec(request)
        loaded = self.manager.servable(spec.name, *_version_and_label(spec))
        key = spec.signature_name or DEFAULT_SIGNATURE
        signature = find_signature(loaded, key)
        if signature is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{key}" not found.')
        signature_def, function = signature
        inputs = input_arrays(request.inputs, signature_def, self.limits)
        aliases = output_aliases(request.output_filter, signature_def)
        outputs = self.run_queue.call_signature(
            function,
            signature_def,
            inputs,
            aliases,
            loaded.padded_axes.get(key),
            timeout=_time_remaining(context),
            on_submit=lambda future: context.add_callback(future.cancel),
        )
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.signature_name = key
        response.model_spec.version.value = loaded.version
        for alias, array in outputs.items():
            response.outputs[alias].CopyFrom(tensor_proto(array))
        return response

    def _model_metadata(self, request):
        spec = _model_spec(request)
        if not request.metadata_field:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != _SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        model_spec, signature_map = model_metadata(
            self.manager, spec.name, *_version_and_label(spec)
        )
        response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec)
        response.metadata[_SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """`tensorflow.serving.ModelService` over a `ModelManager`."""

    def __init__(self, manager: ModelManager, request_log: RateLimitedLog | None = None):
        self.manager = manager
        self.request_log = request_log or RateLimitedLog(logger)

    def GetModelStatus(self, request, context):  # noqa: N802
        return _answer(context, self._model_status, request, self.request_log, "GetModelStatus")

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        _unimplemented(
            context, "HandleReloadConfigRequest", "restart it with the new --model_config_file"
        )

    def _model_status(self, request):
        spec = _model_spec(request)  # the label is ignored, as in get_model_status_impl.cc
        return model_status_response(
            self.manager, spec.name, spec.version.value if spec.HasField("version") else None
        )


class GrpcServer:
    """The gRPC endpoint over a `ModelManager`.

    Args:
        manager: the served models.
        host: the interface to listen on (default loopback only).
        port: the TCP port; 0 picks a free one (see `port` after start).
        max_threads: RPC handler threads (TF Serving's `--grpc_max_threads`, default 4 × CPUs).
        max_queued_requests: RPCs that may wait for a handler thread beyond those (default
            256); one more gets RESOURCE_EXHAUSTED.
        run_queue: where model runs execute (default a `ModelRunQueue()` of its own; `serve`
            shares one with REST).
        idle_timeout_seconds: a connection without an RPC for that long is closed (gRPC's
            `max_connection_idle_ms`); 0 = never.
        limits: what one request may send and build (default `RequestLimits()`): larger
            messages get RESOURCE_EXHAUSTED, inputs over the limits INVALID_ARGUMENT.
        shutdown_timeout: seconds in-flight RPCs get to finish on shutdown.
    """

    def __init__(
        self,
        manager: ModelManager,
        host: str = "127.0.0.1",
        port: int = 8500,
        max_threads: int | None = None,
        limits: RequestLimits | None = None,
        shutdown_timeout: float = 30.0,
        max_queued_requests: int = DEFAULT_MAX_QUEUED,
        run_queue: ModelRunQueue | None = None,
        idle_timeout_seconds: float = 0.0,
    ):
        if max_threads is not None and max_threads < 1:
            raise ValueError(f"`max_threads` must be >= 1; received {max_threads}.")
        if max_queued_requests < 0:
            raise ValueError(f"`max_queued_requests` must be >= 0; received {max_queued_requests}.")
        self.max_queued_requests = max_queued_requests
        self.idle_timeout_seconds = idle_timeout_seconds
        self._own_run_queue = run_queue is None
        self.run_queue = run_queue or ModelRunQueue(max_queued=max(1, max_queued_requests))
        self.manager = manager
        self.host = host
        self.port = port
        self.max_threads = max_threads or 4 * (os.cpu_count() or 1)
        self.limits = limits or RequestLimits()
        self.shutdown_timeout = shutdown_timeout
        self._server: grpc.Server | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._request_log = RateLimitedLog(logger)
        self._log_filter = _UnparseableRequestFilter(self._request_log)

    def start(self) -> int:
        """Starts serving in gRPC's own threads; returns (and sets `port` to) the bound port.

        Raises:
            OSError: the address cannot be bound (e.g. the port is taken).
        """
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_threads, thread_name_prefix="kerattn-grpc"
        )
        options = [
            ("grpc.max_receive_message_length", self.limits.max_request_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a taken port must fail, not share it
        ]
        if self.idle_timeout_seconds > 0:  # connections without an RPC for that long are closed
            options.append(("grpc.max_connection_idle_ms", int(self.idle_timeout_seconds * 1000)))
        server = grpc.server(
            executor,
            maximum_concurrent_rpcs=self.max_threads + self.max_queued_requests,
            options=options,
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.manager, self.limits, self._request_log, self.run_queue), server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelServicer(self.manager, self._request_log), server
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            self.port = server.add_insecure_port(f"{host}:{self.port}")
        except RuntimeError as error:  # grpcio's "Failed to bind to address …"
            executor.shutdown()
            raise OSError(str(error)) from None
        logging.getLogger("grpc._common").addFilter(self._log_filter)
        server.start()
        self._server, self._executor = server, executor
        logger.info("Running gRPC ModelServer at %s:%d ...", self.host, self.port)
        return self.port

    def stop(self) -> None:
        """Stops accepting RPCs and waits up to `shutdown_timeout` for in-flight ones."""
        if self._server is None:
            return
        self._server.stop(self.shutdown_timeout).wait()
        self._executor.shutdown(wait=True)
        if self._own_run_queue:
            self.run_queue.stop()
        logging.getLogger("grpc._common").removeFilter(self._log_filter)
        self._server = self._executor = None
