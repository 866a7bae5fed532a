"""The supervisor of ``--workers N``: starts the worker processes, restarts the ones that die, stops all.

Each worker re-runs this process's command line with ``OVMS_WORKER`` set (``slot.py``), in its own
session, so that a terminal's Ctrl+C reaches the supervisor only and is passed on once.
- A worker that exits before it was ever ready, during start-up, stops the pool: the command fails
  with the worker's exit code (a busy port, a model that does not load in single-model mode...).
- A worker that dies later is logged and restarted, after a pause that doubles up to
  ``MAX_RESTART_PAUSE_S`` while restarted workers keep dying before they are ready.
- SIGTERM or SIGINT is passed to every worker, which drains as a single server does (server.py); a
  second one is passed on too (the workers then exit at once). Workers still running
  ``shutdown_timeout`` + ``STOP_MARGIN_S`` seconds later are killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from ovms_cli.workers.slot import ENVIRONMENT, WorkerSlot, worker_ready

log = logging.getLogger("ovms.workers")

POLL_S = 0.1
FIRST_RESTART_PAUSE_S = 0.5
MAX_RESTART_PAUSE_S = 30.0
STOP_MARGIN_S = 10.0
SUPERVISOR = "OVMS_SUPERVISOR_PID"  # a worker exits when this process is gone


@dataclass(slots=True)
class Worker:
    slot: WorkerSlot
    process: subprocess.Popen[bytes] | None = None
    was_ready: bool = False  # this process became ready
    ever_ready: bool = False  # some process of this slot became ready
    pause: float = FIRST_RESTART_PAUSE_S
    restart_at: float | None = None


@dataclass(slots=True)
class Signals:
    received: list[int] = field(default_factory=list)

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)


def supervise(command: Sequence[str], count: int, shutdown_timeout: float) -> int:
    """Run ``command`` as ``count`` workers until a signal; the exit code for the supervisor."""
    directory = Path(tempfile.mkdtemp(prefix="ovms-workers-"))
    workers = [Worker(WorkerSlot(index, count, directory)) for index in range(count)]
    signals = Signals()
    signals.install()
    log.info("Starting %d workers (state in %s)", count, directory)
    try:
        for worker in workers:
            _start(worker, command)
        return _watch(workers, command, signals)
    finally:
        _stop(workers, signals, time.monotonic() + shutdown_timeout + STOP_MARGIN_S)
        shutil.rmtree(directory, ignore_errors=True)


def _watch(workers: list[Worker], command: Sequence[str], signals: Signals) -> int:
    announced = False
    while not signals.received:
        for worker in workers:
            failure = _check(worker, command)
            if failure is not None:
                return failure
        if not announced and all(w.was_ready for w in workers):
            log.info("All %d workers are ready", len(workers))
            announced = True
        time.sleep(POLL_S)
    log.info("Received %s: stopping the workers", signal.Signals(signals.received[0]).name)
    return 0


def _check(worker: Worker, command: Sequence[str]) -> int | None:
    """Follow one worker; an exit code when the pool must stop (it failed during start-up)."""
    process = worker.process
    if process is None:
        if worker.restart_at is not None and time.monotonic() >= worker.restart_at:
            _start(worker, command)
        return None
    if not worker.was_ready and worker_ready(worker.slot.ready_file()):
        worker.was_ready = worker.ever_ready = True
        worker.pause = FIRST_RESTART_PAUSE_S
    code = process.poll()
    if code is None:
        return None
    worker.process = None
    worker.slot.ready_file().unlink(missing_ok=True)
    if not worker.ever_ready:
        log.error(
            "Worker %d (pid %d) failed to start (%s): stopping", worker.slot.index, process.pid, _how(code)
        )
        return code if code > 0 else 1
    if not worker.was_ready:
        worker.pause = min(worker.pause * 2, MAX_RESTART_PAUSE_S)
    log.error(
        "Worker %d (pid %d) exited (%s): restarting it in %.1f s",
        worker.slot.index,
        process.pid,
        _how(code),
        worker.pause,
    )
    worker.restart_at = time.monotonic() + worker.pause
    return None


def _start(worker: Worker, command: Sequence[str]) -> None:
    environment = {**os.environ, ENVIRONMENT: worker.slot.encode(), SUPERVISOR: str(os.getpid())}
    worker.process = subprocess.Popen(
        [sys.executable, "-m", "ovms_cli", *command], env=environment, start_new_session=True
    )
    worker.was_ready = False
    worker.restart_at = None
    log.info("Started worker %d (pid %d)", worker.slot.index, worker.process.pid)


def _stop(workers: list[Worker], signals: Signals, deadline: float) -> None:
    running = [w.process for w in workers if w.process is not None]
    if not signals.received:  # the pool failed: stop the others as SIGTERM would
        for process in running:
            _send(process, signal.SIGTERM)
    forwarded = 0
    while running and time.monotonic() < deadline:
        for sig in signals.received[forwarded:]:
            for process in running:
                _send(process, sig)
        forwarded = len(signals.received)
        time.sleep(POLL_S)
        running = [p for p in running if p.poll() is None]
    for process in running:
        log.error("Worker pid %d did not stop in time: killing it", process.pid)
        process.kill()
        process.wait()
    for worker in workers:
        if worker.process is not None and worker.process.returncode not in (0, None):
            log.warning("Worker %d exited with %s", worker.slot.index, _how(worker.process.returncode))
    log.info("All workers stopped")


def _send(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited since the last poll
        process.send_signal(sig)


def _how(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
