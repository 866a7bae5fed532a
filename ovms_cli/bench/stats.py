"""What one measured window yields: completed requests, errors and their latency distribution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True, slots=True)
class Measurement:
    """Requests that completed inside a window of ``duration_s`` seconds."""

    duration_s: float
    latencies_us: npt.NDArray[np.int64]  # one per successful request
    errors: int = 0
    first_error: str | None = None

    @property
    def count(self) -> int:
        return int(self.latencies_us.size)

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.count / self.duration_s if self.duration_s > 0 else 0.0

    def percentile_us(self, q: float) -> float:
        return float(np.percentile(self.latencies_us, q)) if self.count else 0.0

    def latency_summary(self) -> dict[str, float]:
        """Mean, p50, p90, p99 and max in microseconds (zeros when nothing completed)."""
        summary = {"mean": float(self.latencies_us.mean()) if self.count else 0.0}
        summary |= {f"p{q}": self.percentile_us(q) for q in PERCENTILES}
        summary["max"] = float(self.latencies_us.max()) if self.count else 0.0
        return summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.count,
            "errors": self.errors,
            "first_error": self.first_error,
            "duration_s": self.duration_s,
            "throughput": self.throughput,
            "latency_us": self.latency_summary(),
        }


def merge(parts: list[Measurement], duration_s: float) -> Measurement:
    """One measurement of several windows that ran side by side."""
    latencies = np.concatenate([p.latencies_us for p in parts]) if parts else np.empty(0, np.int64)
    first_error = next((p.first_error for p in parts if p.first_error), None)
    return Measurement(duration_s, latencies.astype(np.int64), sum(p.errors for p in parts), first_error)
