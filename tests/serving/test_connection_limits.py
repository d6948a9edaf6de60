"""REST connection limits (docs/serving.md §12): header, body and idle timeouts close slow
sockets; a cap on open connections answers one more with 503."""

from __future__ import annotations

import json
import socket
import threading
import time

from kerattn.serving.rest_server import RestServer
from tests.serving.conftest import Client

PREDICT_HEAD = (
    b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
)


def read_until_closed(sock: socket.socket, seconds: float) -> tuple[bytes, float | None]:
    """(what the server sent, seconds until it closed the connection, or None if it did not)."""
    sock.settimeout(0.2)
    started, received = time.monotonic(), b""
    while time.monotonic() - started < seconds:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received, time.monotonic() - started
        if not chunk:
            return received, time.monotonic() - started
        received += chunk
    return received, None


def status_and_error(response: bytes) -> tuple[int, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_120_slow_sockets_are_all_closed_by_the_timeouts(serving_manager):
    """40 idle sockets, 40 sending one header byte every 0.3 s, 40 with a short body, against
    1 s header and body timeouts and a 2 s idle timeout; the server still answers afterwards."""
    server = RestServer(
        serving_manager,
        port=0,
        header_timeout_seconds=1.0,
        body_timeout_seconds=1.0,
        idle_timeout_seconds=2.0,
    )
    port = server.start_in_thread()
    sockets = {
        kind: [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        for kind in ("idle", "trickle", "short body")
    }
    stop = threading.Event()

    def trickle() -> None:
        for index in range(len(PREDICT_HEAD)):
            for sock in sockets["trickle"]:
                try:
                    sock.send(PREDICT_HEAD[index : index + 1])
                except OSError:
                    pass
            if stop.wait(0.3):
                return

    try:
        for sock in sockets["short body"]:
            sock.sendall(PREDICT_HEAD + b'{"instances"')
        sender = threading.Thread(target=trickle)
        sender.start()
        results = {
            kind: [read_until_closed(sock, 8) for sock in group] for kind, group in sockets.items()
        }
        stop.set()
        sender.join()
        for kind, outcomes in results.items():
            assert all(closed is not None for _, closed in outcomes), kind
        assert {received for received, _ in results["idle"]} == {b""}
        assert {status_and_error(received) for received, _ in results["trickle"]} == {
            (408, "Request headers not received within 1 seconds.")
        }
        assert {status_and_error(received) for received, _ in results["short body"]} == {
            (408, "Request body not received within 1 seconds.")
        }
        assert Client(port).post("/v1/models/toy:predict", {"instances": [1.0]}).json() == {
            "predictions": [3.0]
        }
    finally:
        for group in sockets.values():
            for sock in group:
                sock.close()
        server.stop_thread()


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(serving_manager):
    server = RestServer(serving_manager, port=0, idle_timeout_seconds=1.0)
    port = server.start_in_thread()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\n\r\n")
            received, closed = read_until_closed(sock, 5)
            assert received.startswith(b"HTTP/1.1 200 ")
            assert closed is not None and 0.5 < closed < 3
    finally:
        server.stop_thread()


def test_connections_beyond_the_cap_get_503_and_are_closed(serving_manager):
    server = RestServer(serving_manager, port=0, max_connections=5)
    port = server.start_in_thread()
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            received, closed = read_until_closed(extra, 5)
        assert closed is not None
        assert status_and_error(received) == (
            503,
            "Too many open connections (the limit is 5); retry later.",
        )
        held.pop().close()
        time.sleep(0.3)
        assert Client(port).get("/v1/models/toy").status == 200
    finally:
        for sock in held:
            sock.close()
        server.stop_thread()
