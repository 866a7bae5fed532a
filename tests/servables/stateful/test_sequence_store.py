import asyncio

import pytest

from ovms_cli.errors import AlreadyExists, NotFound, NotReady, PreconditionFailed, ServingError
from ovms_cli.servables.stateful.sequence_store import SequenceCounts, SequenceStore
from ovms_cli.servables.stateful.special_inputs import SequenceControl, SequenceRequest

START, NONE, END = SequenceControl.START, SequenceControl.NONE, SequenceControl.END


async def touch(store: SequenceStore, sequence_id: int, control: SequenceControl) -> int:
    async with store.serve(SequenceRequest(sequence_id, control)) as sequence:
        return sequence.id


async def test_start_continue_end_lifecycle() -> None:
    store = SequenceStore(10)
    assert await touch(store, 5, START) == 5
    assert 5 in store
    assert await touch(store, 5, NONE) == 5
    assert await touch(store, 5, END) == 5
    assert 5 not in store
    assert store.counts == SequenceCounts(live=0, started=1, ended=1, cleaned=0, dropped=0)


async def test_server_assigned_ids_are_unique_nonzero_and_skip_ids_in_use() -> None:
    store = SequenceStore(100)
    await touch(store, 2, START)
    assigned = [await touch(store, 0, START) for _ in range(50)]
    assert len(set(assigned)) == 50
    assert 0 not in assigned
    assert 2 not in assigned
    assert assigned[:3] == [1, 3, 4]


async def test_assigned_ids_wrap_around_uint64_skipping_zero() -> None:
    store = SequenceStore(10)
    store._last_assigned = 2**64 - 2
    assert [await touch(store, 0, START) for _ in range(3)] == [2**64 - 1, 1, 2]


async def assert_error(
    store: SequenceStore, request: SequenceRequest, kind: type[ServingError], message: str
) -> None:
    with pytest.raises(kind) as raised:
        async with store.serve(request):
            pytest.fail("served a sequence that must be refused")
    assert raised.value.message == message


async def test_unknown_sequence_is_not_found() -> None:
    store = SequenceStore(10)
    for control in (NONE, END):
        await assert_error(
            store, SequenceRequest(42, control), NotFound, "Sequence with provided ID does not exist"
        )
    assert NotFound.http_status == 404


async def test_start_of_an_existing_sequence_already_exists() -> None:
    store = SequenceStore(10)
    await touch(store, 1, START)
    await assert_error(
        store, SequenceRequest(1, START), AlreadyExists, "Sequence with provided ID already exists"
    )
    assert (AlreadyExists.http_status, AlreadyExists.grpc_code.name) == (409, "ALREADY_EXISTS")
    assert await touch(store, 1, NONE) == 1


async def test_max_sequence_number_refuses_a_new_sequence_until_one_ends() -> None:
    store = SequenceStore(2)
    await touch(store, 1, START)
    await touch(store, 0, START)
    await assert_error(
        store,
        SequenceRequest(0, START),
        NotReady,
        "Max sequence number has been reached. Could not create new sequence.",
    )
    assert (NotReady.http_status, NotReady.grpc_code.name) == (503, "UNAVAILABLE")
    await touch(store, 1, END)
    assert await touch(store, 7, START) == 7


async def test_while_end_runs_the_sequence_is_terminated_for_start_and_missing_for_the_rest() -> None:
    store = SequenceStore(10)
    await touch(store, 3, START)
    async with store.serve(SequenceRequest(3, END)):
        await assert_error(
            store,
            SequenceRequest(3, START),
            PreconditionFailed,
            "Sequence last request is being processed and it's not available anymore",
        )
        await assert_error(
            store, SequenceRequest(3, NONE), NotFound, "Sequence with provided ID does not exist"
        )
        await assert_error(
            store, SequenceRequest(3, END), NotFound, "Sequence with provided ID does not exist"
        )
    assert await touch(store, 3, START) == 3


async def test_a_failed_start_frees_its_id_and_a_failed_continue_keeps_the_sequence() -> None:
    store = SequenceStore(10)
    with pytest.raises(RuntimeError):
        async with store.serve(SequenceRequest(4, START)):
            raise RuntimeError("inference failed")
    assert 4 not in store
    assert store.counts.started == 0
    await touch(store, 4, START)
    with pytest.raises(RuntimeError):
        async with store.serve(SequenceRequest(4, NONE)):
            raise RuntimeError("inference failed")
    assert 4 in store


async def test_one_sequence_is_served_by_one_request_at_a_time() -> None:
    store = SequenceStore(10)
    await touch(store, 1, START)
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with store.serve(SequenceRequest(1, NONE)):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(10)))
    assert most == 1


async def test_requests_waiting_behind_end_find_the_sequence_missing() -> None:
    store = SequenceStore(10)
    await touch(store, 1, START)
    async with store.serve(SequenceRequest(1, NONE)):
        ending = asyncio.create_task(touch(store, 1, END))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(touch(store, 1, NONE))
        await asyncio.sleep(0)
    assert await ending == 1
    with pytest.raises(NotFound):
        await waiting


async def test_idle_cleanup_removes_a_sequence_untouched_between_two_visits() -> None:
    store = SequenceStore(10)
    await touch(store, 1, START)
    await touch(store, 2, START)
    assert store.clean_idle() == 0  # first visit: both marked idle
    await touch(store, 2, NONE)  # 2 is used again
    assert store.clean_idle() == 1  # second visit: 1 untouched since the first one
    assert 1 not in store
    assert 2 in store
    assert store.clean_idle() == 1
    assert store.counts == SequenceCounts(live=0, started=2, ended=0, cleaned=2, dropped=0)
    await assert_error(store, SequenceRequest(1, NONE), NotFound, "Sequence with provided ID does not exist")


async def test_idle_cleanup_skips_busy_sequences() -> None:
    store = SequenceStore(10)
    await touch(store, 1, START)
    store.clean_idle()
    async with store.serve(SequenceRequest(1, NONE)):
        store.clean_idle()
        store.clean_idle()
    assert 1 in store


async def test_drop_all_forgets_every_sequence_and_waiters_get_not_found() -> None:
    store = SequenceStore(10)
    for sequence_id in (1, 2, 3):
        await touch(store, sequence_id, START)
    async with store.serve(SequenceRequest(1, NONE)):
        waiting = asyncio.create_task(touch(store, 1, NONE))
        await asyncio.sleep(0)
        assert store.drop_all() == 3
    with pytest.raises(NotFound):
        await waiting
    await assert_error(store, SequenceRequest(2, NONE), NotFound, "Sequence with provided ID does not exist")
    assert store.counts == SequenceCounts(live=0, started=3, ended=0, cleaned=0, dropped=3)
