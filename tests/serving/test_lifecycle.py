"""Server lifecycle: draining in-flight requests on stop, SIGTERM on `serve`, concurrency."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from kerattn.serving.model_manager import ModelConfig, ModelManager, read_signature_defs
from kerattn.serving.rest_server import RestServer
from tests.conftest import free_port
from tests.serving.conftest import Client


class SlowVersion:
    """The toy model's signature defs with a `serving_default` that takes `delay` seconds."""

    delay = 1.0
    running = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, name, version, path):
        self.model_name, self.version, self.path = name, version, path
        self.signature_defs = read_signature_defs(path)

        def slow(x):
            with SlowVersion.lock:
                SlowVersion.running += 1
                SlowVersion.peak = max(SlowVersion.peak, SlowVersion.running)
            time.sleep(SlowVersion.delay)
            with SlowVersion.lock:
                SlowVersion.running -= 1
            return {"y": x + 1.0}

        self.signatures = {"serving_default": slow}

    def signature_def(self, name):
        return self.signature_defs.get(name)


@pytest.fixture
def slow_server(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    manager = ModelManager([ModelConfig("slow", str(tmp_path))], loader=SlowVersion)
    manager.poll_once()
    server = RestServer(manager, port=0, num_threads=2)
    client = Client(server.start_in_thread())
    yield server, client
    server.stop_thread()


def test_stop_drains_in_flight_requests(slow_server):
    server, client = slow_server
    replies = []
    thread = threading.Thread(target=lambda: replies.append(
        client.post("/v1/models/slow:predict", {"instances": [1.0]})))
    thread.start()
    time.sleep(0.4)  # the request is now running in the worker thread
    server.stop_thread()
    thread.join()
    assert replies[0].status == 200 and replies[0].json() == {"predictions": [2.0]}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", client.port), timeout=2)


def test_thread_pool_limits_concurrency(slow_server):
    _, client = slow_server
    SlowVersion.peak = 0
    SlowVersion.delay = 0.3
    try:
        threads = [threading.Thread(target=client.post, args=(
            "/v1/models/slow:predict", {"instances": [1.0]})) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        SlowVersion.delay = 1.0
    assert SlowVersion.peak == 2


@pytest.mark.slow  # a fresh interpreter importing TensorFlow: ~10-20 s
def test_cli_serve_exits_cleanly_on_sigterm(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    port = free_port()
    code = (
        "import sys\nfrom kerattn import cli\n"
        f"sys.exit(cli.main(['serve', '--model_name', 'toy', '--model_base_path', "
        f"{str(tmp_path)!r}, '--rest_api_port', '{port}']))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen([sys.executable, "-c", code], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = Client(port)
        deadline = time.monotonic() + 120
        while True:
            try:
                reply = client.post("/v1/models/toy:predict", {"instances": [1.0]})
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()[-3000:]
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert reply.json() == {"predictions": [3.0]}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, process.stderr.read()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_to_start_without_an_available_version(tmp_path):
    from kerattn.serving.rest_server import serve

    (tmp_path / "1").mkdir()  # no saved_model.pb
    with pytest.raises(RuntimeError, match=r"^1 model\(s\) did not become available: .*m.*"):
        serve(ModelManager([ModelConfig("m", str(tmp_path))], poll_wait_seconds=0))


def test_cors_headers_when_enabled(toy_model_dir, tmp_path):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    manager = ModelManager([ModelConfig("toy", str(tmp_path))])
    manager.poll_once()
    server = RestServer(manager, port=0, num_threads=1, enable_cors=True)
    client = Client(server.start_in_thread())
    try:
        for reply in (client.get("/v1/models/toy"),
                      client.post("/v1/models/toy:predict", b"{"),
                      client.request("OPTIONS", "/v1/models/toy",
                                     headers={"Origin": "https://example.com"})):
            assert reply.headers["Access-Control-Allow-Origin"] == "*"
            assert reply.headers["Access-Control-Allow-Methods"] == "POST, GET"
            assert reply.headers["Access-Control-Allow-Headers"] == "Content-Type"
    finally:
        server.stop_thread()
