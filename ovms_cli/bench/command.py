"""``ovms bench`` as the CLI runs it: progress on stderr, the table or JSON on stdout, an exit code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from rich.console import Console

from ovms_cli.bench.errors import BenchError
from ovms_cli.bench.load import Tick
from ovms_cli.bench.progress import live_progress
from ovms_cli.bench.report import render
from ovms_cli.bench.runner import BenchOptions, measure_inprocess, measure_server, prepare, report


def bench_command(options: BenchOptions, *, as_json: bool, out: Console, err: Console) -> int:
    """0 when some requests succeeded, 1 when none did or the run could not start."""
    try:
        result = _run(options, err)
    except BenchError as error:
        err.print(f"ovms bench: {error}", markup=False, highlight=False)
        return 1
    if as_json:
        out.file.write(json.dumps(result, indent=2) + "\n")
    else:
        render(result, out)
    return 0 if result["server"]["requests"] else 1


def _run(options: BenchOptions, err: Console) -> dict[str, Any]:
    prepared = prepare(options)
    label = f"{options.model} {options.protocol} c={options.concurrency}"
    with _progress(err, label) as on_tick:
        server = measure_server(prepared, on_tick)
    inprocess = None
    if options.inprocess is not None:
        with err.status(f"in-process reference, THROUGHPUT then LATENCY hint ({options.inprocess})"):
            inprocess = measure_inprocess(prepared)
    return report(prepared, server, inprocess)


@contextmanager
def _progress(err: Console, label: str) -> Iterator[Callable[[Tick], None] | None]:
    """The live line where stderr is a terminal; no callback elsewhere (logs, CI, pipes)."""
    with live_progress(err, label) if err.is_terminal else nullcontext(None) as on_tick:
        yield on_tick
