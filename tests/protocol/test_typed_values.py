from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ovms_cli import types
from ovms_cli.errors import InvalidInput
from ovms_cli.protocol.typed_values import array_of, check_range
from ovms_cli.types import Array, DType

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
        (types.FP32, [1, 2.5, -3], np.array([1, 2.5, -3], np.float32)),
        (types.FP64, [[1, 2], [3, 4.5]], np.array([[1, 2], [3, 4.5]], np.float64)),
        (types.I32, [0, 1, -7], np.array([0, 1, -7], np.int32)),
        (types.U8, [0, 1, 255], np.array([0, 1, 255], np.uint8)),
        (types.U64, [2**64 - 1, 1], np.array([2**64 - 1, 1], np.uint64)),
        (types.I64, [-(2**63), 2**63 - 1], np.array([-(2**63), 2**63 - 1], np.int64)),
        (types.BOOL, [True, False], np.array([True, False])),
        (types.FP32, [], np.zeros(0, np.float32)),
    ],
)
def test_values_of_their_type(dtype: DType, values: list[object], expected: Array) -> None:
    out = array_of("x", dtype, values)
    assert out.dtype == expected.dtype
    assert out.tolist() == expected.tolist()


def test_non_finite_floats_are_kept() -> None:
    out = array_of("x", types.FP32, [math.nan, math.inf, -math.inf, 0.0])
    assert [math.isnan(out[0]), *out[1:].tolist()] == [True, math.inf, -math.inf, 0.0]


@pytest.mark.parametrize(
    ("dtype", "values", "expected"),
    [
        (types.FP32, [True, 2, 3, 4], "FP32 data must be numbers, got True at index 0"),
        (types.FP32, [[1.5, 0.0], [1.0, False]], "FP32 data must be numbers, got False at index [1, 1]"),
        (types.I64, [3, True], "INT64 data must be integers, got True at index 1"),
        (types.I32, [1, 1.5], "INT32 data must be integers, got 1.5 at index 1"),
        (types.I8, [[1.0]], "INT8 data must be integers, got 1.0 at index [0, 0]"),
        (types.BOOL, [True, 1], "BOOL data must be booleans, got 1 at index 1"),
        (types.FP32, [1, "2"], "FP32 data must be numbers, got '2' at index 1"),
        (types.FP32, [None], "FP32 data must be numbers, got None at index 0"),
        (types.FP32, [{"a": 1}], "FP32 data must be numbers, got {'a': 1} at index 0"),
        (types.U8, [1, 300], "value 300 at index 1 is out of range for UINT8 [0, 255]"),
        (types.U8, [[1, 2], [3, -1]], "value -1 at index [1, 1] is out of range for UINT8 [0, 255]"),
        (
            types.I64,
            [2**63],
            "value 9223372036854775808 at index 0 is out of range for INT64 "
            "[-9223372036854775808, 9223372036854775807]",
        ),
        (
            types.U64,
            [2**64 - 1, -1],
            "value -1 at index 1 is out of range for UINT64 [0, 18446744073709551615]",
        ),
        (types.FP32, [0.5, 1e300], "value 1e+300 at index 1 is out of range for FP32"),
        (types.FP16, [70000], "value 70000 at index 0 is out of range for FP16"),
    ],
)
def test_values_the_type_cannot_hold(dtype: DType, values: list[object], expected: str) -> None:
    assert refusal(dtype, values) == expected


def test_ragged_lists() -> None:
    assert "inhomogeneous" in refusal(types.FP32, [[1, 2], [3]])


def test_check_range_on_a_typed_field() -> None:
    check_range("x", "DT_INT8", np.dtype(np.int8), np.array([-128, 127], np.int32), ERROR)
    with pytest.raises(InvalidInput) as info:
        check_range("x", "DT_INT8", np.dtype(np.int8), np.array([5, 300], np.int32), ERROR)
    assert (
        info.value.message
        == f"{ERROR} - value 300 at index 1 is out of range for DT_INT8 [-128, 127]; input name: x"
    )


# ---- property: any JSON value list is refused, or taken exactly as sent ----

NUMERIC_DTYPES = [d for d in types.ALL if d is not types.BYTES]
json_scalars = st.one_of(
    st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.none(), st.text(max_size=2)
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, min_size=1, max_size=3), max_leaves=12)
one_kind = st.sampled_from(
    [st.booleans(), st.integers(-(2**70), 2**70), st.integers(-300, 300), st.floats(), st.floats(width=32)]
)


@st.composite
def sent_values(draw: st.DrawFn) -> list[object]:
    """Mostly values of one JSON kind, flat or in rows of two; now and then anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(json_values, max_size=5))
    flat: list[object] = draw(st.lists(draw(one_kind), max_size=8))
    if len(flat) % 2 == 0 and draw(st.booleans()):
        return [flat[i : i + 2] for i in range(0, len(flat), 2)]
    return flat


def leaves(value: object) -> list[object]:
    return [leaf for item in value for leaf in leaves(item)] if isinstance(value, list) else [value]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(NUMERIC_DTYPES), sent_values())
def test_values_are_refused_or_taken_exactly(dtype: DType, values: list[object]) -> None:
    try:
        out = array_of("x", dtype, values)
    except InvalidInput as refused:
        assert refused.message.startswith(ERROR)
        return
    sent = leaves(values) if values else []
    assert out.dtype == dtype.numpy
    assert out.size == len(sent)
    kind = dtype.numpy.kind
    if kind == "b":
        assert all(type(v) is bool for v in sent)
        assert out.ravel().tolist() == sent
    elif kind in "iu":
        assert all(type(v) is int for v in sent)
        assert out.ravel().tolist() == sent
    else:
        assert all(type(v) in (int, float) for v in sent)
        expected = np.array(sent, dtype=np.float64).astype(dtype.numpy)
        assert np.array_equal(out.ravel(), expected, equal_nan=True)
        assert np.isinf(out.ravel()).tolist() == [math.isinf(float(v)) for v in sent]
