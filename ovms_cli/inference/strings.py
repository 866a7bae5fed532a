"""String tensors: to and from the 2-D U8 form that OVMS uses for models without a string type.

A batch of N strings becomes a U8 tensor ``[N, W]``, ``W`` = longest + 1, each row the string
followed by zero bytes (spec §7.5). U8 rank-2 outputs whose public name ends in ``_string`` go
back to one string per row, cut at the first zero.
"""

from __future__ import annotations

import numpy as np

from ovms_cli.errors import InvalidInput
from ovms_cli.types import Array, as_bytes

MAX_BYTES = 1 << 30
MAX_EXCEEDED = "Maximum 2D array after string conversion exceeded 1GB"
STRING_OUTPUT_SUFFIX = "_string"
_POINTER_BYTES = np.dtype(object).itemsize


def strings_to_u8_2d(strings: Array, name: str) -> Array:
    items = [as_bytes(s) for s in strings.reshape(-1).tolist()]
    if not items:
        raise InvalidInput("Invalid input batch size", f"Expected: > 0; Actual: 0; input name: {name}")
    width = max(len(s) for s in items) + 1
    if len(items) * width > MAX_BYTES:
        raise InvalidInput(MAX_EXCEEDED, f"input name: {name}")
    padded = b"".join(s.ljust(width, b"\0") for s in items)
    return np.frombuffer(padded, dtype=np.uint8).reshape(len(items), width)


def u8_2d_to_strings(array: Array, name: str) -> Array:
    """One ``bytes`` per row of a U8 ``[N, W]`` output; ``InvalidInput`` past 1 GB of string objects.

    A request can make N huge at no cost (an echo of a ``[2**40, 0]`` U8 input carries no data), so
    the rows are bounded as the strings of an input are (spec §7.5's 1 GB), before any array is made.
    """
    rows, width = array.shape
    if rows * _POINTER_BYTES > MAX_BYTES:
        raise InvalidInput(MAX_EXCEEDED, f"{rows} strings; output name: {name}")
    if width == 0:
        return np.full(rows, b"", dtype=object)
    out = np.empty(rows, dtype=object)
    out[:] = [row.tobytes().split(b"\0", 1)[0] for row in array]
    return out
