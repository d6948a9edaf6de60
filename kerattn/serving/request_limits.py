"""How much one request may make the server read and build, checked before anything is built.

TF Serving bounds a request only by the memory the process can get (docs/serving.md §7): a
23-byte gRPC TensorProto whose one `string_val` is repeated to fill shape [100000] becomes a
100 000-row batch, and a shape of 2^40 floats fails the allocation. kerattn serve checks every
input's declared shape first, from the shape alone, and refuses with INVALID_ARGUMENT (HTTP 400)
what is over a limit:

* rank: an input whose SignatureDef shape has a known rank must have that rank; any input has at
  most `MAX_RANK` dimensions (TensorFlow's numpy conversion is built with numpy 1's 32-dimension
  limit, and converting a string array of higher rank crashes the process);
* batch: dimension 0 of every input is at most `max_batch_size_per_request` (the text is TF
  Serving's batching error, `Task size <n> is larger than maximum input batch size <m>`);
* elements: the inputs of one request add up to at most `max_request_elements` elements;
* bytes: a REST body (after gzip inflation) or a gRPC message is at most `max_request_bytes`
  (HTTP 413 / RESOURCE_EXHAUSTED, in `rest_server`, `request_body` and `grpc_server`), and strings a
  gRPC tensor repeats to fill its shape add up to at most as many bytes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from kerattn.serving.serving_error import invalid_argument

# A REST body or gRPC message: gRPC's own default receive limit.
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Elements of all the inputs of one request: 16 MiB of float32.
DEFAULT_MAX_REQUEST_ELEMENTS = 4 * 1024 * 1024
# TF Serving's batch scheduler's max_batch_size when the batching parameters leave it unset.
DEFAULT_MAX_BATCH_SIZE_PER_REQUEST = 1000
MAX_RANK = 32
# TensorShape::IsValid: at most 254 dimensions, each >= 0, at most int64-max elements.
TENSORFLOW_MAX_RANK = 254
_INT64_MAX = 2**63 - 1


def shape_text(shape: Sequence[int]) -> str:
    """A shape as TF Serving prints it: `[2,3]`, `[]`, `[-1]` for an unknown size."""
    return "[" + ",".join(str(size) for size in shape) + "]"


def declared_shape(tensor_info) -> list[int] | None:
    """The SignatureDef's shape of an input (-1: any size), or None if its rank is unknown, the
    TensorInfo has no shape at all, or `tensor_info` is None."""
    if tensor_info is None or not tensor_info.HasField("tensor_shape"):
        return None
    shape = tensor_info.tensor_shape
    if shape.unknown_rank:
        return None
    return [dim.size for dim in shape.dim]


def is_valid_tensorflow_shape(shape: Sequence[int]) -> bool:
    """What `TensorShape::IsValid` accepts: <= 254 dimensions, sizes >= 0, <= int64-max elements."""
    if len(shape) > TENSORFLOW_MAX_RANK or any(size < 0 for size in shape):
        return False
    return math.prod(shape) <= _INT64_MAX


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """The limits of one request (flags of the same names).

    Args:
        max_request_bytes: the largest REST body (counted after gzip inflation) and gRPC message
            (`--max_body_bytes`).
        max_request_elements: the most tensor elements the inputs of one request may add up to
            (`--max_request_elements`).
        max_batch_size_per_request: the largest dimension 0 of any input
            (`--max_batch_size_per_request`).
    """

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_request_elements: int = DEFAULT_MAX_REQUEST_ELEMENTS
    max_batch_size_per_request: int = DEFAULT_MAX_BATCH_SIZE_PER_REQUEST

    def __post_init__(self):
        for flag, value in (
            ("--max_body_bytes", self.max_request_bytes),
            ("--max_request_elements", self.max_request_elements),
            ("--max_batch_size_per_request", self.max_batch_size_per_request),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{flag} must be a whole number of at least 1; received {value!r}."
                )

    def rank_limit(self, tensor_info) -> int:
        """The most dimensions an input may have: its declared rank, else `MAX_RANK`."""
        shape = declared_shape(tensor_info)
        return MAX_RANK if shape is None else min(len(shape), MAX_RANK)

    def check_rank(self, alias: str, rank: int, tensor_info, deeper: bool = False) -> None:
        """Raises INVALID_ARGUMENT unless an input of `rank` dimensions (`deeper`: more than
        `rank`, the reading stopped there) is what the signature accepts."""
        shape = declared_shape(tensor_info)
        received = f"a rank above {rank}" if deeper else f"rank {rank}"
        if shape is not None and (deeper or rank != len(shape)):
            raise invalid_argument(
                f"Input {alias} has {received}; the signature accepts rank "
                f"{len(shape)} (shape {shape_text(shape)})."
            )
        if deeper or rank > MAX_RANK:
            raise invalid_argument(
                f"Input {alias} has {received}; kerattn serve accepts ranks up to {MAX_RANK}."
            )

    def check_batch(self, batch_size: int) -> None:
        """Raises INVALID_ARGUMENT (TF Serving's batching text) for a batch over the limit."""
        if batch_size > self.max_batch_size_per_request:
            raise invalid_argument(
                f"Task size {batch_size} is larger than maximum input batch size "
                f"{self.max_batch_size_per_request} (kerattn serve --max_batch_size_per_request)"
            )

    def check_input(
        self, alias: str, shape: Sequence[int], tensor_info, elements_so_far: int = 0
    ) -> int:
        """Checks an input's rank, batch size and elements before it is built; returns the
        elements of the request's inputs so far, this one included.

        Raises:
            ServingError: INVALID_ARGUMENT naming the limit.
        """
        self.check_rank(alias, len(shape), tensor_info)
        if shape:
            self.check_batch(shape[0])
        total = elements_so_far + math.prod(shape)
        if total > self.max_request_elements:
            raise invalid_argument(
                f"Input {alias} (shape {shape_text(shape)}) brings the request to {total} tensor "
                f"elements; kerattn serve accepts at most {self.max_request_elements} per request "
                "(--max_request_elements)."
            )
        return total

    def check_string_bytes(self, alias: str, total_bytes: int) -> None:
        """Raises INVALID_ARGUMENT if repeating a gRPC tensor's last string to fill its shape
        would build more bytes of strings than a request may carry."""
        if total_bytes > self.max_request_bytes:
            raise invalid_argument(
                f"Input {alias} repeats its last string value to {total_bytes} bytes of strings; "
                f"kerattn serve builds at most {self.max_request_bytes} per request "
                "(--max_body_bytes)."
            )
