"""What a fuzzer sent and what came back: request counts and the histogram of answers."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class FuzzRecord:
    by_operation: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, operation: str, status: str) -> None:
        self.by_operation[operation][status] += 1

    def summary(self, title: str) -> list[str]:
        """A total line, the status histogram, then one line per operation with its own histogram."""
        total: Counter[str] = sum(self.by_operation.values(), Counter())
        lines = [
            f"{title}: {total.total()} requests over {len(self.by_operation)} operations",
            f"  status histogram: {_histogram(total)}",
        ]
        for operation, statuses in sorted(self.by_operation.items()):
            lines.append(f"  {statuses.total():5d}  {operation:50s} {_histogram(statuses)}")
        return lines


def _histogram(statuses: Counter[str]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
