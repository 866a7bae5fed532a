"""The workers of a pool talk over Unix sockets in its state directory, one listening per worker.

A request is one line naming a command; the answer is the whole stream until the peer closes it:
- ``metrics``: the worker's own Prometheus text (``metrics.render``), for a scrape to sum;
- ``reload``: run one pass of the worker's config watcher (``POST /v1/config/reload`` on a sibling);
  the answer is ``ok`` or the error's message.
A sibling that does not answer within ``PEER_TIMEOUT_S`` (restarting, stuck) is left out and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ovms_cli.workers.slot import WorkerSlot

log = logging.getLogger("ovms.workers")

METRICS, RELOAD = b"metrics", b"reload"
PEER_TIMEOUT_S = 5.0
MAX_COMMAND_BYTES = 64

Command = Callable[[], Awaitable[bytes]]


async def serve_peers(slot: WorkerSlot, commands: dict[bytes, Command]) -> asyncio.AbstractServer:
    """Listen on this worker's socket and answer its siblings' commands."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), PEER_TIMEOUT_S)
            command = commands.get(line[:MAX_COMMAND_BYTES].strip())
            writer.write(b"unknown command" if command is None else await command())
            await writer.drain()
        except Exception:
            log.exception("Answering a sibling worker failed")
        finally:
            writer.close()

    path = slot.socket_path()
    path.unlink(missing_ok=True)  # left by this slot's previous process
    return await asyncio.start_unix_server(answer, path=str(path))


async def ask_siblings(slot: WorkerSlot, command: bytes) -> list[bytes]:
    """Every answering sibling's answer to ``command``, in slot order."""
    answers = await asyncio.gather(*(_ask(slot, index, command) for index in slot.siblings()))
    return [answer for answer in answers if answer is not None]


async def _ask(slot: WorkerSlot, index: int, command: bytes) -> bytes | None:
    try:
        return await asyncio.wait_for(_exchange(str(slot.socket_path(index)), command), PEER_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        log.warning("Worker %d did not answer %s: %s", index, command.decode(), error or type(error).__name__)
        return None


async def _exchange(path: str, command: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(command + b"\n")
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
