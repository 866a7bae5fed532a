"""The sequences of one stateful model version and their state, kept on the server (spec §9.3).

A :class:`Sequence` holds the OpenVINO state tensors copied out of the infer request after its last inference
(``None`` until its first one: the model's initial values), a lock that serializes its requests, and the flags
of OVMS's sequence manager: *idle* (for the cleaner's two-visit rule) and *terminating* (its END is running).

The store is driven from the event loop only: no thread touches ``sequences``.

Errors (OVMS's texts, Appendix A):

* START when ``max_sequence_number`` sequences live: ``NotReady`` (503 / UNAVAILABLE);
* START with the id of a sequence whose END is running: ``PreconditionFailed`` (412 / FAILED_PRECONDITION);
* START with the id of a live sequence: ``AlreadyExists`` (409 / ALREADY_EXISTS);
* no control or END for an id that is not live (never started, ended, cleaned, dropped with its version, or
  terminating): ``NotFound`` (404 / NOT_FOUND).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import openvino as ov

from ovms_cli.errors import AlreadyExists, NotFound, NotReady, PreconditionFailed
from ovms_cli.servables.stateful.special_inputs import NO_SEQUENCE_ID, SequenceControl, SequenceRequest
from ovms_cli.types import Array

log = logging.getLogger("ovms.sequence_manager")

MAX_SEQUENCE_ID = 2**64 - 1
SEQUENCE_MISSING = "Sequence with provided ID does not exist"
SEQUENCE_ALREADY_EXISTS = "Sequence with provided ID already exists"
SEQUENCE_TERMINATED = "Sequence last request is being processed and it's not available anymore"
MAX_SEQUENCE_NUMBER_REACHED = "Max sequence number has been reached. Could not create new sequence."


class Sequence:
    """One sequence: ``states`` are its variables' tensors in the order of the infer request's
    ``query_state()`` (``None``: not run yet, start from the model's initial values), each over the numpy
    array of the same index in ``buffers``, which it does not keep alive by itself."""

    __slots__ = ("buffers", "id", "idle", "live", "lock", "states", "terminating")

    def __init__(self, sequence_id: int | str) -> None:
        self.id = sequence_id
        self.lock = asyncio.Lock()
        self.states: tuple[ov.Tensor, ...] | None = None
        self.buffers: tuple[Array, ...] = ()
        self.idle = False
        self.terminating = False
        self.live = True


@dataclass(frozen=True, slots=True)
class SequenceCounts:
    """Plain numbers for metrics: ``live`` is a gauge, the others only grow (counters)."""

    live: int
    started: int  # STARTs whose inference succeeded
    ended: int
    cleaned: int
    dropped: int


class SequenceStore:
    """The live sequences of one model version; at most ``max_sequence_number`` (config, default 500)."""

    def __init__(self, max_sequence_number: int) -> None:
        self.max_sequence_number = max_sequence_number
        self._sequences: dict[int | str, Sequence] = {}
        self._last_assigned = NO_SEQUENCE_ID
        self._started = 0
        self._ended = 0
        self._cleaned = 0
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._sequences)

    def __contains__(self, sequence_id: int | str) -> bool:
        return sequence_id in self._sequences

    @property
    def counts(self) -> SequenceCounts:
        return SequenceCounts(len(self._sequences), self._started, self._ended, self._cleaned, self._dropped)

    @contextlib.asynccontextmanager
    async def serve(self, request: SequenceRequest) -> AsyncIterator[Sequence]:
        """Hold the sequence ``request`` names, locked, for one inference: created on START, removed after END
        (and after a START whose inference failed, so its id can start again).

        Raises the errors of the module docstring; ``NotFound`` too when the sequence went away while this
        request waited for its lock.
        """
        sequence = self._begin(request)
        try:
            async with sequence.lock:
                if not sequence.live:
                    raise NotFound(SEQUENCE_MISSING)
                sequence.idle = False
                yield sequence
            if request.control is SequenceControl.START:
                self._started += 1
        except BaseException:
            if request.control is SequenceControl.START:
                self._remove(sequence)
            raise
        finally:
            if request.ends:
                self._ended += self._remove(sequence)

    def clean_idle(self) -> int:
        """One visit of the idle cleaner (OVMS's two-visit rule): remove each sequence that had no request
        since the previous visit, mark the others idle; skip busy and terminating ones. Returns how many went."""
        removed = 0
        for sequence in list(self._sequences.values()):
            if sequence.lock.locked() or sequence.terminating:
                continue
            if sequence.idle:
                removed += self._remove(sequence)
            else:
                sequence.idle = True
        self._cleaned += removed
        if removed:
            log.info("Removed %d idle sequences", removed)
        return removed

    def drop_all(self) -> int:
        """The version is unloaded or reloaded: forget every sequence; their next request gets ``NotFound``.
        Requests running now finish; those waiting for a sequence's lock get ``NotFound``."""
        dropped = sum(self._remove(sequence) for sequence in list(self._sequences.values()))
        self._dropped += dropped
        return dropped

    def _begin(self, request: SequenceRequest) -> Sequence:
        if request.control is SequenceControl.START:
            return self._create(request.id)
        sequence = self._sequences.get(request.id)
        if sequence is None or sequence.terminating:
            raise NotFound(SEQUENCE_MISSING)
        if request.control is SequenceControl.END:
            sequence.terminating = True
        return sequence

    def _create(self, sequence_id: int | str) -> Sequence:
        if len(self._sequences) >= self.max_sequence_number:
            raise NotReady(MAX_SEQUENCE_NUMBER_REACHED)
        existing = self._sequences.get(sequence_id)
        if existing is not None:
            if existing.terminating:
                raise PreconditionFailed(SEQUENCE_TERMINATED)
            raise AlreadyExists(SEQUENCE_ALREADY_EXISTS)
        if sequence_id == NO_SEQUENCE_ID:
            sequence_id = self._unused_id()
        sequence = self._sequences[sequence_id] = Sequence(sequence_id)
        return sequence

    def _unused_id(self) -> int:
        """OVMS: a counter that skips 0 and the ids in use (at most ``max_sequence_number`` of 2**64 - 1)."""
        candidate = self._last_assigned
        while True:
            candidate = candidate % MAX_SEQUENCE_ID + 1
            if candidate not in self._sequences:
                self._last_assigned = candidate
                return candidate

    def _remove(self, sequence: Sequence) -> int:
        """1 when ``sequence`` was live and is now gone, else 0."""
        if not sequence.live:
            return 0
        sequence.live = False
        sequence.states = None
        sequence.buffers = ()
        del self._sequences[sequence.id]
        return 1
