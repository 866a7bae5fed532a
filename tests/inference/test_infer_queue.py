import asyncio
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from builders import affine_model, reshape_by_input_model, write_onnx_add_mul

from ovms_cli.errors import InvalidInput
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


async def test_read_only_inputs_get_their_own_answers(compiled: ov.CompiledModel) -> None:
    """Wire buffers are read-only: OpenVINO gets a copy, which must live until the inference ends."""
    queue = InferQueue(compiled, 2, ["scaled", "total"])
    inputs = [
        np.frombuffer(np.full((i % 5 + 1, 4), i, np.float32).tobytes(), np.float32).reshape(-1, 4)
        for i in range(64)
    ]
    outputs = await asyncio.gather(*(queue.infer({0: x}) for x in inputs))
    for x, out in zip(inputs, outputs, strict=True):
        np.testing.assert_array_equal(out["scaled"], x * 2 + 1)


async def test_each_read_only_input_of_several_keeps_its_own_copy(tmp_path: Path) -> None:
    compiled = ov.Core().compile_model(str(write_onnx_add_mul(tmp_path) / "1" / "model.onnx"), "CPU")
    queue = InferQueue(compiled, 1, ["sum", "product"])
    a, b = (np.frombuffer(np.full((2, 3), v, np.int32).tobytes(), np.int32).reshape(2, 3) for v in (3, 5))
    out = await queue.infer({0: a, 1: b})
    np.testing.assert_array_equal(out["sum"], np.full((2, 3), 8))
    np.testing.assert_array_equal(out["product"], np.full((2, 3), 15))


async def test_outputs_do_not_alias_the_reused_request(compiled: ov.CompiledModel) -> None:
    queue = InferQueue(compiled, 1, ["scaled", "total"])
    first = await queue.infer({0: np.ones((1, 4), np.float32)})
    await queue.infer({0: np.zeros((1, 4), np.float32)})
    np.testing.assert_array_equal(first["scaled"], np.full((1, 4), 3, np.float32))


async def test_the_queue_size_is_nireq(compiled: ov.CompiledModel) -> None:
    assert InferQueue(compiled, 3, ["scaled", "total"]).size == 3


async def test_a_cancelled_caller_leaves_its_request_running_until_done(compiled: ov.CompiledModel) -> None:
    queue = InferQueue(compiled, 1, ["scaled", "total"])
    abandoned = asyncio.create_task(queue.infer({0: np.ones((3, 4), np.float32)}))
    await asyncio.sleep(0)  # it has started its inference
    abandoned.cancel()
    out = await queue.infer({0: np.zeros((2, 4), np.float32)})
    np.testing.assert_array_equal(out["scaled"], np.ones((2, 4), np.float32))
    assert abandoned.cancelled()
    assert queue.active == 0 and queue.has_free_request()


async def test_a_request_refused_by_openvino_goes_back_to_the_pool(compiled: ov.CompiledModel) -> None:
    queue = InferQueue(compiled, 1, ["scaled", "total"])
    with pytest.raises(RuntimeError):
        await queue.infer({0: np.ones((2, 5), np.float32)})
    out = await queue.infer({0: np.ones((1, 4), np.float32)})
    np.testing.assert_array_equal(out["scaled"], np.full((1, 4), 3, np.float32))
    assert queue.active == 0


async def test_inputs_that_fail_shape_inference_after_the_start_are_the_request_s_error() -> None:
    queue = InferQueue(ov.Core().compile_model(reshape_by_input_model(), "CPU"), 1, ["y"])
    x = np.arange(6, dtype=np.float32)
    bad = queue.infer({0: x, 1: np.array([4, 4], np.int64)})
    good = queue.infer({0: x, 1: np.array([2, 3], np.int64)})
    failed, answered = await asyncio.wait_for(asyncio.gather(bad, good, return_exceptions=True), 10)
    assert isinstance(failed, InvalidInput)
    assert failed.message.startswith(
        "Invalid input shape or value for the model - [cpu]reshape: the shape of input data (6) conflicts"
    )
    assert isinstance(answered, dict)
    np.testing.assert_array_equal(answered["y"], x.reshape(2, 3))
    assert queue.active == 0
