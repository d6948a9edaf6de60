"""The status codes TF Serving reports (tensorflow.error.Code) and their HTTP mapping.

`ServingError` carries one of the code names and the message a client sees; the REST layer
turns it into `{"error": message}` with the HTTP status of `HTTP_STATUS` (docs/serving.md §3),
the gRPC layer passes the code through unchanged (§4).
"""

from __future__ import annotations

# tensorflow.error.Code numbers (tensorflow/core/protobuf/error_codes.proto).
CODE_NUMBERS = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
CODE_NAMES = {number: name for name, number in CODE_NUMBERS.items()}

# http_rest_api_handler.cc ToHTTPStatusCode.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request failure with a TF Serving status code name and the client-visible message."""

    def __init__(self, code: str, message: str):
        if code not in CODE_NUMBERS or code == "OK":
            raise ValueError(
                f"`code` must be a non-OK tensorflow.error.Code name; received {code!r}."
            )
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def __str__(self) -> str:
        return self.message


def valid_unicode(text: str) -> str:
    """`text` as valid Unicode, so it encodes to valid UTF-8: bytes of a request that were not
    UTF-8 (surrogate-escaped when decoded) become `\\xNN`, a lone surrogate `\\udNNN`."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def invalid_argument(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def from_exception(error: BaseException) -> ServingError:
    """A `ServingError` for any exception: TF runtime errors keep their code, others are UNKNOWN."""
    if isinstance(error, ServingError):
        return error
    import tensorflow as tf

    if isinstance(error, tf.errors.OpError):
        return ServingError(CODE_NAMES.get(error.error_code, "UNKNOWN"), error.message)
    return ServingError("UNKNOWN", f"{type(error).__name__}: {error}")
