"""Run gRPC and REST in one process and one event loop, load the models, stop on a signal.

Shutdown (first SIGTERM or SIGINT): readiness turns false and new model requests are refused
(503 / UNAVAILABLE) while the admitted ones finish, for at most ``shutdown_timeout`` seconds; then
gRPC and REST stop and the models unload. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import openvino as ov
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.asyncio import tcp_server as hypercorn_tcp_server
from hypercorn.config import Config as HypercornConfig
from starlette.routing import Route

from ovms_cli import __version__
from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.server_config import ServerConfig
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.metrics import ServingMetrics
from ovms_cli.servables.generative.graph_config import GenerativeConfig
from ovms_cli.servables.generative.host import GenerativeHost
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.model_control import ControlMode, ExplicitModeWatcher, ModelControl, ModelSources
from ovms_cli.servables.stateful.sequence_cleaner import SequenceCleaner
from ovms_cli.servables.watcher import Watcher
from ovms_cli.transports import grpc_extensions, grpc_kserve, grpc_repository, grpc_tfs
from ovms_cli.transports.auth import ApiKey, GrpcApiKey
from ovms_cli.transports.cors import CorsSettings
from ovms_cli.transports.grpc_channel_args import ChannelArgument, merged
from ovms_cli.transports.rest import create_app
from ovms_cli.transports.rest_uvicorn import serve_uvicorn
from ovms_cli.transports.tls import TlsFiles
from ovms_cli.transports.tracker import RequestTracker
from ovms_cli.workers.pooled import (
    PooledMetrics,
    PooledModelManager,
    PooledWatcher,
    reuse_port_bind,
    reuse_port_socket,
    serve_siblings,
    share_cpu,
)
from ovms_cli.workers.slot import WorkerSlot

log = logging.getLogger("ovms.serving")
WORKERS_SHARE_NO_REGIONS = (
    "System shared memory needs --workers 1: each worker process would hold its own registrations, "
    "and a client's requests may reach any worker"
)

MAX_MESSAGE_BYTES = 1 << 30
GRPC_STREAM_WINDOW_BYTES = 8 << 20
REST_READ_BYTES = 1 << 20  # per read of a REST connection (see _read_request_bodies_in_large_chunks)
FORCED_EXIT = 1
MIN_STOP_GRACE_S = 0.5  # answers already computed still need to be written
QUIET_PERIOD_S = 0.2  # after draining, refuse until clients stop sending for this long (see gate.py)


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
    sequence_cleaner_interval_s: float = 300.0  # --sequence_cleaner_poll_wait_minutes * 60; 0: no cleaner
    max_request_size: int = MAX_MESSAGE_BYTES
    tls: TlsFiles | None = None
    metrics: tuple[str, ...] | None = None  # the enabled families; None: no /metrics
    grpc_channel_arguments: tuple[ChannelArgument, ...] = ()  # override the server's own
    grpc_max_concurrent_rpcs: int | None = None  # --grpc_max_threads; None: no limit
    cpu_extension: Path | None = None  # an OpenVINO extension library for the Core
    api_key: ApiKey | None = None  # --api_key_file or $API_KEY; None: no key required
    cors: CorsSettings = field(default_factory=CorsSettings)  # OVMS's defaults: any origin, method and header
    control_mode: ControlMode = ControlMode.NONE  # --model_control_mode
    model_sources: ModelSources | None = None  # explicit mode: where a load finds a model by name
    worker: WorkerSlot | None = None  # one of --workers N processes; None: the only server
    rest_server: str = "hypercorn"  # or "uvicorn" (transports/rest_uvicorn.py)


async def run(
    settings: ServerSettings,
    models: Sequence[ModelConfig],
    config: ServerConfig | None = None,
    generative: Sequence[GenerativeConfig] = (),
) -> None:
    """``config``: the config file's pipelines and custom node libraries, served beside ``models``;
    ``generative``: the generative models (``/v3``) to serve."""
    if settings.worker is None:  # workers share the ports the supervisor checked
        check_ports_free(settings)
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    siblings: asyncio.AbstractServer | None = None
    if settings.worker is None:
        manager = ModelManager(_core(settings.cpu_extension), _cache_dir(settings))
        metrics = None if settings.metrics is None else ServingMetrics(manager, settings.metrics)
        watcher = _watcher(settings, manager)
        regions = SharedMemoryRegions()  # Triton's system shared memory: this server's registrations only
    else:
        manager, metrics, watcher, siblings = await _pooled(settings, settings.worker)
        regions = SharedMemoryRegions(refusal=WORKERS_SHARE_NO_REGIONS)
    tracker = RequestTracker(metrics)
    control = ModelControl(manager, settings.control_mode, settings.model_sources, models)
    cleaner = SequenceCleaner(settings.sequence_cleaner_interval_s, manager.idle_sequence_stores)
    host = GenerativeHost(manager.core)
    watcher.also_apply = lambda config: host.apply_config(config.raw, _folder_of(config.source))
    watcher.also_sync = host.sync
    manager.graphs = host
    grpc_server = await _start_grpc(settings, manager, tracker, control, regions)
    rest_stop = asyncio.Event()
    openai = _openai_routes(host, tracker, metrics)
    rest_task = (
        _start_rest(settings, manager, watcher, tracker, rest_stop, control, regions, openai)
        if settings.rest_port
        else None
    )
    watching: asyncio.Task[None] | None = None
    try:
        if settings.config_path is not None:
            watcher.mark_loaded(settings.config_path.read_bytes())
        if config is not None and settings.config_path is not None:  # followed: graph edits reload
            await host.apply_config(config.raw, _folder_of(settings.config_path))
        else:
            await host.apply(generative)
        if config is None:
            await manager.load(models)
        else:
            await manager.load(
                models, pipelines=config.pipelines, libraries=config.libraries, base_dir=config.base_dir
            )
        if settings.exit_on_load_failure:
            _check_loaded(manager)
            _check_generative(host)
        if metrics is not None:
            metrics.sync()
        _log_summary(settings, manager)
        if settings.poll_seconds > 0:
            watching = asyncio.create_task(watcher.run(), name="watcher")
        cleaner.start()
        await stop.wait()
    finally:
        log.info("Shutting down")
        if watching is not None:
            watching.cancel()
        await cleaner.stop()
        manager.ready = False
        stop.set()
        await _drain(tracker, settings.shutdown_timeout)
        await host.close()  # streams still running after the drain end now, with an error event
        await grpc_server.stop(MIN_STOP_GRACE_S)
        rest_stop.set()
        if rest_task is not None:
            await rest_task
        manager.unload()
        regions.close()
        if siblings is not None:
            siblings.close()
        log.info("Shutdown complete")


async def _pooled(
    settings: ServerSettings, slot: WorkerSlot
) -> tuple[ModelManager, ServingMetrics | None, Watcher, asyncio.AbstractServer]:
    """A worker's manager, metrics and watcher, which see the whole pool (``workers/pooled.py``)."""
    core = _core(settings.cpu_extension)
    share_cpu(core, slot)
    manager = PooledModelManager(slot, core, _cache_dir(settings))
    metrics = None if settings.metrics is None else PooledMetrics(slot, manager, settings.metrics)
    watcher = PooledWatcher(slot, manager, settings.config_path, settings.poll_seconds)
    return manager, metrics, watcher, await serve_siblings(slot, watcher, metrics)


async def _drain(tracker: RequestTracker, timeout: float) -> None:
    """Refuse new model requests, wait for the admitted ones, then for the clients to stop sending."""
    gate = tracker.gate
    gate.close()
    started = time.monotonic()
    waiting = gate.in_flight
    if not await gate.drained(timeout):
        log.warning("%d requests still in flight after %.1f s; stopping", gate.in_flight, timeout)
        return
    log.info("Drained %d in-flight requests in %.3f s", waiting, time.monotonic() - started)
    if not await gate.quiet(QUIET_PERIOD_S, timeout - (time.monotonic() - started)):
        log.warning("Requests kept coming for %.1f s after the drain; stopping", timeout)


def _watcher(settings: ServerSettings, manager: ModelManager) -> Watcher:
    """Explicit model control polls loaded models' versions only; config.json is read at each load."""
    if settings.control_mode is ControlMode.EXPLICIT:
        return ExplicitModeWatcher(manager, settings.poll_seconds)
    return Watcher(manager, settings.config_path, settings.poll_seconds)


def _check_loaded(manager: ModelManager) -> None:
    failure = manager.startup_failure()
    if failure is not None:
        raise StartupError(failure)


def _folder_of(config_file: Path | None) -> Path:
    return Path.cwd() if config_file is None else config_file.parent


def _check_generative(host: GenerativeHost) -> None:
    for name, problem in host.problems().items():
        raise StartupError(f"Generative model {name} failed to load - {problem}")


def _openai_routes(
    host: GenerativeHost, tracker: RequestTracker, metrics: ServingMetrics | None
) -> list[Route]:
    """The ``/v3`` routes; their metrics join ``/metrics`` when it is on."""
    from ovms_cli.servables.generative.metrics import GenerativeMetrics
    from ovms_cli.transports.rest_openai import OpenAiRoutes

    generative_metrics = None
    if metrics is not None:
        generative_metrics = GenerativeMetrics(host)
        metrics.registry.register(generative_metrics)  # type: ignore[arg-type]
    return OpenAiRoutes(host, tracker.gate, generative_metrics).routes()


def _core(cpu_extension: Path | None) -> ov.Core:
    """The OpenVINO Core, with ``--cpu_extension`` loaded into it (spec §1.2: a failure stops start-up)."""
    core = ov.Core()
    if cpu_extension is not None:
        try:
            core.add_extension(str(cpu_extension))
        except RuntimeError as error:
            raise StartupError(
                f"Failed to load the --cpu_extension library {cpu_extension}: {error}"
            ) from error
        log.info("Loaded the OpenVINO extension %s", cpu_extension)
    return core


def _cache_dir(settings: ServerSettings) -> Path | None:
    if settings.cache_dir is None:
        return None
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("Model cache is enabled: %s", settings.cache_dir)
    return settings.cache_dir


def check_ports_free(settings: ServerSettings) -> None:
    """Raises ``StartupError`` when the gRPC or REST port is taken."""
    _check_port_free(settings.grpc_bind_address, settings.port, "gRPC")
    if settings.rest_port:
        _check_port_free(settings.rest_bind_address, settings.rest_port, "REST")


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
    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("Second %s: exiting at once", sig.name)
            os._exit(FORCED_EXIT)
        log.info("Received %s: shutting down gracefully (again to force)", sig.name)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


async def _start_grpc(
    settings: ServerSettings,
    manager: ModelManager,
    tracker: RequestTracker,
    control: ModelControl,
    regions: SharedMemoryRegions | None = None,
) -> grpc.aio.Server:
    # Oversized messages are refused by gRPC core: RESOURCE_EXHAUSTED "Received message larger
    # than max (<size> vs. <limit>)"; the handlers never see them.
    options = merged(
        [
            ("grpc.max_receive_message_length", settings.max_request_size),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", int(settings.worker is not None)),
            # A stream may send this much before the server reads it, so a 600 KB request does not
            # wait for window updates. On benchmarks/models.py's overhead_probe at concurrency 1, the
            # p50 was 2.2 ms on average vs 2.5 ms with gRPC's 64 KB, and never worse in seven
            # alternating pairs of sweep.sh runs.
            ("grpc.http2.lookahead_bytes", GRPC_STREAM_WINDOW_BYTES),
        ],
        settings.grpc_channel_arguments,
    )
    if settings.grpc_channel_arguments:
        log.info("gRPC channel arguments: %s", ", ".join(f"{k}={v}" for k, v in options))
    # grpc.aio has no thread quota; like OVMS's thread quota (a synchronous server holds a thread per
    # RPC) this caps the RPCs in progress; the ones beyond it get RESOURCE_EXHAUSTED.
    server = grpc.aio.server(
        options=options,
        maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
        interceptors=[] if settings.api_key is None else [GrpcApiKey(settings.api_key)],
    )
    grpc_kserve.add_to_server(server, manager, tracker, regions)
    if regions is not None:
        grpc_extensions.add_to_server(server, manager, regions)
    grpc_tfs.add_to_server(server, manager, tracker)
    grpc_repository.add_to_server(server, control)
    address = f"{settings.grpc_bind_address}:{settings.port}"
    if settings.tls is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, settings.tls.grpc_credentials())
    if bound == 0:
        raise StartupError(f"Failed to start gRPC server - at {address} - port is busy")
    await server.start()
    log.info("Started gRPC server on port %d", settings.port)
    return server


def _read_request_bodies_in_large_chunks() -> None:
    """Hypercorn 0.18 reads a connection 64 KB at a time (``tcp_server.MAX_RECV``), so a 600 KB
    body went through about ten reads, h11 events and ASGI ``receive`` messages (each through every
    middleware). Reading up to 1 MB at a time took the event loop's CPU per REST request on
    ``overhead_probe`` from 3,152 to 2,833 µs (wrk, 8 connections, one run; ``benchmarks/thread_cost.py``).
    """
    if isinstance(getattr(hypercorn_tcp_server, "MAX_RECV", None), int):
        hypercorn_tcp_server.MAX_RECV = max(hypercorn_tcp_server.MAX_RECV, REST_READ_BYTES)


def _start_rest(
    settings: ServerSettings,
    manager: ModelManager,
    watcher: Watcher,
    tracker: RequestTracker,
    stop: asyncio.Event,
    control: ModelControl,
    regions: SharedMemoryRegions | None = None,
    extra_routes: list[Route] | None = None,
) -> asyncio.Task[None]:
    _read_request_bodies_in_large_chunks()
    config = HypercornConfig()
    config.bind = [f"{settings.rest_bind_address}:{settings.rest_port}"]
    if settings.worker is not None:
        config.bind = [reuse_port_bind(settings.rest_bind_address, settings.rest_port)]
    config.accesslog = None
    config.errorlog = logging.getLogger("ovms.rest")
    config.graceful_timeout = settings.shutdown_timeout
    config.keep_alive_timeout = 75
    if settings.tls is not None:
        settings.tls.configure(config)
    app = create_app(
        manager,
        watcher,
        tracker,
        settings.max_request_size,
        settings.api_key,
        settings.cors,
        control,
        regions,
        extra_routes,
    )
    if settings.rest_server == "uvicorn":
        address = settings.rest_bind_address
        bind = (
            (address, settings.rest_port)
            if settings.worker is None
            else reuse_port_socket(address, settings.rest_port)
        )
        log.info("Started REST server (uvicorn) at %s:%d", settings.rest_bind_address, settings.rest_port)
        return serve_uvicorn(app, bind, settings.tls, settings.shutdown_timeout, stop)
    task = asyncio.create_task(
        hypercorn_serve(app, config, shutdown_trigger=stop.wait),  # type: ignore[arg-type]
        name="rest-server",
    )
    log.info("Started REST server at %s:%d", settings.rest_bind_address, settings.rest_port)
    return task


def _log_summary(settings: ServerSettings, manager: ModelManager) -> None:
    log.info("OpenVINO Model Server (ovms %s), OpenVINO backend %s", __version__, ov.get_version())
    for name in manager.names():
        versions = (
            ", ".join(f"{s.version}:{s.state.name}" for s in manager.model_status(name, None)) or "none"
        )
        if manager.is_pipeline(name):
            log.info("Pipeline %s: version [%s]", name, versions)
            continue
        if manager.is_graph(name):
            log.info("Generative model %s: version [%s]", name, versions)
            continue
        config = manager.config(name)
        log.info(
            "Model %s: versions [%s], device %s, base path %s",
            name,
            versions,
            config.target_device,
            config.base_path,
        )
    rest = f"{settings.rest_bind_address}:{settings.rest_port}" if settings.rest_port else "disabled"
    if settings.api_key is not None:
        log.info("API key required on every call but the health probes and /metrics")
    log.info("Server ready: gRPC %s:%d, REST %s", settings.grpc_bind_address, settings.port, rest)
