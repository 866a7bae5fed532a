"""The ``ovms`` command: a thin layer that parses options and calls the core."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ovms_cli import __version__, logs
from ovms_cli.config.grammar import GrammarError
from ovms_cli.config.model_config import ModelConfig, model_config_from_cli
from ovms_cli.config.monitoring import MonitoringError, metrics_families
from ovms_cli.config.report import validate_config_command
from ovms_cli.config.server_config import ConfigError, ServerConfig, load_config
from ovms_cli.transports.server import MAX_MESSAGE_BYTES, ServerSettings, StartupError, run
from ovms_cli.transports.tls import TlsError, tls_files
from ovms_cli.usage import EX_USAGE, UsageOptions, preprocessing_usage_error, usage_error

app = typer.Typer(
    name="ovms",
    help="An OpenVINO model server: KServe v2 and TensorFlow Serving APIs over gRPC and REST.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
stdout = Console()
stderr = Console(stderr=True)

SERVER = "Server"
SINGLE = "Single model (not with --config_path)"

# Options are spelled as OVMS spells them (underscores) so that scripts written for OVMS keep working.
Port = Annotated[int, typer.Option("--port", help="gRPC port.", rich_help_panel=SERVER)]
RestPort = Annotated[
    int, typer.Option("--rest_port", help="REST port; 0 disables REST.", rich_help_panel=SERVER)
]
GrpcBind = Annotated[str, typer.Option("--grpc_bind_address", help="gRPC interface.", rich_help_panel=SERVER)]
RestBind = Annotated[str, typer.Option("--rest_bind_address", help="REST interface.", rich_help_panel=SERVER)]
GrpcWorkers = Annotated[
    int, typer.Option("--grpc_workers", help="gRPC servers (1 here).", rich_help_panel=SERVER)
]
RestWorkers = Annotated[
    int | None,
    typer.Option("--rest_workers", help="Accepted for OVMS compatibility.", rich_help_panel=SERVER),
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
    int,
    typer.Option(
        "--max_request_size",
        min=1,
        help="Largest request body or gRPC message, bytes.",
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
    log_level: LogLevel = "INFO",
    log_path: LogPath = None,
    cache_dir: CacheDir = None,
    file_system_poll_wait_seconds: PollWait = 1,
    metrics_enable: MetricsEnable = False,
    metrics_list: MetricsList = "",
    shutdown_timeout: ShutdownTimeout = 30.0,
    max_request_size: MaxRequestSize = MAX_MESSAGE_BYTES,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
) -> None:
    """Serve the models of a config file, or one model given by --model_name and --model_path."""
    model_options = (
        batch_size,
        shape,
        layout,
        model_version_policy,
        nireq,
        target_device,
        plugin_config,
        max_batch_size,
        max_batch_delay_us,
        mean,
        scale,
        color_format,
        precision,
    )
    stateful_options = (low_latency_transformation, max_sequence_number, idle_sequence_cleanup)
    problem = usage_error(
        UsageOptions(
            config_path=config_path,
            model_name=model_name,
            model_path=model_path,
            model_parameters_given=any(v is not None for v in model_options) or stateful,
            stateful=stateful,
            stateful_parameters_given=any(v is not None for v in stateful_options),
            port=port,
            rest_port=rest_port,
            grpc_bind_address=grpc_bind_address,
            rest_bind_address=rest_bind_address,
            grpc_workers=grpc_workers,
            rest_workers=rest_workers,
            log_level=log_level,
            metrics_enable=metrics_enable,
            metrics_list=metrics_list,
        )
    ) or preprocessing_usage_error(
        layout, mean=mean, scale=scale, color_format=color_format, precision=precision
    )
    try:
        tls = tls_files(tls_cert, tls_key, tls_ca)
    except TlsError as error:
        problem = problem or str(error)
    if problem:
        _error(problem)
        raise typer.Exit(EX_USAGE)
    logs.configure(log_level, log_path)
    config = _config_from_file(Path(config_path)) if config_path else None
    if config is not None:
        models = config.models
    else:
        assert model_name is not None and model_path is not None
        models = _model_from_options(
            name=model_name,
            path=model_path,
            batch_size=batch_size,
            shape=shape,
            layout=layout,
            model_version_policy=model_version_policy,
            nireq=nireq,
            target_device=target_device,
            plugin_config=plugin_config,
            stateful=stateful,
            low_latency_transformation=low_latency_transformation,
            max_sequence_number=max_sequence_number,
            idle_sequence_cleanup=idle_sequence_cleanup,
            max_batch_size=max_batch_size,
            max_batch_delay_us=max_batch_delay_us,
            mean=mean,
            scale=scale,
            color_format=color_format,
            precision=precision,
        )
    settings = ServerSettings(
        port=port,
        grpc_bind_address=grpc_bind_address,
        rest_port=rest_port,
        rest_bind_address=rest_bind_address,
        cache_dir=cache_dir,
        exit_on_load_failure=not config_path,
        config_path=Path(config_path) if config_path else None,
        poll_seconds=file_system_poll_wait_seconds,
        shutdown_timeout=shutdown_timeout,
        max_request_size=max_request_size,
        tls=tls,
        metrics=_metrics(config, metrics_enable, metrics_list, rest_port),
    )
    _run(settings, models)


def _error(message: str) -> None:
    """Plain lines on stderr: scripts match OVMS's messages, so no wrapping or markup."""
    print(message, file=sys.stderr)


def _models_from_file(path: Path) -> tuple[ModelConfig, ...]:
    return _config_from_file(path).models


def _metrics(config: ServerConfig | None, enable: bool, names: str, rest_port: int) -> tuple[str, ...] | None:
    try:
        return metrics_families(None if config is None else config.raw, enable, names, rest_port)
    except MonitoringError as error:
        _error(str(error))
        raise typer.Exit(1) from error


def _config_from_file(path: Path) -> ServerConfig:
    try:
        return load_config(path, check_paths=False)  # a missing folder fails that model only
    except ConfigError as error:
        for problem in error.problems:
            _error(f"{path}: {problem}")
        raise typer.Exit(1) from error


def _event_loop_run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it exists: MobileNet-V2 over gRPC at 8 clients, 159-160 req/s vs 134-147."""
    try:
        import uvloop
    except ImportError:  # Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


def _model_from_options(**options: object) -> tuple[ModelConfig, ...]:
    try:
        return (model_config_from_cli(cwd=Path.cwd(), **options),)  # type: ignore[arg-type]
    except (ConfigError, GrammarError) as error:
        _error(str(error))
        raise typer.Exit(1) from error


def _run(settings: ServerSettings, models: tuple[ModelConfig, ...]) -> None:
    try:
        _event_loop_run(run(settings, models))
    except StartupError as error:
        _error(str(error))
        raise typer.Exit(1) from error


@app.command("validate-config")
def validate_config(
    config_file: Annotated[Path, typer.Argument(help="config.json to check.")],
) -> None:
    """Check a config file against the schema and the model repositories; list the models."""
    raise typer.Exit(validate_config_command(config_file, stdout))


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the demo repository.")] = Path(
        "demo-models"
    ),
    port: Port = 9000,
    rest_port: RestPort = 8000,
    log_level: LogLevel = "INFO",
) -> None:
    """Build a tiny demo model repository with OpenVINO and serve it."""
    from ovms_cli.demo import write_demo_repository

    config = write_demo_repository(directory)
    stdout.print(f"Wrote {config}; serving it on gRPC :{port} and REST :{rest_port}")
    logs.configure(log_level)
    settings = ServerSettings(port=port, rest_port=rest_port)
    _run(settings, _models_from_file(config))


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
    raise typer.Exit(bench_command(options, as_json=json_output, out=stdout, err=stderr))


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
    from ovms_cli.repository.pull import pull_model as pull
    from ovms_cli.repository.versions import RepositoryError

    if model_version is not None and all_versions:
        print("--version and --all-versions exclude each other", file=sys.stderr)
        raise typer.Exit(EX_USAGE)
    try:
        path = pull(uri, dest, version=model_version, all_versions=all_versions, console=stderr)
    except RepositoryError as error:
        print(f"pull-model failed: {error}", file=sys.stderr)
        raise typer.Exit(1) from error
    print(path)


@app.command()
def version() -> None:
    """Print the versions of ovms and of OpenVINO."""
    import openvino as ov

    stdout.print(f"OpenVINO Model Server (ovms) {__version__}\nOpenVINO backend {ov.get_version()}")


CLICK_USAGE_EXIT = 2


def main() -> None:
    """Entry point: usage errors exit 64 (EX_USAGE) as OVMS's do, not click's 2."""
    if len(sys.argv) == 1:
        sys.argv.append("--help")
    try:
        app(prog_name="ovms")
    except SystemExit as done:
        if done.code == CLICK_USAGE_EXIT:
            sys.exit(EX_USAGE)
        raise
