"""Admission of model requests: open while serving; once closed, new ones are refused and the
in-flight ones can be awaited (graceful shutdown, ARCHITECTURE §3).

After the in-flight requests finish, ``quiet`` waits until clients have stopped sending: a request
that reaches gRPC while it stops is cancelled (CANCELLED, not UNAVAILABLE) and a keep-alive HTTP
connection may be closed under the next request, so refusing them cleanly for a little longer is
what lets every client see a 503 / UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import time

from ovms_cli.errors import NotReady


class Gate:
    def __init__(self) -> None:
        self.open = True
        self.in_flight = 0
        self._idle: asyncio.Event | None = None
        self._refused_at = 0.0

    def enter(self) -> None:
        if not self.open:
            self._refused_at = time.monotonic()
            raise NotReady("Server is shutting down", "the request was not started")
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    def close(self) -> None:
        self.open = False

    async def drained(self, timeout: float) -> bool:
        """Whether every admitted request finished within ``timeout`` seconds."""
        if self.in_flight == 0:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def quiet(self, period: float, timeout: float) -> bool:
        """Whether ``period`` seconds passed without a refused request, within ``timeout`` seconds.

        The period starts now at the earliest: a client whose request was answered just now has
        not sent its next one yet.
        """
        since = time.monotonic()
        deadline = since + timeout
        while True:
            now = time.monotonic()
            calm_at = max(max(self._refused_at, since) + period, now)
            if calm_at <= now:
                return True
            if calm_at > deadline:
                return False
            await asyncio.sleep(calm_at - now)
