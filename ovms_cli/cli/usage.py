"""Start-up rules on the combination of command-line options (spec §1.4): a broken one exits 64.

Beyond OVMS's rules: each server process runs gRPC and REST on one event loop, so ``--rest_workers``
(OVMS's HTTP threads) accepts 1 only; ``--grpc_workers N`` (OVMS: N gRPC servers on one port) is
spelled ``--workers N`` here (N server processes on the same ports), and the two may not disagree.
grpc.aio has no resource quota for ``--grpc_memory_quota`` (0, no quota, is accepted).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

EX_USAGE = 64
STATEFUL_OPTIONS_WITHOUT_STATEFUL = (
    "Setting low_latency_transformation, max_sequence_number and idle_sequence_cleanup require "
    "setting stateful flag for the model."
)
REST_SERVERS = ("hypercorn", "uvicorn")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")
_HOSTNAME = re.compile(
    r"^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")


@dataclass(frozen=True, slots=True)
class UsageOptions:
    config_path: str | None
    model_name: str | None
    model_path: str | None
    model_parameters_given: bool  # any of batch_size, shape, nireq, ... set on the command line
    stateful: bool
    stateful_parameters_given: bool
    port: int
    rest_port: int
    grpc_bind_address: str
    rest_bind_address: str
    grpc_workers: int
    rest_workers: int | None
    log_level: str
    metrics_enable: bool
    metrics_list: str
    cpu_extension: str | None = None
    grpc_memory_quota: int | None = None
    grpc_channel_arguments_problem: str | None = None  # from parse_channel_arguments
    model_control_mode: str = "none"
    model_repository_path: str | None = None
    load_models: tuple[str, ...] = ()  # --load_model
    workers: int | None = None  # --workers; None: not given
    rest_server: str = "hypercorn"


def usage_error(o: UsageOptions) -> str | None:
    """The first broken rule's message, in OVMS's order and words, or None."""
    cores = os.cpu_count() or 1
    checks: list[tuple[bool, str]] = [
        (
            bool(o.config_path and (o.model_name or o.model_path)),
            "Use either config_path or model_path with model_name",
        ),
        *_model_control_checks(o),
        (
            not o.config_path and not (o.model_name and o.model_path) and not o.model_repository_path,
            "Use config_path or model_path with model_name",
        ),
        (
            bool(o.config_path) and o.model_parameters_given,
            "Model parameters in CLI are exclusive with the config file",
        ),
        (
            not 1 <= o.grpc_workers <= cores,
            f"grpc_workers count should be from 1 to CPU core count : {cores}",
        ),
        (
            o.workers is not None and not 1 <= o.workers <= cores,
            f"workers count should be from 1 to CPU core count : {cores}",
        ),
        (
            o.workers is not None and o.grpc_workers not in (1, o.workers),
            f"grpc_workers is an alias of workers here (server processes on the same ports); "
            f"they disagree: grpc_workers {o.grpc_workers}, workers {o.workers}",
        ),
        (
            o.rest_server not in REST_SERVERS,
            f"rest_server should be one of: {', '.join(REST_SERVERS)} (got {o.rest_server})",
        ),
        (
            worker_count(o.workers, o.grpc_workers) > 1 and not sys.platform.startswith("linux"),
            "workers: more than one worker needs Linux (SO_REUSEPORT balancing of one port among processes)",
        ),
        (
            o.rest_workers is not None and o.rest_workers != 1,
            f"rest_workers: only 1 is supported, REST runs on the server's one event loop (got {o.rest_workers})",
        ),
        (
            o.rest_workers is not None and o.rest_port == 0,
            "rest_workers is set but rest_port is not set. rest_port is required to start rest servers",
        ),
        (not 0 <= o.port <= 65535, "port number out of range from 0 to 65535"),
        (not 0 <= o.rest_port <= 65535, "rest_port number out of range from 0 to 65535"),
        (
            o.metrics_enable and o.rest_port == 0,
            "rest_port setting is missing, metrics are enabled on rest port",
        ),
        (
            bool(o.metrics_list) and not o.metrics_enable,
            "metrics_enable setting is missing, required when metrics_list is provided",
        ),
        (
            not _valid_address(o.rest_bind_address),
            "rest_bind_address has invalid format: proper hostname or IP address expected.",
        ),
        (
            not _valid_address(o.grpc_bind_address),
            "grpc_bind_address has invalid format: proper hostname or IP address expected.",
        ),
        (o.port == o.rest_port, "port and rest_port cannot have the same values"),
        (
            bool(o.cpu_extension) and not os.path.exists(o.cpu_extension or ""),
            f"File path provided as an --cpu_extension parameter does not exists in the filesystem: {o.cpu_extension}",
        ),
        (o.log_level not in LOG_LEVELS, "log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR"),
        (o.stateful_parameters_given and not o.stateful, STATEFUL_OPTIONS_WITHOUT_STATEFUL),
        (
            o.grpc_memory_quota not in (None, 0),
            "grpc_memory_quota: grpc.aio offers no resource quota to apply it to; omit it or pass 0 (no quota)",
        ),
        (o.grpc_channel_arguments_problem is not None, o.grpc_channel_arguments_problem or ""),
    ]
    return next((message for broken, message in checks if broken), None)


CONTROL_MODES = ("none", "explicit")


def _model_control_checks(o: UsageOptions) -> list[tuple[bool, str]]:
    """``--model_control_mode``, ``--model_repository_path`` and ``--load_model`` (model_control.py)."""
    explicit = o.model_control_mode == "explicit"
    repository = o.model_repository_path
    return [
        (
            o.model_control_mode not in CONTROL_MODES,
            f"model_control_mode should be one of: {', '.join(CONTROL_MODES)} (got {o.model_control_mode})",
        ),
        (
            explicit and bool(o.model_name or o.model_path),
            "--model_control_mode explicit loads models by name from --model_repository_path or "
            "--config_path; use --load_model NAME instead of --model_name/--model_path",
        ),
        (
            explicit and not o.config_path and not repository,
            "--model_control_mode explicit needs --model_repository_path or --config_path to find models in",
        ),
        (
            bool(repository) and bool(o.model_name or o.model_path),
            "Use either model_repository_path or model_path with model_name",
        ),
        (
            bool(repository) and bool(o.config_path) and not explicit,
            "--model_repository_path with --config_path needs --model_control_mode explicit; without it "
            "the config file alone says what serves",
        ),
        (
            bool(repository) and o.model_parameters_given,
            "Model parameters in CLI are exclusive with --model_repository_path",
        ),
        (
            bool(repository) and not os.path.isdir(repository or ""),
            f"--model_repository_path must be a local directory: {repository}",
        ),
        (bool(o.load_models) and not explicit, "--load_model needs --model_control_mode explicit"),
        (
            explicit and worker_count(o.workers, o.grpc_workers) > 1,
            "--model_control_mode explicit needs --workers 1: a load or unload would reach only the worker "
            "process that received it",
        ),
    ]


def worker_count(workers: int | None, grpc_workers: int) -> int:
    """The server processes to run: ``--workers``, or its alias ``--grpc_workers``."""
    return grpc_workers if workers is None else workers


def _valid_address(address: str) -> bool:
    return bool(_IPV4.match(address) or _HOSTNAME.match(address))


def preprocessing_usage_error(layout: str | None, **options: str | None) -> str | None:
    """OVMS's rule (``cli_parser.cpp``): ``--mean``, ``--scale``, ``--color_format`` and ``--precision``
    need ``--layout``, which says where the channels are."""
    given = next((name for name, value in options.items() if value is not None), None)
    if given is None or layout is not None:
        return None
    return f"error parsing options - --{given} parameter requires --layout to be set"
