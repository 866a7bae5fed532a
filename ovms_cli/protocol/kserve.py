"""KServe v2 rules shared by the gRPC and REST codecs: datatypes, shapes, tensor data, parameters."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

import numpy as np

from ovms_cli import types
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol import typed_values
from ovms_cli.protocol.bytes_tensor import decode_bytes_tensor, encode_bytes_tensor
from ovms_cli.protocol.tensor_shape import check_extent
from ovms_cli.protocol.wire_buffer import array_over
from ovms_cli.types import SPECIAL_INPUTS, Array, DType, Parameter, SpecialInput, as_bytes

INVALID_CONTENT_SIZE = "Invalid content size of tensor proto"
INVALID_VALUE_COUNT = "Invalid number of values in tensor proto container"
INVALID_CONTENT = typed_values.INVALID_CONTENT
UNSUPPORTED_PRECISION = "Could not parse input content. Unsupported data precision detected"
INVALID_PARAMETERS = "Could not parse request parameters"

_MAX_VERSION = 2**63 - 1
_UNSUPPORTED_TENSOR_PARAMETERS = {
    "classification": "classification",
}  # shared_memory_* are read by protocol/shared_memory.py


def dtype_for(datatype: str, name: str) -> DType:
    dtype = types.from_kserve(datatype)
    if dtype is None:
        raise InvalidInput("Invalid input precision", f"Unknown datatype: {datatype}; input name: {name}")
    return dtype


def check_shape(name: str, dims: object, dtype: DType) -> tuple[int, ...]:
    """``dims`` as a shape, when it is a sequence of non-negative integers numpy can hold (``check_extent``)."""
    if isinstance(dims, Sequence) and not isinstance(dims, str):
        shape = tuple(dims)
        if all(type(d) is int and d >= 0 for d in shape):
            check_extent(name, shape, dtype.numpy.itemsize)
            return shape
    raise InvalidInput(f'input "{name}": "shape" must be a list of non-negative integers, got {dims!r}')


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def add_input(inputs: dict[str, Array], name: str, array: Array) -> None:
    if name in inputs:
        raise InvalidInput("Duplicate input in request", f"input name: {name}")
    inputs[name] = array


def special_inputs(inputs: dict[str, Array]) -> dict[str, SpecialInput]:
    """Take the special inputs of stateful models (``sequence_id`` UINT64 and ``sequence_control_input`` UINT32,
    shape ``[1]``, spec §9.2) out of ``inputs``, as the request sent them; the core judges them."""
    return {name: SpecialInput.from_array(inputs.pop(name)) for name in SPECIAL_INPUTS.intersection(inputs)}


def check_tensor_parameters(kind: str, name: str, keys: Iterable[str]) -> None:
    """Refuse per-tensor parameters that ask for a feature this server does not have."""
    for key in keys:
        feature = _UNSUPPORTED_TENSOR_PARAMETERS.get(key)
        if feature is not None:
            raise InvalidInput(
                f'{kind} "{name}": parameter "{key}" is not supported ({feature} is not available)'
            )


def tensor_from_raw(name: str, datatype: str, shape: Sequence[int], raw: bytes | memoryview) -> Array:
    """A tensor over ``raw`` without copying (numeric), or decoded from length-prefixed elements (BYTES)."""
    dtype = dtype_for(datatype, name)
    count = element_count(shape)
    if dtype is types.BYTES:
        return _sized(name, decode_bytes_tensor(raw, name), count, shape)
    expected = count * dtype.itemsize
    actual = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    if actual != expected:
        raise InvalidInput(
            INVALID_CONTENT_SIZE, f"Expected: {expected} bytes; Actual: {actual} bytes; input name: {name}"
        )
    return array_over(raw, dtype.numpy, shape)


def tensor_from_values(name: str, datatype: str, shape: Sequence[int], values: Collection[object]) -> Array:
    """A tensor from typed values (gRPC ``contents``) or JSON ``data``, flat or nested."""
    dtype = dtype_for(datatype, name)
    if dtype is types.FP16:
        raise InvalidInput(
            UNSUPPORTED_PRECISION,
            "FP16 data must be sent in binary form (raw_input_contents over gRPC, "
            f"binary_data_size over REST); input name: {name}",
        )
    flat = _strings(name, values) if dtype is types.BYTES else _numbers(name, dtype, values)
    return _sized(name, flat, element_count(shape), shape)


def _sized(name: str, flat: Array, count: int, shape: Sequence[int]) -> Array:
    if flat.size != count:
        raise InvalidInput(
            INVALID_VALUE_COUNT, f"Expected: {count} values; Actual: {flat.size} values; input name: {name}"
        )
    return flat.reshape(shape)


def _numbers(name: str, dtype: DType, values: Collection[object]) -> Array:
    return typed_values.array_of(name, dtype, values, INVALID_CONTENT).ravel()


def _strings(name: str, values: Collection[object]) -> Array:
    parsed = np.asarray(values, dtype=np.object_)
    items: list[bytes] = []
    for value in parsed.ravel():
        if isinstance(value, bytes):
            items.append(value)
        elif isinstance(value, str):
            items.append(value.encode())
        else:
            raise InvalidInput(INVALID_CONTENT, f"BYTES data must be strings; input name: {name}")
    flat = np.empty(len(items), dtype=np.object_)
    flat[:] = items
    return flat


def datatype_of(name: str, arr: Array) -> str:
    """The KServe datatype of an output array."""
    dtype = types.from_numpy(arr.dtype)
    if dtype is None:
        raise InternalError("Unsupported serialization precision", f"dtype: {arr.dtype}; output name: {name}")
    return dtype.kserve


def raw_bytes(arr: Array) -> bytes | memoryview:
    """An output's wire bytes; a byte-format memoryview sharing ``arr``'s memory when its layout allows."""
    if arr.dtype.kind in "OSU":
        return encode_bytes_tensor(arr)
    if not arr.flags.c_contiguous or arr.dtype.byteorder == ">":
        return arr.astype(arr.dtype.newbyteorder("<"), order="C").tobytes()
    return arr.reshape(-1).view(np.uint8).data


def json_values(name: str, arr: Array) -> Array | list[str]:
    """An output as a flat array orjson serialises natively, or a list of text for BYTES."""
    if arr.dtype.kind in "OSU":
        return [_text(name, element) for element in arr.ravel().tolist()]
    if arr.dtype == np.float16:
        return arr.astype(np.float32).ravel()
    return arr.ravel()


def _text(name: str, element: object) -> str:
    if isinstance(element, str):
        return element
    try:
        return as_bytes(element).decode()
    except UnicodeDecodeError:
        raise InvalidInput(
            f'output "{name}" holds bytes that are not valid UTF-8; request it with "binary_data": true'
        ) from None


def parameter_value(key: str, value: object) -> Parameter:
    if isinstance(value, (bool, int, str)):
        return value
    raise InvalidInput(
        INVALID_PARAMETERS, f'parameter "{key}" must be a string, a boolean or an integer, got {value!r}'
    )


def parse_version(text: str) -> int | None:
    """A model version from the wire: empty is the default version."""
    if text == "":
        return None
    if text.isascii() and text.isdigit() and int(text) <= _MAX_VERSION:
        return int(text)
    raise InvalidInput("invalid model version format in request")
