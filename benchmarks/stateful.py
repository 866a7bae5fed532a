"""In-process cost of serving a stateful model: the recurrent cell of ``tests/stateful_builders.py`` through
``StatefulRunner`` (state restored before and saved after every request) vs the same cell without variables
through the same ``InferQueue`` pool, on the event loop as the server runs them (uvloop when installed).

    python benchmarks/stateful.py [--width 256] [--seconds 3]

Reports the state save + restore per request in microseconds (timed alone, on a pool request, with the
sequence's buffers warm), then requests/s with 1, 8 and 64 concurrent sequences, each sequence one request
after another: the runner; the cell without variables (``h``/``c`` as inputs: the same computation); and the
stateful cell on the bare pool (no sequences at all: the runner's whole per-request cost is the difference).
Each figure is the median of 3 interleaved rounds. Last, the ratio the issue asks for: state copy / request time at 64 sequences (goal < 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from stateful_builders import recurrent_cell_model

from ovms_cli.inference.infer_queue import InferQueue
from ovms_cli.servables.model_loader import default_nireq
from ovms_cli.servables.stateful.runner import StatefulRunner
from ovms_cli.servables.stateful.sequence_store import Sequence, SequenceStore
from ovms_cli.servables.stateful.special_inputs import SequenceControl, SequenceRequest
from ovms_cli.servables.stateful.state_queue import StateQueue, save_states

CONCURRENCY = (1, 8, 64)
COPY_REPEATS = 1_000
COPY_CHUNKS = 21
INFER_REPEATS = 100
ROUNDS = 3  # per configuration; the median is reported


async def state_copy_us(compiled: ov.CompiledModel, width: int) -> tuple[float, float]:
    """Microseconds per restore (all variables) and per save (all variables) on one pool request."""
    queue = StateQueue(compiled, 1, ["h"])
    request = await queue.acquire()
    variables = queue.variables(request)
    request.infer({0: np.ones((1, width), np.float32)})
    sequence = Sequence(1)
    save_states(variables, sequence)
    restore = _median_us(lambda: queue.load_states(request, sequence.states))
    save = _median_us(lambda: save_states(variables, sequence))
    queue.release(request)
    return restore, save


def synchronous_us(compiled: ov.CompiledModel, width: int) -> tuple[float, float]:
    """Microseconds per synchronous inference on one request, alone and between a restore and a save: the
    whole cost of moving the state, OpenVINO's side included (an inference after its state was read or
    written runs slower than one that follows the last)."""
    queue = StateQueue(compiled, 1, ["h"])
    request = queue.requests[0]  # synchronous use, no pool
    variables = queue.variables(request)
    request.set_input_tensor(0, ov.Tensor(np.ones((1, width), np.float32)))
    sequence = Sequence(1)
    request.infer()
    save_states(variables, sequence)

    def with_state() -> None:
        queue.load_states(request, sequence.states)
        request.infer()
        save_states(variables, sequence)

    alone: list[float] = []
    moved: list[float] = []
    for _ in range(COPY_CHUNKS):  # interleaved chunks: a neighbour's burst falls on both alike
        alone.append(_chunk_us(request.infer, INFER_REPEATS))
        moved.append(_chunk_us(with_state, INFER_REPEATS))
    return statistics.median(alone), statistics.median(moved)


def _median_us(operation: Callable[[], object]) -> float:
    """Median over ``COPY_CHUNKS`` chunks of ``COPY_REPEATS`` calls: a neighbour's burst skews one chunk only."""
    return statistics.median(_chunk_us(operation, COPY_REPEATS) for _ in range(COPY_CHUNKS))


def _chunk_us(operation: Callable[[], object], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        operation()
    return (time.perf_counter() - start) / repeats * 1e6


async def requests_per_second(
    step: Callable[[int, int], Awaitable[object]], sequences: int, seconds: float
) -> float:
    """Each of ``sequences`` tasks runs its own sequence, one request after another, for ``seconds``
    (after a warm-up of a quarter of that, the same sequences going on)."""
    done = 0
    deadline = 0.0
    steps = dict.fromkeys(range(1, sequences + 1), 0)

    async def run(sequence_id: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await step(sequence_id, steps[sequence_id])
            steps[sequence_id] += 1
            done += 1

    deadline = time.perf_counter() + seconds / 4
    await asyncio.gather(*(run(i) for i in steps))
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(run(i) for i in steps))
    return done / (time.perf_counter() - start)


def stateful_step(runner: StatefulRunner, x: np.ndarray) -> Callable[[int, int], Awaitable[object]]:
    async def step(sequence_id: int, index: int) -> object:
        control = SequenceControl.NONE if sequence_id in runner.store else SequenceControl.START
        return await runner.infer(SequenceRequest(sequence_id, control), {0: x})

    return step


def plain_step(queue: InferQueue, feed: dict[int, np.ndarray]) -> Callable[[int, int], Awaitable[object]]:
    async def step(sequence_id: int, index: int) -> object:
        return await queue.infer(feed)

    return step


async def throughput(
    stateful: ov.CompiledModel, stateless: ov.CompiledModel, width: int, seconds: float
) -> dict[int, tuple[float, float, float]]:
    """Requests/s per concurrency: the runner; the cell without variables (``h``/``c`` fed as inputs,
    the same computation); the stateful cell on the bare pool (state left in each infer request: the
    same model with none of the runner's work, wrong answers across sequences but the exact cost baseline)."""
    x = np.random.default_rng(0).standard_normal((1, width)).astype(np.float32)
    zeros = np.zeros((1, width), np.float32)
    results = {}
    for sequences in CONCURRENCY:
        runner = StatefulRunner(
            SequenceStore(sequences), StateQueue(stateful, default_nireq(stateful), ["h"])
        )
        queue = InferQueue(stateless, default_nireq(stateless), ["h"])
        bare = InferQueue(stateful, default_nireq(stateful), ["h"])
        steps = (
            stateful_step(runner, x),
            plain_step(queue, {0: x, 1: zeros, 2: zeros}),
            plain_step(bare, {0: x}),
        )
        rounds: list[list[float]] = [[], [], []]
        for _ in range(ROUNDS):  # interleaved, so a neighbour's load falls on all three alike
            for measured, step in zip(rounds, steps, strict=True):
                measured.append(await requests_per_second(step, sequences, seconds))
        with_state, without, bare_pool = (statistics.median(measured) for measured in rounds)
        results[sequences] = (with_state, without, bare_pool)
    return results


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def measure(width: int, seconds: float) -> None:
    core = ov.Core()
    stateful = core.compile_model(recurrent_cell_model(width), "CPU")
    stateless = core.compile_model(recurrent_cell_model(width, stateful=False), "CPU")
    print(f"OpenVINO {ov.__version__}; cell width {width}; nireq {default_nireq(stateful)}")
    restore_us, save_us = await state_copy_us(stateful, width)
    copy_us = restore_us + save_us
    print(f"state restore {restore_us:.2f} us + save {save_us:.2f} us = {copy_us:.2f} us per request")
    alone_us, moved_us = synchronous_us(stateful, width)
    print(
        f"synchronous inference {alone_us:.1f} us; with restore and save around it {moved_us:.1f} us "
        f"(+{moved_us - alone_us:.1f} us)"
    )
    results = await throughput(stateful, stateless, width, seconds)
    for sequences, (with_state, without, bare_pool) in results.items():
        print(
            f"{sequences:3d} sequences: stateful runner {with_state:6.0f} req/s ({1e6 / with_state:4.0f} us)  "
            f"no variables {without:6.0f} req/s ({1e6 / without:4.0f} us)  "
            f"stateful model on the bare pool {bare_pool:6.0f} req/s ({1e6 / bare_pool:4.0f} us)  "
            f"runner / no variables {with_state / without:.2f}"
        )
    with_state, _, bare_pool = results[CONCURRENCY[-1]]
    request_us = 1e6 / with_state
    overhead_us = request_us - 1e6 / bare_pool
    print(
        f"at {CONCURRENCY[-1]} sequences: state copy {copy_us:.1f} us = {copy_us / request_us:.1%} of the "
        f"{request_us:.0f} us request (goal < 10%); all the runner adds over the bare pool: "
        f"{overhead_us:.0f} us = {overhead_us / request_us:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--width", type=int, default=256, help="hidden size of the cell (states FP32[1, width])"
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="measured time per configuration and round"
    )
    args = parser.parse_args()
    run_loop(measure(args.width, args.seconds))


if __name__ == "__main__":
    main()
