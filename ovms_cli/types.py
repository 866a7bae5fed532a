"""The core's value types, free of OpenVINO and of every wire format.

Codecs (``ovms_cli.protocol``) depend on this module alone, so decoding a request never imports
OpenVINO (tests/test_types.py checks it in a fresh interpreter). It holds:

- the element type table: OpenVINO's, OVMS's, KServe's, TensorFlow's and numpy's names of each
  type (spec Appendix B); ``ovms_cli.inference.ov_types`` maps ``openvino.Type`` onto it;
- ``InferenceRequest``/``InferenceResponse``: names and numpy arrays;
- ``SpecialInput``: a stateful model's ``sequence_id`` / ``sequence_control_input`` as the wire carried it;
- ``TensorMetadata``/``ModelMetadata``: what a servable tells clients about itself;
- ``State``/``ErrorCode``/``VersionStatus``: version states numbered as TensorFlow Serving's
  protos (spec §3.5);
- ``as_bytes`` and ``format_shape``: how a string element and a shape are spelt in messages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

Parameter = bool | int | str
Array = npt.NDArray[np.generic]


# --- element types ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DType:
    ovms: str  # name used in OVMS messages: FP32, I64, ...
    kserve: str  # KServe datatype: FP32, INT64, BYTES, ...
    tf: int  # tensorflow.DataType enum value (0 = DT_INVALID)
    numpy: np.dtype[np.generic]
    ov: str  # OpenVINO's element type name (openvino.Type.get_type_name()): f32, i64, string, ...

    @property
    def itemsize(self) -> int:
        """Bytes per element on the wire (BYTES counts one, as KServe does)."""
        return 1 if self.numpy.kind == "O" else self.numpy.itemsize


def _t(ovms: str, kserve: str, tf: int, np_type: type[np.generic], ov_name: str) -> DType:
    return DType(ovms, kserve, tf, np.dtype(np_type), ov_name)


FP32 = _t("FP32", "FP32", 1, np.float32, "f32")
FP64 = _t("FP64", "FP64", 2, np.float64, "f64")
FP16 = _t("FP16", "FP16", 19, np.float16, "f16")
I64 = _t("I64", "INT64", 9, np.int64, "i64")
I32 = _t("I32", "INT32", 3, np.int32, "i32")
I16 = _t("I16", "INT16", 5, np.int16, "i16")
I8 = _t("I8", "INT8", 6, np.int8, "i8")
U64 = _t("U64", "UINT64", 23, np.uint64, "u64")
U32 = _t("U32", "UINT32", 22, np.uint32, "u32")
U16 = _t("U16", "UINT16", 17, np.uint16, "u16")
U8 = _t("U8", "UINT8", 4, np.uint8, "u8")
BOOL = _t("BOOL", "BOOL", 10, np.bool_, "boolean")
STRING = _t("STRING", "BYTES", 7, np.object_, "string")
BYTES = STRING

ALL: tuple[DType, ...] = (FP32, FP64, FP16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, STRING)

BY_KSERVE: dict[str, DType] = {d.kserve: d for d in ALL}
BY_NUMPY: dict[np.dtype[np.generic], DType] = {d.numpy: d for d in ALL}
BY_OV_NAME: dict[str, DType] = {d.ov: d for d in ALL}


def from_kserve(name: str) -> DType | None:
    return BY_KSERVE.get(name)


def from_numpy(dtype: np.dtype[np.generic]) -> DType | None:
    if dtype.kind in "SUO":
        return STRING
    return BY_NUMPY.get(dtype)


# --- requests and responses ------------------------------------------------------------------

# The special inputs of a stateful model's request (spec §9.2); ``servables.stateful.special_inputs`` judges them.
SEQUENCE_ID = "sequence_id"
SEQUENCE_CONTROL_INPUT = "sequence_control_input"
SPECIAL_INPUTS = frozenset({SEQUENCE_ID, SEQUENCE_CONTROL_INPUT})


@dataclass(frozen=True, slots=True)
class SpecialInput:
    """A special input as the wire carried it.

    ``shape``: the declared shape, ``None`` when the message had none (TFS ``tensor_shape`` unset).
    ``values``: the values, flat, with the dtype of the field they came in.
    """

    shape: tuple[int, ...] | None
    values: Array

    @classmethod
    def from_array(cls, array: Array) -> SpecialInput:
        """An input whose shape and values are one numpy array (KServe, TFS REST)."""
        return cls(tuple(array.shape), array.reshape(-1))

    def as_array(self) -> Array:
        """As an ordinary input (for a servable that is not stateful): the values in the declared shape,
        flat when there is none or it does not fit them."""
        shape = self.shape
        if shape is not None and all(d >= 0 for d in shape) and math.prod(shape) == self.values.size:
            return self.values.reshape(shape)
        return self.values


@dataclass(slots=True)
class InferenceRequest:
    model_name: str
    model_version: int | None  # None: the model's default (highest available) version
    inputs: dict[str, Array]
    requested_outputs: tuple[str, ...] = ()  # empty: every output
    id: str = ""
    parameters: dict[str, Parameter] = field(default_factory=dict)
    special_inputs: dict[str, SpecialInput] = field(default_factory=dict)  # SPECIAL_INPUTS found, by name


@dataclass(slots=True)
class InferenceResponse:
    model_name: str
    model_version: int
    outputs: dict[str, Array]
    id: str = ""
    parameters: dict[str, Parameter] = field(default_factory=dict)


# --- metadata --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TensorMetadata:
    name: str
    dtype: DType
    shape: tuple[int, ...]  # -1 where the dimension is not fixed


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    name: str
    versions: tuple[int, ...]  # every AVAILABLE version
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    platform: str = "OpenVINO"


# --- version status --------------------------------------------------------------------------


class State(IntEnum):
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


class ErrorCode(IntEnum):
    OK = 0
    UNKNOWN = 2
    FAILED_PRECONDITION = 9


@dataclass(frozen=True, slots=True)
class VersionStatus:
    version: int
    state: State
    error_code: ErrorCode = ErrorCode.OK
    reason: str = ""  # why a load failed; empty otherwise


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """One line of the KServe v2 repository index: a model version, or a model with no version loaded.

    ``state`` is Triton's spelling (``READY``, ``LOADING``, ``UNLOADING``, ``UNAVAILABLE``);
    ``reason`` says why a model is UNAVAILABLE (``unloaded``, ``not loaded``, a load failure).
    """

    name: str
    version: int | None
    state: str
    reason: str = ""


# --- spelling in messages --------------------------------------------------------------------


def as_bytes(element: object) -> bytes:
    """One string element as bytes: str as UTF-8, anything else not bytes-like through ``str``."""
    if isinstance(element, bytes):
        return element
    if isinstance(element, str):
        return element.encode()
    if isinstance(element, (bytearray, memoryview, np.bytes_)):
        return bytes(element)
    return str(element).encode()


def format_shape(dims: Sequence[object]) -> str:
    """``(1,3,224,224)`` as OVMS prints shapes in messages."""
    return "(" + ",".join(str(d) for d in dims) + ")"
