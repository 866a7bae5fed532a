"""Run gRPC and REST in one process and one event loop, load the models, stop on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import openvino as ov
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from ovms_cli import __version__
from ovms_cli.config.model_config import ModelConfig
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.watcher import Watcher
from ovms_cli.transports import grpc_kserve, grpc_tfs
from ovms_cli.transports.rest import create_app

log = logging.getLogger("ovms.serving")

MAX_MESSAGE_BYTES = 1 << 30


class StartupError(Exception):
    """The server cannot start (a port is busy, ...): exit 1."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    port: int = 9178
    grpc_bind_address: str = "0.0.0.0"
    rest_port: int = 0
    rest_bind_address: str = "0.0.0.0"
    cache_dir: Path | None = None
    shutdown_timeout: float = 30.0
    exit_on_load_failure: bool = False  # single-model mode: a model that fails to load stops start-up
    config_path: Path | None = None  # config mode: watched for changes
    poll_seconds: float = 1.0  # --file_system_poll_wait_seconds; 0: no watcher


async def run(settings: ServerSettings, models: Sequence[ModelConfig]) -> None:
    _check_port_free(settings.grpc_bind_address, settings.port, "gRPC")
    if settings.rest_port:
        _check_port_free(settings.rest_bind_address, settings.rest_port, "REST")
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    manager = ModelManager(ov.Core(), _cache_dir(settings))
    watcher = Watcher(manager, settings.config_path, settings.poll_seconds)
    grpc_server = await _start_grpc(settings, manager)
    rest_task = _start_rest(settings, manager, watcher, stop) if settings.rest_port else None
    watching: asyncio.Task[None] | None = None
    try:
        if settings.config_path is not None:
            watcher.mark_loaded(settings.config_path.read_bytes())
        await manager.load(models)
        if settings.exit_on_load_failure:
            _check_loaded(manager)
        _log_summary(settings, manager)
        if settings.poll_seconds > 0:
            watching = asyncio.create_task(watcher.run(), name="watcher")
        await stop.wait()
    finally:
        log.info("Shutting down")
        if watching is not None:
            watching.cancel()
        manager.ready = False
        stop.set()
        await grpc_server.stop(settings.shutdown_timeout)
        if rest_task is not None:
            await rest_task
        manager.unload()


def _check_loaded(manager: ModelManager) -> None:
    for model in manager.models.values():
        failed = [v for v in model.versions.values() if v.status.error_code != 0]
        if failed:
            reasons = "; ".join(f"version {v.version}: {v.status.reason}" for v in failed)
            raise StartupError(f"Model {model.name} failed to load - {reasons}")


def _cache_dir(settings: ServerSettings) -> Path | None:
    if settings.cache_dir is None:
        return None
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("Model cache is enabled: %s", settings.cache_dir)
    return settings.cache_dir


def _check_port_free(address: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as error:
            raise StartupError(
                f"Failed to start {what} server - at {address}:{port} - port is busy"
            ) from error


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _start_grpc(settings: ServerSettings, manager: ModelManager) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
    )
    grpc_kserve.add_to_server(server, manager)
    grpc_tfs.add_to_server(server, manager)
    address = f"{settings.grpc_bind_address}:{settings.port}"
    if server.add_insecure_port(address) == 0:
        raise StartupError(f"Failed to start gRPC server - at {address} - port is busy")
    await server.start()
    log.info("Started gRPC server on port %d", settings.port)
    return server


def _start_rest(
    settings: ServerSettings, manager: ModelManager, watcher: Watcher, stop: asyncio.Event
) -> asyncio.Task[None]:
    config = HypercornConfig()
    config.bind = [f"{settings.rest_bind_address}:{settings.rest_port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("ovms.rest")
    config.graceful_timeout = settings.shutdown_timeout
    config.keep_alive_timeout = 75
    task = asyncio.create_task(
        hypercorn_serve(create_app(manager, watcher), config, shutdown_trigger=stop.wait),  # type: ignore[arg-type]
        name="rest-server",
    )
    log.info("Started REST server at %s:%d", settings.rest_bind_address, settings.rest_port)
    return task


def _log_summary(settings: ServerSettings, manager: ModelManager) -> None:
    log.info("OpenVINO Model Server (ovms %s), OpenVINO backend %s", __version__, ov.get_version())
    for model in manager.models.values():
        versions = ", ".join(f"{v}:{s.state.name}" for v, s in sorted(model.versions.items())) or "none"
        log.info(
            "Model %s: versions [%s], device %s, base path %s",
            model.name,
            versions,
            model.config.target_device,
            model.config.base_path,
        )
    rest = f"{settings.rest_bind_address}:{settings.rest_port}" if settings.rest_port else "disabled"
    log.info("Server ready: gRPC %s:%d, REST %s", settings.grpc_bind_address, settings.port, rest)
