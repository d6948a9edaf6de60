"""TF Serving's metrics (`--monitoring_config_file`), served in Prometheus text format on the
REST port (docs/serving.md §10).

`METRICS` is the process-wide registry, as TensorFlow's default `CollectionRegistry` is: request
handlers and the model manager always record into it (a few dictionary updates per request),
and `prometheus_page()` writes it the way TF Serving's `PrometheusExporter` does
(`util/prometheus_exporter.cc`):

* metric names are TensorFlow's with every character outside `[a-zA-Z0-9_]` replaced by `:`,
  so `/tensorflow/serving/request_count` is `:tensorflow:serving:request_count`;
* one `# TYPE <name> counter|histogram` line per metric, no `# HELP`, no `_total` suffix;
  counters as `<name>{labels} <int>`; histograms (TensorFlow's exponential buckets, values in
  microseconds) as cumulative `<name>_bucket{labels,le="<limit>"}`, the last `le="+Inf"`,
  then `<name>_sum{labels}` and `<name>_count{labels}`; metrics sorted by name.

The text is written here rather than by `prometheus_client` because that library appends
`_total` to every counter and adds `# HELP` lines and `_created` samples, so its page would not
carry TF Serving's names.

`read_monitoring_config(path)` reads TF Serving's text-format `MonitoringConfig`
(`config/monitoring_config.proto`; `tensorflow-serving-api` does not ship it, so its two messages
are declared here under their own proto names). `enable_prometheus(path)` makes
`monitored_rest_handler` answer that path with the page, as TF Serving registers it on its
HTTP server.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath

REQUEST_COUNT = "/tensorflow/serving/request_count"
REQUEST_LATENCY = "/tensorflow/serving/request_latency"
LOAD_ATTEMPT_COUNT = "/tensorflow/cc/saved_model/load_attempt_count"
LOAD_LATENCY = "/tensorflow/cc/saved_model/load_latency"
BATCHING_QUEUING_LATENCY = "/tensorflow/serving/batching_session/queuing_latency"
BATCHING_WRAPPED_RUN_COUNT = "/tensorflow/serving/batching_session/wrapped_run_count"


def _request_key(name: str):
    try:
        from aiohttp.web import RequestKey
    except ImportError:  # aiohttp < 3.12 keys requests by plain strings
        return name
    return RequestKey(name, str)


# The aiohttp request keys the REST server fills in for the request count (`rest_server`).
MODEL_NAME_KEY = _request_key("kerattn.model_name")
API_KEY = _request_key("kerattn.api")
CODE_KEY = _request_key("kerattn.code")

# The status code counted for a REST answer that carries no ServingError code.
_CODE_OF_HTTP_STATUS = {
    200: "OK",
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def exponential_buckets(scale: float, growth_factor: float, count: int) -> tuple[float, ...]:
    """`monitoring::Buckets::Exponential`'s upper limits; a last unbounded bucket follows."""
    limits, bound = [], scale
    for _ in range(count):
        limits.append(bound)
        bound *= growth_factor
    return tuple(limits)


# TF Serving's request and runtime latencies: scale 10 µs, power 1.8, 33 buckets (~20 minutes).
LATENCY_BUCKETS = exponential_buckets(10, 1.8, 33)
# batching_session.cc: scale 100 µs, power 1.2, 52 buckets (~1 second).
QUEUING_BUCKETS = exponential_buckets(100, 1.2, 52)

_METRIC_KINDS = {
    REQUEST_COUNT: ("counter", ("model_name", "status")),
    REQUEST_LATENCY: ("histogram", ("model_name", "API", "entrypoint")),
    LOAD_ATTEMPT_COUNT: ("counter", ("model_path", "status")),
    LOAD_LATENCY: ("counter", ("model_path",)),
    BATCHING_QUEUING_LATENCY: ("histogram", ("thread_pool_name",)),
    BATCHING_WRAPPED_RUN_COUNT: ("counter", ()),
}
_HISTOGRAM_BUCKETS = {REQUEST_LATENCY: LATENCY_BUCKETS, BATCHING_QUEUING_LATENCY: QUEUING_BUCKETS}


def prometheus_name(name: str) -> str:
    """TensorFlow's metric name as `PrometheusExporter` writes it (`/a/b` → `:a:b`)."""
    name = re.sub(r"[^a-zA-Z0-9_]", ":", name)
    return "_" + name if name[:1].isdigit() else name


def _label_name(name: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9]", "_", name)
    return "_" + name if name[:1].isdigit() else name


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _number(value: float) -> str:
    """A double as `absl::StrCat` writes it: six significant digits."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


class _Histogram:
    def __init__(self, limits: tuple[float, ...]):
        self.limits = limits
        self.counts = [0] * (len(limits) + 1)  # the last bucket is unbounded
        self.sum = 0.0

    def add(self, value: float) -> None:
        # As tensorflow::histogram::Histogram: the first bucket whose limit is above the value.
        index = next((i for i, limit in enumerate(self.limits) if value < limit), len(self.limits))
        self.counts[index] += 1
        self.sum += value


class ServingMetrics:
    """TF Serving's request, load and batching metrics; every method is thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[str, ...], int]] = {}
        self._histograms: dict[str, dict[tuple[str, ...], _Histogram]] = {}

    def _increment(self, metric: str, labels: tuple[str, ...], by: int = 1) -> None:
        with self._lock:
            cells = self._counters.setdefault(metric, {})
            cells[labels] = cells.get(labels, 0) + by

    def _observe(self, metric: str, labels: tuple[str, ...], value: float) -> None:
        with self._lock:
            cells = self._histograms.setdefault(metric, {})
            if labels not in cells:
                cells[labels] = _Histogram(_HISTOGRAM_BUCKETS[metric])
            cells[labels].add(value)

    def record_request(
        self, model_name: str, api: str, entrypoint: str, code: str, latency_microseconds: float
    ) -> None:
        """One answered request: its count by model and status code name; its latency by model,
        API (`predict`/`classify`/`regress`/"" from the REST path, `Predict` for gRPC) and
        entrypoint (`REST`, `GRPC`) only when it succeeded, as TF Serving records them."""
        self._increment(REQUEST_COUNT, (model_name, code))
        if code == "OK":
            self._observe(REQUEST_LATENCY, (model_name, api, entrypoint), latency_microseconds)

    def record_load(self, model_path: str, latency_microseconds: float, succeeded: bool) -> None:
        """One SavedModel load attempt (`status` `success`/`fail`); the latency of a load that
        succeeded adds to the model path's cumulative load latency, as TensorFlow's loader."""
        self._increment(LOAD_ATTEMPT_COUNT, (model_path, "success" if succeeded else "fail"))
        if succeeded:
            self._increment(LOAD_LATENCY, (model_path,), int(latency_microseconds))

    def record_batch_queuing(self, thread_pool_name: str, latency_microseconds: float) -> None:
        """The time one task waited in a batching queue (for request batching)."""
        self._observe(BATCHING_QUEUING_LATENCY, (thread_pool_name,), latency_microseconds)

    def record_batched_run(self) -> None:
        """One run of the model on a merged batch (for request batching)."""
        self._increment(BATCHING_WRAPPED_RUN_COUNT, ())

    def prometheus_page(self) -> str:
        """Every recorded metric in TF Serving's Prometheus text layout."""
        with self._lock:
            counters = {name: dict(cells) for name, cells in self._counters.items()}
            histograms = {
                name: {labels: (list(h.counts), h.sum, h.limits) for labels, h in cells.items()}
                for name, cells in self._histograms.items()
            }
        lines: list[str] = []
        for metric in sorted(set(counters) | set(histograms)):
            kind, label_names = _METRIC_KINDS[metric]
            name = prometheus_name(metric)
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in (counters.get(metric) or histograms[metric]).items():
                pairs = [
                    f'{_label_name(k)}="{_label_value(v)}"' for k, v in zip(label_names, labels)
                ]
                joined = ",".join(pairs)
                if kind == "counter":
                    lines.append(f"{name}{{{joined}}} {value}")
                    continue
                counts, total, limits = value
                prefix = f"{name}_bucket{{{joined}{',' if pairs else ''}"
                cumulative = 0
                for index, count in enumerate(counts):
                    cumulative += count
                    limit = _number(limits[index]) if index < len(limits) else "+Inf"
                    lines.append(f'{prefix}le="{limit}"}} {cumulative}')
                lines.append(f"{name}_sum{{{joined}}} {_number(total)}")
                lines.append(f"{name}_count{{{joined}}} {cumulative}")
        return "\n".join(lines) + "\n"

    def clear(self) -> None:
        """Forgets every recorded value (tests)."""
        with self._lock:
            self._counters.clear()
            self._histograms.clear()


METRICS = ServingMetrics()
_prometheus_path: str | None = None


def enable_prometheus(path: str | None) -> None:
    """Serve `METRICS` on the REST port at `path` (None: serve nothing)."""
    global _prometheus_path
    if path is not None and not path.startswith("/"):
        raise ValueError(f"The Prometheus path must start with '/'; received {path!r}.")
    _prometheus_path = path


def prometheus_path() -> str | None:
    """The path the REST server answers with the metrics page, or None."""
    return _prometheus_path


def _monitoring_config_class():
    """TF Serving's `tensorflow.serving.MonitoringConfig`, declared from its .proto."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
    )
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=8, label=1)  # bool
    prometheus.field.add(name="path", number=2, type=9, label=1)  # string
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=11,
        label=1,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    return message_factory.GetMessageClass(descriptor)


def read_monitoring_config(path: str | Path) -> str | None:
    """The Prometheus path a text-format `MonitoringConfig` file enables (its `path`, or
    `/monitoring/prometheus/metrics` when empty), or None when `enable` is not true.

    Raises:
        UsageError: the file cannot be read or does not parse, or its path is not absolute.
    """
    from kerattn.errors import UsageError
    from kerattn.serving.text_format_config import parse_text_proto

    config = parse_text_proto(
        path, _monitoring_config_class()(), "tensorflow.serving.MonitoringConfig"
    )
    if not config.prometheus_config.enable:
        return None
    served = config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
    if not served.startswith("/"):
        raise UsageError(
            f"The prometheus_config path in {path} must start with '/'; received {served!r}."
        )
    return served


def monitored_rest_handler(handler: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
    """The REST server's handler, answering the Prometheus path (when enabled) with the page
    (`Content-Type: text/plain`) and recording every other answer's count and latency."""
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        path = _prometheus_path
        if path is not None and request.rel_url.raw_path == path:
            # TF Serving answers a query string with 400 `Unexpected path`, as it compares the
            # path and query with the configured path.
            if request.raw_path != path:
                return web.Response(
                    status=400,
                    content_type="text/plain",
                    text=f"Unexpected path: {request.raw_path}. Should be {path}",
                )
            return web.Response(text=METRICS.prometheus_page(), content_type="text/plain")
        started = time.monotonic()
        response = await handler(request)
        code = request.get(CODE_KEY) or _CODE_OF_HTTP_STATUS.get(response.status, "UNKNOWN")
        METRICS.record_request(
            request.get(MODEL_NAME_KEY, ""),
            request.get(API_KEY, ""),
            "REST",
            code,
            (time.monotonic() - started) * 1e6,
        )
        return response

    return handle


def record_grpc_request(method: str, request, code: str, started: float) -> None:
    """Records a gRPC Predict (TF Serving counts Predict, Classify and Regress RPCs only);
    `started` is the `time.monotonic()` at which the RPC began."""
    if method not in ("Predict", "Classify", "Regress"):
        return
    model_name = request.model_spec.name if request.HasField("model_spec") else ""
    METRICS.record_request(model_name, method, "GRPC", code, (time.monotonic() - started) * 1e6)
