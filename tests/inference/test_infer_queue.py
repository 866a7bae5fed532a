import asyncio

import numpy as np
import openvino as ov
import pytest
from builders import affine_model

from ovms_cli.inference.infer_queue import InferQueue


@pytest.fixture(scope="module")
def compiled() -> ov.CompiledModel:
    return ov.Core().compile_model(affine_model(), "CPU")


async def test_concurrent_requests_each_get_their_own_answer(compiled: ov.CompiledModel) -> None:
    queue = InferQueue(compiled, 2, ["scaled", "total"])
    inputs = [np.full((i % 5 + 1, 4), i, np.float32) for i in range(64)]
    outputs = await asyncio.gather(*(queue.infer({0: x}) for x in inputs))
    for x, out in zip(inputs, outputs, strict=True):
        np.testing.assert_array_equal(out["scaled"], x * 2 + 1)
        np.testing.assert_array_equal(out["total"], x.sum(axis=1))


async def test_read_only_buffers_are_used_without_copying(compiled: ov.CompiledModel) -> None:
    queue = InferQueue(compiled, 1, ["scaled", "total"])
    raw = np.arange(8, dtype=np.float32).tobytes()
    x = np.frombuffer(raw, np.float32).reshape(2, 4)
    out = await queue.infer({0: x})
    np.testing.assert_array_equal(out["scaled"], x * 2 + 1)


async def test_outputs_do_not_alias_the_reused_request(compiled: ov.CompiledModel) -> None:
    queue = InferQueue(compiled, 1, ["scaled", "total"])
    first = await queue.infer({0: np.ones((1, 4), np.float32)})
    await queue.infer({0: np.zeros((1, 4), np.float32)})
    np.testing.assert_array_equal(first["scaled"], np.full((1, 4), 3, np.float32))


async def test_the_queue_size_is_nireq(compiled: ov.CompiledModel) -> None:
    assert InferQueue(compiled, 3, ["scaled", "total"]).size == 3
