"""The idle-sequence cleaner (spec §9.3): every ``--sequence_cleaner_poll_wait_minutes`` it visits the
sequence stores of the model versions with ``idle_sequence_cleanup: true`` (``SequenceStore.clean_idle``:
a sequence with no request between two visits goes). A poll interval of 0 disables it (spec §1.2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ovms_cli.servables.stateful.sequence_store import SequenceStore

log = logging.getLogger("ovms.sequence_manager")


class SequenceCleaner:
    """Runs on the event loop; ``interval_s`` in seconds (the option is in minutes: multiply by 60)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stores: set[SequenceStore] = set()
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
        return sum(store.clean_idle() for store in list(self._stores))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.visit()
            except Exception:  # a bug here must not end the cleaner for every model
                log.exception("Sequence cleaner pass failed")
