"""The infer-request pool of a stateful model: the server's ``InferQueue``, whose requests also load a
sequence's state before an inference and copy it out after (spec §9.3).

OpenVINO keeps variable state per infer request; a sequence's state moves between requests:

* before: ``state.state = tensor`` for each saved tensor (OpenVINO copies it into the plugin's memory), or
  ``reset_state()`` for a new sequence (START) or one not run yet;
* after, on the event loop as the inference's result arrives and before the request goes back to the pool:
  the data of ``state.state`` copied into the sequence's own buffers. The getter's tensor is a view of the
  plugin's memory (a later ``reset_state()`` zeroes it), so it must be copied; the sequence allocates its
  buffers on its first save and reuses them, and the ``ov.Tensor`` over each, for every later save and restore.
  (Saving in the OpenVINO callback thread instead measured 3-7% fewer requests/s at 8 and 64 sequences: that
  thread then holds the GIL longer while the loop waits in ``start_async``.)

Each request's ``VariableState`` handles (``query_state()``) are looked up once, when the pool is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import openvino as ov

from ovms_cli.errors import InternalError, ServingError
from ovms_cli.inference.infer_queue import InferQueue, Outputs
from ovms_cli.servables.stateful.sequence_store import Sequence as StateSequence
from ovms_cli.types import Array


class StateQueue(InferQueue):
    """``InferQueue`` with :meth:`run_with_state`; every infer request is assumed to carry the same variables."""

    def __init__(self, compiled: ov.CompiledModel, nireq: int, output_names: Sequence[str]) -> None:
        super().__init__(compiled, nireq, output_names)
        self._variables = {id(request): tuple(request.query_state()) for request in self.requests}
        self._save_to: dict[int, StateSequence] = {}
        self.variable_names = tuple(state.name for state in next(iter(self._variables.values()), ()))

    async def run_with_state(
        self, sequence: StateSequence, inputs: Mapping[int, Array], *, save: bool = True
    ) -> Outputs:
        """Run one inference of ``sequence`` (whose lock the caller holds) on a free infer request: its state
        loaded first (or reset if it has none), copied back into ``sequence.states`` after unless ``save`` is
        false (END). Raises what ``InferQueue.run_acquired`` raises; ``InternalError`` when the state does not
        fit the model. The observer hears of it as of ``InferQueue.infer``."""
        observer = self.observer  # the same one hears the start and the end
        if observer is not None:
            observer.request_started()
        try:
            return await self._run_with_state(sequence, inputs, save)
        finally:
            if observer is not None:
                observer.request_finished()

    async def _run_with_state(
        self, sequence: StateSequence, inputs: Mapping[int, Array], save: bool
    ) -> Outputs:
        request = await self.acquire()
        try:
            self.load_states(request, sequence.states)
        except (RuntimeError, ValueError, TypeError) as error:
            self.release(request)
            raise InternalError(
                "Internal inference error", f"could not restore sequence state: {error}"
            ) from None
        key = id(request)
        if save:
            self._save_to[key] = sequence
        try:
            return await self.run_acquired(request, inputs)
        finally:
            # Still ours when the inference never started; the request may serve another sequence by now.
            if self._save_to.get(key) is sequence:
                del self._save_to[key]

    def variables(self, request: ov.InferRequest) -> tuple[ov.VariableState, ...]:
        """The ``VariableState`` handles of a request of this pool, in ``query_state()`` order."""
        return self._variables[id(request)]

    def load_states(self, request: ov.InferRequest, states: tuple[ov.Tensor, ...] | None) -> None:
        """Put ``states`` (a sequence's, in ``variables`` order) into ``request``; ``None`` resets it."""
        if states is None:
            request.reset_state()
            return
        for variable, tensor in zip(self._variables[id(request)], states, strict=True):
            variable.state = tensor  # OpenVINO copies the tensor into the plugin's memory

    def completed(self, request: ov.InferRequest, result: Outputs | ServingError) -> Outputs | ServingError:
        """Save the sequence's state out of ``request`` (see ``InferQueue.completed``)."""
        sequence = self._save_to.pop(id(request), None)
        if sequence is not None and not isinstance(result, ServingError):
            try:
                save_states(self._variables[id(request)], sequence)
            except (RuntimeError, ValueError) as error:
                return InternalError("Internal inference error", f"could not save sequence state: {error}")
        return result


def save_states(variables: tuple[ov.VariableState, ...], sequence: StateSequence) -> None:
    """Copy each variable's data into ``sequence``'s buffers, made (or remade, if a shape or dtype changed) only
    when they do not fit. A plain loop: this runs on the event loop for every request."""
    buffers = sequence.buffers
    if len(buffers) == len(variables):
        for variable, buffer in zip(variables, buffers, strict=True):
            source = variable.state.data
            if source.shape != buffer.shape or source.dtype != buffer.dtype:
                break
            np.copyto(buffer, source)
        else:
            return
    sources = [variable.state.data for variable in variables]
    sequence.buffers = tuple(np.array(source, copy=True) for source in sources)
    sequence.states = tuple(ov.Tensor(buffer, shared_memory=True) for buffer in sequence.buffers)
