"""aiohttp's low-level HTTP server, answering requests it cannot parse with a JSON error body.

aiohttp answers a request whose request line or headers do not parse (a bad header, a line over
8190 bytes, TLS on the plain port, a missing Host header in HTTP/1.1) itself, before any handler
or middleware runs, with a plain-text 400 and a logged traceback. Its only hook is the protocol's
`RequestHandler.handle_error`, so `JsonErrorServer` makes its connections with a `RequestHandler`
subclass whose `handle_error` answers `{"error": "Malformed HTTP request: <aiohttp's reason>"}`
with `Content-Type: application/json`, logs one line through the caller's `RateLimitedLog`
instead of a traceback, and closes the connection as aiohttp does. (TF Serving's libevent
answers those with an HTML page; kerattn answers every `/v1/` error in JSON.)

It uses aiohttp's public `web.Server`, `web.RequestHandler` and `handle_error` (aiohttp 3.9 to
3.14); `tests/serving/test_request_limits.py` checks the answer.

Connections are also bounded (docs/serving.md §12): `max_connections` open connections at most
(one more is answered 503 `{"error": "Too many open connections …"}` and closed at once), and a
request's headers must be complete `header_timeout` seconds after its first byte (otherwise 408
and the connection is closed); idle connections, and connections that never send a complete
request, close after aiohttp's `keepalive_timeout` (the caller passes it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus

from aiohttp import web

from kerattn.serving.rate_limited_log import RateLimitedLog, one_line
from kerattn.serving.serving_error import valid_unicode

JSON_CONTENT_TYPE = "application/json"


def json_error_body(message: str) -> bytes:
    """TF Serving's error body `{"error": <message>}` (4-space indentation), valid UTF-8."""
    return json.dumps({"error": valid_unicode(message)}, indent=4, ensure_ascii=False).encode(
        "utf-8"
    )


def _reason(message: str | None, status: int) -> str:
    """aiohttp's error text on one line, without the caret line under a quoted value."""
    lines = [line.strip() for line in (message or "").splitlines()]
    text = " ".join(line for line in lines if line and set(line) != {"^"})
    return text or HTTPStatus(status).phrase


def raw_json_response(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 response `{"error": message}` that closes the connection, for answers
    written straight to a transport (no aiohttp request exists yet)."""
    body = json_error_body(message)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: {JSON_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _JsonErrorRequestHandler(web.RequestHandler):
    def __init__(
        self,
        manager: "JsonErrorServer",
        *,
        request_log: RateLimitedLog,
        header_timeout: float = 0.0,
        **kwargs,
    ):
        super().__init__(manager, **kwargs)
        self._request_log = request_log
        self._server = manager
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._server.admit():
            self._refused = True
            self._request_log.log(
                logging.INFO,
                "REST connection refused: %d connections open",
                self._server.max_connections,
            )
            transport.write(
                raw_json_response(
                    503,
                    f"Too many open connections (the limit is {self._server.max_connections}); "
                    "retry later.",
                )
            )
            transport.close()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        self._server.release()
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if (
            data
            and self._header_timeout > 0
            and not self._in_request
            and self._header_timer is None
            and self.transport is not None
        ):
            self._header_timer = asyncio.get_running_loop().call_later(
                self._header_timeout, self._headers_too_slow
            )

    def request_started(self) -> None:
        """Called by the server's handler: the headers are complete."""
        self._in_request = True
        self._cancel_header_timer()

    def request_finished(self) -> None:
        self._in_request = False

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._in_request or self.transport is None:
            return
        text = f"Request headers not received within {self._header_timeout:g} seconds."
        self._request_log.log(logging.INFO, "REST connection: 408 %s", text)
        self.transport.write(raw_json_response(408, text))
        self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a response was started, cannot answer
            raise ConnectionError(
                "Response is sent already, cannot send another response with the error message"
            )
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:  # a fault of the server, not the request
            text = "Internal server error."
            self._request_log.log(
                logging.ERROR, "Unexpected failure handling a REST request", exc_info=exc
            )
        else:
            text = f"Malformed HTTP request: {_reason(message, status)}"
            self._request_log.log(
                logging.INFO, "REST request from %s: %d %s", request.remote, status, one_line(text)
            )
        response = web.Response(status=status, body=json_error_body(text))
        response.headers["Content-Type"] = JSON_CONTENT_TYPE
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """`web.Server(handler, **handler_args)` whose connections answer unparseable requests with
    a JSON error body, and bound connections and header time (see the module docstring).
    Create it on the event loop that serves it.

    Args:
        handler: the request handler (`async (web.BaseRequest) -> web.StreamResponse`).
        request_log: where the one line per malformed request goes.
        max_connections: the most open connections (0 = no limit).
        header_timeout: seconds from a request's first byte to its complete headers (0 = no
            limit).
        handler_args: `web.RequestHandler` options (`access_log`, `auto_decompress`,
            `keepalive_timeout`, …).
    """

    def __init__(
        self,
        handler,
        *,
        request_log: RateLimitedLog,
        max_connections: int = 0,
        header_timeout: float = 0.0,
        **handler_args,
    ):
        super().__init__(self._handle_marked, loop=asyncio.get_running_loop(), **handler_args)
        self._inner_handler = handler
        self._serving_loop = asyncio.get_running_loop()
        self._handler_args = dict(
            handler_args, request_log=request_log, header_timeout=header_timeout
        )
        self.max_connections = max_connections
        self.open_connections = 0

    def admit(self) -> bool:
        """Counts a new connection in; False (not counted) when `max_connections` are open."""
        if self.max_connections and self.open_connections >= self.max_connections:
            return False
        self.open_connections += 1
        return True

    def release(self) -> None:
        self.open_connections -= 1

    async def _handle_marked(self, request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        marked = isinstance(protocol, _JsonErrorRequestHandler)
        if marked:
            protocol.request_started()
        try:
            return await self._inner_handler(request)
        finally:
            if marked:
                protocol.request_finished()

    def __call__(self) -> web.RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._serving_loop, **self._handler_args)
