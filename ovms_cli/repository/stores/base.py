"""What the remote repository needs from an object store: list keys under a prefix, download one."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

Progress = Callable[[int], None]
"""Called with the number of bytes just written."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str  # the full key inside the bucket or container
    size: int
    etag: str  # changes whenever the object's content changes


class ObjectStore(Protocol):
    label: str  # the prefix of the store's messages: "S3", "GCS", "AS"

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``. Raises StorageError."""
        ...

    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        """Write the object to ``dest`` (its folder exists). Raises StorageError."""
        ...


CHUNK = 1 << 20


class CountingSink:
    """A file opened for writing that reports each write to a progress callback."""

    def __init__(self, file: BinaryIO, progress: Progress | None) -> None:
        self._file = file
        self._progress = progress

    def write(self, data: bytes) -> int:
        written = self._file.write(data)
        if self._progress is not None:
            self._progress(written)
        return written

    def __getattr__(self, name: str) -> Any:  # tell, seek, flush… for SDKs that want a real file
        return getattr(self._file, name)


@contextmanager
def atomic_download(dest: Path, progress: Progress | None) -> Iterator[CountingSink]:
    """A sink whose content replaces ``dest`` only when the block ends without an error."""
    partial = dest.with_name(dest.name + ".part")
    try:
        with partial.open("wb") as file:
            yield CountingSink(file, progress)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def write_chunks(chunks: Iterable[bytes], dest: Path, progress: Progress | None) -> None:
    with atomic_download(dest, progress) as sink:
        for chunk in chunks:
            sink.write(chunk)
