"""A rich live progress line for a load run: phase, time, completed requests, errors, current rate."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ovms_cli.bench.load import Tick

RATE_TICKS = 4  # the rate shown is over the last second (ticks come every 0.25 s)


@contextmanager
def live_progress(console: Console, label: str) -> Iterator[Callable[[Tick], None]]:
    """Yields the ``on_tick`` callback for ``run_load``; the line disappears when the block ends."""
    progress = Progress(
        TextColumn("{task.description}"),
        TextColumn("[bold]{task.fields[phase]}"),
        BarColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(label, total=None, phase="starting workers", stats="")
    recent: deque[Tick] = deque(maxlen=RATE_TICKS + 1)

    def on_tick(tick: Tick) -> None:
        recent.append(tick)
        oldest = recent[0]
        span = tick.elapsed_s - oldest.elapsed_s
        rate = (tick.completed - oldest.completed) / span if span > 0 else 0.0
        progress.update(
            task,
            total=tick.total_s,
            completed=tick.elapsed_s,
            phase="measuring" if tick.measuring else "warmup",
            stats=f"{tick.completed:,} ok  {tick.errors:,} errors  {rate:,.0f} req/s",
        )

    with progress:
        yield on_tick
