"""A run's results as one dict (what ``--json`` prints) and as a rich table beside the in-process reference.

Ratios are server / in-process (best hint): absolute numbers on a shared machine are noise, the
ratio measured in the same run is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from ovms_cli.bench.inprocess import InprocessResult
from ovms_cli.bench.inputs import BenchInput
from ovms_cli.bench.load import LoadResult

LATENCY_ROWS = ("p50", "p90", "p99")
_ROWS = (("throughput (req/s)", "throughput", 1.0), *((f"{p} latency (ms)", p, 1e-3) for p in LATENCY_ROWS))


def build_report(
    setup: Mapping[str, Any],
    inputs: Sequence[BenchInput],
    server: LoadResult,
    inprocess: InprocessResult | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        **setup,
        "inputs": [
            {"name": i.name, "datatype": i.datatype, "shape": list(i.shape), "bytes": len(i.raw())}
            for i in inputs
        ],
        "server": server.to_dict(),
        "inprocess": None,
        "ratios": None,
    }
    if inprocess is not None:
        report["inprocess"] = inprocess.to_dict()
        report["ratios"] = ratios(report["server"], inprocess.best.to_dict())
    return report


def ratios(server: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, float | None]:
    """Server / reference for throughput and each latency percentile; None where the reference is 0."""
    pairs = {"throughput": (server["throughput"], reference["throughput"])}
    pairs |= {f"{p}_latency": (server["latency_us"][p], reference["latency_us"][p]) for p in LATENCY_ROWS}
    return {key: (ours / theirs if theirs else None) for key, (ours, theirs) in pairs.items()}


def render(report: Mapping[str, Any], console: Console) -> None:
    console.print(_table(report))
    server = report["server"]
    cpu = server["client_cpu"]
    console.print(
        f"client: {server['processes']} processes, {cpu['cores']:.2f} cores busy, "
        f"{cpu['us_per_request']:.0f} µs CPU per request",
        highlight=False,
    )
    if server["first_error"]:
        console.print(f"[red]first error:[/red] {server['first_error']}", highlight=False, markup=True)


def _table(report: Mapping[str, Any]) -> Table:
    shapes = ", ".join(f"{i['name']}{i['shape']}" for i in report["inputs"])
    title = (
        f"{report['model']} over {report['protocol']}{_format_note(report)}, concurrency "
        f"{report['concurrency']}, {report['duration_s']:g} s after {report['warmup_s']:g} s warmup — {shapes}"
    )
    columns: list[tuple[str, Mapping[str, Any]]] = [("server", report["server"])]
    inprocess = report["inprocess"]
    if inprocess is not None:
        columns += [(f"in-process {run['hint']} (nireq {run['nireq']})", run) for run in inprocess["runs"]]
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for name, _ in columns:
        table.add_column(name, justify="right")
    if report["ratios"] is not None:
        table.add_column(f"server / {inprocess['best']}", justify="right")
    for label, key, scale in _ROWS:
        cells = [_number(_value(column, key) * scale) for _, column in columns]
        ratio = _ratio_cell(report, key)
        table.add_row(label, *cells, *([ratio] if ratio is not None else []))
    table.add_row("requests", *[str(column["requests"]) for _, column in columns])
    table.add_row("errors", *[str(column["errors"]) for _, column in columns])
    return table


def _format_note(report: Mapping[str, Any]) -> str:
    if report["protocol"] != "rest":
        return ""
    return " (binary)" if report["binary"] else " (JSON)"


def _value(column: Mapping[str, Any], key: str) -> float:
    return float(column["throughput"] if key == "throughput" else column["latency_us"][key])


def _ratio_cell(report: Mapping[str, Any], key: str) -> str | None:
    if report["ratios"] is None:
        return None
    value = report["ratios"]["throughput" if key == "throughput" else f"{key}_latency"]
    return "—" if value is None else f"{value:.2f}"


def _number(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
