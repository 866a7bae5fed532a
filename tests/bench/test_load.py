"""How clients are spread over worker processes."""

from __future__ import annotations

import pytest

from ovms_cli.bench.load import split


@pytest.mark.parametrize(
    ("concurrency", "processes", "shares"),
    [(1, 2, [1]), (2, 2, [1, 1]), (5, 2, [3, 2]), (16, 2, [8, 8]), (4, 1, [4]), (3, 8, [1, 1, 1])],
)
def test_clients_are_spread_evenly_and_every_worker_has_some(
    concurrency: int, processes: int, shares: list[int]
) -> None:
    assert split(concurrency, processes) == shares
