"""The idle-sequence cleaner (spec §9.3): every ``--sequence_cleaner_poll_wait_minutes`` it visits the
sequence stores of the model versions with ``idle_sequence_cleanup: true`` (``SequenceStore.clean_idle``:
a sequence with no request between two visits goes). A poll interval of 0 disables it (spec §1.2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping

from ovms_cli.servables.stateful.sequence_store import SequenceStore

log = logging.getLogger("ovms.sequence_manager")

# A test aid, documented in README "Stateful models": the cleaner's period in seconds, replacing
# --sequence_cleaner_poll_wait_minutes, so tests of idle cleanup need not wait minutes.
POLL_SECONDS_ENV = "OVMS_SEQUENCE_CLEANER_POLL_WAIT_SECONDS"


def cleaner_interval_s(minutes: int, environ: Mapping[str, str] = os.environ) -> float:
    """The cleaner's period in seconds: ``minutes`` * 60, or ``$OVMS_SEQUENCE_CLEANER_POLL_WAIT_SECONDS``
    when set (a test aid). Raises ``ValueError`` when that variable is not a non-negative number."""
    text = environ.get(POLL_SECONDS_ENV)
    if text is None:
        return minutes * 60.0
    problem = f"{POLL_SECONDS_ENV} must be a non-negative number of seconds, got {text!r}"
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(problem) from None
    if not seconds >= 0:  # also NaN
        raise ValueError(problem)
    return seconds


class SequenceCleaner:
    """Runs on the event loop; ``interval_s`` in seconds (the option is in minutes: multiply by 60).

    It visits the stores given to ``watch`` and, on each pass, those ``find`` returns then (the server's: the
    stores of the stateful versions loaded at that moment with ``idle_sequence_cleanup: true``).
    """

    def __init__(self, interval_s: float, find: Callable[[], Iterable[SequenceStore]] | None = None) -> None:
        self.interval_s = interval_s
        self._stores: set[SequenceStore] = set()
        self._find = find
        self._task: asyncio.Task[None] | None = None

    def watch(self, store: SequenceStore) -> None:
        """Visit ``store`` from the next pass on (a version loaded with ``idle_sequence_cleanup: true``)."""
        self._stores.add(store)

    def forget(self, store: SequenceStore) -> None:
        self._stores.discard(store)

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="sequence-cleaner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def visit(self) -> int:
        """One pass over every watched store; returns how many sequences were removed."""
        stores = set(self._stores)
        if self._find is not None:
            stores.update(self._find())
        return sum(store.clean_idle() for store in stores)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.visit()
            except Exception:  # a bug here must not end the cleaner for every model
                log.exception("Sequence cleaner pass failed")
