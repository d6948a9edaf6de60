"""Throughput and latency of `kerattn serve` under a bounded load on loopback, against calling
the same SavedModel in-process, in one run.

The model (the `sentiment_en` preset unless `--model` names another preset or a `.keras` file)
is exported with `kerattn.export.exporter.export_model` into a temporary folder and served by
`kerattn serve` in a subprocess on 127.0.0.1. For each number of concurrent clients (1, 4, 16)
three paths get the same fixed number of one-text requests, cycling through a few review
sentences:

- in-process (the baseline): `tf.saved_model.load(version)` called as
  `signatures["serving_default"](text=tf.constant([text]))` from the client threads;
- REST: `POST /v1/models/<name>:predict` with `{"instances": [text]}`, one keep-alive
  `http.client` connection per client thread;
- gRPC: `PredictionService/Predict`, one channel shared by the client threads.

Each client thread sends its next request as soon as the previous one is answered (closed
loop). The requests are split into rounds, and the rounds alternate between the three paths to
share the machine's noise. Per path and concurrency the script reports requests/s (requests /
wall time), p50 and p99 latency, failed requests, and the server's overhead ratio =
in-process requests/s / server requests/s at the same concurrency (> 1: the server is slower).
The server gets two REST and two gRPC worker threads per client (`--server-threads`, default
twice the highest concurrency): its gRPC default, 4 x CPUs as in TF Serving, refuses RPCs beyond
that many in flight with RESOURCE_EXHAUSTED, and grpcio still counts an answered RPC for a
moment after its client has sent the next one, so one thread per client lost 2 of 200 requests
at 16 clients. The clients run in this process, so on a small machine
they take CPU from the server; the in-process path has no such client cost.

Each row also gives p50 / in-process p50 at the same concurrency (issue 15's target: <= 1.2
at 1 client).

Batched server: after the first server has exited, a second one is started with
`--enable_batching` and a parameters file (`--batching-parameters`; by default the script
writes `max_batch_size 16, batch_timeout_micros 1000, num_batch_threads 2,
max_enqueued_batches 64`, see BATCHING_PARAMETERS) and Prometheus metrics on. At
`--batched-concurrency` clients (default 16) REST and gRPC get the same rounds against the
in-process call, which stays unbatched (one text per call). Reported: requests/s, server /
in-process requests/s (target >= 1.5), and from the server's metrics the merged runs
(`wrapped_run_count`), the mean requests per run and the mean batching queue time. Before each
batched row, one untimed round of 4 requests per client warms the merged batch sizes up: the
first run of a new batch size costs ~0.3 s (TensorFlow's first call at that shape; 16 gRPC
requests that start together all waited ~280 ms for the first 16-row run), once per server.

Memory phase (on the first server, after its load rows): `--memory-requests` (default 10,000)
requests from 4 client threads cycle through good REST and gRPC predicts and the attacks of
issue 15's table (MIX: deep nesting, huge declared shapes, a gzip bomb, oversize bodies and
Content-Lengths, malformed JSON, bad dtypes and types, DT_RESOURCE/DT_VARIANT, more instances
than the batch cap); each must get its expected status. The server's VmRSS
(/proc/<pid>/status) is read after startup, after a warm-up pass of the mix (one of each kind
per client thread, then 2 % of the requests) and after the requests; target: within 10 % of
the RSS after warm-up.

The script exits 1 if any request failed (or got an unexpected answer in the memory phase) or a
server did not exit 0 on SIGTERM.

Usage: python bench/serving_load.py [--model sentiment_en] [--requests 200] [--rounds 2]
       [--concurrency 1 4 16] [--beam-size 1] [--server-threads N]
       [--batched-concurrency 16] [--batching-parameters FILE] [--memory-requests 10000]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import itertools
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL_NAME = "load_test"
TEXTS = (
    "A beautifully shot film with a script that never finds its footing.",
    "I laughed from the first scene to the last; the whole cast is wonderful.",
    "Two hours of my life I will not get back.",
    "The plot is predictable, but the performances make it worth watching.",
    "An overlong, joyless sequel that forgets everything the original did well.",
    "One of the best thrillers of the decade: tense, clever and never dull.",
)
SERVER_START_SECONDS = 300  # TensorFlow's import and the model load, on a busy machine
# The batched server's default parameters. max_batch_size = the 16 clients, so one run can take
# every waiting request; two batch threads = the two cores of the machine the results are from
# (one batch runs while the next forms); a 1 ms timeout lets a free thread wait for a few more
# requests instead of running one alone, and costs at most 1 ms at low load (TF Serving's guide
# suggests starting from 0 and raising it in small steps); max_enqueued_batches leaves room for
# far more clients than the benchmark has.
BATCHING_PARAMETERS = """max_batch_size { value: 16 }
batch_timeout_micros { value: 1000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 64 }
"""
MONITORING_CONFIG = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'
MEMORY_CLIENTS = 4


@dataclass
class Measurement:
    """The requests of one path at one concurrency, summed over rounds."""

    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, other: Measurement) -> None:
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors

    @property
    def requests_per_second(self) -> float:
        """Answered requests per second of wall time (failed ones are not counted)."""
        return len(self.latencies_ms) / self.seconds

    def latency_percentile(self, percent: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return float(np.percentile(self.latencies_ms, percent))


def run_load(callers: list[Callable[[str], None]], requests: int, first_text: int) -> Measurement:
    """Sends `requests` requests from one thread per caller; a caller raises on a failure."""
    indices: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(first_text, first_text + requests):
        indices.put(index)
    measurement = Measurement()

    def client(call: Callable[[str], None]) -> None:
        while True:
            try:
                index = indices.get_nowait()
            except queue.Empty:
                return
            start = time.perf_counter()
            try:
                call(TEXTS[index % len(TEXTS)])
            except Exception as error:  # any failure counts; the first few are printed
                measurement.errors.append(f"{type(error).__name__}: {error}")
            else:
                measurement.latencies_ms.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=client, args=(call,)) for call in callers]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    measurement.seconds = time.perf_counter() - start
    return measurement


class RestClient:
    """Predict requests over one keep-alive HTTP/1.1 connection (one client per thread)."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.connection.connect()  # outside the timed requests

    def __call__(self, text: str) -> None:
        body = json.dumps({"instances": [text]})
        self.connection.request(
            "POST",
            f"/v1/models/{MODEL_NAME}:predict",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        response = self.connection.getresponse()
        reply = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {reply[:300]!r}")
        if len(json.loads(reply)["predictions"]) != 1:
            raise RuntimeError(f"expected 1 prediction; received {reply[:300]!r}")

    def close(self) -> None:
        self.connection.close()


def grpc_predict(channel) -> Callable[[str], None]:
    """A Predict call over `channel` (thread-safe: one channel serves every client thread)."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    requests = {}
    for text in TEXTS:
        requests[text] = predict_pb2.PredictRequest()
        requests[text].model_spec.name = MODEL_NAME
        requests[text].inputs["text"].CopyFrom(tf.make_tensor_proto([text]))

    def call(text: str) -> None:
        try:
            response = stub.Predict(requests[text], timeout=120)
        except grpc.RpcError as error:  # its str() is a multi-line dump
            raise RuntimeError(f"{error.code().name}: {error.details()}") from None
        if not response.outputs:
            raise RuntimeError("the Predict response has no outputs")

    return call


def in_process_predict(version_dir: Path) -> Callable[[str], None]:
    """The exported `serving_default` signature, loaded in this process."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def call(text: str) -> None:
        outputs = signature(text=tf.constant([text]))
        if not outputs:
            raise RuntimeError("the signature returned no outputs")

    return call


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:  # all bound at once, so the ports differ
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_server(
    base_path: Path,
    grpc_port: int,
    rest_port: int,
    threads: int,
    log_path: Path,
    extra_flags: tuple[str, ...] = (),
) -> subprocess.Popen:
    """`kerattn serve` in a subprocess, returned once its model reports AVAILABLE over REST."""
    command = [
        sys.executable,
        "-m",
        "kerattn_cli",
        "serve",
        "--model_name",
        MODEL_NAME,
        "--model_base_path",
        str(base_path),
        "--port",
        str(grpc_port),
        "--rest_api_port",
        str(rest_port),
        "--grpc_max_threads",
        str(threads),
        "--rest_api_num_threads",
        str(threads),
        *extra_flags,
    ]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        if server.poll() is not None:
            raise RuntimeError(
                f"kerattn serve exited with {server.returncode}:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"kerattn serve was not AVAILABLE after {SERVER_START_SECONDS} s")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=10)
            connection.request("GET", f"/v1/models/{MODEL_NAME}")
            states = [
                status["state"]
                for status in json.loads(connection.getresponse().read())["model_version_status"]
            ]
            connection.close()
            if "AVAILABLE" in states:
                return server
        except (OSError, ValueError, KeyError):  # not listening yet
            pass
        time.sleep(0.5)


def stop_server(server: subprocess.Popen) -> int:
    """SIGTERM, then the exit code (the server is killed if it has not exited after 60 s)."""
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return -signal.SIGKILL


def measure(
    paths: dict[str, Callable[[int], list]], concurrency: int, requests: int, rounds: int
) -> dict[str, Measurement]:
    """`requests` requests per path at `concurrency`, in `rounds` rounds alternating the paths.

    paths: name → a function giving `concurrency` callers (closed after the round if they
    have a `close`).
    """
    measurements = {name: Measurement() for name in paths}
    sent = 0
    for round_index in range(rounds):
        round_requests = requests // rounds + (round_index < requests % rounds)
        for name, open_callers in paths.items():
            callers = open_callers(concurrency)
            measurements[name].add(run_load(callers, round_requests, first_text=sent))
            for caller in callers:
                if hasattr(caller, "close"):
                    caller.close()
        sent += round_requests
    return measurements


def rss_mib(pid: int) -> float:
    """The process's resident set (VmRSS of /proc/<pid>/status) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def scrape_metrics(rest_port: int) -> dict[str, float]:
    """The batched server's Prometheus page: {metric line without its value: value}."""
    connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=30)
    connection.request("GET", "/monitoring/prometheus/metrics")
    page = connection.getresponse().read().decode()
    connection.close()
    values = {}
    for line in page.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def batching_numbers(before: dict[str, float], after: dict[str, float]) -> tuple[float, ...]:
    """(merged runs, OK predict requests, mean queueing µs) between two scrapes."""

    def delta(prefix: str) -> float:
        return sum(
            value - before.get(key, 0.0) for key, value in after.items() if key.startswith(prefix)
        )

    runs = delta(":tensorflow:serving:batching_session:wrapped_run_count")
    requests = delta(':tensorflow:serving:request_count{model_name="load_test",status="OK"')
    queued_count = delta(":tensorflow:serving:batching_session:queuing_latency_count")
    queued_sum = delta(":tensorflow:serving:batching_session:queuing_latency_sum")
    return runs, requests, queued_sum / queued_count if queued_count else float("nan")


# ---- the memory phase's mix ----------------------------------------------------------------


def _rest_exchange(
    port: int, body: bytes, headers: dict[str, str] | None = None, send_body: bool = True
) -> int:
    """One POST :predict on a fresh connection; the HTTP status (the body is read and dropped)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.putrequest("POST", f"/v1/models/{MODEL_NAME}:predict")
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        all_headers.update(headers or {})
        for name, value in all_headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        if send_body:
            connection.send(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _nested(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b'"x"' + b"]" * depth + b"}"


def memory_mix(rest_port: int, channel) -> list[tuple[str, Callable[[], None]]]:
    """(name, call) of each kind of request in the memory phase; a call raises on an answer
    other than the expected one (200 / OK for the good ones)."""
    import grpc
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    good_grpc = grpc_predict(channel)
    limit = 4 * 1024 * 1024  # the server's default --max_body_bytes

    def rest(body: bytes, expected: int, headers=None, send_body=True) -> Callable[[], None]:
        def call() -> None:
            status = _rest_exchange(rest_port, body, headers, send_body)
            if status != expected:
                raise RuntimeError(f"HTTP {status}, expected {expected}")

        return call

    def grpc_call(proto, expected: str) -> Callable[[], None]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL_NAME
        request.inputs["text"].CopyFrom(proto)

        def call() -> None:
            try:
                stub.Predict(request, timeout=120)
            except grpc.RpcError as error:
                if error.code().name != expected:
                    raise RuntimeError(
                        f"{error.code().name}: {error.details()}, expected {expected}"
                    ) from None
            else:
                raise RuntimeError(f"OK, expected {expected}")

        return call

    def shape(*sizes: int):
        return tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in sizes]
        )

    texts = itertools.cycle(TEXTS)
    good_rest_body = json.dumps({"instances": [TEXTS[0]]}).encode()
    many_instances = json.dumps({"instances": ["a"] * 100_000}).encode()  # 0.6 MB, cap 1000
    bomb = gzip.compress(b" " * (256 * 1024 * 1024), compresslevel=9)  # 256 MiB inflated
    return [
        ("REST predict", rest(good_rest_body, 200)),
        ("gRPC predict", lambda: good_grpc(next(texts))),
        ("REST 33-deep instance", rest(_nested(33), 400)),
        ("REST 1000-deep instance", rest(_nested(1000), 400)),
        (
            "gRPC string shape [100000], one value",
            grpc_call(
                tensor_pb2.TensorProto(
                    dtype=types_pb2.DT_STRING, tensor_shape=shape(100000), string_val=[b"x"]
                ),
                "INVALID_ARGUMENT",
            ),
        ),
        (
            "gRPC float shape [2^40]",
            grpc_call(
                tensor_pb2.TensorProto(
                    dtype=types_pb2.DT_FLOAT, tensor_shape=shape(2**40), float_val=[1.0]
                ),
                "INVALID_ARGUMENT",
            ),
        ),
        ("REST predict", rest(good_rest_body, 200)),
        ("gRPC predict", lambda: good_grpc(next(texts))),
        (
            f"REST gzip bomb ({len(bomb) // 1024} KiB -> 256 MiB)",
            rest(bomb, 413, {"Content-Encoding": "gzip"}),
        ),
        (
            "REST Content-Length 2000000000",
            rest(b"", 413, {"Content-Length": "2000000000"}, send_body=False),
        ),
        ("REST body over the limit", rest(b'{"instances": ["' + b"a" * limit + b'"]}', 413)),
        ("REST 100,000 instances", rest(many_instances, 400)),
        ("REST malformed JSON", rest(b'{"instances": ["a", ', 400)),
        ("REST predict", rest(good_rest_body, 200)),
        ("gRPC predict", lambda: good_grpc(next(texts))),
        ("REST number for a string input", rest(b'{"instances": [1.5]}', 400)),
        (
            "REST plain body with Content-Encoding gzip",
            rest(good_rest_body, 400, {"Content-Encoding": "gzip"}),
        ),
        (
            "gRPC float tensor for a string input",
            grpc_call(tf.make_tensor_proto([1.0]), "INVALID_ARGUMENT"),
        ),
        (
            "gRPC DT_RESOURCE",
            grpc_call(
                tensor_pb2.TensorProto(dtype=types_pb2.DT_RESOURCE, tensor_shape=shape(1)),
                "INVALID_ARGUMENT",
            ),
        ),
        (
            "gRPC DT_VARIANT",
            grpc_call(
                tensor_pb2.TensorProto(dtype=types_pb2.DT_VARIANT, tensor_shape=shape(1)),
                "INVALID_ARGUMENT",
            ),
        ),
    ]


def run_mix(
    mix: list[tuple[str, Callable[[], None]]], requests: int, clients: int, start: int = 0
) -> tuple[dict[str, int], list[str]]:
    """`requests` requests cycling through `mix` from `clients` threads; (requests per kind,
    failures)."""
    indices: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(start, start + requests):
        indices.put(index)
    counts: dict[str, int] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        while True:
            try:
                index = indices.get_nowait()
            except queue.Empty:
                return
            name, call = mix[index % len(mix)]
            try:
                call()
            except Exception as error:  # an unexpected answer or a broken connection
                with lock:
                    failures.append(f"{name}: {type(error).__name__}: {error}")
            with lock:
                counts[name] = counts.get(name, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts, failures


# ---- the run -------------------------------------------------------------------------------


def print_rows(
    measurements: dict[str, Measurement], concurrency: int, server: str, failed: list[str]
) -> None:
    baseline = measurements["in-process"]
    for name, measurement in measurements.items():
        ratio = baseline.requests_per_second / measurement.requests_per_second
        p50_ratio = measurement.latency_percentile(50) / baseline.latency_percentile(50)
        is_baseline = name == "in-process"
        print(
            f"| {name} | {'-' if is_baseline else server} | {concurrency} "
            f"| {measurement.requests_per_second:.1f} "
            f"| {measurement.latency_percentile(50):.1f} "
            f"| {measurement.latency_percentile(99):.1f} "
            f"| {len(measurement.errors)} "
            f"| {'(baseline)' if is_baseline else f'{ratio:.2f}'} "
            f"| {'(baseline)' if is_baseline else f'{p50_ratio:.2f}'} |"
        )
        failed += [
            f"{name} ({server}), {concurrency} clients: {error}" for error in measurement.errors
        ]


TABLE_HEADER = (
    "| path | server | clients | requests/s | p50 ms | p99 ms | failed "
    "| in-process / server req/s | p50 / in-process p50 |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def load_paths(version_dir: Path, rest_port: int, channel) -> dict[str, Callable[[int], list]]:
    in_process, over_grpc = in_process_predict(version_dir), grpc_predict(channel)
    return {
        "in-process": lambda concurrency: [in_process] * concurrency,
        "REST": lambda concurrency: [RestClient(rest_port) for _ in range(concurrency)],
        "gRPC": lambda concurrency: [over_grpc] * concurrency,
    }


def warm_up(paths: dict[str, Callable[[int], list]]) -> None:
    for name, measurement in measure(paths, 1, len(TEXTS), 1).items():  # first calls
        if measurement.errors:
            raise RuntimeError(f"warm-up over {name} failed: {measurement.errors[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default="sentiment_en",
        help="a preset name or a .keras file (default sentiment_en)",
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="requests per path and concurrency (default 200)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds alternating the paths (default 2)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--beam-size",
        type=int,
        default=1,
        help="a translator's beam size in serving_default (default 1)",
    )
    parser.add_argument(
        "--server-threads",
        type=int,
        default=None,
        help="the server's REST and gRPC worker threads (default: twice the highest concurrency)",
    )
    parser.add_argument(
        "--batched-concurrency",
        type=int,
        nargs="*",
        default=[16],
        help="clients against the batched server (default 16; none: no batched server)",
    )
    parser.add_argument(
        "--batching-parameters",
        type=Path,
        default=None,
        help="a text-format BatchingParameters file for the batched server "
        "(default: BATCHING_PARAMETERS in this script)",
    )
    parser.add_argument(
        "--memory-requests",
        type=int,
        default=10_000,
        help="requests of the memory phase (default 10000; 0: no memory phase)",
    )
    args = parser.parse_args()
    concurrencies = args.concurrency + args.batched_concurrency
    if args.requests < args.rounds or args.rounds < 1 or min(concurrencies) < 1:
        parser.error(
            f"--requests must be >= --rounds >= 1 and every concurrency >= 1; received "
            f"{args.requests}, {args.rounds}, {concurrencies}."
        )

    import grpc
    import keras
    import tensorflow as tf

    from kerattn.export.exporter import export_model
    from kerattn.zoo.model_loading import load_model

    threads = args.server_threads or 2 * max(concurrencies)
    failed: list[str] = []
    exit_codes: dict[str, int] = {}
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="serving_load_") as folder:
        model = load_model(args.model)
        version_dir = export_model(
            model, Path(folder) / MODEL_NAME, version=1, beam_size=args.beam_size
        )
        grpc_port, rest_port = free_ports(2)
        log_path = Path(folder) / "server.log"
        server = start_server(version_dir.parent, grpc_port, rest_port, threads, log_path)
        one_client: dict[str, float] = {}
        try:
            rss_started = rss_mib(server.pid)
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=60)
                paths = load_paths(version_dir, rest_port, channel)
                warm_up(paths)
                rss_warm = rss_mib(server.pid)
                print(
                    f"model {args.model} ({type(model).__name__}), TensorFlow {tf.__version__}, "
                    f"Keras {keras.__version__}, {os.cpu_count()} CPUs; {args.requests} "
                    f"one-text requests per row in {args.rounds} alternating rounds; server "
                    f"threads {threads}; load average "
                    f"{' '.join(f'{load:.1f}' for load in os.getloadavg())}"
                )
                print(TABLE_HEADER)
                for concurrency in args.concurrency:
                    measurements = measure(paths, concurrency, args.requests, args.rounds)
                    print_rows(measurements, concurrency, "unbatched", failed)
                    if concurrency == 1:
                        base = measurements["in-process"].latency_percentile(50)
                        one_client = {
                            name: measurements[name].latency_percentile(50) / base
                            for name in ("REST", "gRPC")
                        }
                if args.memory_requests:
                    mix = memory_mix(rest_port, channel)
                    warm_count = MEMORY_CLIENTS * len(mix) + args.memory_requests // 50
                    _, warm_failures = run_mix(mix, warm_count, MEMORY_CLIENTS)
                    rss_before = rss_mib(server.pid)
                    started = time.perf_counter()
                    counts, mix_failures = run_mix(
                        mix, args.memory_requests, MEMORY_CLIENTS, start=warm_count
                    )
                    seconds = time.perf_counter() - started
                    rss_after = rss_mib(server.pid)
                    failed += [
                        f"memory phase: {failure}" for failure in warm_failures + mix_failures
                    ]
                    growth = rss_after / rss_before - 1
                    print(
                        f"\nmemory phase: {args.memory_requests} requests from "
                        f"{MEMORY_CLIENTS} threads in {seconds:.0f} s after {warm_count} "
                        f"warm-up requests of the same mix; "
                        f"{len(warm_failures) + len(mix_failures)} unexpected answers"
                    )
                    print("| request | sent |\n|---|---|")
                    for name, count in counts.items():
                        print(f"| {name} | {count} |")
                    print(
                        f"server VmRSS: {rss_started:.0f} MiB at AVAILABLE, {rss_warm:.0f} MiB "
                        f"after the first requests, {rss_before:.0f} MiB after the load rows "
                        f"and the mix's warm-up, {rss_after:.0f} MiB after the "
                        f"{args.memory_requests} requests: {growth:+.1%}"
                    )
                    summary.append(
                        f"memory: RSS {growth:+.1%} after warm-up (target within "
                        f"10 %): {'met' if abs(growth) <= 0.10 else 'NOT met'}"
                    )
        finally:
            exit_codes["unbatched"] = stop_server(server)
        summary[:0] = [
            f"1 client: {name} p50 {ratio:.2f}x in-process (target <= 1.2): "
            f"{'met' if ratio <= 1.2 else 'NOT met'}"
            for name, ratio in one_client.items()
        ]

        if args.batched_concurrency:
            parameters_path = args.batching_parameters or Path(folder) / "batching.pbtxt"
            if args.batching_parameters is None:
                parameters_path.write_text(BATCHING_PARAMETERS)
            monitoring_path = Path(folder) / "monitoring.pbtxt"
            monitoring_path.write_text(MONITORING_CONFIG)
            grpc_port, rest_port = free_ports(2)
            log_path = Path(folder) / "batched_server.log"
            server = start_server(
                version_dir.parent,
                grpc_port,
                rest_port,
                threads,
                log_path,
                (
                    "--enable_batching",
                    "--batching_parameters_file",
                    str(parameters_path),
                    "--monitoring_config_file",
                    str(monitoring_path),
                ),
            )
            try:
                with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                    grpc.channel_ready_future(channel).result(timeout=60)
                    paths = load_paths(version_dir, rest_port, channel)
                    warm_up(paths)
                    settings = " ".join(parameters_path.read_text().split())
                    print(
                        f"\nbatched server: --enable_batching, {settings}; load average "
                        f"{' '.join(f'{load:.1f}' for load in os.getloadavg())}"
                    )
                    print(TABLE_HEADER)
                    for concurrency in args.batched_concurrency:
                        # Untimed: the first merged runs of a new batch size cost ~0.3 s each
                        # (TensorFlow's first call at that shape), once per server.
                        measure(paths, concurrency, 4 * concurrency, 1)
                        before = scrape_metrics(rest_port)
                        measurements = measure(paths, concurrency, args.requests, args.rounds)
                        runs, requests, queued = batching_numbers(before, scrape_metrics(rest_port))
                        print_rows(measurements, concurrency, "batched", failed)
                        print(
                            f"merged runs {runs:.0f} for {requests:.0f} server requests: "
                            f"{requests / max(runs, 1):.2f} requests per model run; mean "
                            f"batching queue time {queued / 1000:.2f} ms"
                        )
                        baseline = measurements["in-process"].requests_per_second
                        for name in ("REST", "gRPC"):
                            ratio = measurements[name].requests_per_second / baseline
                            summary.append(
                                f"{concurrency} clients batched: {name} {ratio:.2f}x in-process "
                                f"unbatched requests/s (target >= 1.5): "
                                f"{'met' if ratio >= 1.5 else 'NOT met'}"
                            )
            finally:
                exit_codes["batched"] = stop_server(server)
        print()
        for line in summary:
            print(line)
        print(
            "server exit codes after SIGTERM: "
            + ", ".join(f"{name} {code}" for name, code in exit_codes.items())
        )
        for name, code in exit_codes.items():
            if code:
                log = Path(folder) / ("server.log" if name == "unbatched" else "batched_server.log")
                print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
    for error in failed[:5]:
        print(f"failed: {error}", file=sys.stderr)
    if failed or any(exit_codes.values()):
        print(f"{len(failed)} request(s) failed; server exit codes {exit_codes}.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
