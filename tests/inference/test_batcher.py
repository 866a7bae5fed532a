import asyncio
from functools import cache

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from observers import InferenceCounter

from ovms_cli.errors import InternalError
from ovms_cli.inference.batcher import Batcher, merge, signature, split
from ovms_cli.inference.infer_queue import InferQueue
from ovms_cli.servables.model_loader import bucket_sizes

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.int8]


@cache
def _doubled(dtype: type[np.generic], batch: int = -1) -> ov.CompiledModel:
    """``wide = concat([x, x], 1)`` and ``first = x[:, :1]`` on ``x: [batch, -1]`` of ``dtype``."""
    x = ops.parameter([batch, -1], ov.Type(np.dtype(dtype)), name="x")
    wide = ops.concat([x, x], 1)
    first = ops.slice(x, np.array([0]), np.array([1]), np.array([1]), np.array([1]))
    wide.output(0).get_tensor().set_names({"wide"})
    first.output(0).get_tensor().set_names({"first"})
    return ov.Core().compile_model(ov.Model([wide, first], [x]), "CPU", {"PERFORMANCE_HINT": "LATENCY"})


def _buckets(dtype: type[np.generic], max_batch_size: int) -> dict[int, InferQueue]:
    return {n: InferQueue(_doubled(dtype, n), 1, ["wide", "first"]) for n in bucket_sizes(max_batch_size)}


def _array(rng: np.random.Generator, dtype: type[np.generic], rows: int, width: int) -> np.ndarray:
    return rng.integers(0, 100, (rows, width)).astype(dtype)  # exact in every dtype, f64 run as f32


@given(
    rows=st.lists(st.integers(1, 5), min_size=1, max_size=12),
    width=st.integers(1, 6),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_merge_then_split_gives_each_request_its_own_rows(
    rows: list[int], width: int, dtype: type[np.generic], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    feeds = [{0: _array(rng, dtype, n, width)} for n in rows]
    merged = merge(feeds)
    assert merged[0].shape == (sum(rows), width)
    parts = split({"out": merged[0], "twice": merged[0] * 2}, rows)
    for feed, part in zip(feeds, parts, strict=True):
        np.testing.assert_array_equal(part["out"], feed[0])
        np.testing.assert_array_equal(part["twice"], feed[0] * 2)


def test_split_refuses_outputs_without_the_batch() -> None:
    with pytest.raises(InternalError, match="has no batch"):
        split({"scalar": np.zeros(3)}, [1, 1])


def test_signature_ignores_only_the_batch_dimension() -> None:
    a = {0: np.zeros((2, 3), np.float32)}
    assert signature(a) == signature({0: np.zeros((5, 3), np.float32)})
    assert signature(a) != signature({0: np.zeros((2, 4), np.float32)})
    assert signature(a) != signature({0: np.zeros((2, 3), np.float64)})


async def _run_concurrently(
    batcher: Batcher, feeds: list[dict[int, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    return await asyncio.gather(*(batcher.infer(feed) for feed in feeds))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.integers(1, 4), min_size=1, max_size=24),
    widths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    dtype=st.sampled_from(DTYPES),
    max_batch_size=st.integers(1, 9),
    static_buckets=st.booleans(),
    streams=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_batched_inference_returns_each_request_its_own_answer(
    rows: list[int],
    widths: list[int],
    dtype: type[np.generic],
    max_batch_size: int,
    static_buckets: bool,
    streams: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    feeds = [{0: _array(rng, dtype, n, widths[i % len(widths)])} for i, n in enumerate(rows)]
    buckets = _buckets(dtype, max_batch_size) if static_buckets else None
    queue = InferQueue(_doubled(dtype), 1, ["wide", "first"])
    batcher = Batcher(queue, max_batch_size, 300, buckets, streams)
    outputs = asyncio.run(_run_concurrently(batcher, feeds))
    for feed, out in zip(feeds, outputs, strict=True):
        x = feed[0]
        np.testing.assert_array_equal(out["wide"], np.concatenate([x, x], axis=1))
        np.testing.assert_array_equal(out["first"], x[:, :1])
    assert batcher.stats.requests == len(feeds)
    assert batcher.stats.executions <= len(feeds)


def test_concurrent_requests_are_coalesced_up_to_the_maximum() -> None:
    rng = np.random.default_rng(1)
    feeds = [{0: _array(rng, np.float32, 1, 4)} for _ in range(32)]
    batcher = Batcher(InferQueue(_doubled(np.float32), 1, ["wide", "first"]), 8, 1000)
    asyncio.run(_run_concurrently(batcher, feeds))
    assert batcher.stats.requests == 32
    assert batcher.stats.executions <= 32 // 8 + 2  # the first runs alone on the idle queue


def test_a_lone_request_on_an_idle_queue_does_not_wait() -> None:
    batcher = Batcher(InferQueue(_doubled(np.float32), 1, ["wide", "first"]), 8, 10_000_000)

    async def once() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await batcher.infer({0: np.ones((1, 2), np.float32)})
        return loop.time() - start

    assert asyncio.run(once()) < 5.0  # a 10 s delay was configured; it must not apply
    assert batcher.stats.queue_seconds == 0.0


def test_bucket_sizes_are_powers_of_two_and_the_maximum() -> None:
    assert bucket_sizes(1) == [1]
    assert bucket_sizes(8) == [1, 2, 4, 8]
    assert bucket_sizes(12) == [1, 2, 4, 8, 12]


def test_batches_that_fill_a_static_bucket_run_there() -> None:
    rng = np.random.default_rng(2)
    feeds = [{0: _array(rng, np.float32, 1, 3)} for _ in range(32)]
    queue, buckets = InferQueue(_doubled(np.float32), 2, ["wide", "first"]), _buckets(np.float32, 8)
    every, static = InferenceCounter(), InferenceCounter()
    queue.observer = every  # the batcher reports bucket inferences to the queue's observer too
    for bucket in buckets.values():
        bucket.observer = static
    batcher = Batcher(queue, 8, 1000, buckets)
    outputs = asyncio.run(_run_concurrently(batcher, feeds))
    for feed, out in zip(feeds, outputs, strict=True):
        np.testing.assert_array_equal(out["wide"], np.concatenate([feed[0], feed[0]], axis=1))
    assert 4 <= static.inferences == every.inferences < 32  # single rows always fill some bucket
    three_rows = _array(rng, np.float32, 3, 3)
    out = asyncio.run(_run_concurrently(batcher, [{0: three_rows}]))[0]
    np.testing.assert_array_equal(out["first"], three_rows[:, :1])
    assert every.inferences == static.inferences + 1  # 3 rows fit no bucket: the dynamic model ran them
    assert queue.active == 0 and all(b.active == 0 for b in buckets.values())


@pytest.mark.parametrize(("streams", "executions"), [(1, 2), (2, 5)])
def test_what_is_queued_is_shared_among_the_streams(streams: int, executions: int) -> None:
    """The first of 9 runs alone; the 8 queued behind it make one batch for one stream, or
    4, 2, 1 and 1 when each batch takes half of what is left for two."""
    rng = np.random.default_rng(3)
    feeds = [{0: _array(rng, np.float32, 1, 2)} for _ in range(9)]
    batcher = Batcher(InferQueue(_doubled(np.float32), 1, ["wide", "first"]), 8, 1000, streams=streams)
    outputs = asyncio.run(_run_concurrently(batcher, feeds))
    for feed, out in zip(feeds, outputs, strict=True):
        np.testing.assert_array_equal(out["first"], feed[0][:, :1])
    assert (batcher.stats.executions, batcher.stats.requests) == (executions, 9)
