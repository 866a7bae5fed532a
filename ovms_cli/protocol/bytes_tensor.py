"""KServe's binary form of a BYTES tensor: each element as ``<uint32 little-endian length><bytes>``."""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from ovms_cli.errors import InvalidInput
from ovms_cli.types import Array, as_bytes

_LENGTH = struct.Struct("<I")
MALFORMED = "Inputs inside buffer does not match expected format."


def encode_bytes_tensor(arr: Array) -> bytes:
    """Every element of ``arr`` in C order, each prefixed by its length."""
    parts: list[bytes] = []
    for element in arr.ravel().tolist():
        data = as_bytes(element)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_bytes_tensor(buf: bytes | memoryview, name: str) -> npt.NDArray[np.object_]:
    """The elements of a length-prefixed buffer, as a 1-D object array of ``bytes``."""
    view = memoryview(buf).cast("B")
    items: list[bytes] = []
    offset, end = 0, len(view)
    while offset < end:
        if end - offset < _LENGTH.size:
            raise InvalidInput(
                MALFORMED,
                f"element {len(items)} has a truncated 4-byte length prefix "
                f"({end - offset} bytes left); input name: {name}",
            )
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if length > end - offset:
            raise InvalidInput(
                MALFORMED,
                f"element {len(items)} declares {length} bytes but only {end - offset} remain; "
                f"input name: {name}",
            )
        items.append(view[offset : offset + length].tobytes())
        offset += length
    out = np.empty(len(items), dtype=np.object_)
    out[:] = items
    return out
