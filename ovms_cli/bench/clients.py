"""The asyncio clients that send one prebuilt request (a ``Target``) again and again.

Workers send the target's bytes as they are: gRPC through a raw ``unary_unary`` without
serializers, so the client spends no CPU on protobuf; REST over lean HTTP/1.1 keep-alive
connections (``http1``).
A failed request (non-OK status, transport error, timeout) is an error, never an exception.
This module imports neither OpenVINO nor the server, so that worker processes start quickly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, Protocol

import grpc

from ovms_cli.bench.http1 import Connection, ProtocolError, build_request

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
REQUEST_TIMEOUT_S = 30.0
ERROR_TEXT_LIMIT = 300
HTTP_OK = 200
_UNLIMITED_MESSAGES = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]

Transport = Literal["grpc", "rest"]


@dataclass(frozen=True)  # no slots: frozen slotted dataclasses do not unpickle on every Python 3.10
class Target:
    """Where to send what: everything a worker process needs, as plain picklable data."""

    protocol: Transport
    url: str  # host:port
    path: str  # the gRPC method, or the REST path
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class Client(Protocol):
    async def infer(self) -> str | None:
        """Send the request once; None on success, else what went wrong."""
        ...

    async def aclose(self) -> None: ...


def open_client(target: Target) -> Client:
    """A client for any number of concurrent callers; call from inside the running event loop."""
    return GrpcClient(target) if target.protocol == "grpc" else RestClient(target)


class GrpcClient:
    """One HTTP/2 channel; concurrent calls are streams on it."""

    def __init__(self, target: Target) -> None:
        self._channel = grpc.aio.insecure_channel(target.url, options=_UNLIMITED_MESSAGES)
        self._call = self._channel.unary_unary(target.path)
        self._body = target.body

    async def infer(self) -> str | None:
        try:
            await self._call(self._body, timeout=REQUEST_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            return f"{error.code().name}: {error.details()}"[:ERROR_TEXT_LIMIT]
        return None

    async def aclose(self) -> None:
        await self._channel.close()


class RestClient:
    """HTTP/1.1 keep-alive: one connection per concurrent caller, reused for every request.

    No per-request timeout: the load run cancels requests still in flight when its window ends.
    """

    def __init__(self, target: Target) -> None:
        self._address = target.url
        self._request = build_request(target.url, target.path, target.headers, target.body)
        self._idle: list[Connection] = []
        self._all: set[Connection] = set()

    async def infer(self) -> str | None:
        connection = self._idle.pop() if self._idle else None
        try:
            if connection is None:
                connection = await Connection.open(self._address)
                self._all.add(connection)
            response = await connection.exchange(self._request)
        except (
            OSError,
            EOFError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ProtocolError,
        ) as error:
            self._discard(connection)
            return f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]
        if response.keep_alive:
            self._idle.append(connection)
        else:
            self._discard(connection)
        if response.status != HTTP_OK:
            return f"HTTP {response.status}: {response.body.decode(errors='replace')}"[:ERROR_TEXT_LIMIT]
        return None

    def _discard(self, connection: Connection | None) -> None:
        if connection is not None:
            connection.close()
            self._all.discard(connection)

    async def aclose(self) -> None:
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._idle.clear()
