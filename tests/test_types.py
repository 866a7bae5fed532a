import subprocess
import sys

import numpy as np
import openvino as ov
import pytest

from ovms_cli import types
from ovms_cli.inference import ov_types


@pytest.mark.parametrize(
    ("ov_type", "kserve", "ovms", "tf", "numpy"),
    [
        (ov.Type.f32, "FP32", "FP32", 1, np.float32),
        (ov.Type.f64, "FP64", "FP64", 2, np.float64),
        (ov.Type.f16, "FP16", "FP16", 19, np.float16),
        (ov.Type.i64, "INT64", "I64", 9, np.int64),
        (ov.Type.i32, "INT32", "I32", 3, np.int32),
        (ov.Type.i16, "INT16", "I16", 5, np.int16),
        (ov.Type.i8, "INT8", "I8", 6, np.int8),
        (ov.Type.u64, "UINT64", "U64", 23, np.uint64),
        (ov.Type.u32, "UINT32", "U32", 22, np.uint32),
        (ov.Type.u16, "UINT16", "U16", 17, np.uint16),
        (ov.Type.u8, "UINT8", "U8", 4, np.uint8),
        (ov.Type.boolean, "BOOL", "BOOL", 10, np.bool_),
    ],
)
def test_every_numeric_type_maps_the_same_way_in_every_direction(
    ov_type: ov.Type, kserve: str, ovms: str, tf: int, numpy: type[np.generic]
) -> None:
    dtype = ov_types.from_ov(ov_type)
    assert dtype is not None
    assert (dtype.kserve, dtype.ovms, dtype.tf, dtype.numpy) == (kserve, ovms, tf, np.dtype(numpy))
    assert types.from_kserve(kserve) is dtype
    assert types.from_numpy(np.dtype(numpy)) is dtype
    assert dtype.itemsize == np.dtype(numpy).itemsize


def test_bytes_are_strings_of_one_byte_per_element_on_the_wire() -> None:
    assert types.from_kserve("BYTES") is types.STRING
    assert types.STRING.itemsize == 1
    for kind in (np.dtype(object), np.dtype("S3"), np.dtype("U3")):
        assert types.from_numpy(kind) is types.STRING


def test_types_no_api_carries_have_no_dtype() -> None:
    assert ov_types.from_ov(ov.Type.bf16) is None
    assert types.from_kserve("FP8") is None


def test_the_codecs_decode_without_importing_openvino() -> None:
    code = (
        "import sys\n"
        "import ovms_cli.protocol.kserve_grpc, ovms_cli.protocol.kserve_rest\n"
        "import ovms_cli.protocol.tfs_grpc, ovms_cli.protocol.tfs_rest\n"
        "print(sorted(m for m in sys.modules if m == 'openvino' or m.startswith('openvino.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_special_input_as_an_ordinary_input_keeps_its_shape_only_when_it_fits() -> None:
    values = np.array([1, 2], np.uint64)
    assert types.SpecialInput((1, 2), values).as_array().shape == (1, 2)
    for shape in (None, (3,), (-1, -2), (2**40, 2**40)):
        assert types.SpecialInput(shape, values).as_array().shape == (2,)
