"""OVMS's custom node C ABI (``custom_node_interface.h``, spec §8.5) declared for ctypes.

Structs keep OVMS's field order and C types; ``CustomNodeTensorPrecision`` is a C ``int`` enum.
"""

from __future__ import annotations

import ctypes

from ovms_cli import types
from ovms_cli.types import DType

UNSPECIFIED = 0
PRECISIONS: dict[int, DType] = {
    1: types.FP32,
    2: types.FP16,
    3: types.U8,
    4: types.I8,
    5: types.I16,
    6: types.U16,
    7: types.I32,
    8: types.FP64,
    9: types.I64,
}
PRECISION_OF: dict[DType, int] = {dtype: code for code, dtype in PRECISIONS.items()}


class CustomNodeTensor(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("data", ctypes.POINTER(ctypes.c_uint8)),
        ("dataBytes", ctypes.c_uint64),
        ("dims", ctypes.POINTER(ctypes.c_uint64)),
        ("dimsCount", ctypes.c_uint64),
        ("precision", ctypes.c_int),
    ]


class CustomNodeTensorInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dims", ctypes.POINTER(ctypes.c_uint64)),
        ("dimsCount", ctypes.c_uint64),
        ("precision", ctypes.c_int),
    ]


class CustomNodeParam(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("value", ctypes.c_char_p)]


_int = ctypes.c_int
_void_p = ctypes.c_void_p
_params = ctypes.POINTER(CustomNodeParam)
_infos_out = ctypes.POINTER(ctypes.POINTER(CustomNodeTensorInfo))

# symbol → (argument types); every symbol returns int, 0 = success.
SIGNATURES: dict[str, list[type]] = {
    "initialize": [ctypes.POINTER(_void_p), _params, _int],
    "deinitialize": [_void_p],
    "execute": [
        ctypes.POINTER(CustomNodeTensor),
        _int,
        ctypes.POINTER(ctypes.POINTER(CustomNodeTensor)),
        ctypes.POINTER(_int),
        _params,
        _int,
        _void_p,
    ],
    "getInputsInfo": [_infos_out, ctypes.POINTER(_int), _params, _int, _void_p],
    "getOutputsInfo": [_infos_out, ctypes.POINTER(_int), _params, _int, _void_p],
    "release": [_void_p, _void_p],
}
