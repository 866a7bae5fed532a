from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from ovms_cli.errors import InvalidInput
from ovms_cli.protocol.bytes_tensor import decode_bytes_tensor, encode_bytes_tensor


def objects(items: list[object], shape: tuple[int, ...] | None = None) -> np.ndarray:
    out = np.empty(len(items), dtype=np.object_)
    out[:] = items
    return out.reshape(shape if shape is not None else (len(items),))


def test_encode_matches_tritonclient_in_c_order() -> None:
    arr = objects([b"a", b"", b"xyz", "zażółć", b"\x00\xff", "t"], (2, 3))
    assert encode_bytes_tensor(arr) == serialize_byte_tensor(arr).item()
    transposed = arr.T
    assert encode_bytes_tensor(transposed) == serialize_byte_tensor(transposed).item()


def test_encode_str_as_utf8_and_numpy_string_arrays() -> None:
    assert encode_bytes_tensor(objects(["é"])) == b"\x02\x00\x00\x00\xc3\xa9"
    assert encode_bytes_tensor(np.array(["ab", "c"])) == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"
    assert encode_bytes_tensor(np.array([b"ab"])) == b"\x02\x00\x00\x00ab"


def test_encode_empty() -> None:
    assert encode_bytes_tensor(objects([], (0, 3))) == b""


def test_decode_tritonclient_buffer() -> None:
    arr = objects([b"one", b"", b"zwei", b"\x00" * 300])
    decoded = decode_bytes_tensor(serialize_byte_tensor(arr).item(), "x")
    assert decoded.dtype == np.object_
    assert decoded.shape == (4,)
    assert decoded.tolist() == arr.tolist()
    assert all(type(item) is bytes for item in decoded)


def test_decode_memoryview_slice() -> None:
    buf = b"junk" + struct.pack("<I", 2) + b"hi" + b"tail"
    decoded = decode_bytes_tensor(memoryview(buf)[4:10], "x")
    assert decoded.tolist() == [b"hi"]


def test_decode_empty() -> None:
    assert decode_bytes_tensor(b"", "x").shape == (0,)


def test_decode_truncated_prefix() -> None:
    buf = struct.pack("<I", 1) + b"a" + b"\x05\x00"
    with pytest.raises(InvalidInput) as info:
        decode_bytes_tensor(buf, "text")
    assert info.value.message == (
        "Inputs inside buffer does not match expected format. - element 1 has a truncated 4-byte "
        "length prefix (2 bytes left); input name: text"
    )


def test_decode_length_beyond_buffer() -> None:
    buf = struct.pack("<I", 10) + b"abc"
    with pytest.raises(InvalidInput) as info:
        decode_bytes_tensor(buf, "text")
    assert info.value.message == (
        "Inputs inside buffer does not match expected format. - element 0 declares 10 bytes but only 3 "
        "remain; input name: text"
    )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_round_trip_with_tritonclient(items: list[bytes]) -> None:
    arr = objects(list(items))
    encoded = encode_bytes_tensor(arr)
    assert list(deserialize_bytes_tensor(encoded)) == items
    assert decode_bytes_tensor(encoded, "x").tolist() == items
