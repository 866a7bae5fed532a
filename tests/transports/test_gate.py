import asyncio
import time

import pytest

from ovms_cli.errors import NotReady
from ovms_cli.transports.gate import Gate


async def test_quiet_waits_a_period_from_the_drain_even_when_the_last_refusal_is_old() -> None:
    gate = Gate()
    gate.close()
    with pytest.raises(NotReady):
        gate.enter()
    await asyncio.sleep(0.15)  # the last refusal is older than the period
    start = time.monotonic()
    assert await gate.quiet(0.1, 5.0)
    assert time.monotonic() - start >= 0.1  # a client answered just now gets time to send again


async def test_quiet_gives_up_while_refusals_keep_coming() -> None:
    gate = Gate()
    gate.close()

    async def keep_sending() -> None:
        while True:
            with pytest.raises(NotReady):
                gate.enter()
            await asyncio.sleep(0.01)

    sender = asyncio.create_task(keep_sending())
    try:
        assert not await gate.quiet(0.1, 0.3)
    finally:
        sender.cancel()
