"""Closed-loop load, as OVMS measures: ``concurrency`` clients, each sending again only when answered.

The clients are spread over worker processes (spawn context) so that the client's own Python is
not the bottleneck; each worker runs an event loop with its share of them. All workers and the
parent meet at a barrier once the workers are up; the moment it opens starts the warmup
everywhere (CLOCK_MONOTONIC is one clock for every process on the machine), so the measured
window, ``[start + warmup, start + warmup + duration]``, is the same in every process. Only
requests that complete inside it count. At its end, requests still in flight are cancelled.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ovms_cli.bench.clients import Client, Target, open_client
from ovms_cli.bench.errors import BenchError
from ovms_cli.bench.stats import Measurement, merge

BARRIER_TIMEOUT_S = 120.0
RESULT_GRACE_S = 30.0
TICK_S = 0.25
NS_PER_US = 1_000
NS_PER_S = 1_000_000_000


class Counters(Protocol):
    """A shared ``RawArray("q")``: per worker, requests completed and failed; each slot has one writer."""

    def __getitem__(self, index: int) -> int: ...
    def __setitem__(self, index: int, value: int) -> None: ...
    def __iter__(self) -> Iterator[int]: ...


@dataclass(frozen=True)
class LoadPlan:
    target: Target
    concurrency: int
    processes: int
    warmup_s: float
    duration_s: float


@dataclass(frozen=True)
class Tick:
    """Progress so far, over every worker: for a live display."""

    elapsed_s: float
    total_s: float
    measuring: bool
    completed: int
    errors: int


@dataclass(frozen=True)
class LoadResult:
    measurement: Measurement
    cpu_s: float  # CPU time of the worker processes inside the window
    concurrency: int
    processes: int

    @property
    def cpu_cores(self) -> float:
        """Cores the client kept busy on average."""
        return self.cpu_s / self.measurement.duration_s

    @property
    def cpu_us_per_request(self) -> float:
        total = self.measurement.count + self.measurement.errors
        return self.cpu_s * 1e6 / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.measurement.to_dict(),
            "concurrency": self.concurrency,
            "processes": self.processes,
            "client_cpu": {
                "seconds": self.cpu_s,
                "cores": self.cpu_cores,
                "us_per_request": self.cpu_us_per_request,
            },
        }


def split(concurrency: int, processes: int) -> list[int]:
    """Clients per worker, as even as possible; never a worker without clients."""
    workers = max(1, min(processes, concurrency))
    base, extra = divmod(concurrency, workers)
    return [base + (1 if index < extra else 0) for index in range(workers)]


def run_load(plan: LoadPlan, on_tick: Callable[[Tick], None] | None = None) -> LoadResult:
    if plan.concurrency < 1 or plan.duration_s <= 0 or plan.warmup_s < 0:
        raise BenchError("concurrency must be >= 1, duration > 0 and warmup >= 0")
    ctx = mp.get_context("spawn")
    shares = split(plan.concurrency, plan.processes)
    barrier = ctx.Barrier(len(shares) + 1)
    counters = ctx.RawArray("q", 2 * len(shares))
    results: Queue[_WorkerReport] = ctx.Queue()
    workers = [
        ctx.Process(
            target=_worker_main,
            args=(
                _WorkerJob(plan.target, clients, plan.warmup_s, plan.duration_s, slot),
                barrier,
                counters,
                results,
            ),
            name=f"ovms-bench-{slot}",
            daemon=True,
        )
        for slot, clients in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    try:
        _meet(barrier, results)
        start = time.monotonic()
        _watch(plan, start, counters, on_tick)
        reports = _collect(results, workers, start + plan.warmup_s + plan.duration_s + RESULT_GRACE_S)
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    finally:
        _stop(workers)
    parts = [report.measurement(plan.duration_s) for report in reports]
    return LoadResult(
        merge(parts, plan.duration_s), sum(r.cpu_s for r in reports), plan.concurrency, len(shares)
    )


def _meet(barrier: Barrier, results: Queue[_WorkerReport]) -> None:
    try:
        barrier.wait(BARRIER_TIMEOUT_S)
    except Exception as error:  # BrokenBarrierError: a worker failed before the start
        raise BenchError(_failure_text(results) or "load workers did not start in time") from error


def _failure_text(results: Queue[_WorkerReport]) -> str | None:
    """The first worker failure that is not just the broken barrier the failure caused."""
    failures: list[str] = []
    try:
        while True:
            failure = results.get(timeout=1.0).failure
            if failure:
                failures.append(failure)
    except queue.Empty:
        pass
    return next((f for f in failures if "BrokenBarrierError" not in f), failures[0] if failures else None)


def _watch(plan: LoadPlan, start: float, counters: Counters, on_tick: Callable[[Tick], None] | None) -> None:
    total = plan.warmup_s + plan.duration_s
    while (elapsed := time.monotonic() - start) < total:
        if on_tick is not None:
            on_tick(_tick(counters, min(elapsed, total), total, elapsed >= plan.warmup_s))
        time.sleep(min(TICK_S, total - elapsed))
    if on_tick is not None:
        on_tick(_tick(counters, total, total, True))


def _tick(counters: Counters, elapsed: float, total: float, measuring: bool) -> Tick:
    values = list(counters)
    return Tick(elapsed, total, measuring, sum(values[0::2]), sum(values[1::2]))


def _collect(
    results: Queue[_WorkerReport], workers: Sequence[BaseProcess], deadline: float
) -> list[_WorkerReport]:
    reports: list[_WorkerReport] = []
    while len(reports) < len(workers):
        try:
            reports.append(results.get(timeout=TICK_S))
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise BenchError(
                    f"load worker {dead[0].name} died (exit {dead[0].exitcode})"
                    if dead
                    else "load workers hung"
                ) from None
    failed = next((r.failure for r in reports if r.failure), None)
    if failed:
        raise BenchError(failed)
    return reports


def _stop(workers: Sequence[BaseProcess]) -> None:
    for worker in workers:
        worker.join(timeout=5)
        if worker.is_alive():
            worker.kill()
            worker.join()


# --- inside a worker process ---


@dataclass(frozen=True)
class _WorkerJob:
    target: Target
    clients: int
    warmup_s: float
    duration_s: float
    slot: int


@dataclass(frozen=True)
class _WorkerReport:
    latencies_us: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    errors: int = 0
    first_error: str | None = None
    cpu_s: float = 0.0
    failure: str | None = None

    def measurement(self, duration_s: float) -> Measurement:
        return Measurement(duration_s, self.latencies_us, self.errors, self.first_error)


def _worker_main(
    job: _WorkerJob, barrier: Barrier, counters: Counters, results: Queue[_WorkerReport]
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    try:
        report = asyncio.run(_work(job, barrier, counters))
    except Exception as error:
        barrier.abort()
        report = _WorkerReport(failure=f"load worker {job.slot}: {type(error).__name__}: {error}")
    results.put(report)


async def _work(job: _WorkerJob, barrier: Barrier, counters: Counters) -> _WorkerReport:
    client = open_client(job.target)
    try:
        await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT_S)
        return await _measure(client, job, counters)
    finally:
        await client.aclose()


class _Recorder:
    """Latencies and errors of requests that complete inside the window; progress for every request."""

    def __init__(self, job: _WorkerJob, counters: Counters) -> None:
        self.start_ns = time.monotonic_ns()
        self.window_start_ns = self.start_ns + int(job.warmup_s * NS_PER_S)
        self.window_end_ns = self.window_start_ns + int(job.duration_s * NS_PER_S)
        self.latencies_us: list[int] = []
        self.errors = 0
        self.first_error: str | None = None
        self._counters = counters
        self._ok_slot = 2 * job.slot

    def record(self, sent_ns: int, done_ns: int, error: str | None) -> None:
        self._counters[self._ok_slot + (error is not None)] += 1
        if error is not None and self.first_error is None:
            self.first_error = error
        if not self.window_start_ns <= done_ns <= self.window_end_ns:
            return
        if error is None:
            self.latencies_us.append((done_ns - sent_ns) // NS_PER_US)
        else:
            self.errors += 1


async def _closed_loop(client: Client, recorder: _Recorder) -> None:
    while (sent := time.monotonic_ns()) < recorder.window_end_ns:
        error = await client.infer()
        recorder.record(sent, time.monotonic_ns(), error)


async def _measure(client: Client, job: _WorkerJob, counters: Counters) -> _WorkerReport:
    recorder = _Recorder(job, counters)
    loop = asyncio.get_running_loop()
    cpu_at_start: list[float] = []
    loop.call_at(loop.time() + job.warmup_s, lambda: cpu_at_start.append(time.process_time()))
    tasks = [asyncio.create_task(_closed_loop(client, recorder)) for _ in range(job.clients)]
    _, pending = await asyncio.wait(tasks, timeout=(recorder.window_end_ns - time.monotonic_ns()) / NS_PER_S)
    cpu_at_end = time.process_time()
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    failure = next((t.exception() for t in tasks if not t.cancelled() and t.exception()), None)
    if failure is not None:
        raise failure
    return _WorkerReport(
        np.asarray(recorder.latencies_us, dtype=np.int64),
        recorder.errors,
        recorder.first_error,
        cpu_at_end - (cpu_at_start[0] if cpu_at_start else cpu_at_end),
    )
