"""Sample tensors of every KServe datatype."""

from __future__ import annotations

import numpy as np
import pytest

from ovms_cli.types import Array


def _bytes_array(items: list[bytes], shape: tuple[int, ...]) -> Array:
    out = np.empty(len(items), dtype=np.object_)
    out[:] = items
    return out.reshape(shape)


SAMPLES: dict[str, Array] = {
    "FP32": np.array([[0.1, -2.5, 3e38], [1e-40, 0.0, -0.0]], dtype=np.float32),
    "FP64": np.array([0.1, -1e308, 5e-324], dtype=np.float64),
    "FP16": np.array([[0.1, -65504.0], [6e-8, 1.0]], dtype=np.float16),
    "INT8": np.array([-128, 0, 127], dtype=np.int8),
    "INT16": np.array([[-32768], [32767]], dtype=np.int16),
    "INT32": np.array([-(2**31), 2**31 - 1], dtype=np.int32),
    "INT64": np.array([[-(2**63), 2**63 - 1, 7]], dtype=np.int64),
    "UINT8": np.array([0, 255], dtype=np.uint8),
    "UINT16": np.array([0, 65535], dtype=np.uint16),
    "UINT32": np.array([0, 2**32 - 1], dtype=np.uint32),
    "UINT64": np.array([0, 2**64 - 1], dtype=np.uint64),
    "BOOL": np.array([[True, False, True]], dtype=np.bool_),
    "BYTES": _bytes_array([b"hello", b"", "zażółć".encode(), b"a\x00b"], (2, 2)),
}

JSON_DATATYPES = [d for d in SAMPLES if d != "FP16"]


@pytest.fixture(params=list(SAMPLES))
def sample(request: pytest.FixtureRequest) -> tuple[str, Array]:
    return request.param, SAMPLES[request.param]


@pytest.fixture(params=JSON_DATATYPES)
def json_sample(request: pytest.FixtureRequest) -> tuple[str, Array]:
    return request.param, SAMPLES[request.param]
