"""Inference of a stateful model version: a request's sequence, its state and its infer request (spec §9.3)."""

from __future__ import annotations

from collections.abc import Mapping

from ovms_cli.inference.infer_queue import Outputs
from ovms_cli.servables.stateful.sequence_store import SequenceStore
from ovms_cli.servables.stateful.special_inputs import SEQUENCE_ID, SequenceRequest, sequence_id_output
from ovms_cli.servables.stateful.state_queue import StateQueue
from ovms_cli.types import Array


class StatefulRunner:
    """One version's sequences (``store``) served on its infer-request pool (``queue``)."""

    def __init__(self, store: SequenceStore, queue: StateQueue) -> None:
        self.store = store
        self.queue = queue

    async def infer(self, request: SequenceRequest, inputs: Mapping[int, Array]) -> Outputs:
        """Run ``inputs`` (keyed by model input index, already validated) in the sequence ``request`` names.

        START creates the sequence (id 0: the server picks one) from the model's initial state; no control
        continues it from its saved state; END runs it from its saved state and removes it. Returns the
        model's outputs plus ``sequence_id`` (UINT64, shape ``[1]``). Raises the ``SequenceStore`` errors, and
        the infer queue's.
        """
        async with self.store.serve(request) as sequence:
            outputs = await self.queue.run_with_state(sequence, inputs, save=not request.ends)
        outputs[SEQUENCE_ID] = sequence_id_output(sequence.id)
        return outputs
