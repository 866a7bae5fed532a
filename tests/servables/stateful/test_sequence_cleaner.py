import asyncio

import pytest

from ovms_cli.servables.stateful.sequence_cleaner import POLL_SECONDS_ENV, SequenceCleaner, cleaner_interval_s
from ovms_cli.servables.stateful.sequence_store import SequenceStore
from ovms_cli.servables.stateful.special_inputs import SequenceControl, SequenceRequest

INTERVAL_S = 0.02


async def start(store: SequenceStore, sequence_id: int) -> None:
    async with store.serve(SequenceRequest(sequence_id, SequenceControl.START)):
        pass


async def test_the_cleaner_removes_idle_sequences_of_watched_stores_only() -> None:
    watched, unwatched = SequenceStore(10), SequenceStore(10)
    await start(watched, 1)
    await start(unwatched, 1)
    cleaner = SequenceCleaner(INTERVAL_S)
    cleaner.watch(watched)
    cleaner.start()
    try:
        async with asyncio.timeout(10):
            while 1 in watched:
                await asyncio.sleep(INTERVAL_S)
    finally:
        await cleaner.stop()
    assert watched.counts.cleaned == 1
    assert 1 in unwatched


async def test_one_visit_only_marks_two_visits_remove() -> None:
    store = SequenceStore(10)
    await start(store, 1)
    cleaner = SequenceCleaner(60)
    cleaner.watch(store)
    assert cleaner.visit() == 0
    assert 1 in store
    assert cleaner.visit() == 1
    cleaner.forget(store)
    await start(store, 2)
    cleaner.visit()
    cleaner.visit()
    assert 2 in store


async def test_a_zero_interval_disables_the_cleaner() -> None:
    store = SequenceStore(10)
    await start(store, 1)
    cleaner = SequenceCleaner(0)
    cleaner.watch(store)
    cleaner.start()
    await asyncio.sleep(0.05)
    assert 1 in store
    await cleaner.stop()


async def test_the_cleaner_also_visits_the_stores_its_finder_returns_on_each_pass() -> None:
    found: list[SequenceStore] = []
    store = SequenceStore(10)
    await start(store, 4)
    cleaner = SequenceCleaner(INTERVAL_S, lambda: found)
    assert cleaner.visit() == 0  # not found yet
    found.append(store)
    assert (cleaner.visit(), cleaner.visit()) == (0, 1)  # two visits: idle, then gone
    assert 4 not in store


def test_the_interval_is_minutes_or_the_test_aid_in_seconds() -> None:
    assert cleaner_interval_s(5, {}) == 300.0
    assert cleaner_interval_s(0, {}) == 0.0
    assert cleaner_interval_s(5, {POLL_SECONDS_ENV: "0.5"}) == 0.5
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(ValueError, match=POLL_SECONDS_ENV):
            cleaner_interval_s(5, {POLL_SECONDS_ENV: bad})
