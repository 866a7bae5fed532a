"""Triton's shared-memory extension messages: register bodies and status answers, REST and gRPC.

REST (extension_shared_memory.md): ``POST /v2/systemsharedmemory/region/{name}/register`` with
``{"key": str, "offset": int, "byte_size": int}``; status answers a list of
``{"name", "key", "offset", "byte_size"}``. gRPC: ``SystemSharedMemoryStatusResponse.regions`` by
name. CUDA shared memory has the same routes; this server has no GPU memory to share, so its
status is always empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from ovms_cli._proto.grpc_service_extensions_pb2 import SystemSharedMemoryStatusResponse
from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shared_memory import Region

_RegionStatus = SystemSharedMemoryStatusResponse.RegionStatus


@dataclass(frozen=True, slots=True)
class Registration:
    key: str
    offset: int
    byte_size: int


def decode_register_body(body: bytes) -> Registration:
    """Raises InvalidInput for a body that is not ``{"key": str, "offset": int, "byte_size": int}``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("Request body is not valid JSON", str(error)) from None
    if not isinstance(doc, dict):
        raise InvalidInput("Request body should be JSON object")
    unknown = sorted(set(doc) - {"key", "offset", "byte_size"})
    if unknown:
        raise InvalidInput(f"unknown field in shared memory registration: {unknown[0]}")
    key = doc.get("key")
    if not isinstance(key, str):
        raise InvalidInput('"key" must be a string')
    offset, byte_size = doc.get("offset", 0), doc.get("byte_size")
    for field, value in (("offset", offset), ("byte_size", byte_size)):
        if type(value) is not int or value < 0:
            raise InvalidInput(f'"{field}" must be a non-negative integer, got {value!r}')
    assert isinstance(offset, int) and isinstance(byte_size, int)
    return Registration(key, offset, byte_size)


def encode_status_json(regions: Iterable[Region]) -> bytes:
    return orjson.dumps(
        [{"name": r.name, "key": r.key, "offset": r.offset, "byte_size": r.byte_size} for r in regions]
    )


def encode_status_message(regions: Iterable[Region]) -> SystemSharedMemoryStatusResponse:
    return SystemSharedMemoryStatusResponse(
        regions={
            r.name: _RegionStatus(name=r.name, key=r.key, offset=r.offset, byte_size=r.byte_size)
            for r in regions
        }
    )
