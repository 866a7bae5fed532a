"""The issue's target cases, each measured several times with its in-process reference beside it.

    python benchmarks/targets.py [--repeats 3] [--duration 6] [--warmup 2]

It builds the models it needs, as ``benchmarks/run.py`` does. A single run on a shared 2-core machine
moves by 10-15% from one minute to the next; here every repetition measures the server and then
the in-process reference (best of the THROUGHPUT and LATENCY hints, same input and concurrency)
back to back, and the table gives the median and the range of the ratios.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

from models import write_model
from run import OUT, serving

from ovms_cli.bench.runner import BenchOptions, measure_inprocess, measure_server, prepare, report


@dataclass(frozen=True)
class Case:
    title: str
    model: str
    protocol: str
    concurrency: int
    batching: bool
    target: str
    latency: bool = False  # compare p50 latency: server minus the best in-process, ms


CASES = (
    Case("ResNet-50, KServe gRPC raw, c=4", "resnet50", "grpc", 4, False, "≥ 0.97"),
    Case("ResNet-50, KServe REST binary, c=4", "resnet50", "rest", 4, False, "≥ 0.90"),
    Case("MobileNet-V2, KServe gRPC raw, c=8", "mobilenet_v2", "grpc", 8, False, "≥ 0.85"),
    Case("MobileNet-V2, KServe REST binary, c=16", "mobilenet_v2", "rest", 16, False, "≥ 0.60"),
    Case("MobileNet-V2, gRPC, c=16, dynamic batching", "mobilenet_v2", "grpc", 16, True, "≥ 1.0"),
    Case("MobileNet-V2, gRPC, c=1, p50 latency", "mobilenet_v2", "grpc", 1, False, "≤ +1 ms", latency=True),
)
BATCHING = ["--max_batch_size", "16", "--max_batch_delay_us", "1000"]


def measure(case: Case, args: argparse.Namespace) -> list[float]:
    base = write_model(case.model, OUT / "models" / case.model)
    log = OUT / "logs" / f"targets-{case.model}{'-batching' if case.batching else ''}.log"
    values = []
    with serving(case.model, base, BATCHING if case.batching else [], log) as server:
        options = BenchOptions(
            case.model,
            server.grpc_url if case.protocol == "grpc" else server.rest_url,
            protocol=case.protocol,
            concurrency=case.concurrency,
            duration_s=args.duration,
            warmup_s=args.warmup,
            inprocess=base,
        )
        for _ in range(args.repeats):
            prepared = prepare(options)
            row = report(prepared, measure_server(prepared), measure_inprocess(prepared))
            if case.latency:
                best = row["inprocess"]["runs"][
                    [r["hint"] for r in row["inprocess"]["runs"]].index(row["inprocess"]["best"])
                ]
                values.append((row["server"]["latency_us"]["p50"] - best["latency_us"]["p50"]) / 1000)
            else:
                values.append(row["ratios"]["throughput"])
            print(f"  {case.title}: {values[-1]:.2f}", flush=True)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=OUT / "targets.md")
    args = parser.parse_args()
    lines = [
        "| case | target | median | range | runs |",
        "|---|---|---:|---|---:|",
    ]
    for case in CASES:
        values = measure(case, args)
        form = "{:+.2f} ms" if case.latency else "{:.2f}"
        median, low, high = (form.format(v) for v in (statistics.median(values), min(values), max(values)))
        lines.append(f"| {case.title} | {case.target} | {median} | {low} to {high} | {len(values)} |")
    table = "\n".join(lines) + "\n"
    args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
