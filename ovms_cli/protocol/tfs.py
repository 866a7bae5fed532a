"""TensorFlow Serving rules shared by the gRPC and REST codecs.

DataType ⇄ DType (spec Appendix B), TensorProto ⇄ numpy, model specs, and the status and metadata
messages built from the core's types. Requests are read from ``tensor_content`` (zero copy) or from
the typed ``*_val`` field of their dtype, as TensorFlow's and ovmsclient's ``make_tensor_proto``
write them; responses carry numbers in ``tensor_content`` and strings in ``string_val``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ovms_cli import types
from ovms_cli._proto.tensorflow.core.framework.tensor_pb2 import TensorProto
from ovms_cli._proto.tensorflow.core.framework.tensor_shape_pb2 import TensorShapeProto
from ovms_cli._proto.tensorflow.core.framework.types_pb2 import DataType
from ovms_cli._proto.tensorflow.core.protobuf.meta_graph_pb2 import SignatureDef, TensorInfo
from ovms_cli._proto.tensorflow_serving.apis.get_model_metadata_pb2 import (
    GetModelMetadataRequest,
    GetModelMetadataResponse,
    SignatureDefMap,
)
from ovms_cli._proto.tensorflow_serving.apis.get_model_status_pb2 import (
    GetModelStatusRequest,
    GetModelStatusResponse,
    ModelVersionStatus,
)
from ovms_cli._proto.tensorflow_serving.apis.model_pb2 import ModelSpec
from ovms_cli._proto.tensorflow_serving.apis.predict_pb2 import PredictRequest
from ovms_cli._proto.tensorflow_serving.util.status_pb2 import StatusProto
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol.tensor_shape import check_extent
from ovms_cli.protocol.typed_values import check_range
from ovms_cli.protocol.wire_buffer import array_over
from ovms_cli.types import (
    Array,
    DType,
    ModelMetadata,
    SpecialInput,
    TensorMetadata,
    VersionStatus,
    as_bytes,
)

SIGNATURE_DEF = "signature_def"
SERVING_DEFAULT = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"

MODEL_SPEC_MISSING = "model_spec missing in request"
INVALID_CONTENT_SIZE = "Invalid content size of tensor proto"
INVALID_VALUE_COUNT = "Invalid number of values in tensor proto container"
INVALID_SHAPE = "Invalid input shape"
INVALID_CONTENT = "Invalid content of tensor proto"

# TensorProto fields that describe a tensor rather than hold its values.
_HEADER_FIELDS = frozenset({"dtype", "tensor_shape", "version_number"})

Request = PredictRequest | GetModelMetadataRequest | GetModelStatusRequest

_BY_TF: dict[int, DType] = {d.tf: d for d in types.ALL if d.tf}
_TF_NAMES: dict[DType, str] = {d: DataType.Name(d.tf) for d in types.ALL}

# Where a TensorProto of each type keeps its values when tensor_content is empty (TF's tensor.proto).
_VALUE_FIELD: dict[DType, str] = {
    types.FP32: "float_val",
    types.FP64: "double_val",
    types.FP16: "half_val",
    types.I64: "int64_val",
    types.I32: "int_val",
    types.I16: "int_val",
    types.I8: "int_val",
    types.U16: "int_val",
    types.U8: "int_val",
    types.U64: "uint64_val",
    types.U32: "uint32_val",
    types.BOOL: "bool_val",
    types.STRING: "string_val",
}

# The numpy type each typed field's values arrive in, before the cast to the tensor's own type.
_FIELD_NUMPY: dict[str, type[np.generic]] = {
    "float_val": np.float32,
    "double_val": np.float64,
    "half_val": np.int32,
    "int64_val": np.int64,
    "int_val": np.int32,
    "uint64_val": np.uint64,
    "uint32_val": np.uint32,
    "bool_val": np.bool_,
}


_MAX_SPECIAL_VALUES = 1 << 16  # a special input holds one value; more is refused unread

# ---- model specs ----


def model_target(request: Request) -> tuple[str, int | None]:
    """The model name and version a request's required ``model_spec`` names.

    An unset version or 0 is the default version; a version label is ignored.
    """
    if not request.HasField("model_spec"):
        raise InvalidInput(MODEL_SPEC_MISSING)
    spec = request.model_spec
    version: int = spec.version.value
    return spec.name, version or None


# ---- tensors: wire to core ----


def dtype_of(tf_type: int, name: str) -> DType:
    dtype = _BY_TF.get(tf_type)
    if dtype is None:
        raise InvalidInput(
            "Invalid input precision", f"Unsupported DataType: {_type_name(tf_type)}; input name: {name}"
        )
    return dtype


def _type_name(tf_type: int) -> str:
    try:
        name: str = DataType.Name(tf_type)
    except ValueError:
        return str(tf_type)
    return name


def shape_of(name: str, shape: TensorShapeProto, dtype: DType) -> tuple[int, ...]:
    """The dims of ``shape``, non-negative and few and small enough for numpy (``check_extent``)."""
    dims = tuple(int(dim.size) for dim in shape.dim)
    if any(d < 0 for d in dims):
        raise InvalidInput(
            INVALID_SHAPE,
            f"Negative dimension size is not acceptable: ({','.join(map(str, dims))}); input name: {name}",
        )
    if shape.unknown_rank:
        raise InvalidInput(
            INVALID_SHAPE, f"a request tensor's rank must be known (unknown_rank is set); input name: {name}"
        )
    check_extent(name, dims, dtype.numpy.itemsize)
    return dims


def tensor_to_array(name: str, tensor: TensorProto) -> Array:
    """A request tensor as numpy: a view of ``tensor_content``'s bytes, else read from its typed field."""
    dtype = dtype_of(tensor.dtype, name)
    shape = shape_of(name, tensor.tensor_shape, dtype)
    count = math.prod(shape)
    content: bytes = tensor.tensor_content
    field = _VALUE_FIELD[dtype]
    _check_value_fields(name, dtype, tensor, field)
    if content and dtype is not types.STRING:
        return _from_content(name, dtype, shape, count, content)
    values = getattr(tensor, field)
    if len(values) != count:
        raise InvalidInput(
            INVALID_VALUE_COUNT,
            f"Expected: {count}; Actual: {len(values)}; field: {field}; input name: {name}",
        )
    if dtype is types.STRING:
        return bytes_array(values).reshape(shape)
    return _from_values(name, dtype, field, values, count).reshape(shape)


def special_input(name: str, tensor: TensorProto) -> SpecialInput:
    """A stateful model's special input (spec §9.2) as sent: its shape (None without ``tensor_shape``) and the
    values of the field they are in, typed by that field (``uint64_val`` → uint64, ``int64_val`` → int64, ...;
    ``tensor_content`` by ``dtype``), so that a value in the wrong field reads as the wrong type."""
    shape = None
    if tensor.HasField("tensor_shape"):
        shape = tuple(int(dim.size) for dim in tensor.tensor_shape.dim)
    for descriptor, values in tensor.ListFields():
        if descriptor.name in _HEADER_FIELDS:
            continue
        if descriptor.name == "tensor_content":
            dtype = _BY_TF.get(tensor.dtype)
            if dtype is None or dtype is types.STRING or len(values) % dtype.itemsize:
                break
            return SpecialInput(shape, np.frombuffer(values, dtype=dtype.numpy))
        numpy_type = _FIELD_NUMPY.get(descriptor.name)
        if numpy_type is None or len(values) > _MAX_SPECIAL_VALUES:
            break
        return SpecialInput(shape, np.fromiter(values, dtype=numpy_type, count=len(values)))
    return SpecialInput(shape, np.empty(0, dtype=np.uint8))  # no value, or not a number: the wrong type


def _check_value_fields(name: str, dtype: DType, tensor: TensorProto, field: str) -> None:
    """Values in a field this dtype does not read would be silently dropped: refuse them."""
    for descriptor, _ in tensor.ListFields():
        if descriptor.name in _HEADER_FIELDS or descriptor.name == field:
            continue
        if descriptor.name == "tensor_content" and dtype is not types.STRING:
            if getattr(tensor, field):
                raise InvalidInput(
                    INVALID_CONTENT,
                    f"values in both tensor_content and {field}; send one of them; input name: {name}",
                )
            continue
        where = field if dtype is types.STRING else f"tensor_content or {field}"
        raise InvalidInput(
            INVALID_CONTENT,
            f"{_TF_NAMES[dtype]} values belong in {where}, got values in {descriptor.name}; input name: {name}",
        )


def _from_content(name: str, dtype: DType, shape: tuple[int, ...], count: int, content: bytes) -> Array:
    expected = count * dtype.itemsize
    if len(content) != expected:
        raise InvalidInput(
            INVALID_CONTENT_SIZE,
            f"Expected: {expected} bytes; Actual: {len(content)} bytes; input name: {name}",
        )
    return array_over(content, dtype.numpy, shape)


def _from_values(name: str, dtype: DType, field: str, values: Iterable[object], count: int) -> Array:
    """The typed field's values as ``dtype``; a value the type cannot hold is refused, not wrapped."""
    flat = np.fromiter(values, dtype=_FIELD_NUMPY[field], count=count)
    if dtype is types.FP16:  # half_val holds each value's 16-bit pattern
        if count:
            check_range(name, f"{field} (16-bit patterns)", np.dtype(np.uint16), flat, INVALID_CONTENT)
        return flat.astype(np.uint16).view(np.float16)
    if count and dtype.numpy.kind in "iu" and dtype.numpy != flat.dtype:
        check_range(name, _TF_NAMES[dtype], dtype.numpy, flat, INVALID_CONTENT)
    return flat.astype(dtype.numpy, copy=False)


def bytes_array(items: Iterable[bytes]) -> Array:
    """A 1-D object array of ``bytes``, the core's form of a batch of strings or encoded images."""
    values = list(items)
    out = np.empty(len(values), dtype=np.object_)
    out[:] = values
    return out


# ---- tensors: core to wire ----


def output_dtype(name: str, arr: Array) -> DType:
    dtype = types.from_numpy(arr.dtype)
    if dtype is None or not dtype.tf:
        raise InternalError("Unsupported serialization precision", f"dtype: {arr.dtype}; output name: {name}")
    return dtype


def shape_proto(shape: Sequence[int]) -> TensorShapeProto:
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in shape])


def tensor_header(name: str, arr: Array) -> TensorProto:
    """An output's TensorProto without its numeric data: dtype, shape and, for strings, string_val."""
    dtype = output_dtype(name, arr)
    tensor = TensorProto(dtype=_TF_NAMES[dtype], tensor_shape=shape_proto(arr.shape))
    if dtype is types.STRING:
        tensor.string_val.extend(as_bytes(element) for element in arr.ravel().tolist())
    return tensor


def tensor_content(arr: Array) -> bytes | memoryview:
    """An output's C-order bytes, sharing ``arr``'s memory when it is contiguous."""
    if arr.dtype.kind in "OSU":
        return b""
    return np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data


def array_to_tensor(name: str, arr: Array) -> TensorProto:
    tensor = tensor_header(name, arr)
    content = tensor_content(arr)
    if content:
        tensor.tensor_content = bytes(content)
    return tensor


# ---- status and metadata ----


def model_status_response(statuses: Iterable[VersionStatus]) -> GetModelStatusResponse:
    return GetModelStatusResponse(model_version_status=[_version_status(status) for status in statuses])


def _version_status(status: VersionStatus) -> ModelVersionStatus:
    """OVMS puts the code's name in ``error_message``; a failed load also says why after it."""
    message = status.error_code.name
    if status.reason:
        message = f"{message} - {status.reason}"
    return ModelVersionStatus(
        version=status.version,
        state=status.state.name,  # the core's states and codes are named as TF Serving's enums
        status=StatusProto(error_code=status.error_code.name, error_message=message),
    )


def model_metadata_response(meta: ModelMetadata, version: int) -> GetModelMetadataResponse:
    """The served ``version``'s signature as the one ``serving_default`` SignatureDef, packed in an Any."""
    signature = SignatureDef(
        inputs={tensor.name: _tensor_info(tensor) for tensor in meta.inputs},
        outputs={tensor.name: _tensor_info(tensor) for tensor in meta.outputs},
        method_name=PREDICT_METHOD,
    )
    signatures = SignatureDefMap(signature_def={SERVING_DEFAULT: signature})
    response = GetModelMetadataResponse(model_spec=ModelSpec(name=meta.name))
    response.model_spec.version.value = version
    packed = response.metadata[SIGNATURE_DEF]
    # Any.Pack would look SignatureDefMap up in protobuf's default pool; ours is private.
    packed.type_url = SIGNATURE_DEF_MAP_URL
    packed.value = signatures.SerializeToString()
    return response


def _tensor_info(tensor: TensorMetadata) -> TensorInfo:
    # A pipeline input or output no node declares a type for is DT_INVALID, as OVMS reports it (spec §8.4).
    dtype = _TF_NAMES.get(tensor.dtype, "DT_INVALID")
    return TensorInfo(name=tensor.name, dtype=dtype, tensor_shape=shape_proto(tensor.shape))
