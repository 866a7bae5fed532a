"""The ``ovms`` command: a thin layer that parses options and calls the core.

Only the command-line layer is imported at start-up: each command imports what it needs (OpenVINO,
gRPC, the server) when it runs, so ``ovms --help`` and ``ovms --version`` answer at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ovms_cli import __version__
from ovms_cli.cli.argv import ArgvError, subcommand_form
from ovms_cli.cli.usage import (
    EX_USAGE,
    STATEFUL_OPTIONS_WITHOUT_STATEFUL,
    UsageOptions,
    preprocessing_usage_error,
    usage_error,
    worker_count,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ovms_cli.config.model_config import ModelConfig
    from ovms_cli.config.server_config import ServerConfig
    from ovms_cli.servables.generative.graph_config import GenerativeConfig
    from ovms_cli.servables.model_control import ModelSources
    from ovms_cli.transports.server import ServerSettings

app = typer.Typer(
    name="ovms",
    help="An OpenVINO model server: KServe v2 and TensorFlow Serving APIs over gRPC and REST.",
    epilog=(
        "OVMS's own command line works too: [bold]ovms --config_path ...[/] and [bold]ovms --model_name "
        "... --model_path ...[/] are [bold]ovms serve ...[/]; [bold]--version[/], [bold]--list_models[/], "
        "[bold]--add_to_config[/] and [bold]--remove_from_config[/] are the commands of those names."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@cache
def _stdout() -> Console:
    from rich.console import Console

    return Console()


@cache
def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


SERVER = "Server"
CONTROL = "Model control (KServe v2 repository extension)"
SINGLE = "Single model (serve: not with --config_path; add-to-config: written to the entry)"

# Options are spelled as OVMS spells them (underscores) so that scripts written for OVMS keep working.
Port = Annotated[int, typer.Option("--port", help="gRPC port.", rich_help_panel=SERVER)]
RestPort = Annotated[
    int, typer.Option("--rest_port", help="REST port; 0 disables REST.", rich_help_panel=SERVER)
]
GrpcBind = Annotated[str, typer.Option("--grpc_bind_address", help="gRPC interface.", rich_help_panel=SERVER)]
RestBind = Annotated[str, typer.Option("--rest_bind_address", help="REST interface.", rich_help_panel=SERVER)]
GrpcWorkers = Annotated[
    int, typer.Option("--grpc_workers", help="gRPC servers: 1 (one event loop).", rich_help_panel=SERVER)
]
RestWorkers = Annotated[
    int | None,
    typer.Option("--rest_workers", help="REST workers: 1 (one event loop).", rich_help_panel=SERVER),
]
RestServer = Annotated[
    str,
    typer.Option(
        "--rest_server",
        help="REST server: hypercorn, or uvicorn (faster REST, HTTP/1.1 only; pip install 'ovms[uvicorn]').",
        rich_help_panel=SERVER,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Server processes sharing the gRPC and REST ports (1 to the CPU cores; default 1).",
        rich_help_panel=SERVER,
    ),
]
GrpcChannelArguments = Annotated[
    str | None,
    typer.Option(
        "--grpc_channel_arguments",
        help="gRPC server channel arguments: grpc.key=value,grpc.key=value.",
        rich_help_panel=SERVER,
    ),
]
GrpcMaxThreads = Annotated[
    int | None,
    typer.Option(
        "--grpc_max_threads",
        min=0,
        help="Most gRPC calls in progress; more get RESOURCE_EXHAUSTED (0: no limit).",
        rich_help_panel=SERVER,
    ),
]
GrpcMemoryQuota = Annotated[
    int | None,
    typer.Option(
        "--grpc_memory_quota", min=0, help="0 only: grpc.aio has no memory quota.", rich_help_panel=SERVER
    ),
]
CpuExtension = Annotated[
    Path | None,
    typer.Option(
        "--cpu_extension", help="OpenVINO extension library to load into the Core.", rich_help_panel=SERVER
    ),
]
LogLevel = Annotated[
    str, typer.Option("--log_level", help="TRACE, DEBUG, INFO, WARNING or ERROR.", rich_help_panel=SERVER)
]
LogPath = Annotated[
    Path | None, typer.Option("--log_path", help="Also log to this file.", rich_help_panel=SERVER)
]
CacheDir = Annotated[
    Path | None, typer.Option("--cache_dir", help="OpenVINO compiled-model cache.", rich_help_panel=SERVER)
]
PollWait = Annotated[
    int,
    typer.Option(
        "--file_system_poll_wait_seconds", help="Repository poll period (0: off).", rich_help_panel=SERVER
    ),
]
SequenceCleanerWait = Annotated[
    int,
    typer.Option(
        "--sequence_cleaner_poll_wait_minutes",
        min=0,
        help="Idle-sequence cleaner period for stateful models (0: off).",
        rich_help_panel=SERVER,
    ),
]
MetricsEnable = Annotated[
    bool, typer.Option("--metrics_enable", help="Serve /metrics.", rich_help_panel=SERVER)
]
MetricsList = Annotated[str, typer.Option("--metrics_list", help="Metric families.", rich_help_panel=SERVER)]
ShutdownTimeout = Annotated[
    float,
    typer.Option(
        "--shutdown_timeout",
        min=0.0,
        help="Seconds in-flight requests get on SIGTERM.",
        rich_help_panel=SERVER,
    ),
]
MaxRequestSize = Annotated[
    int | None,
    typer.Option(
        "--max_request_size",
        min=1,
        help="Largest request body or gRPC message, bytes; default 1 GiB.",
        rich_help_panel=SERVER,
    ),
]
TlsCert = Annotated[
    Path | None,
    typer.Option("--tls_cert", help="TLS certificate (PEM), gRPC and REST.", rich_help_panel=SERVER),
]
TlsKey = Annotated[
    Path | None, typer.Option("--tls_key", help="TLS private key (PEM).", rich_help_panel=SERVER)
]
TlsCa = Annotated[
    Path | None,
    typer.Option(
        "--tls_ca", help="CA (PEM) client certificates must chain to: mutual TLS.", rich_help_panel=SERVER
    ),
]
ApiKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--api_key_file",
        help="File whose first line is the API key calls must bear; default: $API_KEY.",
        rich_help_panel=SERVER,
    ),
]
AllowedOrigins = Annotated[
    str, typer.Option("--allowed_origins", help="CORS: comma-separated origins.", rich_help_panel=SERVER)
]
AllowedMethods = Annotated[
    str, typer.Option("--allowed_methods", help="CORS: comma-separated methods.", rich_help_panel=SERVER)
]
AllowedHeaders = Annotated[
    str, typer.Option("--allowed_headers", help="CORS: comma-separated headers.", rich_help_panel=SERVER)
]
AllowCredentials = Annotated[
    bool,
    typer.Option("--allow_credentials", help="CORS: allow cookies and credentials.", rich_help_panel=SERVER),
]
ModelControlMode = Annotated[
    str,
    typer.Option(
        "--model_control_mode",
        help="none: serve what start-up names; explicit: load and unload through the repository API.",
        rich_help_panel=CONTROL,
    ),
]
ServeRepositoryPath = Annotated[
    str | None,
    typer.Option(
        "--model_repository_path",
        help="Folder of model folders (NAME/VERSION/...): served whole, or loaded by name when explicit.",
        rich_help_panel=CONTROL,
    ),
]
LoadModel = Annotated[
    list[str] | None,
    typer.Option(
        "--load_model",
        help="Explicit mode: load this model at start (repeatable; * for all).",
        rich_help_panel=CONTROL,
    ),
]
ConfigPath = Annotated[
    str | None, typer.Option("--config_path", "--config", help="config.json with the models to serve.")
]
ModelName = Annotated[str | None, typer.Option("--model_name", help="Served name.", rich_help_panel=SINGLE)]
ModelPath = Annotated[
    str | None, typer.Option("--model_path", help="Folder of numbered versions.", rich_help_panel=SINGLE)
]
BatchSize = Annotated[
    str | None, typer.Option("--batch_size", help="N, -1, a:b or auto.", rich_help_panel=SINGLE)
]
ShapeOpt = Annotated[
    str | None, typer.Option("--shape", help='(1,3,224,224), auto or {"in": "(..)"}.', rich_help_panel=SINGLE)
]
LayoutOpt = Annotated[str | None, typer.Option("--layout", help="e.g. NHWC:NCHW.", rich_help_panel=SINGLE)]
Policy = Annotated[
    str | None,
    typer.Option(
        "--model_version_policy", help='e.g. {"latest": {"num_versions": 1}}.', rich_help_panel=SINGLE
    ),
]
Nireq = Annotated[
    int | None, typer.Option("--nireq", help="Infer requests per version.", rich_help_panel=SINGLE)
]
Device = Annotated[
    str | None, typer.Option("--target_device", help="CPU, GPU, AUTO...", rich_help_panel=SINGLE)
]
PluginConfig = Annotated[
    str | None, typer.Option("--plugin_config", help='e.g. {"NUM_STREAMS": "1"}.', rich_help_panel=SINGLE)
]
Stateful = Annotated[bool, typer.Option("--stateful", help="Stateful model.", rich_help_panel=SINGLE)]
LowLatency = Annotated[
    bool | None, typer.Option("--low_latency_transformation", help="Stateful only.", rich_help_panel=SINGLE)
]
MaxSequences = Annotated[
    int | None, typer.Option("--max_sequence_number", help="Stateful only.", rich_help_panel=SINGLE)
]
MaxBatchSize = Annotated[
    int | None,
    typer.Option("--max_batch_size", help="Dynamic batching: rows per inference.", rich_help_panel=SINGLE),
]
MaxBatchDelay = Annotated[
    int | None,
    typer.Option(
        "--max_batch_delay_us", help="Dynamic batching: longest wait for more.", rich_help_panel=SINGLE
    ),
]
IdleCleanup = Annotated[
    bool | None, typer.Option("--idle_sequence_cleanup", help="Stateful only.", rich_help_panel=SINGLE)
]
Mean = Annotated[
    str | None,
    typer.Option("--mean", help="Subtracted: 0.5 or [123.675,116.28,103.53].", rich_help_panel=SINGLE),
]
Scale = Annotated[
    str | None, typer.Option("--scale", help="Divides: 255 or [58.395,57.12,57.375].", rich_help_panel=SINGLE)
]
ColorFormatOpt = Annotated[
    str | None,
    typer.Option("--color_format", help="MODEL:CLIENT, e.g. BGR:RGB, RGB:NV12.", rich_help_panel=SINGLE),
]
PrecisionOpt = Annotated[
    str | None,
    typer.Option("--precision", help="CLIENT:MODEL, e.g. uint8:fp32.", rich_help_panel=SINGLE),
]
GENAI = "Generative model (--task; the genai extra)"
SourceModel = Annotated[
    str | None,
    typer.Option(
        "--source_model", help="Local OpenVINO GenAI model folder (no download).", rich_help_panel=GENAI
    ),
]
TaskOpt = Annotated[
    str | None,
    typer.Option("--task", help="text_generation, embeddings or rerank.", rich_help_panel=GENAI),
]
CacheSize = Annotated[
    int | None, typer.Option("--cache_size", min=0, help="KV cache, GB (0: grows).", rich_help_panel=GENAI)
]
MaxNumSeqs = Annotated[
    int | None, typer.Option("--max_num_seqs", min=1, help="Sequences per step.", rich_help_panel=GENAI)
]
MaxBatchedTokens = Annotated[
    int | None,
    typer.Option("--max_num_batched_tokens", min=1, help="Tokens per step.", rich_help_panel=GENAI),
]
MaxTokensLimit = Annotated[
    int | None,
    typer.Option("--max_tokens_limit", min=1, help="max_tokens must be below this.", rich_help_panel=GENAI),
]
PrefixCaching = Annotated[
    str | None, typer.Option("--enable_prefix_caching", help="true or false.", rich_help_panel=GENAI)
]
SplitFuse = Annotated[
    str | None, typer.Option("--dynamic_split_fuse", help="true or false.", rich_help_panel=GENAI)
]
Pooling = Annotated[str | None, typer.Option("--pooling", help="CLS, MEAN or LAST.", rich_help_panel=GENAI)]
Normalize = Annotated[str | None, typer.Option("--normalize", help="true or false.", rich_help_panel=GENAI)]
Truncate = Annotated[str | None, typer.Option("--truncate", help="true or false.", rich_help_panel=GENAI)]
GENERATIVE_OPTIONS = (
    "cache_size",
    "max_num_seqs",
    "max_num_batched_tokens",
    "max_tokens_limit",
    "enable_prefix_caching",
    "dynamic_split_fuse",
    "pooling",
    "normalize",
    "truncate",
)


@app.command()
def serve(
    config_path: ConfigPath = None,
    model_name: ModelName = None,
    model_path: ModelPath = None,
    batch_size: BatchSize = None,
    shape: ShapeOpt = None,
    layout: LayoutOpt = None,
    model_version_policy: Policy = None,
    nireq: Nireq = None,
    target_device: Device = None,
    plugin_config: PluginConfig = None,
    stateful: Stateful = False,
    low_latency_transformation: LowLatency = None,
    max_sequence_number: MaxSequences = None,
    idle_sequence_cleanup: IdleCleanup = None,
    max_batch_size: MaxBatchSize = None,
    max_batch_delay_us: MaxBatchDelay = None,
    mean: Mean = None,
    scale: Scale = None,
    color_format: ColorFormatOpt = None,
    precision: PrecisionOpt = None,
    port: Port = 9178,
    rest_port: RestPort = 0,
    grpc_bind_address: GrpcBind = "0.0.0.0",
    rest_bind_address: RestBind = "0.0.0.0",
    grpc_workers: GrpcWorkers = 1,
    rest_workers: RestWorkers = None,
    workers: Workers = None,
    rest_server: RestServer = "hypercorn",
    grpc_channel_arguments: GrpcChannelArguments = None,
    grpc_max_threads: GrpcMaxThreads = None,
    grpc_memory_quota: GrpcMemoryQuota = None,
    cpu_extension: CpuExtension = None,
    log_level: LogLevel = "INFO",
    log_path: LogPath = None,
    cache_dir: CacheDir = None,
    file_system_poll_wait_seconds: PollWait = 1,
    sequence_cleaner_poll_wait_minutes: SequenceCleanerWait = 5,
    metrics_enable: MetricsEnable = False,
    metrics_list: MetricsList = "",
    shutdown_timeout: ShutdownTimeout = 30.0,
    max_request_size: MaxRequestSize = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key_file: ApiKeyFile = None,
    allowed_origins: AllowedOrigins = "*",
    allowed_methods: AllowedMethods = "*",
    allowed_headers: AllowedHeaders = "*",
    allow_credentials: AllowCredentials = False,
    model_control_mode: ModelControlMode = "none",
    model_repository_path: ServeRepositoryPath = None,
    load_model: LoadModel = None,
    source_model: SourceModel = None,
    task: TaskOpt = None,
    cache_size: CacheSize = None,
    max_num_seqs: MaxNumSeqs = None,
    max_num_batched_tokens: MaxBatchedTokens = None,
    max_tokens_limit: MaxTokensLimit = None,
    enable_prefix_caching: PrefixCaching = None,
    dynamic_split_fuse: SplitFuse = None,
    pooling: Pooling = None,
    normalize: Normalize = None,
    truncate: Truncate = None,
) -> None:
    """Serve the models of a config file or of a model repository, or one model given by --model_name
    and --model_path (a generative one: --source_model, --model_path with --task, or --model_path naming a
    folder with graph.pbtxt)."""
    parameters = locals()
    generative_options = {name: parameters[name] for name in GENERATIVE_OPTIONS}
    generative_folder = source_model or (
        model_path if task is not None or _is_graph_folder(model_path) else None
    )
    if generative_folder is not None and model_name is None:
        model_name = Path(generative_folder).resolve().name  # OVMS: the source model's name
    if generative_folder is not None and model_path is None:
        model_path = generative_folder
    from ovms_cli.transports.grpc_channel_args import ChannelArgumentsError, parse_channel_arguments

    channel_arguments: tuple[tuple[str, int | str], ...] = ()
    channel_arguments_problem = None
    try:
        if grpc_channel_arguments is not None:
            channel_arguments = parse_channel_arguments(grpc_channel_arguments)
    except ChannelArgumentsError as error:
        channel_arguments_problem = str(error)
    model_options = _model_options(locals())
    problem = usage_error(
        UsageOptions(
            config_path=config_path,
            model_name=model_name,
            model_path=model_path,
            model_parameters_given=_any_given(model_options, MODEL_OPTIONS) or stateful,
            stateful=stateful,
            stateful_parameters_given=_any_given(model_options, STATEFUL_OPTIONS),
            port=port,
            rest_port=rest_port,
            grpc_bind_address=grpc_bind_address,
            rest_bind_address=rest_bind_address,
            grpc_workers=grpc_workers,
            rest_workers=rest_workers,
            log_level=log_level,
            metrics_enable=metrics_enable,
            metrics_list=metrics_list,
            cpu_extension=None if cpu_extension is None else str(cpu_extension),
            grpc_memory_quota=grpc_memory_quota,
            grpc_channel_arguments_problem=channel_arguments_problem,
            model_control_mode=model_control_mode,
            model_repository_path=model_repository_path,
            load_models=tuple(load_model or ()),
            workers=workers,
            rest_server=rest_server,
        )
    ) or preprocessing_usage_error(
        layout, mean=mean, scale=scale, color_format=color_format, precision=precision
    )
    from ovms_cli.transports.tls import TlsError, tls_files

    try:
        tls = tls_files(tls_cert, tls_key, tls_ca)
    except TlsError as error:
        problem = problem or str(error)
    from ovms_cli.transports.cors import CorsError, CorsSettings, cors_settings

    cors = CorsSettings()
    try:
        cors = cors_settings(allowed_origins, allowed_methods, allowed_headers, allow_credentials)
    except CorsError as error:
        problem = problem or str(error)
    if problem is None and generative_folder is None and _any_given(generative_options, GENERATIVE_OPTIONS):
        problem = "Generative options (--cache_size, --pooling, ...) need --task or --source_model"
    generative = []
    if problem is None and generative_folder is not None:
        from ovms_cli.cli.generative import GenerativeUsageError, generative_from_cli

        try:
            generative = [
                generative_from_cli(
                    model_name, generative_folder, task, target_device, plugin_config, generative_options
                )
            ]
        except GenerativeUsageError as error:
            problem = str(error)
    if problem:
        _error(problem)
        raise typer.Exit(EX_USAGE)
    _check_rest_server(rest_server)
    _configure_logs(log_level, log_path)
    from ovms_cli.servables.stateful.sequence_cleaner import cleaner_interval_s
    from ovms_cli.transports.auth import ApiKeyError, load_api_key
    from ovms_cli.transports.server import MAX_MESSAGE_BYTES, ServerSettings

    try:
        api_key = load_api_key(api_key_file)
    except ApiKeyError as error:
        _error(str(error))
        raise typer.Exit(1) from error

    try:
        cleaner_interval = cleaner_interval_s(sequence_cleaner_poll_wait_minutes)
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(EX_USAGE) from error
    from ovms_cli.servables.model_control import ControlMode, ModelSources

    config = _config_from_file(Path(config_path)) if config_path else None
    explicit = ControlMode(model_control_mode) is ControlMode.EXPLICIT
    repository = Path(model_repository_path) if model_repository_path else None
    sources = ModelSources(repository, Path(config_path) if config_path else None) if explicit else None
    if sources is not None:
        models = _explicit_models(sources, load_model or [])
    elif repository is not None:
        models = _repository_models(repository)
    elif config is not None:
        models = config.models
        generative = _generative_from_file(config)
    elif generative:
        models = ()
    else:
        assert model_name is not None and model_path is not None
        models = _model_from_options(name=model_name, path=model_path, **model_options)
    settings = ServerSettings(
        port=port,
        grpc_bind_address=grpc_bind_address,
        rest_port=rest_port,
        rest_bind_address=rest_bind_address,
        cache_dir=cache_dir,
        exit_on_load_failure=explicit or not (config_path or repository),  # explicit: --load_model's
        config_path=Path(config_path) if config_path and not explicit else None,  # explicit: read at load
        poll_seconds=file_system_poll_wait_seconds,
        sequence_cleaner_interval_s=cleaner_interval,
        shutdown_timeout=shutdown_timeout,
        max_request_size=MAX_MESSAGE_BYTES if max_request_size is None else max_request_size,
        tls=tls,
        metrics=_metrics(config, metrics_enable, metrics_list, rest_port),
        grpc_channel_arguments=channel_arguments,
        grpc_max_concurrent_rpcs=grpc_max_threads or None,  # 0: not applied, as in OVMS
        cpu_extension=cpu_extension,
        api_key=api_key,
        cors=cors,
        control_mode=ControlMode(model_control_mode),
        model_sources=sources,
        rest_server=rest_server,
    )
    _run_workers(settings, models, worker_count(workers, grpc_workers), config, generative)


MODEL_OPTIONS = (
    "batch_size",
    "shape",
    "layout",
    "model_version_policy",
    "nireq",
    "target_device",
    "plugin_config",
    "max_batch_size",
    "max_batch_delay_us",
    "mean",
    "scale",
    "color_format",
    "precision",
)
STATEFUL_OPTIONS = ("low_latency_transformation", "max_sequence_number", "idle_sequence_cleanup")


def _model_options(parameters: dict[str, Any]) -> dict[str, Any]:
    """A command's single-model options, from its ``locals()``, as ``cli_model_options`` takes them."""
    return {name: parameters[name] for name in (*MODEL_OPTIONS, "stateful", *STATEFUL_OPTIONS)}


def _any_given(options: dict[str, Any], names: tuple[str, ...]) -> bool:
    return any(options[name] is not None for name in names)


def _error(message: str) -> None:
    """Plain lines on stderr: scripts match OVMS's messages, so no wrapping or markup."""
    print(message, file=sys.stderr)


def _configure_logs(level: str, path: Path | None = None) -> None:
    from ovms_cli import logs

    try:
        logs.configure(level, path)
    except OSError as error:
        _error(f"Cannot open --log_path {path}: {error.strerror or error}")
        raise typer.Exit(1) from error


def _metrics(config: ServerConfig | None, enable: bool, names: str, rest_port: int) -> tuple[str, ...] | None:
    from ovms_cli.config.monitoring import MonitoringError, metrics_families

    try:
        return metrics_families(None if config is None else config.raw, enable, names, rest_port)
    except MonitoringError as error:
        _error(str(error))
        raise typer.Exit(1) from error


def _config_from_file(path: Path) -> ServerConfig:
    from ovms_cli.config.server_config import ConfigError, load_config

    try:
        return load_config(path, check_paths=False)  # a missing folder fails that model only
    except ConfigError as error:
        for problem in error.problems:
            _error(f"{path}: {problem}")
        raise typer.Exit(1) from error


def _is_graph_folder(model_path: str | None) -> bool:
    """A local folder holding graph.pbtxt and no numbered versions: OVMS serves the graph."""
    if model_path is None or "://" in model_path:
        return False
    folder = Path(model_path)
    if not (folder / "graph.pbtxt").is_file():
        return False
    return not any(entry.is_dir() and entry.name.isdigit() for entry in folder.iterdir())


def _generative_from_file(config: ServerConfig) -> list[GenerativeConfig]:
    """config.json's generative graphs (``mediapipe_config_list``); refused entries are reported."""
    from ovms_cli.servables.generative.host import configs_from_file

    configs, problems = configs_from_file(config.raw, config.source.parent if config.source else Path.cwd())
    for name, problem in problems.items():
        _error(f"{config.source}: generative model {name}: {problem}")
    return configs


def _event_loop_run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it exists: MobileNet-V2 over gRPC at 8 clients, 159-160 req/s vs 134-147."""
    import asyncio

    try:
        import uvloop
    except ImportError:  # Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


def _model_from_options(**options: object) -> tuple[ModelConfig, ...]:
    from ovms_cli.config.grammar import GrammarError
    from ovms_cli.config.model_config import model_config_from_cli
    from ovms_cli.config.problems import ConfigError

    try:
        return (model_config_from_cli(cwd=Path.cwd(), **options),)
    except (ConfigError, GrammarError) as error:
        _error(str(error))
        raise typer.Exit(1) from error


def _explicit_models(sources: ModelSources, names: list[str]) -> tuple[ModelConfig, ...]:
    """The ``--load_model`` models of explicit mode; one that is not found stops start-up (exit 1)."""
    from ovms_cli.errors import ServingError
    from ovms_cli.servables.model_control import initial_models

    try:
        return initial_models(sources, names)
    except ServingError as error:
        _error(f"--load_model: {error.message}")
        raise typer.Exit(1) from error


def _repository_models(repository: Path) -> tuple[ModelConfig, ...]:
    """Every model under ``--model_repository_path`` (model control ``none``), as Triton's ``none`` mode."""
    from ovms_cli.servables.model_control import repository_models

    models = repository_models(repository)
    if not models:
        _error(f"No model (a folder with numbered version folders) in --model_repository_path {repository}")
        raise typer.Exit(1)
    return models


def _run(
    settings: ServerSettings,
    models: tuple[ModelConfig, ...],
    config: ServerConfig | None = None,
    generative: Sequence[GenerativeConfig] = (),
) -> None:
    from ovms_cli.transports.server import StartupError, run

    try:
        _event_loop_run(run(settings, models, config, generative))
    except StartupError as error:
        _error(str(error))
        raise typer.Exit(1) from error


def _check_rest_server(name: str) -> None:
    from ovms_cli.transports.rest_uvicorn import missing

    why = missing() if name == "uvicorn" else None
    if why is not None:
        _error(why)
        raise typer.Exit(1)


def _run_workers(
    settings: ServerSettings,
    models: tuple[ModelConfig, ...],
    count: int,
    config: ServerConfig | None = None,
    generative: Sequence[GenerativeConfig] = (),
) -> None:
    """One server; or, with ``--workers N``, the supervisor of N, or (``OVMS_WORKER`` set) one of them."""
    from dataclasses import replace

    from ovms_cli.transports.server import StartupError, check_ports_free
    from ovms_cli.workers.slot import WorkerSlot, WorkerSlotError
    from ovms_cli.workers.supervisor import supervise
    from ovms_cli.workers.worker import SupervisorGone, become_worker

    try:
        slot = WorkerSlot.from_environment()
        if slot is not None:
            become_worker(slot)
            settings = replace(settings, worker=slot)
        elif count > 1:
            check_ports_free(settings)
            raise typer.Exit(supervise(sys.argv[1:], count, settings.shutdown_timeout))
    except (StartupError, WorkerSlotError, SupervisorGone) as error:
        _error(str(error))
        raise typer.Exit(1) from error
    _run(settings, models, config, generative)


JsonOutput = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, for scripts.")]


@app.command("validate-config")
def validate_config(
    config_file: Annotated[Path, typer.Argument(help="config.json to check.")],
    json_output: JsonOutput = False,
) -> None:
    """Check a config file against the schema and the model repositories; list the models."""
    from ovms_cli.cli.validate_config import validate_config_command, validate_config_json

    if not json_output:
        raise typer.Exit(validate_config_command(config_file, _stdout()))
    code, document = validate_config_json(config_file)
    sys.stdout.write(document)
    raise typer.Exit(code)


RepositoryPath = Annotated[
    Path,
    typer.Option(
        "--model_repository_path",
        envvar="OVMS_MODEL_REPOSITORY_PATH",
        help="Folder of model folders.",
        show_envvar=True,
    ),
]


@app.command("list-models")
def list_models(model_repository_path: RepositoryPath, json_output: JsonOutput = False) -> None:
    """List the servable models (folders with numbered versions) in a repository; also --list_models."""
    from ovms_cli.cli.list_models import ListingError, as_json, as_text
    from ovms_cli.cli.list_models import list_models as find_models

    try:
        models = find_models(model_repository_path)
    except ListingError as error:
        _error(str(error))
        if json_output:
            sys.stdout.write(as_json(model_repository_path, [], str(error)))
        raise typer.Exit(1) from error
    sys.stdout.write(as_json(model_repository_path, models) if json_output else as_text(models))


EDIT = "Config file"
EditConfigPath = Annotated[
    Path,
    typer.Option(
        "--config_path",
        envvar="OVMS_MODEL_REPOSITORY_PATH",  # as OVMS: that folder's config.json
        help="config.json, or the folder holding it, to edit.",
        rich_help_panel=EDIT,
    ),
]
EditModelName = Annotated[str, typer.Option("--model_name", help="Model name.", rich_help_panel=EDIT)]


@app.command("add-to-config")
def add_to_config(
    config_path: EditConfigPath,
    model_name: EditModelName,
    model_path: Annotated[
        str | None,
        typer.Option(
            "--model_path",
            help="base_path as written (relative: to the config's folder); default repository/name.",
            rich_help_panel=EDIT,
        ),
    ] = None,
    model_repository_path: Annotated[
        str | None,
        typer.Option(
            "--model_repository_path",
            envvar="OVMS_MODEL_REPOSITORY_PATH",
            help="Without --model_path: base_path is this folder/model_name.",
            rich_help_panel=EDIT,
        ),
    ] = None,
    batch_size: BatchSize = None,
    shape: ShapeOpt = None,
    layout: LayoutOpt = None,
    model_version_policy: Policy = None,
    nireq: Nireq = None,
    target_device: Device = None,
    plugin_config: PluginConfig = None,
    stateful: Stateful = False,
    low_latency_transformation: LowLatency = None,
    max_sequence_number: MaxSequences = None,
    idle_sequence_cleanup: IdleCleanup = None,
    max_batch_size: MaxBatchSize = None,
    max_batch_delay_us: MaxBatchDelay = None,
    mean: Mean = None,
    scale: Scale = None,
    color_format: ColorFormatOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Add a model to config.json atomically (created if missing); also --add_to_config.

    A running server picks the change up at its next config poll.
    """
    from ovms_cli.cli.config_edit import EditError, add_model, config_entry, config_file
    from ovms_cli.config.model_config import cli_model_options

    if model_path is None and model_repository_path is None:
        _error("add_to_config needs --model_path or --model_repository_path")
        raise typer.Exit(EX_USAGE)
    model_options = _model_options(locals())
    if _any_given(model_options, STATEFUL_OPTIONS) and not stateful:
        _error(STATEFUL_OPTIONS_WITHOUT_STATEFUL)
        raise typer.Exit(EX_USAGE)
    options = {
        "name": model_name,
        "path": model_path if model_path is not None else f"{model_repository_path}/{model_name}",
        **model_options,
        "stateful": stateful or None,  # not written when false
    }
    _model_from_options(**options)  # the option grammar's errors, named by option
    config = config_file(config_path)
    try:
        entry = config_entry(cli_model_options(**options))  # type: ignore[arg-type]
        add_model(config, entry)
    except EditError as error:
        _error(str(error))
        raise typer.Exit(1) from error
    print(f"Added model {model_name} to {config}")


@app.command("remove-from-config")
def remove_from_config(config_path: EditConfigPath, model_name: EditModelName) -> None:
    """Remove a model from config.json atomically; also --remove_from_config.

    A running server retires it (state END) at its next config poll.
    """
    from ovms_cli.cli.config_edit import EditError, config_file, remove_model

    config = config_file(config_path)
    try:
        remove_model(config, model_name)
    except EditError as error:
        _error(str(error))
        raise typer.Exit(1) from error
    print(f"Removed model {model_name} from {config}")


DemoTask = Annotated[
    str | None,
    typer.Option(
        "--task", help="text_generation, embeddings or rerank: a tiny generative model (genai extra)."
    ),
]


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", "--dest", help="Where to write the demo repository.")
    ] = Path("demo-models"),
    task: DemoTask = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only build the models.")] = False,
    port: Port = 9000,
    rest_port: RestPort = 8000,
    log_level: LogLevel = "INFO",
) -> None:
    """Build a tiny demo model repository with OpenVINO (or OpenVINO GenAI, --task) and serve it."""
    from ovms_cli.transports.server import ServerSettings

    config = _build_demo(directory, task)
    if no_serve:
        print(config)
        return
    _stdout().print(f"Wrote {config}; serving it on gRPC :{port} and REST :{rest_port}")
    _configure_logs(log_level)
    settings = ServerSettings(port=port, rest_port=rest_port, config_path=config)
    loaded = _config_from_file(config)
    _run(settings, loaded.models, loaded, _generative_from_file(loaded))


def _build_demo(directory: Path, task: str | None) -> Path:
    """The demo's config.json; a bad --task exits 64 (usage), a folder it cannot write exits 1."""
    from ovms_cli.cli.generative import GenerativeUsageError, build_demo, task_of
    from ovms_cli.demo import write_demo_repository

    try:
        if task is not None:
            task_of(task)
    except GenerativeUsageError as error:
        _error(str(error))
        raise typer.Exit(EX_USAGE) from error
    try:
        return write_demo_repository(directory) if task is None else build_demo(directory, task)
    except OSError as error:
        where = error.filename or directory
        _error(f"cannot write the demo into {directory}: {where}: {error.strerror or error}")
        raise typer.Exit(1) from error


@app.command()
def bench(
    model: Annotated[str, typer.Option("--model", help="Served model name.")],
    url: Annotated[
        str | None,
        typer.Option("--url", help="host:port; default localhost:9000 (grpc) or localhost:8000 (rest)."),
    ] = None,
    model_version: Annotated[str, typer.Option("--version", help="Model version; default the latest.")] = "",
    protocol: Annotated[str, typer.Option("--protocol", help="grpc or rest.")] = "grpc",
    binary: Annotated[
        bool, typer.Option("--binary/--json-data", help="REST: binary data extension or JSON data.")
    ] = True,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Clients, each waiting for its answer.")
    ] = 1,
    processes: Annotated[
        int | None,
        typer.Option("--processes", min=1, help="Client processes; default min(concurrency, CPUs)."),
    ] = None,
    duration: Annotated[float, typer.Option("--duration", min=0.001, help="Measured seconds.")] = 10.0,
    warmup: Annotated[float, typer.Option("--warmup", min=0.0, help="Unmeasured seconds first.")] = 3.0,
    shape: Annotated[
        list[str] | None,
        typer.Option("--shape", help="Dims for dynamic inputs: 1,224,224,3 or name:1,128 (repeatable)."),
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", exists=True, dir_okay=False, help="Send this file as BYTES [1].")
    ] = None,
    inprocess: Annotated[
        Path | None,
        typer.Option(
            "--inprocess", exists=True, help="Also run this model in-process; print server/in-process."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Closed-loop load on a served model: throughput, latency percentiles, errors and client CPU."""
    from ovms_cli.bench.command import bench_command
    from ovms_cli.bench.runner import BenchOptions

    options = BenchOptions(
        model=model,
        url=url,
        version=model_version,
        protocol=protocol,
        binary=binary,
        concurrency=concurrency,
        processes=processes,
        duration_s=duration,
        warmup_s=warmup,
        shapes=tuple(shape or ()),
        image=image,
        inprocess=inprocess,
    )
    raise typer.Exit(bench_command(options, as_json=json_output, out=_stdout(), err=_stderr()))


@app.command("pull-model")
def pull_model(
    uri: Annotated[
        str, typer.Argument(help="s3://, gs:// or az:// URI of a model (its numbered version folders).")
    ],
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Local repository folder; default ./<last URI segment>.")
    ] = None,
    model_version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="Only this version; default the latest complete one."),
    ] = None,
    all_versions: Annotated[bool, typer.Option("--all-versions", help="Every version.")] = False,
) -> None:
    """Download a model from an object store into a local folder (resumable); print the folder."""
    from ovms_cli.cli.progress import DownloadBars
    from ovms_cli.repository.pull import pull_model as pull
    from ovms_cli.repository.versions import RepositoryError

    if model_version is not None and all_versions:
        print("--version and --all-versions exclude each other", file=sys.stderr)
        raise typer.Exit(EX_USAGE)
    try:
        path = pull(
            uri,
            dest,
            version=model_version,
            all_versions=all_versions,
            progress=lambda total: DownloadBars(_stderr(), total),
        )
    except RepositoryError as error:
        print(f"pull-model failed: {error}", file=sys.stderr)
        raise typer.Exit(1) from error
    print(path)


@app.command()
def version() -> None:
    """Print the versions of ovms and of OpenVINO (also ovms --version)."""
    _print_versions()


def _print_versions() -> None:
    """OVMS's first two --version lines (spec §1.1); its third, the Bazel build flags, has no equivalent."""
    print(f"OpenVINO Model Server {__version__}\nOpenVINO backend {_openvino_version()}")


def _openvino_version() -> str:
    """The installed openvino package's version, read without importing OpenVINO (slow)."""
    try:
        return package_version("openvino")
    except PackageNotFoundError:
        return "not installed"


CLICK_USAGE_EXIT = 2


def main() -> None:
    """Entry point: OVMS's command line (cli.argv) or subcommands; usage errors exit 64 as OVMS's do."""
    argv = sys.argv[1:]
    if "_OVMS_COMPLETE" not in os.environ:  # shell completion reads its words from the environment
        try:
            argv = subcommand_form(argv) if argv else ["--help"]
        except ArgvError as error:
            _error(str(error))
            sys.exit(EX_USAGE)
        if argv == ["version"]:  # at once: building the typer app for it costs a quarter of a second
            _print_versions()
            return
    try:
        app(args=argv, prog_name="ovms")
    except SystemExit as done:
        if done.code == CLICK_USAGE_EXIT:
            sys.exit(EX_USAGE)
        raise
