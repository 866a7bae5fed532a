"""Per-version inference statistics as Triton's statistics extension reports them.

``InferenceStatistics`` is a ``ServableObserver``: a model version feeds it the same observations
it feeds the Prometheus metrics (``ObserverTee`` hands each call to both), so ``/v2/models/{m}/stats``
and ``/metrics`` never disagree about what happened. Every call runs on the event loop.

What each figure means (Triton's ``InferStatistics``, grpc_service.proto):

- ``success``/``fail``: requests that reached the version and succeeded or failed, with their
  whole time in it (input preparation, queueing, inference and output conversion);
- ``queue``: the successful requests' waits for a free infer request plus for a dynamic batch;
- ``compute_input``/``compute_infer``/``compute_output``: their input preparation (validation,
  string and image decoding), inference (from ``start_async`` to the result; with dynamic batching
  the batch's), and output conversion;
- ``inference_count``: rows inferred for successful requests (the batch extent, 1 for a model
  without a batch dimension); ``execution_count``: inferences the version ran (a dynamic batch is
  one); ``last_inference``: milliseconds since the epoch of the last finished request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ovms_cli.servables.servable import ServableObserver

NS_PER_S = 1_000_000_000


@dataclass(slots=True)
class Duration:
    """Triton's ``StatisticDuration``: a count and the cumulative nanoseconds."""

    count: int = 0
    ns: int = 0


@dataclass(slots=True)
class InferenceStatistics:
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    inference_count: int = 0
    execution_count: int = 0
    last_inference_ms: int = 0
    # Observed for the request in progress; assigned to it when it finishes.
    _queue_ns: int = 0
    _infer_ns: int = 0

    # ServableObserver
    def request_started(self) -> None:
        pass

    def request_finished(self) -> None:
        pass

    def waited(self, seconds: float) -> None:
        self._queue_ns += int(seconds * NS_PER_S)

    def queued(self, seconds: float) -> None:
        self._queue_ns += int(seconds * NS_PER_S)

    def inferred(self, seconds: float) -> None:
        self.execution_count += 1
        self._infer_ns += int(seconds * NS_PER_S)

    def request_served(
        self, ok: bool, seconds: float, input_seconds: float, output_seconds: float, rows: int
    ) -> None:
        self.last_inference_ms = time.time_ns() // 1_000_000
        if not ok:
            self.fail.count += 1
            self.fail.ns += int(seconds * NS_PER_S)
            return
        self.success.count += 1
        self.success.ns += int(seconds * NS_PER_S)
        self.inference_count += rows
        for duration, ns in (
            (self.compute_input, int(input_seconds * NS_PER_S)),
            (self.compute_output, int(output_seconds * NS_PER_S)),
            (self.queue, self._queue_ns),
            (self.compute_infer, self._infer_ns),
        ):
            duration.count += 1
            duration.ns += ns
        self._queue_ns = self._infer_ns = 0


class ObserverTee:
    """Hands every observation to two observers (statistics first, then metrics)."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: ServableObserver, second: ServableObserver) -> None:
        self._first = first
        self._second = second

    def request_started(self) -> None:
        self._first.request_started()
        self._second.request_started()

    def request_finished(self) -> None:
        self._first.request_finished()
        self._second.request_finished()

    def waited(self, seconds: float) -> None:
        self._first.waited(seconds)
        self._second.waited(seconds)

    def inferred(self, seconds: float) -> None:
        self._first.inferred(seconds)
        self._second.inferred(seconds)

    def queued(self, seconds: float) -> None:
        self._first.queued(seconds)
        self._second.queued(seconds)

    def request_served(
        self, ok: bool, seconds: float, input_seconds: float, output_seconds: float, rows: int
    ) -> None:
        self._first.request_served(ok, seconds, input_seconds, output_seconds, rows)
        self._second.request_served(ok, seconds, input_seconds, output_seconds, rows)


@runtime_checkable
class ReportsStatistics(Protocol):
    """A servable that keeps ``InferenceStatistics`` (model versions do; others report zeros)."""

    @property
    def statistics(self) -> InferenceStatistics: ...
