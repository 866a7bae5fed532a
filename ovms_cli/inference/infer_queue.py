"""Asynchronous inference on an OpenVINO ``AsyncInferQueue`` without blocking the event loop.

``AsyncInferQueue.start_async`` blocks its caller while no infer request is idle, so a
semaphore with one permit per infer request guards it: a coroutine waits (FIFO) on the
semaphore, never on OpenVINO. OpenVINO's callback thread copies the outputs out of the
request, which is about to be reused, and hands them to the loop with
``call_soon_threadsafe``.

An optional ``observer`` (metrics) hears of each request's wait for an infer request and of each
inference's duration; ``active`` counts the infer requests in use. Both are read or called on the
event loop only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import openvino as ov

from ovms_cli.errors import InternalError
from ovms_cli.inference.request import Array

Outputs = dict[str, Array]
_Userdata = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Outputs]", Mapping[int, Array]]


class InferObserver(Protocol):
    def request_started(self) -> None: ...
    def request_finished(self) -> None: ...
    def waited(self, seconds: float) -> None:
        """A free infer request was found after ``seconds``."""

    def inferred(self, seconds: float) -> None:
        """An inference took ``seconds``, from ``start_async`` to its result on the loop."""


class InferQueue:
    def __init__(self, compiled: ov.CompiledModel, nireq: int, output_names: Sequence[str]) -> None:
        self._queue = ov.AsyncInferQueue(compiled, nireq)
        self._queue.set_callback(self._on_done)
        self._outputs = tuple(enumerate(output_names))
        self.size = len(self._queue)
        self._free: asyncio.Semaphore | None = None
        self.active = 0
        self.observer: InferObserver | None = None

    async def infer(self, inputs: Mapping[int, Array]) -> Outputs:
        """Run one inference; ``inputs`` are keyed by their index among the model's inputs."""
        observer = self.observer  # the same one hears the start and the end
        if observer is not None:
            observer.request_started()
        try:
            await self.acquire()
            try:
                return await self.run_acquired(inputs)
            finally:
                self.release()
        finally:
            if observer is not None:
                observer.request_finished()

    def has_free_request(self) -> bool:
        return not self._slots().locked()

    async def acquire(self) -> None:
        """Wait (FIFO) until an infer request is idle and reserve it."""
        observer = self.observer
        if observer is None:
            await self._slots().acquire()
        else:
            start = time.perf_counter()
            await self._slots().acquire()
            observer.waited(time.perf_counter() - start)
        self.active += 1

    def release(self) -> None:
        self.active -= 1
        self._slots().release()

    async def run_acquired(self, inputs: Mapping[int, Array]) -> Outputs:
        """Run on the infer request the caller reserved with ``acquire``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outputs] = loop.create_future()
        observer = self.observer
        start = time.perf_counter()
        # The inputs stay referenced in the userdata until the callback: shared memory.
        self._queue.start_async(dict(inputs), (loop, future, inputs), share_inputs=True)
        outputs = await future
        if observer is not None:
            observer.inferred(time.perf_counter() - start)
        return outputs

    def _slots(self) -> asyncio.Semaphore:
        if self._free is None:
            self._free = asyncio.Semaphore(self.size)
        return self._free

    def _on_done(self, request: ov.InferRequest, userdata: _Userdata) -> None:
        # Runs on an OpenVINO thread; an exception escaping here would poison the queue.
        loop, future, _ = userdata
        try:
            outputs = {name: _copy_out(request.get_output_tensor(i)) for i, name in self._outputs}
        except Exception as error:
            loop.call_soon_threadsafe(_fail, future, error)
            return
        loop.call_soon_threadsafe(_resolve, future, outputs)

    def wait_all(self) -> None:
        self._queue.wait_all()


def _copy_out(tensor: ov.Tensor) -> Array:
    if tensor.element_type == ov.Type.string:
        data: Any = tensor.bytes_data
        return np.array(data, dtype=object).reshape(tuple(tensor.shape))
    return np.array(tensor.data, copy=True)


def _resolve(future: asyncio.Future[Outputs], outputs: Outputs) -> None:
    if not future.done():
        future.set_result(outputs)


def _fail(future: asyncio.Future[Outputs], error: Exception) -> None:
    if not future.done():
        future.set_exception(InternalError("Internal inference error", str(error)))
