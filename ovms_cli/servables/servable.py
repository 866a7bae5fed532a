"""What transports and metrics may know of a served thing: two small protocols.

``Servable`` is one version of something clients address by name and version: a model version
(``ModelVersion``) or a pipeline (``PipelineVersion``). ``ModelManager.resolve`` hands one out once per request;
transports read its metadata and status and call ``infer``, never its queues or compiled model.

``ServableObserver`` hears what happens inside a servable while it serves (metrics implement it);
a servable takes one through ``observe`` and forwards it to whatever runs its inferences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ovms_cli.errors import NotFound, NotReady
from ovms_cli.types import Array, State, TensorMetadata, VersionStatus


class ServableObserver(Protocol):
    """Called on the event loop; times in seconds."""

    def request_started(self) -> None: ...

    def request_finished(self) -> None: ...

    def waited(self, seconds: float) -> None:
        """A request's wait for a free infer request."""

    def inferred(self, seconds: float) -> None:
        """One inference's run time."""

    def queued(self, seconds: float) -> None:
        """A request's wait for its dynamic batch (0 when it ran at once)."""

    def request_served(
        self, ok: bool, seconds: float, input_seconds: float, output_seconds: float, rows: int
    ) -> None:
        """A request left the servable, ``ok`` or failed, after ``seconds`` in it, of which
        ``input_seconds`` preparing its inputs and ``output_seconds`` converting its outputs;
        ``rows``: its batch extent (1 without a batch dimension). Feeds Triton's statistics."""


@dataclass(frozen=True, slots=True)
class Capacity:
    """What a loaded servable runs on, for the ``ovms_streams`` and ``ovms_infer_req_queue_size`` gauges."""

    streams: int
    infer_requests: int


class Servable(Protocol):
    """One addressable version; ``version`` is the number clients see ("1" for pipelines, as OVMS)."""

    @property
    def version(self) -> int: ...

    @property
    def state(self) -> State: ...

    @property
    def status(self) -> VersionStatus: ...

    def unavailable_error(self) -> NotFound | NotReady:
        """The error a request gets while ``state`` is not AVAILABLE."""
        ...

    def input_metadata(self) -> tuple[TensorMetadata, ...]: ...

    def output_metadata(self) -> tuple[TensorMetadata, ...]: ...

    async def infer(self, inputs: Mapping[str, Array], requested: tuple[str, ...] = ()) -> dict[str, Array]:
        """Outputs by name (every one, or only ``requested``). Raises ServingError subclasses."""
        ...

    def observe(self, observer: ServableObserver | None) -> None:
        """Report to ``observer`` (None: to nobody) from now on, while this version serves."""

    def capacity(self) -> Capacity | None:
        """Streams and infer requests of the loaded version (None: it has none of its own, as a
        pipeline); raises like ``unavailable_error`` otherwise."""
        ...

    def active_requests(self) -> int:
        """Infer requests running now (0 once unloaded)."""
        ...

    def batch_stats(self) -> tuple[int, int] | None:
        """(inferences run, requests they served) of a dynamically batched version; None otherwise."""
        ...
