"""System shared-memory regions clients register for tensor data (Triton's shared-memory extension).

A client creates a POSIX shared-memory object (``shm_open(key)``, e.g. with
``tritonclient.utils.shared_memory``), registers it under a name with an offset and a byte size, and
then names the region in an input's or output's ``shared_memory_region`` parameter. The server maps
the object once, at registration, with ``mmap``; inputs are numpy views over the mapping (no copy)
and outputs are written into it.

Regions are per server (``SharedMemoryRegions`` is one object per ``ovms serve``), and every use is
bounds-checked against the registered window. Unregistering while a request still reads a region is
safe: the name is gone at once, and the mapping is closed only when the last view over it is
released (Python's ``mmap`` refuses to close while views exist; the object unmaps itself when the
last one goes), so nothing ever reads unmapped memory.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ovms_cli.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed

log = logging.getLogger("ovms.serving")

SHM_ROOT = Path("/dev/shm")
# POSIX shm_open names: one leading slash, then a file name (no further slash); what Linux puts in /dev/shm.
_KEY = re.compile(r"/?[A-Za-z0-9._-]{1,255}")
_NAME_MAX = 1024


@dataclass(eq=False)
class Region:
    """One registered window ``[offset, offset + byte_size)`` of a shared-memory object."""

    name: str
    key: str
    offset: int
    byte_size: int
    mapping: mmap.mmap = field(repr=False)

    def view(self, offset: int, size: int) -> memoryview:
        """``size`` bytes at ``offset`` into the window, writable, sharing the mapping."""
        start = self.offset + offset
        return memoryview(self.mapping)[start : start + size]


class SharedMemoryRegions:
    """The system shared-memory regions of one server, by the names clients registered them under."""

    def __init__(self, root: Path = SHM_ROOT, refusal: str | None = None) -> None:
        """``refusal``: why this server takes no registrations (every ``register`` then fails with it)."""
        self._root = root
        self._regions: dict[str, Region] = {}
        self._refusal = refusal

    @property
    def takes_registrations(self) -> bool:
        """False when every ``register`` is refused (see ``refusal``)."""
        return self._refusal is None

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Map ``byte_size`` bytes at ``offset`` of the object ``key`` as ``name``.

        Raises InvalidInput (a bad name or key, a window past the object's end, an object that does
        not exist), AlreadyExists (``name`` is registered; Triton's rule: unregister it first) or
        PreconditionFailed (this server takes no registrations: ``refusal``).
        """
        if self._refusal is not None:
            raise PreconditionFailed(self._refusal)
        _check_name(name)
        if name in self._regions:
            raise AlreadyExists(f"shared memory region '{name}' is already registered")
        if not _KEY.fullmatch(key) or key.strip("/") in ("", ".", ".."):
            raise InvalidInput(
                f"invalid shared memory key '{key}'",
                "expected a POSIX shared memory name: an optional leading '/' then letters, digits, '.', '_' or '-'",
            )
        if offset < 0 or byte_size <= 0:
            raise InvalidInput(
                f"invalid shared memory window for region '{name}'",
                f"offset {offset} and byte_size {byte_size}: expected offset >= 0 and byte_size > 0",
            )
        self._regions[name] = Region(name, key, offset, byte_size, self._map(name, key, offset + byte_size))
        log.info(
            "Registered system shared memory region %s: key %s, offset %d, %d bytes",
            name,
            key,
            offset,
            byte_size,
        )

    def unregister(self, name: str = "") -> None:
        """Forget ``name`` (empty: every region). An unknown name is not an error (Triton's rule)."""
        names = list(self._regions) if name == "" else [name]
        for each in names:
            region = self._regions.pop(each, None)
            if region is None:
                continue
            try:
                region.mapping.close()
            except BufferError:  # a request still reads it: unmapped when its last view goes
                log.info("Shared memory region %s is in use; it is unmapped once released", each)
            log.info("Unregistered system shared memory region %s", each)

    def status(self, name: str = "") -> list[Region]:
        """Every region (``name`` empty) or the one named. Raises NotFound for an unknown name."""
        if name == "":
            return list(self._regions.values())
        return [self._find(name, NotFound)]

    def view(self, name: str, offset: int, size: int, tensor: str) -> memoryview:
        """``size`` bytes at ``offset`` in region ``name``, for ``tensor`` (named in errors).

        Raises InvalidInput for an unknown region or a window that does not fit the region.
        """
        region = self._find(name, InvalidInput)
        if offset < 0 or size < 0 or offset + size > region.byte_size:
            raise InvalidInput(
                f"shared memory window of tensor '{tensor}' does not fit region '{name}'",
                f"offset {offset} + byte_size {size} > region size {region.byte_size}",
            )
        return region.view(offset, size)

    def close(self) -> None:
        self.unregister()

    def __iter__(self) -> Iterator[Region]:
        return iter(list(self._regions.values()))

    def _find(self, name: str, error: type[InvalidInput] | type[NotFound]) -> Region:
        region = self._regions.get(name)
        if region is None:
            raise error(f"Unable to find system shared memory region: '{name}'")
        return region

    def _map(self, name: str, key: str, length: int) -> mmap.mmap:
        path = self._root / key.lstrip("/")
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as error:
            raise InvalidInput(
                f"Unable to open shared memory region '{name}'", f"key '{key}': {error.strerror}"
            ) from None
        try:
            size = os.fstat(fd).st_size
            if length > size:
                raise InvalidInput(
                    f"shared memory region '{name}' lies outside the object '{key}'",
                    f"offset + byte_size = {length} bytes > object size {size} bytes",
                )
            return mmap.mmap(fd, length)
        finally:
            os.close(fd)


def _check_name(name: str) -> None:
    if not name or len(name) > _NAME_MAX or not name.isprintable():
        raise InvalidInput(
            "invalid shared memory region name",
            f"got {name!r}: expected 1 to {_NAME_MAX} printable characters",
        )
