"""A REST request body, read and (for `Content-Encoding: gzip`) inflated within a byte limit.

TF Serving inflates a body whose Content-Encoding contains `gzip` (evhttp_request.cc; any other
encoding is passed on as it is) and caps the inflated size at 100 MB. kerattn serve reads the body
itself (aiohttp's automatic decompression is off, see `rest_server`) so that every limit counts
what the server would hold (docs/serving.md §7):

* a `Content-Length` above the limit is refused before any of the body is read;
* the raw body is read chunk by chunk and refused as soon as it passes the limit;
* gzip is inflated by `zlib.decompressobj` in chunks of at most 64 KiB of output, and inflation
  stops as soon as the inflated bytes pass the limit, so a small body that inflates to gigabytes
  costs at most the limit plus one chunk.

Over the limit: `BodyTooLargeError` (HTTP 413). A body that is not valid gzip: INVALID_ARGUMENT
(HTTP 400) `Failed to uncompress the gzipped body: <zlib's reason>` (TF Serving logs that
sentence and answers as for an empty body).
"""

from __future__ import annotations

import zlib

from kerattn.serving.serving_error import invalid_argument

INFLATE_CHUNK_BYTES = 64 * 1024
_GZIP_WINDOW_BITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around a deflate stream


class BodyTooLargeError(Exception):
    """A request body over the byte limit; the message names the limit (HTTP 413)."""

    def __init__(self, limit: int, inflated: bool = False):
        when = " once inflated" if inflated else ""
        super().__init__(
            f"Request body is larger than the limit of {limit} bytes{when} "
            "(kerattn serve --max_body_bytes)."
        )
        self.limit = limit


def needs_inflating(content_encoding: str) -> bool:
    """Whether TF Serving would inflate a body sent with this Content-Encoding."""
    return "gzip" in content_encoding


def check_content_length(content_length: int | None, limit: int) -> None:
    """Raises BodyTooLargeError for a declared length above `limit`, before reading the body."""
    if content_length is not None and content_length > limit:
        raise BodyTooLargeError(limit)


async def read_body(content, limit: int) -> bytes:
    """The bytes of an aiohttp request payload (`request.content`), at most `limit` of them.

    Raises:
        BodyTooLargeError: the body passed `limit` (reading stops there).
    """
    chunks = []
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)


def inflate_gzip(data: bytes, limit: int) -> bytes:
    """The inflated bytes of a gzip body (several gzip members are concatenated, as `gzip`
    reads them), at most `limit` of them.

    Raises:
        BodyTooLargeError: the inflated bytes passed `limit` (inflation stops there).
        ServingError: INVALID_ARGUMENT, the body is not valid gzip.
    """
    chunks = []
    size = 0
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(_GZIP_WINDOW_BITS)
            while True:
                chunk = inflater.decompress(pending, INFLATE_CHUNK_BYTES)
                size += len(chunk)
                if size > limit:
                    raise BodyTooLargeError(limit, inflated=True)
                chunks.append(chunk)
                pending = inflater.unconsumed_tail
                if inflater.eof or not (pending or chunk):
                    break
            if not inflater.eof:
                raise zlib.error("the gzip stream is truncated")
            pending = inflater.unused_data
    except zlib.error as error:
        raise invalid_argument(f"Failed to uncompress the gzipped body: {error}") from None
    return b"".join(chunks)
