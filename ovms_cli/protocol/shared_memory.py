"""Tensor data in system shared memory: the KServe tensor parameters Triton defines, for both codecs.

An input or requested output may carry ``shared_memory_region`` (a registered region's name),
``shared_memory_byte_size`` and ``shared_memory_offset`` (default 0) in its ``parameters``
(Triton's shared-memory extension, grpc_service.proto and the HTTP protocol's
``extension_shared_memory.md``). An input's data is then read from that window (numeric tensors as
numpy views over the mapping, no copy; BYTES as length-prefixed elements) instead of the request;
an output's bytes are written into the window and the response carries its metadata only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.protocol import kserve
from ovms_cli.types import Array

REGION = "shared_memory_region"
OFFSET = "shared_memory_offset"
BYTE_SIZE = "shared_memory_byte_size"
PARAMETERS = (REGION, OFFSET, BYTE_SIZE)
UNAVAILABLE = "shared memory is not available"


@dataclass(frozen=True, slots=True)
class Window:
    """Where a tensor's bytes are: ``byte_size`` bytes at ``offset`` into region ``region``."""

    region: str
    offset: int
    byte_size: int


def window(
    kind: str, tensor: str, params: Mapping[str, object], regions: SharedMemoryRegions | None
) -> Window | None:
    """The shared-memory window a tensor's ``parameters`` name, or None when they name none.

    ``kind``: "input" or "output", for errors; ``regions``: the endpoint's shared memory (None: the
    parameters are refused). Raises InvalidInput for a missing or mistyped parameter (an offset or
    size without a region, a region without a size, negative numbers).
    """
    region = params.get(REGION)
    if region is not None and regions is None:
        raise InvalidInput(f'{kind} "{tensor}": parameter "{REGION}" is not supported ({UNAVAILABLE})')
    if region is None:
        stray = [key for key in (OFFSET, BYTE_SIZE) if key in params]
        if stray:
            raise InvalidInput(f'{kind} "{tensor}": parameter "{stray[0]}" needs "{REGION}"')
        return None
    if not isinstance(region, str) or not region:
        raise InvalidInput(f'{kind} "{tensor}": "{REGION}" must be a non-empty string, got {region!r}')
    if BYTE_SIZE not in params:
        raise InvalidInput(f'{kind} "{tensor}": "{REGION}" needs "{BYTE_SIZE}"')
    return Window(region, _count(kind, tensor, params, OFFSET), _count(kind, tensor, params, BYTE_SIZE))


def _count(kind: str, tensor: str, params: Mapping[str, object], key: str) -> int:
    value = params.get(key, 0)
    if type(value) is not int or value < 0:
        raise InvalidInput(f'{kind} "{tensor}": "{key}" must be a non-negative integer, got {value!r}')
    return value


def read_input(
    regions: SharedMemoryRegions | None, name: str, datatype: str, shape: Sequence[int], where: Window
) -> Array:
    """The input ``name`` read from its window (``window`` found one, so ``regions`` is set). Raises
    InvalidInput (unknown region, out of bounds, a size that does not match the shape and datatype)."""
    assert regions is not None
    view = regions.view(where.region, where.offset, where.byte_size, name)
    return kserve.tensor_from_raw(name, datatype, shape, view)


def write_outputs(
    regions: SharedMemoryRegions | None, windows: Mapping[str, Window], outputs: Mapping[str, Array]
) -> None:
    """Write each output that has a window into it (BYTES length-prefixed, as on the wire).

    Raises InvalidInput when a window is smaller than its output (Triton's rule), its region is
    gone, or it does not fit its region.
    """
    if not windows:
        return
    assert regions is not None  # window() refused windows without regions
    for name, where in windows.items():
        array = outputs.get(name)
        if array is None:
            continue  # only requested outputs have windows, and the servable answered each
        raw = kserve.raw_bytes(array)
        size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
        if size > where.byte_size:
            raise InvalidInput(
                f"shared memory size specified with the request for output '{name}' "
                f"({where.byte_size} bytes) should be at least {size} bytes to hold the results"
            )
        regions.view(where.region, where.offset, where.byte_size, name)[:size] = raw
