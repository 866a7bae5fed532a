import numpy as np
import openvino as ov

from ovms_cli.servables.stateful.sequence_store import Sequence
from ovms_cli.servables.stateful.state_queue import StateQueue, save_states


async def test_saves_reuse_the_sequence_buffers_and_copy_out_of_the_plugin(cell: ov.CompiledModel) -> None:
    queue = StateQueue(cell, 1, ["h"])
    request = await queue.acquire()
    variables = queue.variables(request)
    x = np.ones((1, 8), np.float32)
    request.infer({0: x})
    sequence = Sequence(1)
    save_states(variables, sequence)
    buffers, states = sequence.buffers, sequence.states
    first = [buffer.copy() for buffer in buffers]
    request.infer({0: x})
    save_states(variables, sequence)
    assert sequence.buffers is buffers  # no new allocation on later saves
    assert sequence.states is states
    assert not np.array_equal(buffers[0], first[0])
    request.reset_state()  # the plugin's memory changes; the saved copy does not
    assert np.any(buffers[0] != 0)
    queue.release(request)


async def test_buffers_that_no_longer_fit_are_remade(cell: ov.CompiledModel) -> None:
    queue = StateQueue(cell, 1, ["h"])
    request = await queue.acquire()
    variables = queue.variables(request)
    sequence = Sequence(1)
    sequence.buffers = (np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32))
    save_states(variables, sequence)
    assert [buffer.shape for buffer in sequence.buffers] == [(1, 8), (1, 8)]
    assert sequence.states is not None
    assert [tuple(state.shape) for state in sequence.states] == [(1, 8), (1, 8)]
    queue.release(request)


class _InFlight:
    """An ``InferObserver`` recording the requests in progress when each inference's time arrives."""

    def __init__(self) -> None:
        self.current = 0
        self.seen: list[int] = []

    def request_started(self) -> None:
        self.current += 1

    def request_finished(self) -> None:
        self.current -= 1

    def waited(self, seconds: float) -> None: ...

    def inferred(self, seconds: float) -> None:
        self.seen.append(self.current)


async def test_the_observer_hears_each_request_start_and_finish(cell: ov.CompiledModel) -> None:
    queue = StateQueue(cell, 1, ["h"])
    observer = _InFlight()
    queue.observer = observer
    await queue.run_with_state(Sequence(1), {0: np.ones((1, 8), np.float32)})
    assert (observer.seen, observer.current) == ([1], 0)
