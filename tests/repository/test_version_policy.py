from collections.abc import Callable

import pytest

from ovms_cli.repository.version_policy import AllPolicy, LatestPolicy, SpecificPolicy, VersionPolicy


@pytest.mark.parametrize(
    ("policy", "available", "served"),
    [
        (AllPolicy(), [3, 1, 2], [1, 2, 3]),
        (AllPolicy(), [], []),
        (LatestPolicy(), [1, 5, 3], [5]),
        (LatestPolicy(2), [1, 5, 3], [3, 5]),
        (LatestPolicy(10), [2, 1], [1, 2]),
        (LatestPolicy(1), [], []),
        (SpecificPolicy((1, 3, 7)), [1, 2, 3], [1, 3]),
        (SpecificPolicy((7,)), [1, 2], []),
        (AllPolicy(), (v for v in [2, 2, 1]), [1, 2]),
    ],
)
def test_select_returns_sorted_served_versions(
    policy: VersionPolicy, available: list[int], served: list[int]
) -> None:
    assert policy.select(available) == served


@pytest.mark.parametrize(
    ("policy", "text"),
    [(AllPolicy(), "all"), (LatestPolicy(2), "latest: 2"), (SpecificPolicy((3, 1)), "specific: 1, 3")],
)
def test_describe(policy: VersionPolicy, text: str) -> None:
    assert policy.describe() == text


def test_equality_is_by_value() -> None:
    assert LatestPolicy() == LatestPolicy(1)
    assert LatestPolicy(1) != LatestPolicy(2)
    assert SpecificPolicy((3, 1, 3)) == SpecificPolicy((1, 3))
    assert AllPolicy() == AllPolicy()
    latest: VersionPolicy = LatestPolicy()
    assert AllPolicy() != latest
    assert len({LatestPolicy(1), LatestPolicy(1), AllPolicy()}) == 2


@pytest.mark.parametrize("build", [lambda: LatestPolicy(0), lambda: SpecificPolicy((1, 0))])
def test_rejects_non_positive_numbers(build: Callable[[], VersionPolicy]) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        build()
