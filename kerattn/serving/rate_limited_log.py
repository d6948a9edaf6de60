"""One log line per bad request, at most `lines_per_second` of them, so a flood of bad requests
cannot flood the log.

Lines over the budget of the current one-second window are dropped and counted; the first line
written in a later window is preceded by one line saying how many were dropped. A line never
holds a traceback unless the caller passes `exc_info` (server faults, not client errors).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kerattn.serving.serving_error import valid_unicode

DEFAULT_LINES_PER_SECOND = 10
_LINE_LIMIT = 300  # characters of one request's text in a log line


def one_line(text: str, limit: int = _LINE_LIMIT) -> str:
    """`text` on one line (line breaks and other control characters escaped, bytes that were not
    UTF-8 as `\\xNN`), cut after `limit` characters."""
    text = valid_unicode(text)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text) - limit} more characters)"
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


class RateLimitedLog:
    """Writes at most `lines_per_second` lines a second to `logger`; thread-safe.

    Args:
        logger: where the lines go.
        lines_per_second: the budget of one one-second window.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        logger: logging.Logger,
        lines_per_second: int = DEFAULT_LINES_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ):
        if lines_per_second < 1:
            raise ValueError(f"`lines_per_second` must be >= 1; received {lines_per_second}.")
        self.logger = logger
        self.lines_per_second = lines_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._written = 0
        self._dropped = 0

    def log(self, level: int, message: str, *args, exc_info=None) -> bool:
        """Logs `message % args` unless this window's budget is spent; returns whether it did."""
        with self._lock:
            now = self._clock()
            dropped = 0
            if now - self._window_start >= 1.0:
                dropped, self._dropped = self._dropped, 0
                self._window_start, self._written = now, 0
            if self._written >= self.lines_per_second:
                self._dropped += 1
                return False
            self._written += 1
        if dropped:
            self.logger.log(
                level,
                "%d more bad requests were not logged (at most %d lines a second).",
                dropped,
                self.lines_per_second,
            )
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True
