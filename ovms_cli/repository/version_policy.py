"""Which of the present version folders a model serves (spec §3.3)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass


class VersionPolicy(ABC):
    """Chooses the versions to serve among the available (present and loadable) ones."""

    @abstractmethod
    def select(self, available: Iterable[int]) -> list[int]:
        """The versions to serve, ascending."""

    @abstractmethod
    def describe(self) -> str:
        """A short human-readable form, e.g. ``latest: 2``."""


@dataclass(frozen=True)
class AllPolicy(VersionPolicy):
    """``{"all": {}}``: every available version."""

    def select(self, available: Iterable[int]) -> list[int]:
        return sorted(set(available))

    def describe(self) -> str:
        return "all"


@dataclass(frozen=True)
class SpecificPolicy(VersionPolicy):
    """``{"specific": {"versions": [...]}}``: the listed versions that are available."""

    versions: tuple[int, ...]

    def __post_init__(self) -> None:
        if any(v < 1 for v in self.versions):
            raise ValueError(f"versions must be >= 1, got {list(self.versions)}")
        # Normalised so that the same set of versions compares equal whatever the order given.
        object.__setattr__(self, "versions", tuple(sorted(set(self.versions))))

    def select(self, available: Iterable[int]) -> list[int]:
        return sorted(set(available) & set(self.versions))

    def describe(self) -> str:
        return "specific: " + ", ".join(str(v) for v in self.versions)


@dataclass(frozen=True)
class LatestPolicy(VersionPolicy):
    """``{"latest": {"num_versions": N}}``: the N numerically highest available versions."""

    num_versions: int = 1

    def __post_init__(self) -> None:
        if self.num_versions < 1:
            raise ValueError(f"num_versions must be >= 1, got {self.num_versions}")

    def select(self, available: Iterable[int]) -> list[int]:
        return sorted(set(available))[-self.num_versions :]

    def describe(self) -> str:
        return f"latest: {self.num_versions}"
