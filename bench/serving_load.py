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

The script exits 1 if any request failed or the server did not exit 0 on SIGTERM.

Usage: python bench/serving_load.py [--model sentiment_en] [--requests 200] [--rounds 2]
       [--concurrency 1 4 16] [--beam-size 1] [--server-threads N]
"""

from __future__ import annotations

import argparse
import http.client
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
        self.connection.request("POST", f"/v1/models/{MODEL_NAME}:predict", body=body,
                                headers={"Content-Type": "application/json"})
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


def start_server(base_path: Path, grpc_port: int, rest_port: int, threads: int,
                 log_path: Path) -> subprocess.Popen:
    """`kerattn serve` in a subprocess, returned once its model reports AVAILABLE over REST."""
    command = [sys.executable, "-m", "kerattn_cli", "serve", "--model_name", MODEL_NAME,
               "--model_base_path", str(base_path), "--port", str(grpc_port),
               "--rest_api_port", str(rest_port), "--grpc_max_threads", str(threads),
               "--rest_api_num_threads", str(threads)]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"kerattn serve exited with {server.returncode}:\n"
                               + log_path.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"kerattn serve was not AVAILABLE after {SERVER_START_SECONDS} s")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=10)
            connection.request("GET", f"/v1/models/{MODEL_NAME}")
            states = [status["state"] for status in
                      json.loads(connection.getresponse().read())["model_version_status"]]
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


def measure(paths: dict[str, Callable[[int], list]], concurrency: int, requests: int,
            rounds: int) -> dict[str, Measurement]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sentiment_en",
                        help="a preset name or a .keras file (default sentiment_en)")
    parser.add_argument("--requests", type=int, default=200,
                        help="requests per path and concurrency (default 200)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds alternating the paths (default 2)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--beam-size", type=int, default=1,
                        help="a translator's beam size in serving_default (default 1)")
    parser.add_argument("--server-threads", type=int, default=None,
                        help="the server's REST and gRPC worker threads (default: twice the "
                        "highest concurrency)")
    args = parser.parse_args()
    if args.requests < args.rounds or args.rounds < 1 or min(args.concurrency) < 1:
        parser.error(f"--requests must be >= --rounds >= 1 and --concurrency >= 1; received "
                     f"{args.requests}, {args.rounds}, {args.concurrency}.")

    import grpc
    import keras
    import tensorflow as tf

    from kerattn.export.exporter import export_model
    from kerattn.zoo.model_loading import load_model

    threads = args.server_threads or 2 * max(args.concurrency)
    with tempfile.TemporaryDirectory(prefix="serving_load_") as folder:
        model = load_model(args.model)
        version_dir = export_model(model, Path(folder) / MODEL_NAME, version=1,
                                   beam_size=args.beam_size)
        grpc_port, rest_port = free_ports(2)
        log_path = Path(folder) / "server.log"
        server = start_server(version_dir.parent, grpc_port, rest_port, threads, log_path)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=60)
                in_process, over_grpc = in_process_predict(version_dir), grpc_predict(channel)
                paths = {
                    "in-process": lambda concurrency: [in_process] * concurrency,
                    "REST": lambda concurrency: [RestClient(rest_port) for _ in range(concurrency)],
                    "gRPC": lambda concurrency: [over_grpc] * concurrency,
                }
                warmup = measure(paths, 1, len(TEXTS), 1)  # first calls, connections
                for name, measurement in warmup.items():
                    if measurement.errors:
                        raise RuntimeError(f"warm-up over {name} failed: {measurement.errors[0]}")
                print(f"model {args.model} ({type(model).__name__}), TensorFlow {tf.__version__}, "
                      f"Keras {keras.__version__}, {os.cpu_count()} CPUs; {args.requests} "
                      f"one-text requests per row in {args.rounds} alternating rounds; server "
                      f"threads {threads}; load average "
                      f"{' '.join(f'{load:.1f}' for load in os.getloadavg())}")
                print("| path | clients | requests/s | p50 ms | p99 ms | failed | "
                      "in-process / server |")
                print("|---|---|---|---|---|---|---|")
                failed = []
                for concurrency in args.concurrency:
                    measurements = measure(paths, concurrency, args.requests, args.rounds)
                    baseline = measurements["in-process"].requests_per_second
                    for name, measurement in measurements.items():
                        ratio = baseline / measurement.requests_per_second
                        print(f"| {name} | {concurrency} | {measurement.requests_per_second:.1f} "
                              f"| {measurement.latency_percentile(50):.1f} "
                              f"| {measurement.latency_percentile(99):.1f} "
                              f"| {len(measurement.errors)} "
                              f"| {'(baseline)' if name == 'in-process' else f'{ratio:.2f}'} |")
                        failed += [f"{name}, {concurrency} clients: {error}"
                                   for error in measurement.errors]
        finally:
            exit_code = stop_server(server)
        print(f"server exit code after SIGTERM: {exit_code}")
        if exit_code != 0:
            print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
    for error in failed[:5]:
        print(f"failed: {error}", file=sys.stderr)
    if failed or exit_code != 0:
        print(f"{len(failed)} request(s) failed; server exit code {exit_code}.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
