"""Throughput and latency of ``ovms serve`` on real topologies, beside the same models run in-process.

    python benchmarks/run.py [--models resnet50,mobilenet_v2,bert_small] [--duration 10] [--warmup 3]

Builds the models (``models.py``, random weights) into ``benchmarks/out/models``, serves each with
``ovms serve`` on free ports, and runs ``ovms bench`` (its Python API) over gRPC and REST (binary
data) at each concurrency, with and without dynamic batching when the server has it. The in-process
reference runs once per model and concurrency. Writes ``results.md``, ``results.json`` and
``throughput.png`` (throughput vs concurrency per model) into ``benchmarks/out``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import BUILDERS, PROBES, write_model

from ovms_cli.bench.inprocess import InprocessResult
from ovms_cli.bench.runner import BenchOptions, measure_inprocess, measure_server, prepare, report

OUT = Path(__file__).resolve().parent / "out"
READY_TIMEOUT_S = 180.0
BATCHING_FLAG = "--max_batch_size"
PROTOCOLS = (("grpc", True), ("rest", True))


@dataclass(frozen=True)
class Settings:
    models: list[str]
    concurrencies: list[int]
    duration_s: float
    warmup_s: float
    max_batch_size: int
    max_batch_delay_us: int
    out: Path


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    grpc_url: str
    rest_url: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def batching_available() -> bool:
    """Whether this ``ovms serve`` has dynamic batching options."""
    done = subprocess.run(
        [sys.executable, "-m", "ovms_cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    return BATCHING_FLAG in done.stdout


def serving(name: str, base: Path, extra: list[str], log: Path) -> AbstractContextManager[Server]:
    return serving_with(["--model_name", name, "--model_path", str(base), *extra], log)


@contextmanager
def serving_with(args: list[str], log: Path) -> Iterator[Server]:
    """``ovms serve`` with ``args`` on free gRPC and REST ports, once ready; stopped on exit."""
    grpc_port, rest_port = _free_port(), _free_port()
    command = [sys.executable, "-m", "ovms_cli", "serve", *args]
    command += ["--port", str(grpc_port), "--rest_port", str(rest_port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(process, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{rest_port}")
    try:
        _wait_ready(server, log)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_ready(server: Server, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"ovms serve exited {server.process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://{server.rest_url}/v2/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"ovms serve not ready after {READY_TIMEOUT_S:.0f} s:\n{log.read_text()}")


def bench_model(name: str, base: Path, settings: Settings, batching: bool) -> list[dict[str, Any]]:
    """Every run of one model: each batching mode, protocol and concurrency."""
    modes = [False, True] if batching else [False]
    references: dict[int, InprocessResult | None] = {}
    rows: list[dict[str, Any]] = []
    for batched in modes:
        extra = ["--max_batch_size", str(settings.max_batch_size)] if batched else []
        extra += ["--max_batch_delay_us", str(settings.max_batch_delay_us)] if batched else []
        log = settings.out / "logs" / f"{name}{'-batching' if batched else ''}.log"
        with serving(name, base, extra, log) as server:
            for protocol, binary in PROTOCOLS:
                for concurrency in settings.concurrencies:
                    options = BenchOptions(
                        name,
                        server.grpc_url if protocol == "grpc" else server.rest_url,
                        protocol=protocol,
                        binary=binary,
                        concurrency=concurrency,
                        duration_s=settings.duration_s,
                        warmup_s=settings.warmup_s,
                        inprocess=base,
                    )
                    prepared = prepare(options)
                    result = measure_server(prepared)
                    if concurrency not in references:
                        references[concurrency] = measure_inprocess(prepared)
                    row = report(prepared, result, references[concurrency])
                    row["batching"] = batched
                    rows.append(row)
                    print(_summary(row), flush=True)
    return rows


def _summary(row: dict[str, Any]) -> str:
    server = row["server"]
    ratio = row["ratios"]["throughput"] if row["ratios"] else None
    return (
        f"{row['model']:13} {_protocol(row):11} c={row['concurrency']:<3} batching={row['batching']!s:5} "
        f"{server['throughput']:8.1f} req/s  p50 {server['latency_us']['p50'] / 1000:7.2f} ms  "
        f"errors {server['errors']}  ratio {ratio if ratio is None else round(ratio, 2)}"
    )


def _protocol(row: dict[str, Any]) -> str:
    return row["protocol"] if row["protocol"] == "grpc" else f"rest-{'binary' if row['binary'] else 'json'}"


def markdown(rows: list[dict[str, Any]], batching: bool, settings: Settings) -> str:
    lines = [
        "# ovms bench results",
        "",
        f"{settings.duration_s:g} s measured after {settings.warmup_s:g} s warmup per run; closed loop; "
        "in-process = the same model and input with OpenVINO's AsyncInferQueue, best of the THROUGHPUT "
        "and LATENCY hints; ratio = server / in-process throughput.",
        "",
    ]
    if not batching:
        lines += [
            f"Dynamic batching: not available in this server (no `{BATCHING_FLAG}`), column skipped.",
            "",
        ]
    else:
        lines += [
            f"Dynamic batching: `--max_batch_size {settings.max_batch_size} "
            f"--max_batch_delay_us {settings.max_batch_delay_us}`.",
            "",
        ]
    lines += [
        "| model | protocol | concurrency | batching | throughput (req/s) | p50 (ms) | p99 (ms) | errors "
        "| in-process (req/s) | ratio |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_markdown_row(row) for row in rows]
    return "\n".join(lines) + "\n"


def _markdown_row(row: dict[str, Any]) -> str:
    server = row["server"]
    best = _best_inprocess(row)
    ratio = row["ratios"]["throughput"] if row["ratios"] else None
    cells = [
        row["model"],
        _protocol(row),
        str(row["concurrency"]),
        "on" if row["batching"] else "off",
        f"{server['throughput']:.1f}",
        f"{server['latency_us']['p50'] / 1000:.2f}",
        f"{server['latency_us']['p99'] / 1000:.2f}",
        str(server["errors"]),
        f"{best['throughput']:.1f} ({best['hint']})" if best else "—",
        "—" if ratio is None else f"{ratio:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _best_inprocess(row: dict[str, Any]) -> dict[str, Any] | None:
    inprocess = row["inprocess"]
    if inprocess is None:
        return None
    best: dict[str, Any] = next(run for run in inprocess["runs"] if run["hint"] == inprocess["best"])
    return best


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(row["model"] for row in rows))
    figure, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for axis, model in zip(axes[0], models, strict=True):
        mine = [row for row in rows if row["model"] == model]
        series = dict.fromkeys((_protocol(row), row["batching"]) for row in mine)
        for protocol, batched in series:
            points = [r for r in mine if (_protocol(r), r["batching"]) == (protocol, batched)]
            label = f"{protocol}{' + batching' if batched else ''}"
            axis.plot(
                [r["concurrency"] for r in points],
                [r["server"]["throughput"] for r in points],
                "o-",
                label=label,
            )
        reference = {r["concurrency"]: b["throughput"] for r in mine if (b := _best_inprocess(r))}
        if reference:
            concurrencies = sorted(reference)
            axis.plot(
                concurrencies, [reference[c] for c in concurrencies], "k--", label="in-process (best hint)"
            )
        axis.set_xscale("log", base=2)
        axis.set_xticks(
            sorted({r["concurrency"] for r in mine}),
            [str(c) for c in sorted({r["concurrency"] for r in mine})],
        )
        axis.set_title(model)
        axis.set_xlabel("concurrency (clients)")
        axis.set_ylabel("throughput (req/s)")
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def parse_args() -> Settings:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(BUILDERS))
    parser.add_argument("--concurrency", default="1,4,8,16", help="comma-separated concurrencies")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--max_batch_size", type=int, default=16)
    parser.add_argument("--max_batch_delay_us", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(BUILDERS) - set(PROBES)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; known: {', '.join([*BUILDERS, *PROBES])}")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    return Settings(
        models,
        concurrencies,
        args.duration,
        args.warmup,
        args.max_batch_size,
        args.max_batch_delay_us,
        args.out,
    )


def main() -> None:
    settings = parse_args()
    (settings.out / "logs").mkdir(parents=True, exist_ok=True)
    batching = batching_available()
    if not batching:
        print(f"dynamic batching: this server has no {BATCHING_FLAG}; running without it", flush=True)
    rows: list[dict[str, Any]] = []
    for name in settings.models:
        print(f"building {name}", flush=True)
        base = write_model(name, settings.out / "models" / name)
        rows += bench_model(name, base, settings, batching)
    (settings.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    (settings.out / "results.md").write_text(markdown(rows, batching, settings))
    chart(rows, settings.out / "throughput.png")
    print(f"wrote {settings.out / 'results.md'} and {settings.out / 'throughput.png'}")


if __name__ == "__main__":
    main()
