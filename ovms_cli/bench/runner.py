"""One ``ovms bench`` run: ask the server about the model, build the request once, load, compare.

``run_bench`` does it all; ``prepare``, ``measure_server`` and ``measure_inprocess`` are the steps,
for scripts that reuse one in-process reference across several server runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovms_cli.bench.clients import Target
from ovms_cli.bench.errors import BenchError
from ovms_cli.bench.inprocess import InprocessResult, run_inprocess
from ovms_cli.bench.inputs import BenchInput, ModelInfo, fetch_model_info, make_inputs
from ovms_cli.bench.load import LoadPlan, LoadResult, Tick, run_load
from ovms_cli.bench.report import build_report
from ovms_cli.bench.targets import grpc_target, rest_target

DEFAULT_URLS: dict[str, str] = {"grpc": "localhost:9000", "rest": "localhost:8000"}
_SCHEMES = ("http://", "https://", "grpc://")


@dataclass(frozen=True, slots=True)
class BenchOptions:
    model: str
    url: str | None = None  # host:port; the protocol's default port on localhost when None
    version: str = ""  # empty: the latest
    protocol: str = "grpc"  # grpc or rest
    binary: bool = True  # REST only: the binary data extension rather than JSON data
    concurrency: int = 1
    processes: int | None = None  # None: min(concurrency, CPU count)
    duration_s: float = 10.0
    warmup_s: float = 3.0
    shapes: tuple[str, ...] = ()
    image: Path | None = None
    inprocess: Path | None = None  # the model to run in-process for the ratios

    @property
    def address(self) -> str:
        url = self.url or DEFAULT_URLS.get(self.protocol, "")
        for scheme in _SCHEMES:
            url = url.removeprefix(scheme)
        return url.rstrip("/")

    @property
    def worker_processes(self) -> int:
        return self.processes or min(self.concurrency, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class Prepared:
    options: BenchOptions
    info: ModelInfo
    inputs: tuple[BenchInput, ...]
    target: Target


def prepare(options: BenchOptions) -> Prepared:
    if options.protocol not in DEFAULT_URLS:
        raise BenchError(f"--protocol {options.protocol}: use grpc or rest")
    if options.concurrency < 1 or options.worker_processes < 1:
        raise BenchError("--concurrency and --processes must be at least 1")
    if options.duration_s <= 0 or options.warmup_s < 0:
        raise BenchError("--duration must be positive and --warmup not negative")
    info = fetch_model_info(options.protocol, options.address, options.model, options.version)
    inputs = make_inputs(info, options.shapes, options.image)
    if options.protocol == "grpc":
        target = grpc_target(options.address, options.model, options.version, inputs)
    else:
        target = rest_target(
            options.address, options.model, options.version, inputs, info.outputs, binary=options.binary
        )
    return Prepared(options, info, inputs, target)


def measure_server(prepared: Prepared, on_tick: Callable[[Tick], None] | None = None) -> LoadResult:
    options = prepared.options
    plan = LoadPlan(
        prepared.target, options.concurrency, options.worker_processes, options.warmup_s, options.duration_s
    )
    return run_load(plan, on_tick)


def measure_inprocess(prepared: Prepared) -> InprocessResult | None:
    options = prepared.options
    if options.inprocess is None:
        return None
    return run_inprocess(
        options.inprocess,
        prepared.inputs,
        concurrency=options.concurrency,
        warmup_s=options.warmup_s,
        duration_s=options.duration_s,
        version=options.version,
    )


def report(prepared: Prepared, server: LoadResult, inprocess: InprocessResult | None) -> dict[str, Any]:
    options = prepared.options
    setup = {
        "model": options.model,
        "version": options.version or None,
        "url": options.address,
        "protocol": options.protocol,
        "binary": options.binary if options.protocol == "rest" else True,
        "concurrency": options.concurrency,
        "processes": server.processes,
        "duration_s": options.duration_s,
        "warmup_s": options.warmup_s,
        "image": str(options.image) if options.image else None,
    }
    return build_report(setup, prepared.inputs, server, inprocess)


def run_bench(options: BenchOptions, on_tick: Callable[[Tick], None] | None = None) -> dict[str, Any]:
    """Load the server, then (with ``inprocess``) run the reference; the report as a JSON-ready dict."""
    prepared = prepare(options)
    server = measure_server(prepared, on_tick)
    return report(prepared, server, measure_inprocess(prepared))
