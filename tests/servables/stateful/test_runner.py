import asyncio

import numpy as np
import openvino as ov
import pytest
from stateful_builders import cell_inputs, make_runner

from ovms_cli.errors import AlreadyExists, NotFound, NotReady
from ovms_cli.servables.stateful.special_inputs import SequenceControl, SequenceRequest

START, NONE, END = SequenceControl.START, SequenceControl.NONE, SequenceControl.END


def reference(compiled: ov.CompiledModel, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The sequence run in-process on an infer request of its own, which keeps the state itself."""
    request = compiled.create_infer_request()
    return [np.array(request.infer({0: x})[0], copy=True) for x in inputs]


async def test_start_continue_end_keep_the_running_sum(running_sum: ov.CompiledModel) -> None:
    runner = make_runner(running_sum)
    steps = [np.full((1, 4), float(i), np.float32) for i in (1, 2, 3)]
    controls = (START, NONE, END)
    sums = []
    for x, control in zip(steps, controls, strict=True):
        outputs = await runner.infer(SequenceRequest(11, control), {0: x})
        assert outputs["sequence_id"].tolist() == [11]
        assert outputs["sequence_id"].dtype == np.uint64
        sums.append(outputs["sum"])
    np.testing.assert_array_equal(sums, reference(running_sum, steps))
    np.testing.assert_array_equal(sums[-1], np.full((1, 4), 6.0, np.float32))
    with pytest.raises(NotFound, match="Sequence with provided ID does not exist"):
        await runner.infer(SequenceRequest(11, NONE), {0: steps[0]})


async def test_start_resets_the_state_an_infer_request_kept_from_another_sequence(
    running_sum: ov.CompiledModel,
) -> None:
    runner = make_runner(running_sum, nireq=1)
    ones = np.ones((1, 4), np.float32)
    await runner.infer(SequenceRequest(1, START), {0: ones})
    await runner.infer(SequenceRequest(1, NONE), {0: ones})
    second = await runner.infer(SequenceRequest(2, START), {0: ones})
    np.testing.assert_array_equal(second["sum"], ones)
    first = await runner.infer(SequenceRequest(1, END), {0: ones})
    np.testing.assert_array_equal(first["sum"], 3 * ones)


async def test_server_assigned_ids_are_returned_and_usable(running_sum: ov.CompiledModel) -> None:
    runner = make_runner(running_sum)
    ones = np.ones((1, 4), np.float32)
    assigned = [
        int((await runner.infer(SequenceRequest(0, START), {0: ones}))["sequence_id"][0]) for _ in range(5)
    ]
    assert len(set(assigned)) == 5
    assert 0 not in assigned
    out = await runner.infer(SequenceRequest(assigned[2], NONE), {0: ones})
    np.testing.assert_array_equal(out["sum"], 2 * ones)


async def test_sixteen_interleaved_sequences_each_get_their_own_recurrent_result(
    cell: ov.CompiledModel,
) -> None:
    runner = make_runner(cell, nireq=3)
    steps = 6
    feeds = {sequence_id: cell_inputs(steps, seed=sequence_id) for sequence_id in range(1, 17)}

    async def run(sequence_id: int) -> list[np.ndarray]:
        results = []
        for step, x in enumerate(feeds[sequence_id]):
            control = START if step == 0 else END if step == steps - 1 else NONE
            outputs = await runner.infer(SequenceRequest(sequence_id, control), {0: x})
            assert outputs["sequence_id"].tolist() == [sequence_id]
            results.append(outputs["h"])
            await asyncio.sleep(0)
        return results

    served = await asyncio.gather(*(run(sequence_id) for sequence_id in feeds))
    for sequence_id, results in zip(feeds, served, strict=True):
        np.testing.assert_allclose(results, reference(cell, feeds[sequence_id]), rtol=1e-5, atol=1e-6)
    assert runner.store.counts.live == 0
    assert (runner.store.counts.started, runner.store.counts.ended) == (16, 16)


async def test_the_recurrent_cell_carries_both_variables(cell: ov.CompiledModel) -> None:
    runner = make_runner(cell)
    assert sorted(runner.queue.variable_names) == ["c_state", "h_state"]
    xs = cell_inputs(2, seed=99)
    await runner.infer(SequenceRequest(5, START), {0: xs[0]})
    sequence = runner.store._sequences[5]
    assert sequence.states is not None
    assert len(sequence.states) == 2
    assert all(np.any(state.data != 0) for state in sequence.states)


async def test_error_cases_through_the_runner(running_sum: ov.CompiledModel) -> None:
    runner = make_runner(running_sum, max_sequence_number=2)
    ones = np.ones((1, 4), np.float32)
    await runner.infer(SequenceRequest(1, START), {0: ones})
    with pytest.raises(AlreadyExists, match="Sequence with provided ID already exists"):
        await runner.infer(SequenceRequest(1, START), {0: ones})
    with pytest.raises(NotFound, match="Sequence with provided ID does not exist"):
        await runner.infer(SequenceRequest(2, NONE), {0: ones})
    await runner.infer(SequenceRequest(2, START), {0: ones})
    for full in (SequenceRequest(3, START), SequenceRequest(1, START)):  # OVMS checks the limit first
        with pytest.raises(NotReady, match="Max sequence number has been reached"):
            await runner.infer(full, {0: ones})
    out = await runner.infer(SequenceRequest(1, NONE), {0: ones})
    np.testing.assert_array_equal(out["sum"], 2 * ones)  # the refused requests did not touch its state


async def test_a_reloaded_version_drops_its_sequences(running_sum: ov.CompiledModel) -> None:
    old = make_runner(running_sum)
    ones = np.ones((1, 4), np.float32)
    await old.infer(SequenceRequest(8, START), {0: ones})
    assert old.store.drop_all() == 1  # unload / reload
    with pytest.raises(NotFound, match="Sequence with provided ID does not exist"):
        await old.infer(SequenceRequest(8, NONE), {0: ones})
    new = make_runner(running_sum)  # the reloaded version starts with no sequences
    with pytest.raises(NotFound, match="Sequence with provided ID does not exist"):
        await new.infer(SequenceRequest(8, END), {0: ones})
    out = await new.infer(SequenceRequest(8, START), {0: ones})
    np.testing.assert_array_equal(out["sum"], ones)


async def test_cancelled_waiters_do_not_leak_infer_requests_or_sequences(
    running_sum: ov.CompiledModel,
) -> None:
    runner = make_runner(running_sum, nireq=1)
    ones = np.ones((1, 4), np.float32)
    tasks = [asyncio.create_task(runner.infer(SequenceRequest(i, START), {0: ones})) for i in range(1, 9)]
    await asyncio.sleep(0)
    for task in tasks[4:]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert runner.queue.active == 0
    assert runner.queue.has_free_request()
    for i in range(5, 9):
        assert i not in runner.store  # a cancelled START leaves no sequence behind
    out = await runner.infer(SequenceRequest(1, END), {0: ones})
    np.testing.assert_array_equal(out["sum"], 2 * ones)


async def test_an_inference_that_fails_leaves_the_sequence_state_as_it_was(
    running_sum: ov.CompiledModel,
) -> None:
    runner = make_runner(running_sum, nireq=1)
    ones = np.ones((1, 4), np.float32)
    await runner.infer(SequenceRequest(1, START), {0: ones})
    with pytest.raises(RuntimeError):  # a shape the model cannot take: OpenVINO refuses it before starting
        await runner.infer(SequenceRequest(1, NONE), {0: np.ones((1, 5), np.float32)})
    assert runner.queue.active == 0
    assert runner.queue._save_to == {}
    out = await runner.infer(SequenceRequest(1, END), {0: ones})
    np.testing.assert_array_equal(out["sum"], 2 * ones)
