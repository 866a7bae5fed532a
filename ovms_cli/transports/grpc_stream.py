"""``ModelStreamInfer``: KServe infer requests and responses over one bidirectional gRPC stream.

As in Triton (non-decoupled models): every request gets exactly one ``ModelStreamInferResponse``,
in the order the requests came; a request that fails answers ``error_message`` (its
``ServingError`` text) and the stream stays open. Requests run concurrently (each starts as soon as
it is read), their answers wait for the ones before them; at most ``MAX_IN_FLIGHT`` of one stream
are read and unanswered at a time, beyond that the stream is not read (HTTP/2 flow control holds
the client back), so a fast client cannot pile up requests in memory. When the client goes away
gRPC cancels this handler, and every request of the stream still running is cancelled with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc

from ovms_cli._proto.grpc_predict_v2_pb2 import ModelInferRequest, ModelStreamInferResponse
from ovms_cli.errors import ServingError
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.metrics import GRPC, KSERVE, endpoint
from ovms_cli.protocol import kserve_grpc as codec
from ovms_cli.protocol import shared_memory
from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports.errors import as_serving_error, log_error
from ovms_cli.transports.tracker import RequestTracker

_INFER = endpoint(KSERVE, GRPC, "ModelInfer")
_END = None
MAX_IN_FLIGHT = 64


class StreamInfer:
    def __init__(
        self, manager: ModelManager, tracker: RequestTracker, regions: SharedMemoryRegions | None
    ) -> None:
        self._manager = manager
        self._tracker = tracker
        self._regions = regions

    async def stream(
        self, requests: AsyncIterator[ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ModelStreamInferResponse]:
        pending: asyncio.Queue[asyncio.Task[ModelStreamInferResponse] | None] = asyncio.Queue()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        reader = asyncio.create_task(self._read(requests, pending, slots), name="stream-infer-reader")
        try:
            while (task := await pending.get()) is not _END:
                answer = await task
                slots.release()
                yield answer
            await reader  # re-raises a failure to read the stream
        finally:
            reader.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if leftover is not None:
                    leftover.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.RpcError):
                await reader

    async def _read(
        self,
        requests: AsyncIterator[ModelInferRequest],
        pending: asyncio.Queue[asyncio.Task[ModelStreamInferResponse] | None],
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            async for request in requests:
                await slots.acquire()
                pending.put_nowait(asyncio.create_task(self._answer(request)))
        finally:
            pending.put_nowait(_END)

    async def _answer(self, request: ModelInferRequest) -> ModelStreamInferResponse:
        start = time.perf_counter()
        gate = self._tracker.gate
        error: ServingError | None = None
        try:
            gate.enter()
            try:
                reply = await self._infer(request)
            finally:
                gate.leave()
        except Exception as raised:
            error = as_serving_error(raised)
            log_error(error, "gRPC ModelStreamInfer")
            reply = ModelStreamInferResponse(error_message=error.message)
        metrics = self._tracker.metrics
        if metrics is not None:
            with contextlib.suppress(ServingError):  # an unreadable version counts nowhere, as in tracker.py
                version = codec.parse_version(request.model_version)
                metrics.count(_INFER, request.model_name, version, error is None, time.perf_counter() - start)
        return reply

    async def _infer(self, request: ModelInferRequest) -> ModelStreamInferResponse:
        regions = self._regions
        core = codec.decode_infer_request(request, regions)
        windows = codec.output_windows(request, regions)
        response = await self._manager.infer(core)
        shared_memory.write_outputs(regions, windows, response.outputs)
        message = codec.encode_infer_response(response)
        for index, name in enumerate(response.outputs):
            if name in windows:
                message.raw_output_contents[index] = b""
        return ModelStreamInferResponse(infer_response=message)
