"""MobileNet-V2's input through system shared memory vs raw gRPC vs REST binary, beside in-process OpenVINO.

    python benchmarks/shared_memory.py [--model mobilenet_v2] [--concurrency 1,8] [--duration 10] [--warmup 3]

Serves ``mobilenet_v2`` (``models.py``: random weights, opset-built) with ``ovms serve`` and loads it
with ``ovms bench``'s closed-loop clients over three paths for the same 1x3x224x224 FP32 input:

- ``shm``: gRPC ``ModelInfer`` whose input names a registered system shared-memory region (Triton's
  extension; the 600 KB never cross the socket), the 4 KB output on the wire;
- ``grpc``: the input in ``raw_input_contents``;
- ``rest``: the binary data extension.

Each run reports throughput, p50 latency and the server's CPU per request (utime + stime of the
server process from /proc/PID/stat over the measured window, divided by the requests completed in
it); the in-process reference is the same model and input on OpenVINO's AsyncInferQueue at the same
concurrency (best of the THROUGHPUT and LATENCY hints). ``--model overhead_probe`` (the same input
and output, almost no computation) shows what each path costs around inference. Writes
``shared_memory-<model>.md`` and ``.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import tritonclient.grpc as grpcclient
from models import write_model
from run import serving

from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli.bench.clients import MODEL_INFER, Target
from ovms_cli.bench.inprocess import InprocessResult
from ovms_cli.bench.load import LoadPlan, LoadResult, Tick, run_load
from ovms_cli.bench.runner import BenchOptions, Prepared, measure_inprocess, prepare

MODELS = ("mobilenet_v2", "overhead_probe")
OUT = Path(__file__).resolve().parent / "out"
REGION = "bench_input"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CpuWindow:
    """Server CPU seconds over the load's measured window, sampled on the load's progress ticks."""

    pid: int
    start: tuple[float, float] | None = None  # (elapsed, cpu seconds) at the first measuring tick
    end: tuple[float, float] | None = None
    samples: list[float] = field(default_factory=list)

    def tick(self, tick: Tick) -> None:
        if not tick.measuring:
            return
        now = (tick.elapsed_s, server_cpu_s(self.pid))
        if self.start is None:
            self.start = now
        self.end = now

    def cores(self) -> float:
        if self.start is None or self.end is None or self.end[0] <= self.start[0]:
            return float("nan")
        return (self.end[1] - self.start[1]) / (self.end[0] - self.start[0])


def server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def shm_target(prepared: Prepared, key: str) -> tuple[Target, shared_memory.SharedMemory]:
    """A gRPC request whose one input is read from a region holding the same bytes as the others send."""
    (item,) = prepared.inputs
    raw = item.raw()
    region = shared_memory.SharedMemory(name=key, create=True, size=len(raw))
    assert region.buf is not None
    region.buf[: len(raw)] = raw
    request = pb.ModelInferRequest(model_name=prepared.options.model)
    tensor = request.inputs.add(name=item.name, datatype=item.datatype, shape=item.shape)
    tensor.parameters["shared_memory_region"].string_param = REGION
    tensor.parameters["shared_memory_byte_size"].int64_param = len(raw)
    return Target("grpc", prepared.options.address, MODEL_INFER, request.SerializeToString()), region


def measure(target: Target, concurrency: int, settings: argparse.Namespace, pid: int) -> dict[str, Any]:
    cpu = CpuWindow(pid)
    plan = LoadPlan(
        target, concurrency, min(concurrency, os.cpu_count() or 1), settings.warmup, settings.duration
    )
    result: LoadResult = run_load(plan, cpu.tick)
    measured = result.measurement
    if measured.errors:
        raise RuntimeError(f"{measured.errors} failed requests: {measured.first_error}")
    cores = cpu.cores()
    return {
        "throughput": measured.throughput,
        "p50_us": measured.percentile_us(50),
        "server_cpu_cores": cores,
        "server_cpu_us_per_request": cores * 1e6 / measured.throughput
        if measured.throughput
        else float("nan"),
        "client_cpu_us_per_request": result.cpu_us_per_request,
        "requests": measured.count,
    }


def reference(result: InprocessResult | None) -> dict[str, Any]:
    assert result is not None
    best = result.best
    return {
        "hint": best.hint,
        "throughput": best.measurement.throughput,
        "p50_us": best.measurement.percentile_us(50),
    }


def markdown(rows: list[dict[str, Any]], settings: argparse.Namespace) -> str:
    lines = [
        f"# {settings.model} input through system shared memory vs gRPC vs REST binary ({time.strftime('%Y-%m-%d')})",
        "",
        f"{os.cpu_count()} cores, shared with other engineers' test runs while this ran (noisy); "
        f"{settings.duration:.0f} s measured after {settings.warmup:.0f} s warmup per run; the clients run on "
        "the same machine. ratio = server throughput / in-process OpenVINO throughput at the same "
        "concurrency (best hint), measured in the same run. shm: input in a registered region, output on the wire.",
        "",
        "| path | concurrency | req/s | p50 (ms) | server CPU / request (ms) | in-process req/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ref = row["inprocess"]
        lines.append(
            f"| {row['path']} | {row['concurrency']} | {row['throughput']:.1f} | {row['p50_us'] / 1000:.2f} | "
            f"{row['server_cpu_us_per_request'] / 1000:.2f} | {ref['throughput']:.1f} | "
            f"{row['throughput'] / ref['throughput']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=MODELS, default=MODELS[0])
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=OUT)
    settings = parser.parse_args()
    (settings.out / "logs").mkdir(parents=True, exist_ok=True)
    model = settings.model
    base = write_model(model, settings.out / "models" / model)
    rows: list[dict[str, Any]] = []
    key = f"ovms_bench_{os.getpid()}"
    with serving(model, base, [], settings.out / "logs" / f"shared_memory-{model}.log") as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        for concurrency in (int(c) for c in settings.concurrency.split(",")):
            grpc_prepared = prepare(
                BenchOptions(
                    model,
                    server.grpc_url,
                    concurrency=concurrency,
                    duration_s=settings.duration,
                    warmup_s=settings.warmup,
                    inprocess=base,
                )
            )
            rest_prepared = prepare(
                BenchOptions(model, server.rest_url, protocol="rest", concurrency=concurrency)
            )
            target, region = shm_target(grpc_prepared, key)
            client.register_system_shared_memory(REGION, key, region.size)
            try:
                runs = {
                    "shm": target,
                    "grpc": grpc_prepared.target,
                    "rest binary": rest_prepared.target,
                }
                measured = {
                    path: measure(t, concurrency, settings, server.process.pid) for path, t in runs.items()
                }
            finally:
                client.unregister_system_shared_memory(REGION)
                region.close()
                region.unlink()
            ref = reference(measure_inprocess(grpc_prepared))
            for path, row in measured.items():
                rows.append({"path": path, "concurrency": concurrency, **row, "inprocess": ref})
                print(
                    f"{path:12} c={concurrency}: {row['throughput']:.1f} req/s (in-process {ref['throughput']:.1f}), "
                    f"p50 {row['p50_us'] / 1000:.2f} ms, server CPU {row['server_cpu_us_per_request'] / 1000:.2f} ms/req",
                    flush=True,
                )
    (settings.out / f"shared_memory-{model}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (settings.out / f"shared_memory-{model}.md").write_text(markdown(rows, settings))
    print(f"wrote {settings.out / f'shared_memory-{model}.md'}")


if __name__ == "__main__":
    main()
