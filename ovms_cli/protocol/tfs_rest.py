"""TensorFlow Serving REST bodies (spec §4.3 to §4.5) ⇄ core types.

Predict takes the row format (``"instances"``: one entry per batch item) or the column format
(``"inputs"``: whole tensors), each with input names or, for a model with one input, without.
JSON numbers become the model input's own type; ``{"b64": ...}`` values and strings become an
object array of ``bytes`` (images or text, for the core to interpret). Row requests are answered with
``"predictions"``, column requests with ``"outputs"``, as TensorFlow Serving writes them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np
import orjson
from google.protobuf import json_format
from google.protobuf.message import Message

from ovms_cli import types
from ovms_cli._proto._pool import POOL
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol import json_numbers, tfs, typed_values
from ovms_cli.types import (
    SEQUENCE_CONTROL_INPUT,
    SEQUENCE_ID,
    SPECIAL_INPUTS,
    Array,
    DType,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    SpecialInput,
    TensorMetadata,
    VersionStatus,
    as_bytes,
)

JSON_INVALID = "The file is not valid json"
BODY_NOT_AN_OBJECT = "Request body should be JSON object"
UNKNOWN_ORDER = "Invalid JSON structure. Could not detect row or column format"
INSTANCES_NOT_AN_ARRAY = "Invalid JSON structure. Nonamed instance is not an array."
NO_INSTANCES = "Invalid JSON structure. Missing instances in row format"
NAMED_INSTANCE_NOT_AN_OBJECT = "Invalid JSON structure. One of named instances is not a JSON object."
BATCH_SIZES_DIFFER = "Invalid JSON structure. Request inputs have different batch sizes"
INPUTS_NOT_AN_OBJECT = "Invalid JSON structure. One of inputs is not a JSON object."
NO_INPUTS = "Invalid JSON structure, missing inputs"
INVALID_INSTANCE = "Could not parse instance content. Not valid ndarray detected"
INVALID_INPUT = "Could not parse input content. Not valid ndarray detected"
INVALID_FORMAT = "Inputs inside buffer does not match expected format."
INVALID_OUTPUT = "Could not parse output content."

BYTES_SUFFIX = "_bytes"  # TF Serving: string outputs so named are always base64
_TEXT_DTYPES = (types.U8, types.STRING)  # inputs that take plain JSON strings (spec §7.5)
_SPECIAL_DTYPES = {SEQUENCE_ID: types.U64, SEQUENCE_CONTROL_INPUT: types.U32}


class Layout(Enum):
    """The request's format, which decides the response's: rows → predictions, columns → outputs."""

    ROW = "predictions"
    COLUMN = "outputs"


# ---- predict request ----


def decode_predict_request(
    body: bytes, model_name: str, model_version: int | None, inputs: Sequence[TensorMetadata]
) -> tuple[InferenceRequest, Layout]:
    """``inputs`` is the servable's input metadata: it names the single input and types JSON numbers.

    The special inputs of stateful models (spec §4.5, §9.2) go to ``special_inputs``: non-negative integers,
    read as uint64 (``sequence_id``) and uint32 (``sequence_control_input``) unless the model declares them.
    """
    doc = _load(body)
    # An input of unspecified type (DT_INVALID: a pipeline input only a Python node reads, §8.4)
    # is typed like one the servable does not declare.
    specs = {tensor.name: tensor.dtype for tensor in inputs if tensor.dtype.tf != 0}
    names = tuple(tensor.name for tensor in inputs)
    if ("instances" in doc) == ("inputs" in doc):
        raise InvalidInput(UNKNOWN_ORDER, 'the body needs exactly one of "instances" and "inputs"')
    if "instances" in doc:
        arrays, layout = _rows(doc["instances"], names, specs), Layout.ROW
    else:
        arrays, layout = _columns(doc["inputs"], names, specs), Layout.COLUMN
    special = {
        name: SpecialInput.from_array(arrays.pop(name)) for name in SPECIAL_INPUTS.intersection(arrays)
    }
    request = InferenceRequest(
        model_name=model_name, model_version=model_version, inputs=arrays, special_inputs=special
    )
    return request, layout


def _dtype(specs: Mapping[str, DType], name: str) -> DType | None:
    return specs.get(name) or _SPECIAL_DTYPES.get(name)


def _load(body: bytes) -> dict[str, Any]:
    try:
        doc = json_numbers.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(JSON_INVALID, f"Error: {error}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(BODY_NOT_AN_OBJECT)
    return doc


def _rows(instances: object, names: Sequence[str], specs: Mapping[str, DType]) -> dict[str, Array]:
    if not isinstance(instances, list):
        raise InvalidInput(INSTANCES_NOT_AN_ARRAY, '"instances" must be a list')
    if not instances:
        raise InvalidInput(NO_INSTANCES, '"instances" is empty')
    if not _is_named(instances[0]):
        name = _only_input(names)
        return {name: _tensor(name, instances, _dtype(specs, name), INVALID_INSTANCE)}
    columns: dict[str, list[object]] = {}
    for index, instance in enumerate(instances):
        if not _is_named(instance):
            raise InvalidInput(NAMED_INSTANCE_NOT_AN_OBJECT, f"instance {index}")
        for name, value in instance.items():
            columns.setdefault(name, []).append(value)
    sizes = {name: len(values) for name, values in columns.items()}
    if len(set(sizes.values())) > 1:
        raise InvalidInput(BATCH_SIZES_DIFFER, f"instances per input: {sizes}")
    return {
        name: _tensor(name, values, _dtype(specs, name), INVALID_INSTANCE) for name, values in columns.items()
    }


def _columns(inputs: object, names: Sequence[str], specs: Mapping[str, DType]) -> dict[str, Array]:
    if _is_named(inputs):
        assert isinstance(inputs, dict)
        if not inputs:
            raise InvalidInput(NO_INPUTS, '"inputs" is an empty object')
        return {
            name: _tensor(name, value, _dtype(specs, name), INVALID_INPUT) for name, value in inputs.items()
        }
    if inputs is None:
        raise InvalidInput(INPUTS_NOT_AN_OBJECT, '"inputs" is null')
    name = _only_input(names)
    return {name: _tensor(name, inputs, _dtype(specs, name), INVALID_INPUT)}


def _is_named(value: object) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _is_b64(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _only_input(names: Sequence[str]) -> str:
    """The servable's one input (typed or not): values without names go to it."""
    if len(names) != 1:
        raise InvalidInput(
            INVALID_FORMAT,
            f"values without input names need a model with one input; this one has {len(names)}: "
            f"{sorted(names)}",
        )
    return names[0]


def _tensor(name: str, value: object, dtype: DType | None, parse_error: str) -> Array:
    leaf = value
    while isinstance(leaf, list) and leaf:
        leaf = leaf[0]
    if isinstance(leaf, (str, dict)):
        return _strings(name, value, dtype, parse_error)
    return _numbers(name, value, dtype, parse_error)


def _numbers(name: str, value: object, dtype: DType | None, parse_error: str) -> Array:
    if dtype is types.STRING:
        raise InvalidInput(parse_error, f"string input takes strings, got numbers; input name: {name}")
    if dtype is not None:
        if isinstance(value, list):
            return typed_values.array_of(name, dtype, value, parse_error)
        return typed_values.array_of(name, dtype, [value], parse_error).reshape(())
    try:
        with np.errstate(over="ignore"):
            return np.array(value, dtype=_guess(value))
    except (ValueError, TypeError, OverflowError) as error:
        raise InvalidInput(parse_error, f"{error}; input name: {name}") from None


def _guess(value: object) -> np.dtype[Any]:
    """The type of an input the model does not declare (it fails validation later): int32 or float32."""
    leaf = value
    while isinstance(leaf, list) and leaf:
        leaf = leaf[0]
    return np.dtype(np.int32 if type(leaf) is int else np.float32)


def _strings(name: str, value: object, dtype: DType | None, parse_error: str) -> Array:
    allow_text = dtype is None or dtype in _TEXT_DTYPES
    shape, items = _string_leaves(name, value, allow_text, parse_error)
    return tfs.bytes_array(items).reshape(shape)


def _string_leaves(
    name: str, value: object, allow_text: bool, parse_error: str
) -> tuple[tuple[int, ...], list[bytes]]:
    """The shape of a nested list of strings or ``{"b64": ...}`` objects, and its items in C order."""
    if not isinstance(value, list):
        return (), [_string_leaf(name, value, allow_text, parse_error)]
    shapes: set[tuple[int, ...]] = set()
    items: list[bytes] = []
    for element in value:
        shape, leaves = _string_leaves(name, element, allow_text, parse_error)
        shapes.add(shape)
        items += leaves
    if len(shapes) > 1:
        raise InvalidInput(parse_error, f"nested lists of different lengths; input name: {name}")
    return (len(value), *(shapes.pop() if shapes else ())), items


def _string_leaf(name: str, value: object, allow_text: bool, parse_error: str) -> bytes:
    if _is_b64(value):
        assert isinstance(value, dict)
        return _b64decode(name, value["b64"], parse_error)
    if isinstance(value, str):
        if not allow_text:
            raise InvalidInput(
                parse_error,
                f'plain strings are accepted only for U8 and string inputs; send binary data as {{"b64": ...}}; '
                f"input name: {name}",
            )
        return value.encode()
    raise InvalidInput(parse_error, f"strings mixed with other values; input name: {name}")


def _b64decode(name: str, text: object, parse_error: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput(parse_error, f'"b64" must be a string; input name: {name}')
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput(parse_error, f"invalid base64 ({error}); input name: {name}") from None


# ---- predict response ----


def encode_predict_response(resp: InferenceResponse, layout: Layout) -> bytes:
    """NaN and infinities are written as the bare tokens ``NaN``, ``Infinity``, ``-Infinity``, as TF Serving does."""
    return json_numbers.dumps(_document(resp, layout), resp.outputs.values())


def _document(resp: InferenceResponse, layout: Layout) -> dict[str, object]:
    outputs = resp.outputs
    if len(outputs) == 1:
        name, array = next(iter(outputs.items()))
        if layout is Layout.ROW:
            _batch_size(name, array)
        return {layout.value: _json_array(name, array)}
    if layout is Layout.COLUMN:
        return {layout.value: {name: _json_array(name, array) for name, array in outputs.items()}}
    return {layout.value: _rows_of(outputs)}


def _rows_of(outputs: Mapping[str, Array]) -> list[dict[str, object]]:
    sizes = {name: _batch_size(name, array) for name, array in outputs.items()}
    if len(set(sizes.values())) > 1:
        raise InternalError(
            INVALID_OUTPUT, f"the row format needs outputs with one batch size, got {sizes}; use columns"
        )
    columns = {name: _json_array(name, array) for name, array in outputs.items()}
    batch = next(iter(sizes.values()))
    return [{name: _item(column, row) for name, column in columns.items()} for row in range(batch)]


def _item(column: object, row: int) -> object:
    assert isinstance(column, (list, np.ndarray))
    return column[row]


def _batch_size(name: str, array: Array) -> int:
    if array.ndim == 0:
        raise InternalError(INVALID_OUTPUT, f"output {name} is a scalar, which the row format cannot hold")
    return int(array.shape[0])


def _json_array(name: str, array: Array) -> object:
    """What orjson writes natively: a C-contiguous numeric array, or nested lists of strings."""
    if array.dtype.kind in "OSU":
        return _strings_out(name, array)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    return np.ascontiguousarray(array)


def _strings_out(name: str, array: Array) -> object:
    """Text as JSON strings; ``*_bytes`` outputs and bytes that are not UTF-8 as ``{"b64": ...}``."""
    as_b64 = name.endswith(BYTES_SUFFIX)
    flat = [_string_out(as_bytes(element), as_b64) for element in array.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim != 1 else flat


def _string_out(data: bytes, as_b64: bool) -> object:
    if not as_b64:
        try:
            return data.decode()
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(data).decode()}


# ---- status and metadata ----


def encode_model_status(statuses: Sequence[VersionStatus]) -> bytes:
    return _proto_json(tfs.model_status_response(statuses))


def encode_model_metadata(meta: ModelMetadata, version: int) -> bytes:
    return _proto_json(tfs.model_metadata_response(meta, version))


def _proto_json(message: Message) -> bytes:
    """Proto3 JSON as TF Serving and OVMS write it: default values printed, int64 as strings."""
    text: str = json_format.MessageToJson(
        message, indent=1, descriptor_pool=POOL, always_print_fields_with_no_presence=True
    )
    return text.encode()


def encode_config_status(statuses: Mapping[str, Sequence[VersionStatus]]) -> bytes:
    """``GET /v1/config``: every servable's GetModelStatusResponse JSON, keyed by name, sorted (spec §4.7)."""
    documents = {name: orjson.loads(encode_model_status(statuses[name])) for name in sorted(statuses)}
    return orjson.dumps(documents, option=orjson.OPT_INDENT_2)
