"""Which versions' statistics a statistics request reports (Triton's statistics extension)."""

from __future__ import annotations

from dataclasses import dataclass

from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.servable import Servable
from ovms_cli.servables.statistics import InferenceStatistics, ReportsStatistics
from ovms_cli.types import State


@dataclass(frozen=True, slots=True)
class VersionStatistics:
    name: str
    version: int
    statistics: InferenceStatistics


def model_statistics(manager: ModelManager, name: str, version: int | None) -> list[VersionStatistics]:
    """Statistics of one version (``version``), of every available version of ``name`` (no version),
    or of every available version of every model (``name`` empty), by name then version.

    Raises ModelNotFound, VersionNotFound, or the version's unavailable error, as inference would.
    """
    if name and version is not None:
        return [_of(name, manager.resolve(name, version))]
    found = [
        _of(model, served)
        for model, _, served in sorted(manager.servables(), key=lambda entry: entry[:2])
        if (not name or model == name) and served.state is State.AVAILABLE
    ]
    if name and not found:
        manager.resolve(name, None)  # raises why nothing serves
    return found


def _of(name: str, served: Servable) -> VersionStatistics:
    statistics = served.statistics if isinstance(served, ReportsStatistics) else InferenceStatistics()
    return VersionStatistics(name, served.version, statistics)
