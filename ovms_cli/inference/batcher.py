"""Dynamic batching: concurrent requests with compatible inputs run as one inference.

Requests agree when every input has the same dtype and the same dimensions after the first
(the batch dimension). A request that finds an idle infer request and nobody waiting runs at
once, alone. Otherwise it queues; whenever an infer request is free, the batcher takes the oldest
request and the compatible ones behind it, up to ``max_batch_size`` rows, waiting at most
``max_batch_delay_us`` after the oldest arrived for more to come while the batch is not full and
more than one request is queued. Each caller gets back exactly its own rows of every output.

An optional ``observer`` (metrics) hears each request's time in the queue (0 when it ran at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import openvino as ov

from ovms_cli.errors import InternalError
from ovms_cli.inference.infer_queue import InferQueue, Outputs
from ovms_cli.types import Array

Feed = Mapping[int, Array]


@dataclass(slots=True, eq=False)  # compared by identity: fields hold arrays
class _Pending:
    feed: Feed
    rows: int
    signature: Hashable
    future: asyncio.Future[Outputs]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class BatchStats:
    """Counters for metrics: executions vs requests, as Triton reports them."""

    executions: int = 0
    requests: int = 0
    rows: int = 0
    queue_seconds: float = 0.0


class BatchObserver(Protocol):
    def queued(self, seconds: float) -> None: ...


def signature(feed: Feed) -> Hashable:
    return tuple((index, array.dtype.str, array.shape[1:]) for index, array in sorted(feed.items()))


def merge(feeds: Sequence[Feed]) -> dict[int, Array]:
    if len(feeds) == 1:
        return dict(feeds[0])
    return {index: np.concatenate([feed[index] for feed in feeds]) for index in feeds[0]}


def split(outputs: Outputs, rows: Sequence[int]) -> list[Outputs]:
    """Each request's own rows of every output: views, no copies."""
    if len(rows) == 1:
        return [outputs]
    total = sum(rows)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise InternalError(
                "Internal inference error", f"output {name} {array.shape} has no batch of {total}"
            )
    bounds = np.cumsum(rows)[:-1]
    parts = {name: np.split(array, bounds) for name, array in outputs.items()}
    return [{name: pieces[i] for name, pieces in parts.items()} for i in range(len(rows))]


async def run_alone(queue: InferQueue, lane: InferQueue | None, feed: Feed) -> Outputs:
    """A request that needs no batching: on the latency lane when nothing else runs, else the queue."""
    if lane is not None and _lane_is_free(queue, lane):
        return await lane.infer(feed)
    return await queue.infer(feed)


def _lane_is_free(queue: InferQueue, lane: InferQueue | None) -> bool:
    return lane is not None and queue.active == 0 and lane.has_free_request()


class Batcher:
    """Coalesces requests for one model version.

    ``queue`` runs any batch (the model compiled with a free batch dimension) and its infer
    requests are the permits: at most its size of inferences run at once. ``buckets`` are the
    model compiled with static batch sizes, which OpenVINO's CPU plugin runs faster than a dynamic
    shape (MobileNet-V2, batches of 1 to 8: 199 vs 184 images/s on average over three runs of
    ``benchmarks/static_batch.py``); a batch whose rows fill a bucket runs there, holding a permit
    of ``queue``, and the batcher prefers batches that do. What is queued is shared among the
    ``streams``, so that one large batch does not run on one stream while the others idle.
    """

    def __init__(
        self,
        queue: InferQueue,
        max_batch_size: int,
        max_batch_delay_us: int,
        buckets: Mapping[int, InferQueue] | None = None,
        streams: int = 1,
    ) -> None:
        self._queue = queue
        self.max_batch_size = max_batch_size
        self._max_delay = max_batch_delay_us / 1e6
        self._buckets = dict(buckets or {})
        self.streams = streams  # how many inferences OpenVINO runs at once
        self._pending: list[_Pending] = []
        self._arrived: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self.stats = BatchStats()
        self.observer: BatchObserver | None = None
        self.lane: InferQueue | None = None  # where a request runs when it is alone (see run_alone)

    async def infer(self, feed: Feed) -> Outputs:
        rows = next(iter(feed.values())).shape[0] if feed else 1
        if not self._pending and self._queue.has_free_request():
            self._count(1, rows, 0.0)
            if self.observer is not None:
                self.observer.queued(0.0)
            if rows not in self._buckets or _lane_is_free(self._queue, self.lane):
                return await run_alone(self._queue, self.lane, feed)
            return await self._observed(self._run(await self._queue.acquire(), feed, rows))
        loop = asyncio.get_running_loop()
        pending = _Pending(feed, rows, signature(feed), loop.create_future())
        self._pending.append(pending)
        self._wake()
        return await self._observed(pending.future)

    async def _observed(self, outputs: Awaitable[Outputs]) -> Outputs:
        queue_observer = self._queue.observer  # the same one hears the start and the end
        if queue_observer is None:
            return await outputs
        queue_observer.request_started()
        try:
            return await outputs
        finally:
            queue_observer.request_finished()

    async def _run(self, request: ov.InferRequest, feed: Feed, rows: int) -> Outputs:
        """On ``request`` of the queue, or on the bucket of ``rows`` while holding it."""
        bucket = self._buckets.get(rows)
        if bucket is None:
            return await self._queue.run_acquired(request, feed)
        try:
            start = time.perf_counter()
            outputs = await bucket.run_acquired(await bucket.acquire(), feed)
            if self._queue.observer is not None:
                self._queue.observer.inferred(time.perf_counter() - start)
            return outputs
        finally:
            self._queue.release(request)

    def _wake(self) -> None:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="batcher")

    async def _dispatch(self) -> None:
        try:
            await self._dispatch_all()
        except BaseException as error:
            for pending in self._pending:
                if not pending.future.done():
                    pending.future.set_exception(InternalError("Internal inference error", repr(error)))
            self._pending.clear()
            raise

    async def _dispatch_all(self) -> None:
        while self._pending:
            request = await self._queue.acquire()
            batch = await self._collect()
            if not batch:
                self._queue.release(request)
                continue
            asyncio.create_task(self._execute(request, batch))  # noqa: RUF006 - _execute resolves every future

    async def _collect(self) -> list[_Pending]:
        assert self._arrived is not None
        while True:
            batch = self._compatible()
            oldest = batch[0].enqueued if batch else 0.0
            full = sum(p.rows for p in batch) >= self.max_batch_size
            remaining = oldest + self._max_delay - time.perf_counter()
            if not batch or full or len(self._pending) <= 1 or remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        batch = self._fit(self._share(batch))
        taken = set(map(id, batch))
        self._pending = [p for p in self._pending if id(p) not in taken]
        return batch

    def _share(self, batch: list[_Pending]) -> list[_Pending]:
        """One stream's share of ``batch``: one batch on one stream would leave the others idle."""
        share = -(-sum(p.rows for p in batch) // self.streams)
        head: list[_Pending] = []
        rows = 0
        for pending in batch:
            if head and rows + pending.rows > share:
                break
            head.append(pending)
            rows += pending.rows
        return head

    def _fit(self, batch: list[_Pending]) -> list[_Pending]:
        """The longest head of ``batch`` whose rows fill a bucket exactly; all of it if none does."""
        rows, fitting = 0, 0
        for count, pending in enumerate(batch, 1):
            rows += pending.rows
            if rows in self._buckets:
                fitting = count
        return batch[:fitting] if fitting else batch

    def _compatible(self) -> list[_Pending]:
        live = [p for p in self._pending if not p.future.done()]
        self._pending = live
        if not live:
            return []
        first = live[0]
        batch, rows = [first], first.rows
        for pending in live[1:]:
            if pending.signature == first.signature and rows + pending.rows <= self.max_batch_size:
                batch.append(pending)
                rows += pending.rows
        return batch

    async def _execute(self, request: ov.InferRequest, batch: list[_Pending]) -> None:
        now = time.perf_counter()
        waits = [now - p.enqueued for p in batch]
        self._count(len(batch), sum(p.rows for p in batch), sum(waits))
        if self.observer is not None:
            for wait in waits:
                self.observer.queued(wait)
        try:
            try:
                feed = merge([p.feed for p in batch])
            except BaseException:
                self._queue.release(request)
                raise
            outputs = await self._run(request, feed, sum(p.rows for p in batch))
            results = split(outputs, [p.rows for p in batch])
        except Exception as error:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    def _count(self, requests: int, rows: int, queued: float) -> None:
        self.stats.executions += 1
        self.stats.requests += requests
        self.stats.rows += rows
        self.stats.queue_seconds += queued
