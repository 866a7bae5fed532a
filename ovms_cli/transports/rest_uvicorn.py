"""``--rest_server uvicorn``: the REST app on uvicorn with httptools instead of Hypercorn.

Hypercorn stays the default (the product owner's choice; it also speaks HTTP/2). On
``benchmarks/thread_cost.py``'s probe (600 KB KServe binary request, wrk with 8 connections, one
run with both servers), uvicorn 0.54 with httptools 0.9 answered 345 req/s against Hypercorn's 190
(1.8 times), with 1,757 µs of event-loop CPU per request against 2,833
(``benchmarks/results/2026-12-01-i15-cost-and-workers.md``). HTTP/1.1 only.

It runs on the server's own event loop, like Hypercorn: ``server.py`` owns the signals (uvicorn's
would stop serving before the drain) and sets ``stop`` once the drain is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from ovms_cli.transports.tls import TlsFiles

log = logging.getLogger("ovms.rest")

KEEP_ALIVE_S = 75  # as the Hypercorn configuration


def missing() -> str | None:
    """Why ``--rest_server uvicorn`` cannot run here (uvicorn or httptools not installed), or None."""
    try:
        import httptools  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return 'rest_server uvicorn needs the uvicorn extra: pip install "ovms[uvicorn]"'
    return None


def serve_uvicorn(
    app: Any,
    bind: tuple[str, int] | socket.socket,
    tls: TlsFiles | None,
    graceful_timeout: float,
    stop: asyncio.Event,
) -> asyncio.Task[None]:
    """Serve ``app`` until ``stop`` is set; ``bind``: (address, port), or a socket already bound."""
    import uvicorn

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    host, port = bind if isinstance(bind, tuple) else ("", 0)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools",
        loop="none",  # the running one
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=math.ceil(graceful_timeout),
        **_tls(tls),
    )
    server = Server(config)

    async def run() -> None:
        serving = asyncio.create_task(server.serve(sockets=None if isinstance(bind, tuple) else [bind]))
        await asyncio.wait([serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving

    return asyncio.create_task(run(), name="rest-server")


def _tls(tls: TlsFiles | None) -> dict[str, Any]:
    if tls is None:
        return {}
    options: dict[str, Any] = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
    if tls.ca is not None:
        options |= {"ssl_ca_certs": str(tls.ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options
