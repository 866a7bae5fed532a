"""Generative models as OVMS shows its MediaPipe graphs to the classic APIs (status, readiness, metadata).

OVMS serves an LLM, embeddings or rerank model as a MediaPipe graph, and every graph is also a
servable of the classic APIs: version 1 whatever version a request asks (as a pipeline), listed in
``/v1/config`` and the repository index, ready on KServe ``/v2/models/{name}/ready`` and ModelReady
once loaded. Its KServe metadata names the graph's input and output streams (``input``, ``output``)
with no datatype (``INVALID``) and no shape, as OVMS's ``TensorInfo::getUnspecifiedTensorInfo``: an
LLM graph has no tensors a client could send. Requests reach it on ``/v3`` only; a KServe inference
is refused with 400, and TensorFlow Serving's metadata and predict do not know graphs (404, as OVMS's
``GetModelMetadataImpl``, which looks up models and pipelines only).

A graph that failed to load is LOADING with FAILED_PRECONDITION and the error as its reason (as
this server reports a pipeline that does not build); one removed from the configuration is END.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ovms_cli.errors import InvalidInput
from ovms_cli.servables.pipelines.signatures import UNSPECIFIED
from ovms_cli.servables.servable import Capacity, ServableObserver
from ovms_cli.servables.single_version import SingleVersion
from ovms_cli.types import Array, ErrorCode, State, TensorMetadata, VersionStatus

GRAPH_VERSION = 1
V3_ENDPOINTS = {
    "text_generation": "/v3/chat/completions and /v3/completions",
    "embeddings": "/v3/embeddings",
    "rerank": "/v3/rerank",
}


class GraphVersion(SingleVersion):
    """The one version (1) of a generative model, for the classic APIs. ``Servable`` without inference."""

    kind = "Mediapipe graph"

    def __init__(
        self,
        name: str,
        task: str,
        status: VersionStatus,
        inputs: Sequence[str] = ("input",),
        outputs: Sequence[str] = ("output",),
    ) -> None:
        self.name = name
        self.task = task
        self._status = status
        self._inputs = tuple(TensorMetadata(stream, UNSPECIFIED, ()) for stream in inputs)
        self._outputs = tuple(TensorMetadata(stream, UNSPECIFIED, ()) for stream in outputs)

    @staticmethod
    def loading() -> VersionStatus:
        return VersionStatus(GRAPH_VERSION, State.LOADING)

    @staticmethod
    def available() -> VersionStatus:
        return VersionStatus(GRAPH_VERSION, State.AVAILABLE)

    @staticmethod
    def failed(reason: str) -> VersionStatus:
        return VersionStatus(GRAPH_VERSION, State.LOADING, ErrorCode.FAILED_PRECONDITION, reason)

    @staticmethod
    def retired() -> VersionStatus:
        return VersionStatus(GRAPH_VERSION, State.END)

    def _available(self) -> None:
        if self.state is not State.AVAILABLE:
            raise self.unavailable_error()

    def input_metadata(self) -> tuple[TensorMetadata, ...]:
        self._available()
        return self._inputs

    def output_metadata(self) -> tuple[TensorMetadata, ...]:
        self._available()
        return self._outputs

    async def infer(self, inputs: Mapping[str, Array], requested: tuple[str, ...] = ()) -> dict[str, Array]:
        """Always raises: a generative model takes OpenAI requests on ``/v3``, not tensors."""
        self._available()
        endpoint = V3_ENDPOINTS.get(self.task, "/v3")
        raise InvalidInput(
            "Mediapipe graph takes no tensors",
            f"name: {self.name} is a {self.task} model: send its requests to {endpoint}",
        )

    def observe(self, observer: ServableObserver | None) -> None:
        """Nothing to observe: its requests are counted by the generative metrics (``/v3``)."""

    def capacity(self) -> Capacity | None:
        self._available()
        return None

    def active_requests(self) -> int:
        return 0

    def batch_stats(self) -> tuple[int, int] | None:
        return None


class GraphCatalog(Protocol):
    """The generative models the server holds, as graphs (``GenerativeHost`` implements it)."""

    def graph(self, name: str) -> GraphVersion | None:
        """The graph named ``name`` (loading, available, failed or retired), or None."""
        ...

    def graph_names(self) -> Sequence[str]:
        """Every graph ever configured, in the order first configured."""
        ...

    def graph_problems(self) -> dict[str, list[str]]:
        """Configured graph name → why it does not serve as configured; only failing ones."""
        ...


class NoGraphs:
    """A server without generative models."""

    def graph(self, name: str) -> GraphVersion | None:
        return None

    def graph_names(self) -> Sequence[str]:
        return ()

    def graph_problems(self) -> dict[str, list[str]]:
        return {}
