"""TF Serving's REST API (port `--rest_api_port`) as an aiohttp application.

Routes, error texts and status codes follow docs/serving.md §3 (`http_rest_api_handler.cc`,
`http_rest_api_util.cc`):

* only paths matching `(?i)/v1/.*` reach the JSON handler; others get a 404 HTML page;
* the routed path is the raw request target **including the query string**, matched with TF
  Serving's regexes; names and labels are percent-decoded after matching; a version that does not
  fit int64 or a bad percent escape gives 400 with an empty body;
* GET → model status (§3.2) or metadata (§3.3); POST `:predict` → predict (§3.4); other methods on
  `/v1/…` → 400 `Malformed request: <METHOD> <path>`; OPTIONS → CORS preflight;
* handler errors are `{"error": "<message>"}` (valid UTF-8: bytes of the request that were not
  UTF-8 appear as `\\xNN`) with the HTTP status of the internal code; every handler response
  carries `Content-Type: application/json`; so do requests aiohttp cannot parse
  (`json_error_server`).

Request work (gzip inflation, parsing, tensor conversion, writing the response) runs in a
thread pool of `num_threads` workers, so the event loop stays free and at most `num_threads`
requests compute at once; a predict body of at most `SMALL_BODY_BYTES` is decoded, and an answer
of at most `SMALL_RESPONSE_ELEMENTS` elements written, on the event loop itself (tens of
microseconds, less than a hand-off to a worker and back). The body is read within `limits.max_request_bytes`
(`request_body`: a larger `Content-Length` gets 413 before the body is read, a larger body or
inflated body 413 as soon as it passes the limit) and its inputs are checked against `limits`
before any tensor is built (`request_limits`). Every failed request is logged on one line, without
a traceback, at most 10 lines a second (`rate_limited_log`); only server faults (HTTP 500) log a
traceback.

Model runs go through a `ModelRunQueue` (shared with gRPC in `kerattn serve`), not the worker
pool: at most its `num_threads` run at once, the others wait in its bounded queue (full: 429
RESOURCE_EXHAUSTED). A predict whose run is not done `timeout_in_ms` after it was queued (TF
Serving's `--rest_api_timeout_in_ms`, default 30000; 0 or negative: no limit) gets 504
`{"error": "Timed out waiting for notification"}`, TF Serving's answer when the session run passes
its RunOptions timeout (DirectSession's DEADLINE_EXCEEDED); as in TF Serving, parsing and writing
the response are not timed. A run still queued then is dropped without running; one already
running cannot be interrupted (TensorFlow's eager runtime has no per-call cancellation that is
safe with concurrent calls) and finishes in its run thread, its result dropped. So timed-out
requests never hold the worker pool, and at most `num_threads` abandoned runs exist at once
(docs/serving.md §12).

`RestServer.start()`/`stop()` run it on the caller's event loop (`model_server.serve`, which
drains in-flight requests on SIGTERM); `RestServer.start_in_thread()` runs it on an event loop
thread of its own (tests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import os
import re
import threading
import time
from typing import Any

import numpy as np
from aiohttp import web

from kerattn.serving.json_document import dump, parse_request_body
from kerattn.serving.json_error_server import JSON_CONTENT_TYPE, JsonErrorServer, json_error_body
from kerattn.serving.json_tensors import input_tensors, predict_response_json
from kerattn.serving.model_manager import DEFAULT_SIGNATURE, ModelManager
from kerattn.serving.model_run_queue import DEADLINE_MESSAGE, ModelRunQueue
from kerattn.serving.monitoring import API_KEY, CODE_KEY, MODEL_NAME_KEY, monitored_rest_handler
from kerattn.serving.rate_limited_log import RateLimitedLog, one_line
from kerattn.serving.request_body import (
    BodyTooLargeError,
    check_content_length,
    inflate_gzip,
    needs_inflating,
    read_body,
)
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.servable_requests import (
    find_signature,
    model_metadata,
    model_status_response,
)
from kerattn.serving.serving_error import ServingError, from_exception, invalid_argument

logger = logging.getLogger(__name__)

_V1_PATH = re.compile(r"/v1/.*", re.IGNORECASE)
_POST_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)",
    re.IGNORECASE,
)
_GET_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_CORS_ORIGIN = re.compile(r"https?://.*", re.IGNORECASE)
_NOT_FOUND_HTML = (
    "<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n"
    "</BODY></HTML>\n"
)
DEFAULT_TIMEOUT_IN_MS = 30000  # TF Serving's --rest_api_timeout_in_ms (server.h)
TIMEOUT_MESSAGE = DEADLINE_MESSAGE
# Connection limits (docs/serving.md §12); TF Serving's libevent server has none of them.
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CONNECTIONS = 512
# Predict bodies and answers this small are decoded and written on the event loop instead of a
# worker thread (see `RestServer._predict`).
SMALL_BODY_BYTES = 1024
SMALL_RESPONSE_ELEMENTS = 1024
# After an answer that leaves the body unread (413, 408), aiohttp reads and drops what the client
# still sends, so that the client sees the answer rather than a reset, for this long at most.
LINGERING_SECONDS = 2.0


class _BodyTimeoutError(Exception):
    """The body did not arrive within `body_timeout_seconds`: 408, connection closed."""


class _EmptyBodyError(Exception):
    """A ParseModelInfo failure: 400 with no body (the status text is only logged)."""


def percent_decode(text: str) -> str:
    """Strict %XX decoding (no `+` → space); raises _EmptyBodyError on a bad escape."""
    if "%" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    index = 0
    while index < len(raw):
        byte = raw[index]
        if byte == ord("%"):
            digits = raw[index + 1 : index + 3]
            if len(digits) != 2 or not all(chr(d) in "0123456789abcdefABCDEF" for d in digits):
                raise _EmptyBodyError(f"Failed to decode: {text}")
            out.append(int(digits, 16))
            index += 3
        else:
            out.append(byte)
            index += 1
    return out.decode("utf-8", "surrogateescape")


def _version_number(digits: str | None) -> int | None:
    if digits is None:
        return None
    value = int(digits)
    if value >= 2**63:
        raise _EmptyBodyError(f"Failed to convert version: {digits} to numeric.")
    return value


def _message_to_dict(message) -> dict:
    from google.protobuf import json_format

    # `always_print_fields_with_no_presence` is protobuf >= 5.26's name; TensorFlow 2.21 requires
    # protobuf >= 6.31.1.
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def model_status_json(manager: ModelManager, name: str, version: int | None) -> bytes:
    """GetModelStatusResponse as proto3 JSON (all fields printed)."""
    return _json_bytes(_message_to_dict(model_status_response(manager, name, version)))


def model_metadata_json(
    manager: ModelManager, name: str, version: int | None, label: str | None
) -> bytes:
    """`{"model_spec": …, "metadata": {"signature_def": <SignatureDefMap>}}` (§3.3)."""
    spec, signature_map = model_metadata(manager, name, version, label)
    return _json_bytes(
        {
            "model_spec": _message_to_dict(spec),
            "metadata": {"signature_def": _message_to_dict(signature_map)},
        }
    )


def _json_bytes(value) -> bytes:
    return json.dumps(value, indent=1, ensure_ascii=False).encode("utf-8", "surrogateescape")


@dataclasses.dataclass(frozen=True)
class PredictCall:
    """A decoded REST predict request: the signature to run, its inputs, the response format."""

    function: Any
    signature_def: Any
    inputs: dict[str, np.ndarray]
    row_format: bool
    padded_axes: dict[str, list[str]] | None = None


def predict_call(
    manager: ModelManager,
    name: str,
    version: int | None,
    label: str | None,
    body: bytes,
    limits: RequestLimits | None = None,
) -> PredictCall:
    """Decodes one REST predict request: docs/serving.md §3.4 steps 2–7, in TF Serving's order,
    its inputs checked against `limits` (default `RequestLimits()`) before they are built."""
    document = parse_request_body(body)
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {dump(document)} Is not object")
    signature_name = document.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument(
            f"JSON Value: {dump(document)} not formatted correctly. 'signature_name' key must be "
            "a string value."
        )
    loaded = manager.servable(name, version, label)
    key = signature_name or DEFAULT_SIGNATURE
    signature = find_signature(loaded, key)
    if signature is None:
        raise invalid_argument(f'Serving signature name: "{key}" not found in signature def')
    signature_def, function = signature
    if not signature_def.inputs:
        raise invalid_argument(
            f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
        )
    inputs, row_format = input_tensors(document, signature_def, limits)
    return PredictCall(function, signature_def, inputs, row_format, loaded.padded_axes.get(key))


async def _cancel_left_over_tasks() -> None:
    """As `asyncio.run` does before closing its loop: cancels the tasks still pending (a
    connection lingering over the unread body of a refused request) and waits for them."""
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


class RestServer:
    """The REST endpoint over a `ModelManager`.

    Args:
        manager: the served models.
        host: the interface to listen on (default loopback only).
        port: the TCP port; 0 picks a free one (see `port` after start).
        num_threads: request worker threads (TF Serving's `--rest_api_num_threads`, default
            4 × CPUs).
        limits: what one request may send and build (default `RequestLimits()`): larger bodies
            get 413, inputs over the limits 400.
        enable_cors: add TF Serving's CORS headers (`--rest_api_enable_cors_support`).
        timeout_in_ms: the longest a predict's signature may run before the client gets 504
            (`--rest_api_timeout_in_ms`, default 30000; 0 or negative: no limit).
        shutdown_timeout: seconds in-flight requests get to finish on shutdown.
        run_queue: where model runs execute (default a `ModelRunQueue()` of its own; `serve`
            shares one with gRPC).
        header_timeout_seconds: a request's headers must be complete this long after its first
            byte (default 10; else 408 and the connection closes; 0 = no limit).
        body_timeout_seconds: its body must be complete this long after the headers (default
            30; else 408 and the connection closes; 0 = no limit).
        idle_timeout_seconds: a connection without a complete request for this long (after it
            opened or after its last response) is closed (default 30; 0 = never).
        max_connections: the most open connections; one more gets 503 and is closed (default
            512; 0 = no limit).
    """

    def __init__(
        self,
        manager: ModelManager,
        host: str = "127.0.0.1",
        port: int = 8501,
        num_threads: int | None = None,
        limits: RequestLimits | None = None,
        enable_cors: bool = False,
        timeout_in_ms: int = DEFAULT_TIMEOUT_IN_MS,
        shutdown_timeout: float = 30.0,
        run_queue: ModelRunQueue | None = None,
        header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
        body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS,
        idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ):
        for name, value in (
            ("header_timeout_seconds", header_timeout_seconds),
            ("body_timeout_seconds", body_timeout_seconds),
            ("idle_timeout_seconds", idle_timeout_seconds),
            ("max_connections", max_connections),
        ):
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0 (0 = no limit); received {value}.")
        self.header_timeout_seconds = header_timeout_seconds
        self.body_timeout_seconds = body_timeout_seconds
        self.idle_timeout_seconds = idle_timeout_seconds
        self.max_connections = max_connections
        self._own_run_queue = run_queue is None
        self.run_queue = run_queue or ModelRunQueue()
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"`num_threads` must be >= 1; received {num_threads}.")
        self.manager = manager
        self.host = host
        self.port = port
        self.num_threads = num_threads or 4 * (os.cpu_count() or 1)
        self.limits = limits or RequestLimits()
        self.enable_cors = enable_cors
        self.timeout_in_ms = timeout_in_ms
        self.shutdown_timeout = shutdown_timeout
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._runner: web.ServerRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._request_log = RateLimitedLog(logger)

    # ---- aiohttp plumbing ------------------------------------------------------------------

    def _make_server(self) -> web.Server:
        """The low-level server (one handler for every path; no aiohttp access log; bodies
        left compressed, `_read_body` inflates them)."""
        return JsonErrorServer(
            monitored_rest_handler(self._handle),
            request_log=self._request_log,
            access_log=None,
            auto_decompress=False,
            max_connections=self.max_connections,
            header_timeout=self.header_timeout_seconds,
            keepalive_timeout=self.idle_timeout_seconds,
            lingering_time=LINGERING_SECONDS,
        )

    def _response(
        self, status: int, body: bytes | None, content_type: str = JSON_CONTENT_TYPE
    ) -> web.Response:
        response = web.Response(status=status, body=body or b"")
        response.headers["Content-Type"] = content_type
        if self.enable_cors:
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Methods"] = "POST, GET"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        return response

    def _error(self, status: int, message: str) -> web.Response:
        return self._response(status, json_error_body(message))

    def _log_failure(self, method: str, path: str, status: int, message: str) -> None:
        self._request_log.log(
            logging.INFO,
            "REST %s %s: %d %s",
            method,
            one_line(path, 200),
            status,
            one_line(message),
        )

    async def _read_body(self, request: web.BaseRequest) -> bytes:
        """The body, inflated if TF Serving would inflate it, within `limits.max_request_bytes`.

        Raises:
            BodyTooLargeError: over the limit (a `Content-Length` over it before reading).
            ServingError: INVALID_ARGUMENT for a body that is not the gzip it says it is or that
                breaks off (a bad chunked encoding, fewer bytes than its Content-Length).
        """
        limit = self.limits.max_request_bytes
        check_content_length(request.content_length, limit)
        timeout = self.body_timeout_seconds or None
        try:
            body = await asyncio.wait_for(read_body(request.content, limit), timeout)
        except TimeoutError:
            raise _BodyTimeoutError(
                f"Request body not received within {self.body_timeout_seconds:g} seconds."
            ) from None
        except web.RequestPayloadError as error:
            raise invalid_argument(f"Malformed HTTP request body: {error}") from None
        if needs_inflating(request.headers.get("Content-Encoding", "")):
            body = await self._run(inflate_gzip, body, limit)
        return body

    async def _run(self, function, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    async def _run_model(self, call: PredictCall):
        """The predict call's signature in the run queue; DEADLINE_EXCEEDED once `timeout_in_ms`
        passed since it was queued (a run not started by then never starts)."""
        timeout = self.timeout_in_ms / 1000 if self.timeout_in_ms > 0 else None
        deadline = None if timeout is None else time.monotonic() + timeout
        work = asyncio.wrap_future(
            self.run_queue.submit_signature(
                call.function,
                call.signature_def,
                call.inputs,
                deadline=deadline,
                padded_axes=call.padded_axes,
            )
        )
        try:  # cancelling `work` (timeout, client gone) cancels the queued run
            return await asyncio.wait_for(work, timeout)
        except TimeoutError:
            raise ServingError("DEADLINE_EXCEEDED", TIMEOUT_MESSAGE) from None

    async def _predict(
        self, name: str, version: int | None, label: str | None, body: bytes
    ) -> bytes:
        # A small body is decoded, and a small answer written, on the event loop: well under
        # a millisecond, less than the two thread hand-offs a worker costs.
        if len(body) <= SMALL_BODY_BYTES:
            call = predict_call(self.manager, name, version, label, body, self.limits)
        else:
            call = await self._run(
                predict_call, self.manager, name, version, label, body, self.limits
            )
        outputs = await self._run_model(call)
        if sum(np.size(array) for array in outputs.values()) <= SMALL_RESPONSE_ELEMENTS:
            return predict_response_json(outputs, call.row_format)
        return await self._run(predict_response_json, outputs, call.row_format)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path  # path + query string, undecoded (EvHTTPRequest::uri_path)
        method = request.method
        if not _V1_PATH.fullmatch(path):
            self._log_failure(method, path, 404, "not a /v1/ path")
            return web.Response(status=404, text=_NOT_FOUND_HTML, content_type="text/html")
        if method == "OPTIONS":
            origin = request.headers.get("Origin", "")
            if not _CORS_ORIGIN.fullmatch(origin):
                self._log_failure(method, path, 400, "OPTIONS without an http(s) Origin")
                return self._response(400, None)
            return self._response(200, None)
        try:
            return await self._dispatch(request, method, path)
        except _EmptyBodyError as error:
            self._log_failure(method, path, 400, str(error))
            return self._response(400, None)
        except ServingError as error:
            self._log_failure(method, path, error.http_status, error.message)
            request[CODE_KEY] = error.code  # the request count's status (monitoring)
            return self._error(error.http_status, error.message)
        except (BodyTooLargeError, _BodyTimeoutError) as error:
            status = 413 if isinstance(error, BodyTooLargeError) else 408
            self._log_failure(method, path, status, str(error))
            response = self._error(status, str(error))
            response.force_close()  # the rest of the body is not read
            return response
        except Exception as error:  # noqa: BLE001 - never drop the connection without an answer
            self._request_log.log(
                logging.ERROR,
                "Unexpected failure handling %s %s",
                method,
                one_line(path, 200),
                exc_info=error,
            )
            failure = from_exception(error)
            request[CODE_KEY] = failure.code
            return self._error(failure.http_status, failure.message)

    async def _dispatch(self, request: web.BaseRequest, method: str, path: str) -> web.Response:
        malformed = invalid_argument(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _POST_PATH.fullmatch(path)
            if match is None or match.group(4) not in ("classify", "regress", "predict"):
                raise malformed
            name = percent_decode(match.group(1))
            request[MODEL_NAME_KEY], request[API_KEY] = name, match.group(4)  # monitoring
            version = _version_number(match.group(2))
            label = percent_decode(match.group(3)) if match.group(3) is not None else None
            body = await self._read_body(request)
            if match.group(4) != "predict":
                raise ServingError(
                    "UNIMPLEMENTED",
                    f"kerattn serve does not implement :{match.group(4)}; use :predict.",
                )
            result = await self._predict(name, version, label, body)
            return self._response(200, result)
        if method == "GET":
            match = _GET_PATH.fullmatch(path)
            if match is None:
                raise malformed
            if match.group(1) is None:
                raise invalid_argument("Missing model name in request.")
            name = percent_decode(match.group(1))
            request[MODEL_NAME_KEY] = name  # monitoring
            version = _version_number(match.group(2))
            label = percent_decode(match.group(3)) if match.group(3) is not None else None
            if match.group(4) == "metadata":  # case-sensitive, so `/METADATA` is status
                result = await self._run(model_metadata_json, self.manager, name, version, label)
            else:  # status ignores the label (get_model_status_impl.cc)
                result = await self._run(model_status_json, self.manager, name, version)
            return self._response(200, result)
        if method == "HEAD":
            self._log_failure(method, path, 400, "HEAD is not served")
            return self._response(400, None)
        raise malformed

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts listening on the running event loop; sets `port` to the bound port."""
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.num_threads, thread_name_prefix="kerattn-rest"
        )
        self._runner = web.ServerRunner(self._make_server(), shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        logger.info("Exporting HTTP/REST API at %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stops accepting connections and waits for in-flight requests to finish."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._own_run_queue:
            await asyncio.to_thread(self.run_queue.stop)

    def start_in_thread(self) -> int:
        """Runs the server on a new event loop thread; returns the bound port."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as error:  # noqa: BLE001 - reported to the caller
                failure.append(error)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.run_until_complete(_cancel_left_over_tasks())
            loop.close()

        self._thread = threading.Thread(target=run, name="kerattn-rest-loop", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self.port

    def stop_thread(self) -> None:
        """Stops a server started with `start_in_thread` (drains in-flight requests)."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
