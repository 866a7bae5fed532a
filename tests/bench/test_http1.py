"""The lean HTTP/1.1 load client against a scripted server: framing, keep-alive, reconnection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ovms_cli.bench.clients import RestClient, Target

Script = Callable[[int], bytes]  # the n-th request on a connection → the raw response


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[tuple[RestClient, list[int]]]:
    """A client of a server answering each request with ``script(n)``; ``connections`` grows per accept."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(0)
        try:
            for index in range(100):
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
                writer.write(script(index))
                await writer.drain()
                if b"connection: close" in script(index):
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    client = RestClient(Target("rest", f"127.0.0.1:{server.sockets[0].getsockname()[1]}", "/infer", b"body"))
    try:
        yield client, connections
    finally:
        await client.aclose()
        server.close()


async def test_content_length_and_chunked_bodies_on_one_kept_alive_connection() -> None:
    def script(index: int) -> bytes:
        if index % 2:
            return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\ninference-header-content-length: 1\r\ncontent-length: 2\r\n\r\n{}"

    async with scripted(script) as (client, connections):
        assert [await client.infer() for _ in range(4)] == [None] * 4
        assert len(connections) == 1


async def test_an_error_status_is_reported_and_a_closed_connection_reopened() -> None:
    def script(index: int) -> bytes:
        return b'HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 9\r\n\r\n{"e":"x"}'

    async with scripted(script) as (client, connections):
        assert await client.infer() == 'HTTP 404: {"e":"x"}'
        assert await client.infer() == 'HTTP 404: {"e":"x"}'
        assert len(connections) == 2
