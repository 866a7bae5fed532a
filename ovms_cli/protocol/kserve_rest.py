"""KServe v2 REST bodies (JSON with the binary data extension) ⇄ core types.

A body is ``<JSON><binary tail>``; ``Inference-Header-Content-Length`` gives the JSON's length. Inputs
with ``binary_data_size`` (or with neither ``data`` nor a size) take their bytes from the tail in input
order. Outputs follow Triton: each requested output's ``binary_data`` flag decides, else the request's
``binary_data_output``; binary outputs' bytes follow the JSON in output order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from ovms_cli import types
from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.protocol import json_numbers, kserve, shared_memory
from ovms_cli.protocol.outputs import requested_outputs
from ovms_cli.types import (
    Array,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    Parameter,
    TensorMetadata,
)

HEADER_LENGTH = "Inference-Header-Content-Length"
BUFFER_EXCEEDED = "Received buffer size is smaller than binary_data_size parameter indicates"
MISSING_INPUTS = "Invalid JSON structure, missing inputs"


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """Which outputs a response carries as binary data rather than JSON ``data``."""

    binary_default: bool = False  # the request's ``binary_data_output``
    binary: dict[str, bool] = field(default_factory=dict)  # per requested output ``binary_data``
    shared_memory: Mapping[str, shared_memory.Window] = field(default_factory=dict)  # written there, not sent

    def is_binary(self, name: str) -> bool:
        return self.binary.get(name, self.binary_default)


class _Tail:
    """The binary part of a body, handed out to inputs in order."""

    def __init__(self, data: memoryview, present: bool) -> None:
        self._data = data
        self._offset = 0
        self._present = present

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def take(self, name: str, size: int) -> memoryview:
        if not self._present:
            raise InvalidInput(
                f'input "{name}" has no "data" and the request has no binary data (no {HEADER_LENGTH} header)'
            )
        if size > self.remaining:
            raise InvalidInput(
                BUFFER_EXCEEDED,
                f"Needed: {size} bytes; Remaining: {self.remaining} bytes; input name: {name}",
            )
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def rest(self, name: str) -> memoryview:
        return self.take(name, self.remaining)

    def check_consumed(self) -> None:
        if self.remaining:
            raise InvalidInput(
                "Invalid binary data size",
                f"{self.remaining} bytes after the last input's data belong to no input",
            )


def decode_infer_request(
    body: bytes,
    header_length: str | None,
    model_name: str,
    model_version: int | None,
    regions: SharedMemoryRegions | None = None,
) -> tuple[InferenceRequest, OutputFormat]:
    """``regions``: the server's shared-memory regions, for tensors that name one (None: refused)."""
    view = memoryview(body)
    json_end = _json_length(header_length, len(body))
    doc = _load(view[:json_end])
    request_id = doc.get("id", "")
    if not isinstance(request_id, str):
        raise InvalidInput('"id" must be a string')
    parameters = _parameters(doc.get("parameters"), '"parameters"')
    binary_default = parameters.pop("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise InvalidInput('"binary_data_output" parameter must be a boolean')
    requested, per_output, windows = _outputs(doc.get("outputs"), regions)
    tail = _Tail(view[json_end:], present=header_length is not None)
    inputs = _inputs(doc.get("inputs"), tail, regions)
    request = InferenceRequest(
        model_name=model_name,
        model_version=model_version,
        inputs=inputs,
        requested_outputs=requested,
        id=request_id,
        parameters=parameters,
        special_inputs=kserve.special_inputs(inputs),
    )
    return request, OutputFormat(binary_default, per_output, windows)


def _json_length(header_length: str | None, body_length: int) -> int:
    if header_length is None:
        return body_length
    text = header_length.strip()
    if text.isascii() and text.isdigit() and int(text) <= body_length:
        return int(text)
    raise InvalidInput(
        f"{HEADER_LENGTH} header is invalid and couldn't be parsed",
        f"expected an integer from 0 to the body length {body_length}, got {header_length!r}",
    )


def _load(data: memoryview) -> dict[str, Any]:
    try:
        doc = json_numbers.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("Request body is not valid JSON", str(error)) from None
    if not isinstance(doc, dict):
        raise InvalidInput("Request body should be JSON object")
    return doc


def _object(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be an object")
    return value


def _parameters(value: object, what: str) -> dict[str, Parameter]:
    return {key: kserve.parameter_value(key, item) for key, item in _object(value, what).items()}


def _outputs(
    value: object, regions: SharedMemoryRegions | None
) -> tuple[tuple[str, ...], dict[str, bool], dict[str, shared_memory.Window]]:
    if value is None:
        return (), {}, {}
    if not isinstance(value, list):
        raise InvalidInput('"outputs" must be a list of objects')
    per_output: dict[str, bool] = {}
    windows: dict[str, shared_memory.Window] = {}
    names: list[str] = []
    for index, output in enumerate(value):
        name, binary, where = _output(index, output, regions)
        names.append(name)
        if binary is not None:
            per_output[name] = binary
        if where is not None:
            windows[name] = where
    return requested_outputs(names), per_output, windows


def _output(
    index: int, output: object, regions: SharedMemoryRegions | None
) -> tuple[str, bool | None, shared_memory.Window | None]:
    if not isinstance(output, dict):
        raise InvalidInput(f"output {index}: must be an object")
    name = output.get("name")
    if not isinstance(name, str):
        raise InvalidInput(f'output {index}: "name" must be a string')
    params = _object(output.get("parameters"), f'output "{name}": "parameters"')
    kserve.check_tensor_parameters("output", name, params)
    binary = params.get("binary_data")
    if binary is not None and not isinstance(binary, bool):
        raise InvalidInput(f'output "{name}": "binary_data" must be a boolean')
    return name, binary, shared_memory.window("output", name, params, regions)


def _inputs(value: object, tail: _Tail, regions: SharedMemoryRegions | None) -> dict[str, Array]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(MISSING_INPUTS, '"inputs" must be a non-empty list of objects')
    inputs: dict[str, Array] = {}
    for index, tensor in enumerate(value):
        name, array = _input(index, tensor, tail, regions, only=len(value) == 1)
        kserve.add_input(inputs, name, array)
    tail.check_consumed()
    return inputs


def _input(
    index: int, tensor: object, tail: _Tail, regions: SharedMemoryRegions | None, only: bool
) -> tuple[str, Array]:
    if not isinstance(tensor, dict):
        raise InvalidInput("Invalid JSON structure. One of inputs is not a JSON object.", f"input {index}")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidInput(f'input {index}: "name" must be a string')
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str):
        raise InvalidInput(f'input "{name}": "datatype" must be a string')
    shape = kserve.check_shape(name, tensor.get("shape"), kserve.dtype_for(datatype, name))
    params = _object(tensor.get("parameters"), f'input "{name}": "parameters"')
    kserve.check_tensor_parameters("input", name, params)
    data = tensor.get("data")
    where = shared_memory.window("input", name, params, regions) if params else None
    if where is not None:
        if data is not None or "binary_data_size" in params:
            raise InvalidInput(
                "Request contains values both in shared memory and in the request", f"input name: {name}"
            )
        return name, shared_memory.read_input(regions, name, datatype, shape, where)
    if "binary_data_size" in params:
        return name, _binary_input(name, datatype, shape, params["binary_data_size"], data, tail)
    if data is not None:
        if not isinstance(data, list):
            raise InvalidInput(f'input "{name}": "data" must be a list')
        return name, kserve.tensor_from_values(name, datatype, shape, data)
    return name, _implicit_binary_input(name, datatype, shape, tail, only)


def _binary_input(
    name: str, datatype: str, shape: tuple[int, ...], size: object, data: object, tail: _Tail
) -> Array:
    if type(size) is not int or size < 0:
        raise InvalidInput(
            "binary_data_size parameter is invalid and cannot be parsed",
            f"expected a non-negative integer, got {size!r}; input name: {name}",
        )
    if data is not None:
        raise InvalidInput(
            "Request contains values both in binary data and in content value", f"input name: {name}"
        )
    return kserve.tensor_from_raw(name, datatype, shape, tail.take(name, size))


def _implicit_binary_input(
    name: str, datatype: str, shape: tuple[int, ...], tail: _Tail, only: bool
) -> Array:
    """An input without ``data`` or ``binary_data_size``: its size follows from shape and datatype."""
    dtype = kserve.dtype_for(datatype, name)
    if dtype is not types.BYTES:
        chunk = tail.take(name, kserve.element_count(shape) * dtype.itemsize)
    elif only:
        chunk = tail.rest(name)
    else:
        raise InvalidInput(f'input "{name}": binary BYTES data needs a "binary_data_size" parameter')
    return kserve.tensor_from_raw(name, datatype, shape, chunk)


def encode_infer_response(resp: InferenceResponse, fmt: OutputFormat) -> tuple[bytes, dict[str, str]]:
    outputs: list[dict[str, object]] = []
    values: list[Array] = []
    chunks: list[bytes | memoryview] = []
    for name, array in resp.outputs.items():
        entry: dict[str, object] = {
            "name": name,
            "datatype": kserve.datatype_of(name, array),
            "shape": array.shape,
        }
        if name in fmt.shared_memory:
            pass  # written into its region already: metadata only
        elif fmt.is_binary(name):
            raw = kserve.raw_bytes(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            data = kserve.json_values(name, array)
            if isinstance(data, np.ndarray):
                values.append(data)
            entry["data"] = data
        outputs.append(entry)
    header = json_numbers.dumps(_response_document(resp, outputs), values)
    if not chunks:
        return header, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
    return b"".join([header, *chunks]), headers


def _response_document(resp: InferenceResponse, outputs: list[dict[str, object]]) -> dict[str, object]:
    doc: dict[str, object] = {"model_name": resp.model_name}
    if resp.id:
        doc["id"] = resp.id
    doc["model_version"] = str(resp.model_version)
    if resp.parameters:
        doc["parameters"] = resp.parameters
    doc["outputs"] = outputs
    return doc


def encode_model_metadata(meta: ModelMetadata) -> bytes:
    return orjson.dumps(
        {
            "name": meta.name,
            "versions": [str(version) for version in meta.versions],
            "platform": meta.platform,
            "inputs": [_tensor_metadata(tensor) for tensor in meta.inputs],
            "outputs": [_tensor_metadata(tensor) for tensor in meta.outputs],
        }
    )


def _tensor_metadata(tensor: TensorMetadata) -> dict[str, object]:
    return {"name": tensor.name, "datatype": tensor.dtype.kserve, "shape": tensor.shape}


def encode_server_metadata(name: str, version: str, extensions: Sequence[str]) -> bytes:
    doc: dict[str, object] = {"name": name, "version": version}
    if extensions:  # as OVMS: proto3 JSON leaves an empty list out
        doc["extensions"] = list(extensions)
    return orjson.dumps(doc)


def encode_error(message: str) -> bytes:
    return orjson.dumps({"error": message})
