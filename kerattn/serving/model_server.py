"""The REST and gRPC endpoints over one `ModelManager`, until SIGTERM or SIGINT (TF Serving's
`model_servers/server.cc`).

As in TF Serving, the ports open only once every model has an AVAILABLE version, and a REST
port equal to the gRPC port skips REST with an error log (docs/serving.md §2). Port 0 leaves an
endpoint off. On SIGTERM or SIGINT both endpoints stop accepting at once, in-flight requests get
`shutdown_timeout` seconds to finish, and `serve` returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from kerattn.serving.grpc_server import GrpcServer
from kerattn.serving.model_manager import ModelManager
from kerattn.serving.model_run_queue import DEFAULT_MAX_QUEUED, ModelRunQueue
from kerattn.serving.request_batching import BatchingParameters, RequestBatcher
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.rest_server import (
    DEFAULT_BODY_TIMEOUT_SECONDS,
    DEFAULT_HEADER_TIMEOUT_SECONDS,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT_IN_MS,
    RestServer,
)

logger = logging.getLogger(__name__)


def serve(
    manager: ModelManager,
    host: str = "127.0.0.1",
    grpc_port: int = 8500,
    rest_api_port: int = 8501,
    grpc_max_threads: int | None = None,
    rest_api_num_threads: int | None = None,
    limits: RequestLimits | None = None,
    enable_cors: bool = False,
    rest_api_timeout_in_ms: int = DEFAULT_TIMEOUT_IN_MS,
    shutdown_timeout: float = 30.0,
    model_run_threads: int | None = None,
    max_queued_requests: int = DEFAULT_MAX_QUEUED,
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS,
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    batching: BatchingParameters | None = None,
) -> None:
    """Serves gRPC on `grpc_port` and REST on `rest_api_port` (0 = off) until SIGTERM/SIGINT,
    then drains in-flight requests and returns.

    Args:
        manager: the served models (started here, stopped on return).
        host: the interface both endpoints listen on.
        grpc_port, rest_api_port: the endpoints' TCP ports; 0 leaves one off.
        grpc_max_threads: see `GrpcServer.max_threads`.
        rest_api_num_threads: see `RestServer.num_threads`.
        limits: what one request may send and build (`RequestLimits`; default its defaults),
            the same for both endpoints.
        enable_cors: TF Serving's CORS headers on REST responses.
        rest_api_timeout_in_ms: see `RestServer.timeout_in_ms`.
        shutdown_timeout: seconds in-flight requests get to finish.
        model_run_threads, max_queued_requests: the `ModelRunQueue` both endpoints share (and
            the RPCs gRPC queues for a handler thread).
        batching: request batching's settings (`--enable_batching`); None runs every request
            as its own model call.
        header_timeout_seconds, body_timeout_seconds, idle_timeout_seconds, max_connections:
            see `RestServer` (the idle timeout also closes idle gRPC connections).

    Raises:
        ValueError: both ports are 0.
        RuntimeError: a model has no AVAILABLE version after the first discovery pass.
        OSError: a port cannot be bound (the message names the address).
    """
    if not grpc_port and not rest_api_port:
        raise ValueError(
            "--port and --rest_api_port are both 0, so there is nothing to serve; "
            "give at least one of them a port."
        )
    if rest_api_port == grpc_port:
        logger.error(
            "--rest_api_port cannot be the same as --port (%d); skipped exporting the "
            "HTTP/REST API.",
            grpc_port,
        )
        rest_api_port = 0
    manager.start()
    try:
        unavailable = manager.unavailable_models()
        if unavailable:
            raise RuntimeError(
                f"{len(unavailable)} model(s) did not become available: {unavailable}"
            )
        grpc_server = rest_server = None
        if batching is None:
            run_queue = ModelRunQueue(model_run_threads, max_queued=max_queued_requests)
        else:
            run_queue = RequestBatcher(batching, model_run_threads, max_queued=max_queued_requests)
        if grpc_port:
            grpc_server = GrpcServer(
                manager,
                host=host,
                port=grpc_port,
                max_threads=grpc_max_threads,
                limits=limits,
                shutdown_timeout=shutdown_timeout,
                max_queued_requests=max_queued_requests,
                run_queue=run_queue,
                idle_timeout_seconds=idle_timeout_seconds,
            )
        if rest_api_port:
            rest_server = RestServer(
                manager,
                host=host,
                port=rest_api_port,
                num_threads=rest_api_num_threads,
                limits=limits,
                enable_cors=enable_cors,
                timeout_in_ms=rest_api_timeout_in_ms,
                shutdown_timeout=shutdown_timeout,
                run_queue=run_queue,
                header_timeout_seconds=header_timeout_seconds,
                body_timeout_seconds=body_timeout_seconds,
                idle_timeout_seconds=idle_timeout_seconds,
                max_connections=max_connections,
            )
        try:
            asyncio.run(_serve_until_signal(grpc_server, rest_server))
        finally:
            run_queue.stop()
    finally:
        manager.stop()


async def _serve_until_signal(
    grpc_server: GrpcServer | None, rest_server: RestServer | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        if grpc_server is not None:
            try:
                grpc_server.start()
            except OSError as error:
                raise OSError(
                    f"cannot listen on {grpc_server.host}:{grpc_server.port} (gRPC): {error}"
                ) from None
        if rest_server is not None:
            try:
                await rest_server.start()
            except OSError as error:
                raise OSError(
                    f"cannot listen on {rest_server.host}:{rest_server.port} (REST): {error}"
                ) from None
        await stop.wait()
        logger.info("Shutting down: draining in-flight requests.")
    finally:
        stopping = [rest_server.stop()] if rest_server is not None else []
        if grpc_server is not None:
            stopping.append(asyncio.to_thread(grpc_server.stop))
        await asyncio.gather(*stopping)
