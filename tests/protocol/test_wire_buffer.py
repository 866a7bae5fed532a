"""Tensors over the request's bytes: writeable for OpenVINO, without a copy, alive as long as they are."""

from __future__ import annotations

import gc

import numpy as np

from ovms_cli.protocol.wire_buffer import MIN_ALIAS_BYTES, array_over


def _address(data: bytes) -> int:
    return int(np.frombuffer(data, np.uint8).ctypes.data)


def test_a_large_input_is_a_writeable_view_of_the_received_bytes() -> None:
    data = np.arange(MIN_ALIAS_BYTES, dtype=np.float32).tobytes()

    array = array_over(memoryview(data), np.dtype(np.float32), (2, MIN_ALIAS_BYTES // 2))

    assert array.flags.writeable
    assert array.ctypes.data == _address(data)
    assert array.shape == (2, MIN_ALIAS_BYTES // 2)
    assert array[1, -1] == MIN_ALIAS_BYTES - 1


def test_the_view_keeps_the_bytes_alive() -> None:
    array = array_over(
        np.arange(MIN_ALIAS_BYTES, dtype=np.int32).tobytes(), np.dtype(np.int32), (MIN_ALIAS_BYTES,)
    )
    gc.collect()

    assert array[-1] == MIN_ALIAS_BYTES - 1


def test_a_small_input_stays_a_read_only_view() -> None:
    data = np.arange(4, dtype=np.float32).tobytes()

    array = array_over(data, np.dtype(np.float32), (4,))

    assert not array.flags.writeable
    assert array.tolist() == [0.0, 1.0, 2.0, 3.0]
