"""One Prometheus text exposition summed from every worker's (what ``/metrics`` answers in a pool).

Each worker renders its own series with ``metrics.render``; summing them sample by sample gives
the server's totals: counters and histogram buckets, counts and sums add up, and so do the gauges
OVMS exports (streams, infer requests in the queue and in use, requests in progress: each worker
has its own). prometheus-client's multiprocess mode does the same from memory-mapped files, but it
cannot hold this server's lean histograms or function gauges, and it would make every request's
metric update a write to a shared file.
"""

from __future__ import annotations

from collections.abc import Iterable

from ovms_cli.metrics import _value_text


class Family:
    """A family's ``# HELP`` and ``# TYPE`` lines and its samples by ``name{labels}``."""

    __slots__ = ("header", "samples")

    def __init__(self) -> None:
        self.header: list[str] = []
        self.samples: dict[str, float] = {}


def sum_expositions(expositions: Iterable[bytes]) -> bytes:
    """The samples of every exposition added up; families and samples in order of first appearance.

    Expects the text ``metrics.render`` writes: ``# HELP`` and ``# TYPE`` before a family's samples,
    one ``name{labels} value`` per line.
    """
    families: dict[str, Family] = {}
    for exposition in expositions:
        _add(families, exposition.decode())
    lines: list[str] = []
    for family in families.values():
        lines += family.header
        lines += (f"{key} {_value_text(value)}" for key, value in family.samples.items())
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _add(families: dict[str, Family], text: str) -> None:
    current: Family | None = None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                current = families.setdefault(parts[2], Family())
                if len(current.header) < 2:
                    current.header.append(line)
            continue
        key, _, value = line.rpartition(" ")
        if current is None:
            current = families.setdefault(key.partition("{")[0], Family())
        current.samples[key] = current.samples.get(key, 0.0) + float(value)
