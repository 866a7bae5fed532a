from __future__ import annotations

import math

import numpy as np
import pytest

from ovms_cli import types
from ovms_cli.errors import InternalError, InvalidInput
from ovms_cli.protocol import kserve
from ovms_cli.protocol.bytes_tensor import encode_bytes_tensor
from ovms_cli.types import Array


def message_of(error: pytest.ExceptionInfo[InvalidInput]) -> str:
    return error.value.message


# ---- datatypes and shapes ----


def test_dtype_for_every_kserve_name() -> None:
    for dtype in types.ALL:
        assert kserve.dtype_for(dtype.kserve, "x") is dtype


def test_dtype_for_unknown() -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.dtype_for("BF16", "x")
    assert message_of(info) == "Invalid input precision - Unknown datatype: BF16; input name: x"


@pytest.mark.parametrize("dims", [[1, 2, 3], (0,), []])
def test_check_shape_accepts(dims: list[int]) -> None:
    assert kserve.check_shape("x", dims, types.FP32) == tuple(dims)


@pytest.mark.parametrize("dims", [[1, -2], [1.0], [True], "12", None, 3, [[1]]])
def test_check_shape_rejects(dims: object) -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.check_shape("x", dims, types.FP32)
    assert message_of(info) == f'input "x": "shape" must be a list of non-negative integers, got {dims!r}'


def test_add_input_rejects_duplicates() -> None:
    inputs: dict[str, Array] = {}
    kserve.add_input(inputs, "a", np.zeros(1))
    with pytest.raises(InvalidInput) as info:
        kserve.add_input(inputs, "a", np.zeros(1))
    assert message_of(info) == "Duplicate input in request - input name: a"


@pytest.mark.parametrize(("key", "feature"), [("classification", "classification")])
def test_check_tensor_parameters_rejects_unsupported_features(key: str, feature: str) -> None:
    """shared_memory_* moved to protocol/shared_memory.py (tests/protocol/test_shared_memory.py)."""
    kserve.check_tensor_parameters("input", "x", ["binary_data_size", "other"])
    with pytest.raises(InvalidInput) as info:
        kserve.check_tensor_parameters("output", "y", [key])
    assert message_of(info) == f'output "y": parameter "{key}" is not supported ({feature} is not available)'


# ---- raw tensors ----


def test_tensor_from_raw_shares_memory(sample: tuple[str, Array]) -> None:
    datatype, arr = sample
    if datatype == "BYTES":
        return
    buf = bytearray(arr.tobytes())
    out = kserve.tensor_from_raw("x", datatype, arr.shape, memoryview(buf))
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == arr.dtype
    assert np.shares_memory(out, np.frombuffer(buf, dtype=np.uint8))


def test_tensor_from_raw_bytes() -> None:
    items = [b"ab", b"", b"c", b"d"]
    raw = encode_bytes_tensor(np.array(items, dtype=np.object_))
    out = kserve.tensor_from_raw("x", "BYTES", (2, 2), raw)
    assert out.shape == (2, 2)
    assert out.ravel().tolist() == items


def test_tensor_from_raw_zero_elements() -> None:
    assert kserve.tensor_from_raw("x", "FP32", (0, 3), b"").shape == (0, 3)
    assert kserve.tensor_from_raw("x", "BYTES", (0,), b"").shape == (0,)


def test_tensor_from_raw_scalar() -> None:
    out = kserve.tensor_from_raw("x", "INT32", (), np.int32(7).tobytes())
    assert out.shape == ()
    assert out == 7


def test_tensor_from_raw_wrong_size() -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.tensor_from_raw("x", "FP32", (2, 3), b"\x00" * 20)
    assert message_of(info) == (
        "Invalid content size of tensor proto - Expected: 24 bytes; Actual: 20 bytes; input name: x"
    )


def test_tensor_from_raw_bytes_wrong_count() -> None:
    raw = encode_bytes_tensor(np.array([b"a", b"b", b"c"], dtype=np.object_))
    with pytest.raises(InvalidInput) as info:
        kserve.tensor_from_raw("x", "BYTES", (2,), raw)
    assert message_of(info) == (
        "Invalid number of values in tensor proto container - Expected: 2 values; Actual: 3 values; "
        "input name: x"
    )


def test_tensor_from_raw_unknown_datatype() -> None:
    with pytest.raises(InvalidInput, match="Unknown datatype: FP8"):
        kserve.tensor_from_raw("x", "FP8", (1,), b"\x00")


# ---- typed values and JSON data ----


def test_tensor_from_values_nested_and_flat(json_sample: tuple[str, Array]) -> None:
    datatype, arr = json_sample
    for values in (arr.tolist(), arr.ravel().tolist()):
        out = kserve.tensor_from_values("x", datatype, arr.shape, values)
        assert out.dtype == arr.dtype
        assert out.shape == arr.shape
        np.testing.assert_array_equal(out, arr)


def test_tensor_from_values_strings_become_utf8_bytes() -> None:
    out = kserve.tensor_from_values("x", "BYTES", (1, 2), [["zażółć", "b"]])
    assert out.tolist() == [["zażółć".encode(), b"b"]]


def test_tensor_from_values_integers_are_valid_floats() -> None:
    out = kserve.tensor_from_values("x", "FP32", (2,), [1, 2])
    assert out.dtype == np.float32
    assert out.tolist() == [1.0, 2.0]


def test_tensor_from_values_empty() -> None:
    assert kserve.tensor_from_values("x", "INT32", (0, 2), []).shape == (0, 2)
    assert kserve.tensor_from_values("x", "BYTES", (0,), []).shape == (0,)


def test_tensor_from_values_wrong_count() -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.tensor_from_values("x", "INT32", (2, 2), [[1, 2], [3]])
    assert message_of(info).startswith("Could not parse input content. Not valid ndarray detected - ")
    with pytest.raises(InvalidInput) as info:
        kserve.tensor_from_values("x", "INT32", (2, 2), [1, 2, 3])
    assert message_of(info) == (
        "Invalid number of values in tensor proto container - Expected: 4 values; Actual: 3 values; "
        "input name: x"
    )


@pytest.mark.parametrize(
    ("datatype", "values", "expected"),
    [
        ("INT32", [1.5, 2], "INT32 data must be integers, got 1.5 at index 0"),
        ("INT32", [2, 1.5], "INT32 data must be integers, got 1.5 at index 1"),
        ("FP32", [True, 2, 3, 4], "FP32 data must be numbers, got True at index 0"),
        ("FP32", [2.5, 3, False], "FP32 data must be numbers, got False at index 2"),
        ("INT32", [7, True], "INT32 data must be integers, got True at index 1"),
        ("UINT8", [255, 300], "value 300 at index 1 is out of range for UINT8 [0, 255]"),
        ("FP32", [1.0, 1e300], "value 1e+300 at index 1 is out of range for FP32"),
        ("INT8", ["1"], "INT8 data must be integers"),
        ("UINT8", [True], "UINT8 data must be integers"),
        ("FP32", [True, False], "FP32 data must be numbers"),
        ("FP64", [None], "FP64 data must be numbers"),
        ("BOOL", [1, 0], "BOOL data must be booleans"),
        ("INT8", [127, 128], "value 128 at index 1 is out of range for INT8 [-128, 127]"),
        ("UINT8", [-1, 3], "value -1 at index 0 is out of range for UINT8 [0, 255]"),
        ("INT64", [2**64 - 1], "value 18446744073709551615 at index 0 is out of range for INT64"),
        ("INT64", [1, 2**64 - 1], "value 18446744073709551615 at index 1 is out of range for INT64"),
        ("UINT64", [2**64 - 1, -1], "value -1 at index 1 is out of range for UINT64"),
        ("UINT64", [2**64 - 1, 0.5], "UINT64 data must be integers"),
        ("BYTES", ["a", 1], "BYTES data must be strings"),
        ("BYTES", [["a"], ["b", "c"]], "BYTES data must be strings"),
    ],
)
def test_tensor_from_values_rejects_mismatched_values(
    datatype: str, values: list[object], expected: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.tensor_from_values("x", datatype, (len(values),), values)
    assert message_of(info).startswith(
        f"Could not parse input content. Not valid ndarray detected - {expected}"
    )
    assert message_of(info).endswith("input name: x")


def test_tensor_from_values_rejects_fp16() -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.tensor_from_values("x", "FP16", (1,), [1.0])
    assert message_of(info) == (
        "Could not parse input content. Unsupported data precision detected - FP16 data must be sent in "
        "binary form (raw_input_contents over gRPC, binary_data_size over REST); input name: x"
    )


def test_tensor_from_values_keeps_non_finite_floats() -> None:
    out = kserve.tensor_from_values("x", "FP32", (3,), [math.nan, math.inf, -math.inf])
    assert [math.isnan(out[0]), out[1], out[2]] == [True, math.inf, -math.inf]


# ---- outputs ----


def test_datatype_of(sample: tuple[str, Array]) -> None:
    datatype, arr = sample
    assert kserve.datatype_of("y", arr) == datatype
    assert kserve.datatype_of("y", np.array(["text"])) == "BYTES"


def test_datatype_of_unsupported() -> None:
    with pytest.raises(InternalError) as info:
        kserve.datatype_of("y", np.zeros(1, dtype=np.complex64))
    assert info.value.message == "Unsupported serialization precision - dtype: complex64; output name: y"


def test_raw_bytes_is_a_view_of_contiguous_arrays(sample: tuple[str, Array]) -> None:
    datatype, arr = sample
    raw = kserve.raw_bytes(arr)
    if datatype == "BYTES":
        assert raw == encode_bytes_tensor(arr)
        return
    assert isinstance(raw, memoryview)
    assert len(raw) == arr.nbytes
    assert bytes(raw) == arr.tobytes()
    assert np.shares_memory(np.frombuffer(raw, dtype=np.uint8), arr)


def test_raw_bytes_of_other_layouts() -> None:
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert kserve.raw_bytes(arr.T) == arr.T.tobytes()
    big_endian = arr.astype(">i4")
    assert kserve.raw_bytes(big_endian) == arr.tobytes()
    assert bytes(kserve.raw_bytes(np.array(5, dtype=np.int16))) == b"\x05\x00"


def test_json_values() -> None:
    np.testing.assert_array_equal(kserve.json_values("y", np.array([[1, 2]], dtype=np.int8)), [1, 2])
    half = kserve.json_values("y", np.array([0.5], dtype=np.float16))
    assert isinstance(half, np.ndarray)
    assert half.dtype == np.float32
    text = np.array([b"a", "b", "zażółć".encode()], dtype=np.object_)
    assert kserve.json_values("y", text) == ["a", "b", "zażółć"]


def test_json_values_rejects_non_utf8_bytes() -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.json_values("y", np.array([b"\xff"], dtype=np.object_))
    assert message_of(info) == (
        'output "y" holds bytes that are not valid UTF-8; request it with "binary_data": true'
    )


# ---- parameters, outputs, versions ----


@pytest.mark.parametrize("value", [True, 3, "s", 2**64 - 1])
def test_parameter_value_accepts(value: object) -> None:
    assert kserve.parameter_value("k", value) == value


@pytest.mark.parametrize("value", [1.5, None, [1], {"a": 1}])
def test_parameter_value_rejects(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.parameter_value("k", value)
    assert message_of(info) == (
        f'Could not parse request parameters - parameter "k" must be a string, a boolean or an integer, '
        f"got {value!r}"
    )


@pytest.mark.parametrize(
    ("text", "version"), [("", None), ("1", 1), ("0", 0), ("9223372036854775807", 2**63 - 1)]
)
def test_parse_version(text: str, version: int | None) -> None:
    assert kserve.parse_version(text) == version


@pytest.mark.parametrize("text", ["abc", "-1", " 1", "1.0", "+1", "9223372036854775808", "\u0661"])
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        kserve.parse_version(text)
    assert message_of(info) == "invalid model version format in request"
