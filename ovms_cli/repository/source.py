"""Where a model's versions come from: a local folder or an object store, behind one interface.

A source lists versions with a fingerprint of their content (file names and sizes, or ETags), so
that a watcher can tell new, changed and removed versions apart without trusting timestamps, and
gives a local folder to load each version from (an object store downloads it first).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ovms_cli.repository.versions import RepositoryError, model_file_name, version_directories

__all__ = ["LocalSource", "ModelSource", "RepositoryError", "VersionEntry", "open_source"]

REMOTE_SCHEMES = ("s3://", "gs://", "az://", "azfs://", "azure://")


@dataclass(frozen=True, slots=True)
class VersionEntry:
    version: int
    fingerprint: str  # changes whenever a file of the version is added, removed or resized
    complete: bool  # the model's files are all there


class ModelSource(ABC):
    def __init__(self, uri: str) -> None:
        self.uri = uri

    @abstractmethod
    def list_versions(self) -> dict[int, VersionEntry]:
        """Blocking. Raises RepositoryError when the listing fails: callers keep what they serve."""

    @abstractmethod
    def fetch(self, version: int) -> Path:
        """Blocking. A local folder holding the version's files."""

    @abstractmethod
    def release(self, version: int) -> None:
        """The version is no longer served: drop any local copy (local folders stay)."""


class LocalSource(ModelSource):
    def __init__(self, base_path: Path) -> None:
        super().__init__(str(base_path))
        self.base_path = base_path
        self._folders: dict[int, Path] = {}

    def list_versions(self) -> dict[int, VersionEntry]:
        self._folders = version_directories(self.base_path)
        return {version: _local_entry(version, folder) for version, folder in self._folders.items()}

    def fetch(self, version: int) -> Path:
        folder = self._folders.get(version) or version_directories(self.base_path).get(version)
        if folder is None:
            raise RepositoryError(
                f"The provided base path is invalid or doesn't exists: {self.base_path}/{version}"
            )
        return folder

    def release(self, version: int) -> None:
        """Local folders belong to the user: nothing to drop."""


def _local_entry(version: int, folder: Path) -> VersionEntry:
    files: list[tuple[str, int]] = []
    try:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files.append((path.relative_to(folder).as_posix(), path.stat().st_size))
    except OSError:  # the folder changed while we looked: not complete yet
        return VersionEntry(version, "", False)
    digest = hashlib.sha256(repr(files).encode()).hexdigest()
    top_level = [name for name, _ in files if "/" not in name]
    return VersionEntry(version, digest, model_file_name(top_level) is not None)


def is_remote(base_path: str) -> bool:
    return base_path.startswith(REMOTE_SCHEMES)


def open_source(base_path: str) -> ModelSource:
    if is_remote(base_path):
        from ovms_cli.repository.remote import open_remote  # optional cloud SDKs load on demand

        return open_remote(base_path)
    return LocalSource(Path(base_path))
