"""A bounded queue of model runs with a fixed number of run threads (docs/serving.md §12).

A TensorFlow call cannot be interrupted once it runs, so a request that gives up (its gRPC
deadline or the REST `--rest_api_timeout_in_ms` passed, its client went away) cannot take back
the thread its run occupies. `ModelRunQueue` keeps that waste bounded and keeps the connection
handling free:

* at most `num_threads` model runs execute at once, in threads of their own, separate from the
  gRPC and REST threads that decode requests and write responses;
* further runs wait in a FIFO queue of at most `max_queued` entries; one more is refused with
  RESOURCE_EXHAUSTED at once (the only refusal: below that bound requests wait, they never fail);
* a queued run whose deadline has passed, or whose waiter gave up (`Future.cancel()`), is
  dropped when its turn comes, without running: a backlog of abandoned requests drains in
  microseconds instead of occupying the run threads one by one.

A run that passes its deadline while it executes finishes in its thread and its result is
dropped; at most `num_threads` such runs exist at a time.

A blocking signature call (`call_signature`, gRPC's path) that finds nothing queued and a run
slot free runs in the caller's thread instead, skipping two thread hand-offs; it holds one of
the same `num_threads` slots, so the bound on concurrent runs is unchanged, and a deadline that
passes while it runs gives DEADLINE_EXCEEDED as from the queue.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import threading
import time
from typing import Any, Callable

from kerattn.serving.serving_error import ServingError

logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED = 256
# DirectSession's DEADLINE_EXCEEDED text when a run passes RunOptions.timeout_in_ms.
DEADLINE_MESSAGE = "Timed out waiting for notification"
_STOP = object()


def default_run_threads() -> int:
    """The default number of concurrent model runs: one per CPU core (at least 2), since each run
    already uses TensorFlow's own intra-op threads."""
    return max(2, os.cpu_count() or 1)


class _Run:
    __slots__ = ("function", "args", "deadline", "future")

    def __init__(self, function: Callable, args: tuple, deadline: float | None):
        self.function = function
        self.args = args
        self.deadline = deadline
        self.future: concurrent.futures.Future = concurrent.futures.Future()


class ModelRunQueue:
    """Runs model calls in `num_threads` threads behind a FIFO queue of `max_queued` entries.

    Args:
        num_threads: the most model runs executing at once (default `default_run_threads()`).
        max_queued: the most runs waiting for a thread; one more gets RESOURCE_EXHAUSTED
            (default 256).
    """

    def __init__(self, num_threads: int | None = None, max_queued: int = DEFAULT_MAX_QUEUED):
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"`num_threads` must be >= 1; received {num_threads}.")
        if max_queued < 1:
            raise ValueError(f"`max_queued` must be >= 1; received {max_queued}.")
        self.num_threads = num_threads or default_run_threads()
        self.max_queued = max_queued
        self._queue: queue.Queue = queue.Queue(maxsize=max_queued)
        # One per executing run, queued or inline: at most `num_threads` at once.
        self._slots = threading.BoundedSemaphore(self.num_threads)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.dropped = 0  # runs dropped unrun (deadline passed or waiter gone), for tests/logs

    def _ensure_started(self) -> None:
        with self._lock:
            if self._threads:
                return
            for index in range(self.num_threads):
                thread = threading.Thread(
                    target=self._work, name=f"kerattn-model-run-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def submit(
        self, function: Callable, *args: Any, deadline: float | None = None
    ) -> concurrent.futures.Future:
        """Queues `function(*args)`; returns its Future.

        Args:
            deadline: a `time.monotonic()` time after which the run is not started (its Future
                then fails with DEADLINE_EXCEEDED); None = no deadline.

        Raises:
            ServingError: RESOURCE_EXHAUSTED when `max_queued` runs are already waiting.
        """
        self._ensure_started()
        run = _Run(function, args, deadline)
        try:
            self._queue.put_nowait(run)
        except queue.Full:
            raise ServingError(
                "RESOURCE_EXHAUSTED",
                f"The model run queue is full ({self.max_queued} requests waiting for one of "
                f"{self.num_threads} model run threads); retry later.",
            ) from None
        return run.future

    def submit_signature(
        self,
        function,
        signature_def,
        inputs,
        aliases=(),
        deadline: float | None = None,
        padded_axes=None,
    ) -> concurrent.futures.Future:
        """Queues `run_signature(function, signature_def, inputs, aliases)`; returns its Future.

        `padded_axes` (a kerattn export's padded output axes) matters only to request batching
        (`RequestBatcher`), which merges these runs.
        """
        from kerattn.serving.servable_requests import run_signature

        return self.submit(
            run_signature, function, signature_def, inputs, aliases, deadline=deadline
        )

    def call_signature(
        self,
        function,
        signature_def,
        inputs,
        aliases=(),
        padded_axes=None,
        timeout: float | None = None,
        on_submit: Callable[[concurrent.futures.Future], Any] | None = None,
    ) -> Any:
        """`submit_signature` and wait, as `call` does (in the caller's thread when nothing is
        queued and a run slot is free)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._runs_inline and self._queue.empty() and self._slots.acquire(blocking=False):
            return self._call_inline(function, signature_def, inputs, aliases, deadline, on_submit)
        future = self.submit_signature(
            function, signature_def, inputs, aliases, deadline=deadline, padded_axes=padded_axes
        )
        return self._wait(future, timeout, on_submit)

    def call(
        self,
        function: Callable,
        *args: Any,
        timeout: float | None = None,
        on_submit: Callable[[concurrent.futures.Future], Any] | None = None,
    ) -> Any:
        """`function(*args)` through the queue, waiting at most `timeout` seconds (None: no
        limit) for it to be queued, run and finished; `on_submit(future)` is called once it is
        queued (e.g. to cancel it when the client goes away).

        Raises:
            ServingError: DEADLINE_EXCEEDED once `timeout` passed (a queued run is then never
                started); RESOURCE_EXHAUSTED from `submit`; what `function` raises.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._wait(self.submit(function, *args, deadline=deadline), timeout, on_submit)

    _runs_inline = True  # RequestBatcher merges signature runs, so never runs them inline

    def _call_inline(
        self, function, signature_def, inputs, aliases, deadline: float | None, on_submit
    ) -> Any:
        """A signature run in this thread, holding the run slot `call_signature` acquired."""
        from kerattn.serving.servable_requests import run_signature

        try:
            if deadline is not None and time.monotonic() >= deadline:
                self.dropped += 1
                raise ServingError("DEADLINE_EXCEEDED", DEADLINE_MESSAGE)
            if on_submit is not None:  # a running Future: cancelling it does nothing, as queued
                future: concurrent.futures.Future = concurrent.futures.Future()
                future.set_running_or_notify_cancel()
                on_submit(future)
            try:
                result = run_signature(function, signature_def, inputs, aliases)
            except Exception:
                if deadline is None or time.monotonic() < deadline:
                    raise
                result = None  # past the deadline: the waiter would have seen only that
            if deadline is not None and time.monotonic() >= deadline:
                raise ServingError("DEADLINE_EXCEEDED", DEADLINE_MESSAGE)
            return result
        finally:
            self._slots.release()

    @staticmethod
    def _wait(
        future: concurrent.futures.Future,
        timeout: float | None,
        on_submit: Callable[[concurrent.futures.Future], Any] | None,
    ) -> Any:
        if on_submit is not None:
            on_submit(future)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()  # a run still queued is dropped; one running finishes unseen
            raise ServingError("DEADLINE_EXCEEDED", DEADLINE_MESSAGE) from None
        except concurrent.futures.CancelledError:
            raise ServingError("CANCELLED", "The request was cancelled.") from None

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is _STOP:
                return
            with self._slots:  # waits while inline calls hold every slot
                self._run(run)

    def _run(self, run: _Run) -> None:
        if not run.future.set_running_or_notify_cancel():
            self.dropped += 1  # the waiter gave up while it was queued
            return
        if run.deadline is not None and time.monotonic() >= run.deadline:
            self.dropped += 1
            run.future.set_exception(ServingError("DEADLINE_EXCEEDED", DEADLINE_MESSAGE))
            return
        try:
            result = run.function(*run.args)
        except BaseException as error:  # noqa: BLE001 - handed to the waiter
            run.future.set_exception(error)
        else:
            run.future.set_result(result)

    def stop(self) -> None:
        """Lets queued and running calls finish, then ends the run threads."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(_STOP)  # blocks while the queue is full: queued runs go first
        for thread in threads:
            thread.join()
