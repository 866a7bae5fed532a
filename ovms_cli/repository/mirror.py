"""A local copy of remote files that downloads only what changed (size and ETag), and can resume.

The copy keeps a manifest (``.ovms-manifest.json`` at its root) of each file's size and ETag as
downloaded. A file is fetched again when the listing shows another size or ETag, or when the
local file is missing or of another size; an interrupted run leaves only complete files behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ovms_cli.repository.stores.base import ObjectInfo, ObjectStore
from ovms_cli.repository.versions import RepositoryError

log = logging.getLogger("ovms.repository")

MANIFEST = ".ovms-manifest.json"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    path: str  # where it goes, relative to the mirror's root: "1/model.xml"
    info: ObjectInfo


class SyncListener(Protocol):
    """Progress of one ``Mirror.sync``: every file is started, advanced while downloading, finished."""

    def started(self, file: RemoteFile, cached: bool) -> None: ...

    def advanced(self, file: RemoteFile, size: int) -> None: ...

    def finished(self, file: RemoteFile) -> None: ...


class Mirror:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._manifest: dict[str, tuple[int, str]] | None = None

    def sync(
        self,
        store: ObjectStore,
        folder: str,
        files: Sequence[RemoteFile],
        listener: SyncListener | None = None,
    ) -> Path:
        """Make ``root/folder`` hold exactly ``files`` (paths under ``folder/``); return that folder."""
        target = self.root / folder
        try:
            target.mkdir(parents=True, exist_ok=True)
            for file in files:
                self._fetch(store, file, listener)
            self._drop_unlisted(folder, {file.path for file in files})
        except OSError as error:
            raise RepositoryError(f"Cannot write the local copy {target}: {error}") from error
        return target

    def remove(self, folder: str) -> None:
        """Delete ``root/folder`` and forget its files."""
        if not self.root.is_dir():
            return
        with self._lock:
            manifest = self._load()
            for path in [path for path in manifest if path.startswith(f"{folder}/")]:
                del manifest[path]
            self._save(manifest)
        shutil.rmtree(self.root / folder, ignore_errors=True)

    def _fetch(self, store: ObjectStore, file: RemoteFile, listener: SyncListener | None) -> None:
        local = self.root / file.path
        cached = self._is_current(file, local)
        if listener is not None:
            listener.started(file, cached)
        if not cached:
            local.parent.mkdir(parents=True, exist_ok=True)
            progress = None if listener is None else _Advance(listener, file)
            store.download(file.info.key, local, progress)
            self._record(file.path, (file.info.size, file.info.etag))
            log.debug("Downloaded %s to %s", file.info.key, local)
        if listener is not None:
            listener.finished(file)

    def _is_current(self, file: RemoteFile, local: Path) -> bool:
        with self._lock:
            known = self._load().get(file.path)
        if known != (file.info.size, file.info.etag):
            return False
        try:
            return local.stat().st_size == file.info.size
        except OSError:
            return False

    def _record(self, path: str, entry: tuple[int, str] | None) -> None:
        with self._lock:
            manifest = self._load()
            if entry is None:
                manifest.pop(path, None)
            else:
                manifest[path] = entry
            self._save(manifest)

    def _drop_unlisted(self, folder: str, listed: set[str]) -> None:
        """Files this mirror downloaded earlier that the store no longer has (files it did not write stay)."""
        with self._lock:
            stale = [path for path in self._load() if path.startswith(f"{folder}/") and path not in listed]
        for path in stale:
            (self.root / path).unlink(missing_ok=True)
            self._record(path, None)

    def _load(self) -> dict[str, tuple[int, str]]:
        if self._manifest is None:
            self._manifest = _read_manifest(self.root / MANIFEST)
        return self._manifest

    def _save(self, manifest: dict[str, tuple[int, str]]) -> None:
        path = self.root / MANIFEST
        partial = path.with_name(path.name + ".part")
        payload = {name: {"size": size, "etag": etag} for name, (size, etag) in sorted(manifest.items())}
        partial.write_text(json.dumps(payload, indent=1))
        os.replace(partial, path)


class _Advance:
    def __init__(self, listener: SyncListener, file: RemoteFile) -> None:
        self._listener = listener
        self._file = file

    def __call__(self, size: int) -> None:
        self._listener.advanced(self._file, size)


def _read_manifest(path: Path) -> dict[str, tuple[int, str]]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    manifest: dict[str, tuple[int, str]] = {}
    for name, entry in raw.items():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("size"), int)
            and isinstance(entry.get("etag"), str)
        ):
            manifest[str(name)] = (entry["size"], entry["etag"])
    return manifest
