"""Numeric tensors over the request's own bytes, shareable with OpenVINO without a copy.

A request body (``bytes``: gRPC's message, Starlette's body) is immutable, so ``np.frombuffer``
over it is read-only, and OpenVINO shares only memory flagged writeable: without this, every
request's input was copied once more on its way into the infer request (about 90 µs for a 600 KB
image on the 2-core benchmark machine, ``benchmarks/results/2026-11-22-2core.md``). Nothing in the
server writes into an input, and OpenVINO reads its inputs only, so the copy protects nothing.
The view keeps the bytes alive for as long as any array over it lives.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from ovms_cli.types import Array

MIN_ALIAS_BYTES = 4096  # smaller inputs cost more to alias than to copy


def array_over(raw: bytes | memoryview, dtype: np.dtype[Any], shape: Sequence[int]) -> Array:
    """``np.frombuffer(raw, dtype).reshape(shape)``, writeable when ``raw`` is large enough.

    ``raw``: the bytes of exactly ``shape``'s elements (the caller checked the size).
    """
    readonly = np.frombuffer(raw, dtype=dtype)
    if readonly.nbytes < MIN_ALIAS_BYTES or readonly.flags.writeable:
        return readonly.reshape(shape)
    memory = (ctypes.c_char * readonly.nbytes).from_address(readonly.ctypes.data)
    memory.owner = raw  # type: ignore[attr-defined]  # the bytes outlive every array over them
    writeable: Array = np.frombuffer(memoryview(memory).cast("B"), dtype=dtype)
    return writeable.reshape(shape)
