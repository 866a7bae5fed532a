"""One table of element types: OpenVINO, OVMS's names, KServe, TensorFlow and numpy (spec Appendix B)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov


@dataclass(frozen=True, slots=True)
class DType:
    ovms: str  # name used in OVMS messages: FP32, I64, ...
    kserve: str  # KServe datatype: FP32, INT64, BYTES, ...
    tf: int  # tensorflow.DataType enum value (0 = DT_INVALID)
    numpy: np.dtype[np.generic]
    ov: ov.Type

    @property
    def itemsize(self) -> int:
        """Bytes per element on the wire (BYTES counts one, as KServe does)."""
        return 1 if self.numpy.kind == "O" else self.numpy.itemsize


def _t(ovms: str, kserve: str, tf: int, np_type: type[np.generic], ov_type: ov.Type) -> DType:
    return DType(ovms, kserve, tf, np.dtype(np_type), ov_type)


FP32 = _t("FP32", "FP32", 1, np.float32, ov.Type.f32)
FP64 = _t("FP64", "FP64", 2, np.float64, ov.Type.f64)
FP16 = _t("FP16", "FP16", 19, np.float16, ov.Type.f16)
I64 = _t("I64", "INT64", 9, np.int64, ov.Type.i64)
I32 = _t("I32", "INT32", 3, np.int32, ov.Type.i32)
I16 = _t("I16", "INT16", 5, np.int16, ov.Type.i16)
I8 = _t("I8", "INT8", 6, np.int8, ov.Type.i8)
U64 = _t("U64", "UINT64", 23, np.uint64, ov.Type.u64)
U32 = _t("U32", "UINT32", 22, np.uint32, ov.Type.u32)
U16 = _t("U16", "UINT16", 17, np.uint16, ov.Type.u16)
U8 = _t("U8", "UINT8", 4, np.uint8, ov.Type.u8)
BOOL = _t("BOOL", "BOOL", 10, np.bool_, ov.Type.boolean)
STRING = _t("STRING", "BYTES", 7, np.object_, ov.Type.string)
BYTES = STRING

ALL: tuple[DType, ...] = (FP32, FP64, FP16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, STRING)

BY_KSERVE: dict[str, DType] = {d.kserve: d for d in ALL}
BY_NUMPY: dict[np.dtype[np.generic], DType] = {d.numpy: d for d in ALL}
_BY_OV: dict[str, DType] = {d.ov.get_type_name(): d for d in ALL}


def from_ov(element_type: ov.Type) -> DType | None:
    """The DType of an OpenVINO element type, or None where no API can carry it (bf16, i4, ...)."""
    return _BY_OV.get(element_type.get_type_name())


def from_kserve(name: str) -> DType | None:
    return BY_KSERVE.get(name)


def from_numpy(dtype: np.dtype[np.generic]) -> DType | None:
    if dtype.kind in "SUO":
        return STRING
    return BY_NUMPY.get(dtype)
