"""Asynchronous inference on a pool of OpenVINO infer requests, driven from the event loop.

The pool is the loop's own: an ``asyncio.Semaphore`` with one permit per infer request and a
list of the idle ones, so a coroutine waits (FIFO) on the semaphore and the loop never blocks on
OpenVINO. (OpenVINO's ``AsyncInferQueue`` hands its idle requests back under a mutex that its
``start_async`` waits on with the GIL released; a permit freed on the loop could reach
``start_async`` before that, and py-spy found the loop blocked there for 30% of its time.)

Each infer request's callback runs on an OpenVINO thread: it copies the outputs out of the
request, which is about to be reused, and hands them to the loop with ``call_soon_threadsafe``.
The loop puts the request back in the pool and then resolves the caller's future, so a request is
never reused while it runs, even when its caller was cancelled.

An optional ``observer`` (metrics) hears of each request's wait for an infer request and of each
inference's duration; ``active`` counts the infer requests in use. Both are read or called on the
event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import openvino as ov

from ovms_cli.errors import InternalError, InvalidInput, ServingError
from ovms_cli.inference import openvino_messages
from ovms_cli.types import Array

Outputs = dict[str, Array]
_Userdata = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Outputs]", ov.InferRequest, Mapping[int, Array]]


INPUTS_DO_NOT_FIT = "Invalid input shape or value for the model"
WATCHDOG_INTERVAL_S = 0.1
_NUMERIC = frozenset("biuf")  # numpy kinds: bool, int, uint, float
_NO_INPUTS: dict[int, ov.Tensor] = {}


class InferObserver(Protocol):
    def request_started(self) -> None: ...
    def request_finished(self) -> None: ...
    def waited(self, seconds: float) -> None:
        """A free infer request was found after ``seconds``."""

    def inferred(self, seconds: float) -> None:
        """An inference took ``seconds``, from ``start_async`` to its result on the loop."""


class InferQueue:
    def __init__(self, compiled: ov.CompiledModel, nireq: int, output_names: Sequence[str]) -> None:
        self._idle = [compiled.create_infer_request() for _ in range(nireq)]
        self.requests: tuple[ov.InferRequest, ...] = tuple(self._idle)  # every request of the pool
        for request in self._idle:
            request.set_callback(self._on_done, None)
        self._outputs = tuple(enumerate(output_names))
        self.size = nireq
        self._free: asyncio.Semaphore | None = None
        self.active = 0
        self.observer: InferObserver | None = None
        self._running: dict[int, tuple[ov.InferRequest, asyncio.Future[Outputs]]] = {}
        self._watchdog: asyncio.Task[None] | None = None

    async def infer(self, inputs: Mapping[int, Array]) -> Outputs:
        """Run one inference; ``inputs`` are keyed by their index among the model's inputs."""
        observer = self.observer  # the same one hears the start and the end
        if observer is not None:
            observer.request_started()
        try:
            return await self.run_acquired(await self.acquire(), inputs)
        finally:
            if observer is not None:
                observer.request_finished()

    def has_free_request(self) -> bool:
        return not self._slots().locked()

    async def acquire(self) -> ov.InferRequest:
        """Wait (FIFO) until an infer request is idle and reserve it: run it, or ``release`` it."""
        observer = self.observer
        if observer is None:
            await self._slots().acquire()
        else:
            start = time.perf_counter()
            await self._slots().acquire()
            observer.waited(time.perf_counter() - start)
        self.active += 1
        return self._idle.pop()

    def release(self, request: ov.InferRequest) -> None:
        self._idle.append(request)
        self.active -= 1
        self._slots().release()

    async def run_acquired(self, request: ov.InferRequest, inputs: Mapping[int, Array]) -> Outputs:
        """Run on the infer request the caller reserved with ``acquire``; it goes back to the pool."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outputs] = loop.create_future()
        observer = self.observer
        start = time.perf_counter()
        try:
            # OpenVINO restores a request's callback just after calling it: wait for that moment.
            with contextlib.suppress(RuntimeError):  # the last run failed: it is over all the same
                request.wait()
            _start(request, inputs, loop, future)
        except BaseException:
            self.release(request)
            raise
        self._running[id(request)] = (request, future)
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch(), name="infer-watchdog")
        outputs = await future
        if observer is not None:
            observer.inferred(time.perf_counter() - start)
        return outputs

    def _slots(self) -> asyncio.Semaphore:
        if self._free is None:
            self._free = asyncio.Semaphore(self.size)
        return self._free

    def _on_done(self, userdata: _Userdata) -> None:
        # Runs on an OpenVINO thread; an exception escaping here would be lost with its future.
        loop, future, request, _ = userdata
        try:
            outputs = {name: _copy_out(request.get_output_tensor(i)) for i, name in self._outputs}
        except Exception as error:
            loop.call_soon_threadsafe(
                self._finish, request, future, InternalError("Internal inference error", str(error))
            )
            return
        loop.call_soon_threadsafe(self._finish, request, future, outputs)

    async def _watch(self) -> None:
        """OpenVINO skips the callback of an inference that fails once started (a shape that only
        turns out wrong at run time, say): find those by polling while requests run."""
        while self._running:
            await asyncio.sleep(WATCHDOG_INTERVAL_S)
            for key, (request, future) in list(self._running.items()):
                try:
                    request.wait_for(0)
                except RuntimeError as error:
                    if self._running.get(key, (None, None))[1] is future:
                        self._finish(request, future, _failure(error))

    def completed(self, request: ov.InferRequest, result: Outputs | ServingError) -> Outputs | ServingError:
        """A subclass's hook, on the loop, as an inference's ``result`` arrives and before ``request`` goes
        back to the pool (nothing else runs on it now); returns the result the caller gets."""
        return result

    def _finish(
        self, request: ov.InferRequest, future: asyncio.Future[Outputs], result: Outputs | ServingError
    ) -> None:
        del self._running[id(request)]
        result = self.completed(request, result)
        self.release(request)
        if future.done():
            return
        if isinstance(result, ServingError):
            future.set_exception(result)
        else:
            future.set_result(result)


def _start(
    request: ov.InferRequest,
    inputs: Mapping[int, Array],
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Outputs],
) -> None:
    """Numeric inputs go to the request as tensors over their own memory, past OpenVINO's
    generic dispatcher (7% of the loop's time serving MobileNet-V2 to 8 clients, by py-spy).

    A tensor does not keep its memory alive: the arrays it shares stay in the userdata until the
    callback.
    """
    if not all(array.dtype.kind in _NUMERIC for array in inputs.values()):
        request.start_async(dict(inputs), (loop, future, request, inputs), share_inputs=True)
        return
    shared = {index: _writeable(array) for index, array in inputs.items()}
    for index, array in shared.items():
        request.set_input_tensor(index, ov.Tensor(array, shared_memory=True))
    super(ov.InferRequest, request).start_async(_NO_INPUTS, (loop, future, request, shared))


def _writeable(array: Array) -> Array:
    if array.flags.writeable and array.flags.c_contiguous:
        return array
    return np.array(array, order="C")  # OpenVINO shares only writeable, C-ordered memory


def _failure(error: RuntimeError) -> ServingError:
    """An inference that failed once started: the request's fault when its inputs did not fit the model."""
    if openvino_messages.is_shape_inference_failure(error):
        return InvalidInput(INPUTS_DO_NOT_FIT, _reason(error))
    return InternalError("Internal inference error", _reason(error))


def _reason(error: RuntimeError) -> str:
    """The last thing OpenVINO's message says: the failing operation's own words."""
    said = openvino_messages.said(error)
    return said[-1] if said else type(error).__name__


def _copy_out(tensor: ov.Tensor) -> Array:
    if tensor.element_type == ov.Type.string:
        data: Any = tensor.bytes_data
        return np.array(data, dtype=object).reshape(tuple(tensor.shape))
    return np.array(tensor.data, copy=True)
