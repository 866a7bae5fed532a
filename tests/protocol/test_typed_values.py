from __future__ import annotations

import math

import numpy as np
import pytest

from ovms_cli.errors import InvalidInput
from ovms_cli.inference import dtypes
from ovms_cli.inference.dtypes import DType
from ovms_cli.inference.request import Array
from ovms_cli.protocol.typed_values import array_of, check_range

ERROR = "Could not parse input content. Not valid ndarray detected"


def refusal(dtype: DType, values: list[object]) -> str:
    with pytest.raises(InvalidInput) as info:
        array_of("x", dtype, values)
    message = info.value.message
    assert message.startswith(f"{ERROR} - ")
    assert message.endswith("; input name: x")
    return message.removeprefix(f"{ERROR} - ").removesuffix("; input name: x")


@pytest.mark.parametrize(
    ("dtype", "values", "expected"),
    [
        (dtypes.FP32, [1, 2.5, -3], np.array([1, 2.5, -3], np.float32)),
        (dtypes.FP64, [[1, 2], [3, 4.5]], np.array([[1, 2], [3, 4.5]], np.float64)),
        (dtypes.I32, [0, 1, -7], np.array([0, 1, -7], np.int32)),
        (dtypes.U8, [0, 1, 255], np.array([0, 1, 255], np.uint8)),
        (dtypes.U64, [2**64 - 1, 1], np.array([2**64 - 1, 1], np.uint64)),
        (dtypes.I64, [-(2**63), 2**63 - 1], np.array([-(2**63), 2**63 - 1], np.int64)),
        (dtypes.BOOL, [True, False], np.array([True, False])),
        (dtypes.FP32, [], np.zeros(0, np.float32)),
    ],
)
def test_values_of_their_type(dtype: DType, values: list[object], expected: Array) -> None:
    out = array_of("x", dtype, values)
    assert out.dtype == expected.dtype
    assert out.tolist() == expected.tolist()


def test_non_finite_floats_are_kept() -> None:
    out = array_of("x", dtypes.FP32, [math.nan, math.inf, -math.inf, 0.0])
    assert [math.isnan(out[0]), *out[1:].tolist()] == [True, math.inf, -math.inf, 0.0]


@pytest.mark.parametrize(
    ("dtype", "values", "expected"),
    [
        (dtypes.FP32, [True, 2, 3, 4], "FP32 data must be numbers, got True at index 0"),
        (dtypes.FP32, [[1.5, 0.0], [1.0, False]], "FP32 data must be numbers, got False at index [1, 1]"),
        (dtypes.I64, [3, True], "INT64 data must be integers, got True at index 1"),
        (dtypes.I32, [1, 1.5], "INT32 data must be integers, got 1.5 at index 1"),
        (dtypes.I8, [[1.0]], "INT8 data must be integers, got 1.0 at index [0, 0]"),
        (dtypes.BOOL, [True, 1], "BOOL data must be booleans, got 1 at index 1"),
        (dtypes.FP32, [1, "2"], "FP32 data must be numbers, got '2' at index 1"),
        (dtypes.FP32, [None], "FP32 data must be numbers, got None at index 0"),
        (dtypes.FP32, [{"a": 1}], "FP32 data must be numbers, got {'a': 1} at index 0"),
        (dtypes.U8, [1, 300], "value 300 at index 1 is out of range for UINT8 [0, 255]"),
        (dtypes.U8, [[1, 2], [3, -1]], "value -1 at index [1, 1] is out of range for UINT8 [0, 255]"),
        (
            dtypes.I64,
            [2**63],
            "value 9223372036854775808 at index 0 is out of range for INT64 "
            "[-9223372036854775808, 9223372036854775807]",
        ),
        (
            dtypes.U64,
            [2**64 - 1, -1],
            "value -1 at index 1 is out of range for UINT64 [0, 18446744073709551615]",
        ),
        (dtypes.FP32, [0.5, 1e300], "value 1e+300 at index 1 is out of range for FP32"),
        (dtypes.FP16, [70000], "value 70000 at index 0 is out of range for FP16"),
    ],
)
def test_values_the_type_cannot_hold(dtype: DType, values: list[object], expected: str) -> None:
    assert refusal(dtype, values) == expected


def test_ragged_lists() -> None:
    assert "inhomogeneous" in refusal(dtypes.FP32, [[1, 2], [3]])


def test_check_range_on_a_typed_field() -> None:
    check_range("x", "DT_INT8", np.dtype(np.int8), np.array([-128, 127], np.int32), ERROR)
    with pytest.raises(InvalidInput) as info:
        check_range("x", "DT_INT8", np.dtype(np.int8), np.array([5, 300], np.int32), ERROR)
    assert (
        info.value.message
        == f"{ERROR} - value 300 at index 1 is out of range for DT_INT8 [-128, 127]; input name: x"
    )
