"""Model repositories in object stores (``s3://``, ``gs://``, ``az://``): the versions a listing shows.

A listing of ``<prefix>/`` gives keys ``<prefix>/<folder>/<path>``; every folder whose name reads
as a version number (C ``stoll``, as for local folders) is a version, fingerprinted by its keys,
sizes and ETags, and complete when its top-level files hold a model. ``fetch`` copies a version
into a local cache folder (``$OVMS_CACHE/<uri>`` or a fresh ``/tmp/ovms-*``), downloading only
the files that changed since the last copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ovms_cli.repository.mirror import Mirror, RemoteFile
from ovms_cli.repository.source import ModelSource, VersionEntry
from ovms_cli.repository.stores import ObjectInfo, ObjectStore, RemoteUri, open_store, parse_uri
from ovms_cli.repository.stores.errors import PathNotFound
from ovms_cli.repository.versions import _version_number, model_file_name

__all__ = ["RemoteSource", "RemoteVersion", "group_versions", "list_remote_versions", "open_remote"]

log = logging.getLogger("ovms.repository")

StoreFactory = Callable[[RemoteUri], ObjectStore]


@dataclass(frozen=True, slots=True)
class RemoteVersion:
    number: int
    files: tuple[RemoteFile, ...]  # paths "<number>/<path inside the version folder>"

    @property
    def fingerprint(self) -> str:
        content = sorted((file.path, file.info.size, file.info.etag) for file in self.files)
        return hashlib.sha256(repr(content).encode()).hexdigest()

    @property
    def complete(self) -> bool:
        prefix = f"{self.number}/"
        top_level = [f.path[len(prefix) :] for f in self.files if "/" not in f.path[len(prefix) :]]
        return model_file_name(top_level) is not None

    @property
    def size(self) -> int:
        return sum(file.info.size for file in self.files)

    def entry(self) -> VersionEntry:
        return VersionEntry(self.number, self.fingerprint, self.complete)


def group_versions(objects: Iterable[ObjectInfo], prefix: str) -> dict[int, RemoteVersion]:
    """Version number → its files, from the keys under ``prefix`` (files at the top are ignored).

    When two folders read as the same number, the one spelled canonically (``1``) wins, else the
    first in name order. Keys that would leave the version folder (``..``) are skipped.
    """
    base = f"{prefix}/" if prefix else ""
    folders: dict[str, list[ObjectInfo]] = {}
    for info in objects:
        if not info.key.startswith(base):
            continue
        folder, slash, rest = info.key[len(base) :].partition("/")
        if slash:  # a key right under the prefix is a file, not a version folder
            folders.setdefault(folder, [])
            if rest and not rest.endswith("/") and _safe(rest):
                folders[folder].append(info)
    chosen: dict[int, str] = {}
    for folder in sorted(folders):
        number = _version_number(folder)
        if number is not None and (number not in chosen or folder == str(number)):
            chosen[number] = folder
    return {
        number: RemoteVersion(
            number,
            tuple(
                RemoteFile(f"{number}/{info.key[len(base) + len(folder) + 1 :]}", info)
                for info in sorted(folders[folder], key=lambda info: info.key)
            ),
        )
        for number, folder in sorted(chosen.items())
    }


def list_remote_versions(store: ObjectStore, uri: RemoteUri) -> dict[int, RemoteVersion]:
    """Blocking. Raises StorageError; a path with no object at all is ``File or directory not found``."""
    prefix = f"{uri.prefix}/" if uri.prefix else ""
    objects = store.list(prefix)
    if not objects:
        raise PathNotFound(store.label, uri.text)
    versions = group_versions(objects, uri.prefix)
    if not versions:
        log.warning("No version found for model in path: %s", uri.text)
    return versions


class RemoteSource(ModelSource):
    def __init__(self, uri: RemoteUri, store_factory: StoreFactory = open_store) -> None:
        super().__init__(uri.text)
        self.location = uri
        self._store_factory = store_factory
        self._store: ObjectStore | None = None
        self._versions: dict[int, RemoteVersion] = {}
        self._mirror: Mirror | None = None

    @property
    def store(self) -> ObjectStore:
        """Created on first use, so that a missing extra or credential fails the model, not the server."""
        if self._store is None:
            self._store = self._store_factory(self.location)
        return self._store

    def list_versions(self) -> dict[int, VersionEntry]:
        self._versions = list_remote_versions(self.store, self.location)
        return {number: version.entry() for number, version in self._versions.items()}

    def fetch(self, version: int) -> Path:
        found = self._versions.get(version)
        if found is None:
            self.list_versions()
            found = self._versions.get(version)
        if found is None:
            raise PathNotFound(self.store.label, f"{self.uri.rstrip('/')}/{version}")
        return self.mirror.sync(self.store, str(version), found.files)

    def release(self, version: int) -> None:
        if self._mirror is not None:
            self._mirror.remove(str(version))

    @property
    def mirror(self) -> Mirror:
        if self._mirror is None:
            self._mirror = Mirror(_cache_root(self.location))
            if not os.environ.get("OVMS_CACHE"):  # a private temporary folder: gone with the source
                weakref.finalize(self, shutil.rmtree, self._mirror.root, ignore_errors=True)
        return self._mirror


def open_remote(uri: str) -> ModelSource:
    return RemoteSource(parse_uri(uri))


def _cache_root(uri: RemoteUri) -> Path:
    shared = os.environ.get("OVMS_CACHE")
    if not shared:
        return Path(tempfile.mkdtemp(prefix="ovms-"))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{uri.scheme}_{uri.bucket}_{uri.prefix}")[:80]
    digest = hashlib.sha256(uri.text.encode()).hexdigest()[:10]
    root = Path(shared) / f"{slug}-{digest}"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _safe(path: str) -> bool:
    return all(part not in ("", ".", "..") for part in path.split("/"))
