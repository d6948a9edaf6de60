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
    return json.dumps({"error": valid_unicode(message)}, indent=4,
                      ensure_ascii=False).encode("utf-8")


def _reason(message: str | None, status: int) -> str:
    """aiohttp's error text on one line, without the caret line under a quoted value."""
    lines = [line.strip() for line in (message or "").splitlines()]
    text = " ".join(line for line in lines if line and set(line) != {"^"})
    return text or HTTPStatus(status).phrase


class _JsonErrorRequestHandler(web.RequestHandler):
    def __init__(self, manager: web.Server, *, request_log: RateLimitedLog, **kwargs):
        super().__init__(manager, **kwargs)
        self._request_log = request_log

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a response was started, cannot answer
            raise ConnectionError("Response is sent already, cannot send another response "
                                  "with the error message")
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:  # a fault of the server, not the request
            text = "Internal server error."
            self._request_log.log(logging.ERROR, "Unexpected failure handling a REST request",
                                  exc_info=exc)
        else:
            text = f"Malformed HTTP request: {_reason(message, status)}"
            self._request_log.log(logging.INFO, "REST request from %s: %d %s", request.remote,
                                  status, one_line(text))
        response = web.Response(status=status, body=json_error_body(text))
        response.headers["Content-Type"] = JSON_CONTENT_TYPE
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """`web.Server(handler, **handler_args)` whose connections answer unparseable requests with
    a JSON error body (see the module docstring). Create it on the event loop that serves it.

    Args:
        handler: the request handler (`async (web.BaseRequest) -> web.StreamResponse`).
        request_log: where the one line per malformed request goes.
        handler_args: `web.RequestHandler` options (`access_log`, `auto_decompress`, …).
    """

    def __init__(self, handler, *, request_log: RateLimitedLog, **handler_args):
        super().__init__(handler, loop=asyncio.get_running_loop(), **handler_args)
        self._serving_loop = asyncio.get_running_loop()
        self._handler_args = dict(handler_args, request_log=request_log)

    def __call__(self) -> web.RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._serving_loop, **self._handler_args)
