"""Request batching as TF Serving does it (`--enable_batching`; docs/serving.md §15).

Concurrent predict requests to the same signature of the same loaded version are merged into one
model call: their inputs are concatenated along dimension 0, the signature runs once, and each
request gets its own rows back. The scheduling follows TF Serving's `SharedBatchScheduler`
(`batching_parameters_file`, text-format `BatchingParameters`):

* each signature has a queue of batches; a request joins the newest batch if it fits in
  `max_batch_size`, or opens a new one; a queue already holding `max_enqueued_batches` batches
  refuses it with UNAVAILABLE `The batch scheduling queue to which this task was submitted is
  full` (TF Serving's text);
* `num_batch_threads` threads run batches, oldest first; a batch is taken when it is full, or once
  its first request has waited `batch_timeout_micros` (0: as soon as a thread is free, so
  batches form exactly while the threads are busy);
* `allowed_batch_sizes` pads a merged batch up to the next allowed size with copies of its first
  row, whose outputs are dropped;
* a request larger than `max_batch_size` gets TF Serving's INVALID_ARGUMENT `Task size <n> is
  larger than maximum input batch size <m>`.

Where kerattn goes further than TF Serving, so that an answer never depends on what other
clients sent at the same time:

* **every answer equals the unbatched one.** TF Serving splits outputs on dimension 0 only, so a
  short sentence batched with a long one gets its attention padded to the long one's length. A
  kerattn export names its padded axes in `assets.extra/kerattn_export.json`
  (`padded_axes`, e.g. `attention: [target, source]`); each request's rows are trimmed to its
  own extent of each axis, read from the outputs whose padding is unambiguous (token ids, 0;
  token strings, ""), which is exactly the shape its unbatched run has. Outputs of other
  SavedModels are split on dimension 0 only, as TF Serving does.
* requests whose inputs differ beyond dimension 0 are never merged with each other (TF Serving
  fails them with FAILED_PRECONDITION unless `pad_variable_length_inputs`); they run in batches
  of their own shape. kerattn's signatures take `text` tf.string [B], so they always merge.
* when a merged run fails, each of its requests is run alone, so one bad request fails alone.
* a request whose client went away or whose deadline passed while it was queued is dropped
  before its batch runs, as in `ModelRunQueue`.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerattn.serving.model_run_queue import DEADLINE_MESSAGE, ModelRunQueue
from kerattn.serving.monitoring import METRICS
from kerattn.serving.serving_error import ServingError, invalid_argument

QUEUE_FULL_MESSAGE = "The batch scheduling queue to which this task was submitted is full"


@dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's `BatchingParameters`, unset fields at `SharedBatchScheduler`'s defaults."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = max(1, os.cpu_count() or 1)
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"BatchingParameters.{name} must be >= 1; received {getattr(self, name)}."
                )
        if self.batch_timeout_micros < 0:
            raise ValueError(
                "BatchingParameters.batch_timeout_micros must be >= 0; received "
                f"{self.batch_timeout_micros}."
            )
        sizes = self.allowed_batch_sizes
        if sizes:  # bundle_factory_util.cc's two checks, in its words
            if any(later <= earlier for earlier, later in zip(sizes, sizes[1:])) or sizes[0] < 1:
                raise ValueError(
                    "allowed_batch_sizes entries must be monotonically increasing; "
                    f"received {list(sizes)}."
                )
            if sizes[-1] != self.max_batch_size:
                raise ValueError(
                    "Final entry in allowed_batch_sizes must equal max_batch_size when "
                    f"enable_large_batch_splitting is False; received {sizes[-1]} and "
                    f"max_batch_size {self.max_batch_size}."
                )


_INT64_FIELDS = (
    "max_batch_size",
    "batch_timeout_micros",
    "max_enqueued_batches",
    "num_batch_threads",
)


def _batching_parameters_class():
    """TF Serving's `tensorflow.serving.BatchingParameters`, declared from
    session_bundle_config.proto (the field names and numbers; wrappers for the optional ones)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = file.message_type.add(name="BatchingParameters")
    optional, repeated, message_type, int64, boolean = 1, 3, 11, 3, 8
    for number, name in enumerate(_INT64_FIELDS, start=1):
        message.field.add(
            name=name,
            number=number,
            type=message_type,
            label=optional,
            type_name=".google.protobuf.Int64Value",
        )
    message.field.add(
        name="thread_pool_name",
        number=5,
        type=message_type,
        label=optional,
        type_name=".google.protobuf.StringValue",
    )
    message.field.add(name="allowed_batch_sizes", number=6, type=int64, label=repeated)
    message.field.add(name="pad_variable_length_inputs", number=7, type=boolean, label=optional)
    message.field.add(
        name="enable_large_batch_splitting",
        number=8,
        type=message_type,
        label=optional,
        type_name=".google.protobuf.BoolValue",
    )
    message.field.add(
        name="max_execution_batch_size",
        number=9,
        type=message_type,
        label=optional,
        type_name=".google.protobuf.Int64Value",
    )
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    return message_factory.GetMessageClass(descriptor)


def read_batching_parameters(path: str | os.PathLike) -> BatchingParameters:
    """The `BatchingParameters` of a text-format file (`--batching_parameters_file`).

    Raises:
        UsageError: the file cannot be read or parsed, a value is out of range, or it asks for
            large-batch splitting, which kerattn serve does not do.
    """
    from kerattn.errors import UsageError
    from kerattn.serving.text_format_config import parse_text_proto

    proto = parse_text_proto(
        path, _batching_parameters_class()(), "tensorflow.serving.BatchingParameters"
    )
    if proto.enable_large_batch_splitting.value or proto.HasField("max_execution_batch_size"):
        raise UsageError(
            f"{path} asks for large-batch splitting (enable_large_batch_splitting, "
            "max_execution_batch_size), which kerattn serve does not do; remove those fields "
            "(requests larger than max_batch_size are then refused, as TF Serving does)."
        )
    given: dict[str, Any] = {
        name: getattr(proto, name).value for name in _INT64_FIELDS if proto.HasField(name)
    }
    if proto.HasField("thread_pool_name"):
        given["thread_pool_name"] = proto.thread_pool_name.value
    given["allowed_batch_sizes"] = tuple(proto.allowed_batch_sizes)
    given["pad_variable_length_inputs"] = proto.pad_variable_length_inputs
    try:
        return BatchingParameters(**given)
    except ValueError as error:
        raise UsageError(f"{path}: {error}") from error


class _Task:
    __slots__ = ("inputs", "size", "shape_key", "aliases", "deadline", "enqueued", "future")

    def __init__(
        self, inputs: Mapping[str, np.ndarray], aliases: Sequence[str], deadline: float | None
    ):
        self.inputs = dict(inputs)
        sizes = {array.shape[0] if array.ndim else None for array in self.inputs.values()}
        if None in sizes or len(sizes) != 1:  # batching_session.cc's two preconditions
            raise invalid_argument(
                "Batching Run() input tensors must have equal 0th-dimension size"
            )
        (self.size,) = sizes
        self.shape_key = tuple(
            sorted(
                (alias, array.shape[1:], array.dtype.str) for alias, array in self.inputs.items()
            )
        )
        self.aliases = tuple(aliases)
        self.deadline = deadline
        self.enqueued = time.monotonic()
        self.future: concurrent.futures.Future = concurrent.futures.Future()


class _SignatureQueue:
    """The batches waiting for one signature of one loaded version."""

    def __init__(self, function, signature_def, padded_axes: Mapping[str, Sequence[str]]):
        self.function = function
        self.signature_def = signature_def
        self.padded_axes = {alias: tuple(axes) for alias, axes in padded_axes.items()}
        self.batches: deque[list[_Task]] = deque()


class RequestBatcher(ModelRunQueue):
    """A `ModelRunQueue` whose signature runs are merged into batches (see the module docstring).

    Runs other than signature runs (`submit`) keep the run queue's own threads.

    Args:
        parameters: the scheduler's settings.
        run_threads, max_queued: the `ModelRunQueue` settings for the other runs.
    """

    _runs_inline = False  # signature runs wait to be merged

    def __init__(
        self,
        parameters: BatchingParameters,
        run_threads: int | None = None,
        max_queued: int | None = None,
    ):
        kwargs = {} if max_queued is None else {"max_queued": max_queued}
        super().__init__(run_threads, **kwargs)
        self.parameters = parameters
        self._queues: dict[Any, _SignatureQueue] = {}
        self._condition = threading.Condition()
        self._batch_threads: list[threading.Thread] = []
        self._stopping = False
        self.merged_runs = 0  # model runs on a batch of more than one request, for tests

    # -- submitting ----------------------------------------------------------------------------

    def submit_signature(
        self,
        function,
        signature_def,
        inputs: Mapping[str, np.ndarray],
        aliases: Sequence[str] = (),
        deadline: float | None = None,
        padded_axes: Mapping[str, Sequence[str]] | None = None,
    ) -> concurrent.futures.Future:
        task = _Task(inputs, aliases, deadline)
        limit = self.parameters.max_batch_size
        if task.size > limit:
            raise invalid_argument(
                f"Task size {task.size} is larger than maximum input batch size {limit}"
            )
        self._start_batch_threads()
        with self._condition:
            queue = self._queues.get(function)
            if queue is None:
                queue = self._queues[function] = _SignatureQueue(
                    function, signature_def, padded_axes or {}
                )
            self._enqueue(queue, task)
            self._condition.notify()
        return task.future

    def _enqueue(self, queue: _SignatureQueue, task: _Task) -> None:
        for batch in reversed(queue.batches):  # the newest batch of this shape, if it has room
            if batch[0].shape_key == task.shape_key:
                if sum(other.size for other in batch) + task.size <= self.parameters.max_batch_size:
                    batch.append(task)
                    return
                break
        if len(queue.batches) >= self.parameters.max_enqueued_batches:
            raise ServingError("UNAVAILABLE", QUEUE_FULL_MESSAGE)
        queue.batches.append([task])

    # -- scheduling ----------------------------------------------------------------------------

    def _start_batch_threads(self) -> None:
        with self._condition:
            if self._batch_threads or self._stopping:
                return
            for index in range(self.parameters.num_batch_threads):
                thread = threading.Thread(
                    target=self._work_on_batches,
                    daemon=True,
                    name=f"kerattn-{self.parameters.thread_pool_name}-{index}",
                )
                thread.start()
                self._batch_threads.append(thread)

    def _next_batch(self) -> tuple[tuple[_SignatureQueue, list[_Task]] | None, float | None]:
        """(the oldest batch that is full or has waited its timeout, removed from its queue, or
        None; the seconds until the next one is due, or None), with the condition held."""
        timeout = self.parameters.batch_timeout_micros / 1e6
        now = time.monotonic()
        best, wait = None, None
        for queue in self._queues.values():
            if not queue.batches:
                continue
            batch = queue.batches[0]
            full = (
                len(queue.batches) > 1
                or sum(task.size for task in batch) >= self.parameters.max_batch_size
            )
            due = now if full else batch[0].enqueued + timeout
            if due <= now:
                if best is None or batch[0].enqueued < best[1][0].enqueued:
                    best = (queue, batch)
            else:
                wait = due - now if wait is None else min(wait, due - now)
        if best is not None:
            best[0].batches.popleft()
        return best, wait

    def _work_on_batches(self) -> None:
        while True:
            with self._condition:
                while True:
                    taken, wait = self._next_batch()
                    if taken is not None:
                        break
                    if self._stopping and not any(q.batches for q in self._queues.values()):
                        return
                    self._condition.wait(wait)
            self._run_batch(*taken)

    # -- running -------------------------------------------------------------------------------

    def _run_batch(self, queue: _SignatureQueue, batch: list[_Task]) -> None:
        now = time.monotonic()
        live = []
        for task in batch:
            if not task.future.set_running_or_notify_cancel():
                self.dropped += 1
            elif task.deadline is not None and now >= task.deadline:
                self.dropped += 1
                task.future.set_exception(ServingError("DEADLINE_EXCEEDED", DEADLINE_MESSAGE))
            else:
                METRICS.record_batch_queuing(
                    self.parameters.thread_pool_name, (now - task.enqueued) * 1e6
                )
                live.append(task)
        if not live:
            return
        try:
            answers = self._merged_run(queue, live)
        except BaseException as error:  # noqa: BLE001 - one bad request must fail alone
            if len(live) == 1:
                live[0].future.set_exception(error)
                return
            answers = []
            for task in live:
                try:
                    answers.extend(self._merged_run(queue, [task]))
                except BaseException as single_error:  # noqa: BLE001 - handed to the waiter
                    answers.append(single_error)
        for task, answer in zip(live, answers):
            if isinstance(answer, BaseException):
                task.future.set_exception(answer)
            else:
                task.future.set_result(answer)

    def _merged_run(self, queue: _SignatureQueue, tasks: list[_Task]) -> list[dict]:
        from kerattn.serving.servable_requests import run_signature

        total = sum(task.size for task in tasks)
        padded = _allowed_size(total, self.parameters.allowed_batch_sizes)
        merged = {}
        for alias in tasks[0].inputs:
            parts = [task.inputs[alias] for task in tasks]
            if padded > total:  # copies of the first row, whose outputs are dropped
                first = parts[0][:1]
                parts.append(np.repeat(first, padded - total, axis=0))
            merged[alias] = np.concatenate(parts, axis=0)
        outputs = run_signature(queue.function, queue.signature_def, merged)
        if len(tasks) > 1:
            self.merged_runs += 1
        METRICS.record_batched_run()
        for alias, array in outputs.items():
            if array.ndim == 0 or array.shape[0] != padded:
                raise invalid_argument(
                    "Batched output tensor's 0th dimension does not equal the sum of the 0th "
                    f"dimension sizes of the input tensors (output {alias!r})"
                )
        row_extents = _row_extents(outputs, queue.padded_axes)
        answers, start = [], 0
        for task in tasks:
            end = start + task.size
            rows = {alias: array[start:end] for alias, array in outputs.items()}
            extents = {
                axis: int(extent[start:end].max(initial=0)) for axis, extent in row_extents.items()
            }
            start = end
            rows = _cut(rows, queue.padded_axes, extents)
            wanted = task.aliases or tuple(queue.signature_def.outputs)
            answers.append({alias: rows[alias] for alias in wanted if alias in rows})
        return answers

    def stop(self) -> None:
        """Lets queued batches run, then ends the batch threads and the run queue's threads."""
        with self._condition:
            self._stopping = True
            threads, self._batch_threads = self._batch_threads, []
            self._condition.notify_all()
        for thread in threads:
            thread.join()
        super().stop()


def _allowed_size(size: int, allowed: Sequence[int]) -> int:
    """The smallest allowed batch size >= `size` (`size` itself when none are set)."""
    for candidate in allowed:
        if candidate >= size:
            return candidate
    return size


def _row_extents(
    outputs: Mapping[str, np.ndarray], padded_axes: Mapping[str, Sequence[str]]
) -> dict[str, np.ndarray]:
    """{axis: each row's own extent of it}, as `trim_padded_axes` reads them, for
    all the rows of a merged run at once (a slice's extent is the maximum over its rows)."""
    extents: dict[str, np.ndarray] = {}
    for alias, axes in padded_axes.items():
        array = outputs.get(alias)
        if array is None or array.dtype.kind not in "iuSUO" or array.ndim < 2:
            continue
        content = array != (
            b"" if array.dtype.kind in "SO" else "" if array.dtype.kind == "U" else 0
        )
        content = np.asarray(content, dtype=bool).reshape(array.shape)
        for dimension, axis in enumerate(axes, start=1):
            if dimension >= array.ndim:
                continue
            others = tuple(d for d in range(1, array.ndim) if d != dimension)
            used = content.any(axis=others) if others else content  # [rows, axis length]
            length = used.shape[1]
            if length == 0:
                row_extent = np.zeros(used.shape[0], dtype=np.int64)
            else:
                last = length - np.argmax(used[:, ::-1], axis=1)
                row_extent = np.where(used.any(axis=1), last, 0)
            extents[axis] = (
                row_extent if axis not in extents else np.maximum(extents[axis], row_extent)
            )
    return extents


def _cut(
    rows: dict[str, np.ndarray],
    padded_axes: Mapping[str, Sequence[str]],
    extents: Mapping[str, int],
) -> dict[str, np.ndarray]:
    """`rows` with each named axis cut to `extents[axis]` (axes not in `extents` are kept)."""
    trimmed = dict(rows)
    for alias, axes in padded_axes.items():
        array = trimmed.get(alias)
        if array is None:
            continue
        index = [slice(None)] * array.ndim
        for dimension, axis in enumerate(axes, start=1):
            if dimension < array.ndim and axis in extents:
                index[dimension] = slice(0, extents[axis])
        trimmed[alias] = array[tuple(index)]
    return trimmed


def trim_padded_axes(
    rows: dict[str, np.ndarray], padded_axes: Mapping[str, Sequence[str]]
) -> dict[str, np.ndarray]:
    """`rows` (some requests' slice of a merged run) cut to their own extent of each named axis.

    `padded_axes` maps an output to the names of its dimensions 1, 2, … (e.g. `attention:
    [target, source]`). The extent of an axis is read from the outputs with an unambiguous
    padding value on it (integers: 0, strings: empty; token ids and tokens are never those):
    the last index, over all rows, that holds anything else, plus one. That is the longest row
    along the axis, which is the size the rows' own unbatched run gives it. Float outputs are only
    cut, never measured (an attention weight may be exactly 0).
    """
    extents = {
        axis: int(extent.max(initial=0)) for axis, extent in _row_extents(rows, padded_axes).items()
    }
    return _cut(rows, padded_axes, extents)
