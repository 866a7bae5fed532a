"""The parts of a worker's server that see the whole pool: readiness, the reload API and ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Collection
from pathlib import Path

import openvino as ov

from ovms_cli.metrics import DEFAULT_FAMILIES, ServingMetrics
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.watcher import Watcher
from ovms_cli.workers.metrics_sum import sum_expositions
from ovms_cli.workers.peers import METRICS, RELOAD, Command, ask_siblings, serve_peers
from ovms_cli.workers.slot import WorkerSlot

log = logging.getLogger("ovms.workers")


class PooledModelManager(ModelManager):
    """Server readiness (``/v2/health/ready``, ``ServerReady``) is true only when every worker is ready."""

    def __init__(self, slot: WorkerSlot, core: ov.Core, cache_dir: Path | None = None) -> None:
        self._slot = slot
        self._ready_here = False
        super().__init__(core, cache_dir)

    @property  # type: ignore[override]
    def ready(self) -> bool:
        return self._ready_here and self._slot.all_ready()

    @ready.setter
    def ready(self, value: bool) -> None:
        self._ready_here = value
        self._slot.mark_ready(value)


class PooledWatcher(Watcher):
    """``POST /v1/config/reload`` on one worker reloads every worker; polling stays per worker."""

    def __init__(
        self, slot: WorkerSlot, manager: ModelManager, config_path: Path | None, poll_seconds: float
    ) -> None:
        super().__init__(manager, config_path, poll_seconds)
        self._slot = slot

    async def check(self, *, raise_errors: bool = True) -> bool:
        if not raise_errors:  # a polling pass or a sibling's request: this worker only
            return await super().check(raise_errors=False)
        try:
            return await super().check(raise_errors=True)
        finally:
            for answer in await ask_siblings(self._slot, RELOAD):
                if answer != b"ok":
                    log.warning("A sibling worker's reload failed: %s", answer.decode(errors="replace"))

    async def reload_for_sibling(self) -> bytes:
        try:
            await super().check(raise_errors=False)
        except Exception as error:
            log.exception("Reload asked by a sibling worker failed")
            return str(error).encode()
        return b"ok"


class PooledMetrics(ServingMetrics):
    """A scrape from any worker answers the sum of every worker's series (``metrics_sum``)."""

    def __init__(
        self, slot: WorkerSlot, manager: ModelManager, families: Collection[str] = DEFAULT_FAMILIES
    ) -> None:
        super().__init__(manager, families)
        self._slot = slot

    async def scrape(self) -> bytes:
        local = self.render()
        return sum_expositions([local, *await ask_siblings(self._slot, METRICS)])

    async def render_for_sibling(self) -> bytes:
        return self.render()


async def serve_siblings(
    slot: WorkerSlot, watcher: PooledWatcher, metrics: PooledMetrics | None
) -> asyncio.AbstractServer:
    commands: dict[bytes, Command] = {RELOAD: watcher.reload_for_sibling}
    if metrics is not None:
        commands[METRICS] = metrics.render_for_sibling
    return await serve_peers(slot, commands)


def share_cpu(core: ov.Core, slot: WorkerSlot) -> int:
    """Give this worker's CPU inferences 1/count of the cores, so the pool does not oversubscribe them.

    A model's own ``INFERENCE_NUM_THREADS`` (plugin_config) still wins. Returns the thread count.
    """
    threads = max(1, len(os.sched_getaffinity(0)) // slot.count)
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": threads})
    log.info("Worker %d of %d: OpenVINO CPU inference threads %d", slot.index, slot.count, threads)
    return threads


def reuse_port_bind(address: str, port: int) -> str:
    """A Hypercorn ``bind`` for a listening socket that the pool's workers all bind (SO_REUSEPORT).

    Hypercorn sets SO_REUSEPORT only for its own multi-worker mode, so the socket is made here.
    """
    return f"fd://{reuse_port_socket(address, port).detach()}"


def reuse_port_socket(address: str, port: int) -> socket.socket:
    """A TCP socket bound to ``address:port`` with SO_REUSEPORT, as every worker of the pool binds it."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock
