"""What a process does to become one worker of a pool, before it starts serving."""

from __future__ import annotations

import ctypes
import logging
import os
import signal

from ovms_cli.logs import FORMAT
from ovms_cli.workers.slot import WorkerSlot
from ovms_cli.workers.supervisor import SUPERVISOR

log = logging.getLogger("ovms.workers")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WORKER_FORMAT = FORMAT.replace("[%(thread)d]", "[%(process)d:%(thread)d]")


class SupervisorGone(RuntimeError):
    """The supervisor that started this worker has already exited."""


def become_worker(slot: WorkerSlot) -> None:
    """Stop with the supervisor, and say in every log line which worker (pid) wrote it."""
    _stop_with_supervisor()
    formatter = logging.Formatter(WORKER_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    for handler in logging.getLogger("ovms").handlers:
        handler.setFormatter(formatter)
    log.info("Worker %d of %d (pid %d)", slot.index, slot.count, os.getpid())


def _stop_with_supervisor() -> None:
    """SIGTERM (a graceful stop) when the supervisor dies, even by SIGKILL (Linux's parent-death signal)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    expected = os.environ.get(SUPERVISOR)
    if expected is not None and os.getppid() != int(expected):
        raise SupervisorGone(
            f"the supervisor (pid {expected}) exited before worker pid {os.getpid()} started"
        )
