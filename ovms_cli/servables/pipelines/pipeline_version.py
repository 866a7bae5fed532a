"""A pipeline as clients address it: the ``Servable`` of version 1 (spec §8.2, §3.6).

One ``PipelineVersion`` is one build of a definition against the models it uses. The registry
replaces it with a new one when the definition or a model it uses changes; requests that already
hold the old one finish on it, and ``retire`` closes its custom and Python nodes once they have.

An unbuilt pipeline (its definition failed validation, or a model it uses is gone) is listed with
state LOADING, error code FAILED_PRECONDITION and the problems as its reason, as OVMS reports it;
requests get ``Pipeline is not loaded yet`` (503 / UNAVAILABLE). A pipeline removed from the
configuration is END and requests get ``Pipeline is retired`` (404 / NOT_FOUND).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from ovms_cli.errors import InvalidInput
from ovms_cli.inference.shapes import Dim
from ovms_cli.inference.tensor_spec import TensorSpec, check_requested, is_string_array
from ovms_cli.servables.pipelines.pipeline import PIPELINE_VERSION, Pipeline
from ovms_cli.servables.pipelines.signatures import ANY_DIM, UNSPECIFIED
from ovms_cli.servables.servable import Capacity, ServableObserver
from ovms_cli.servables.single_version import SingleVersion
from ovms_cli.servables.statistics import InferenceStatistics
from ovms_cli.types import Array, ErrorCode, State, TensorMetadata, VersionStatus

log = logging.getLogger("ovms.modelmanager")

RETIRE_GRACE_S = 1.0
"""After its last request, a replaced build waits this long (and for any request that arrived
meanwhile) before its nodes close: a request may have resolved it without having started yet."""


class PipelineVersion(SingleVersion):
    """``pipeline``: the runnable build, or None with ``reason`` saying why there is none."""

    kind = "Pipeline"

    def __init__(self, name: str, pipeline: Pipeline | None, reason: str = "") -> None:
        self.name = name
        self.pipeline = pipeline
        if pipeline is None:
            self._status = VersionStatus(
                PIPELINE_VERSION, State.LOADING, ErrorCode.FAILED_PRECONDITION, reason
            )
        else:
            self._status = VersionStatus(PIPELINE_VERSION, State.AVAILABLE)
        self._specs = () if pipeline is None else _input_specs(pipeline.metadata.inputs)
        self._outputs = () if pipeline is None else tuple(t.name for t in pipeline.metadata.outputs)
        self._in_flight = 0
        self.statistics = InferenceStatistics()  # this build's; as for a Triton ensemble (see infer)
        self._idle = asyncio.Event()
        self._idle.set()

    def _built(self) -> Pipeline:
        if self.pipeline is None or self.state is not State.AVAILABLE:
            raise self.unavailable_error()
        return self.pipeline

    def input_metadata(self) -> tuple[TensorMetadata, ...]:
        return self._built().metadata.inputs

    def output_metadata(self) -> tuple[TensorMetadata, ...]:
        return self._built().metadata.outputs

    async def infer(self, inputs: Mapping[str, Array], requested: tuple[str, ...] = ()) -> dict[str, Array]:
        """Pipeline inputs → outputs (all, or ``requested``).

        Raises ``InvalidInput`` (400) for inputs that do not match the input metadata (§8.4: checked
        as for models, §6.6) or an unknown requested output, and the failing node's error otherwise.

        Statistics count each request as a Triton ensemble does: ``success``/``fail`` with its whole time,
        one execution and one inference per successful request, its time as ``compute_infer``; the nodes'
        queueing and inference are counted on their own models.
        """
        pipeline = self._built()
        started = time.perf_counter()
        ok = False
        try:
            check_requested(requested, self._outputs)
            self._check_inputs(inputs)
            outputs = await self._run(pipeline, inputs)
            ok = True
        finally:
            seconds = time.perf_counter() - started
            if ok:
                self.statistics.inferred(seconds)
            self.statistics.request_served(ok, seconds, 0.0, 0.0, 1)
        if requested:
            return {name: outputs[name] for name in requested}
        return dict(outputs)

    async def _run(self, pipeline: Pipeline, inputs: Mapping[str, Array]) -> Mapping[str, Array]:
        self._in_flight += 1
        self._idle.clear()
        try:
            return await pipeline.infer(inputs)  # type: ignore[arg-type]
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def _check_inputs(self, inputs: Mapping[str, Array]) -> None:
        if len(inputs) != len(self._specs):
            raise InvalidInput(
                "Invalid number of inputs", f"Expected: {len(self._specs)}; Actual: {len(inputs)}"
            )
        for name, spec in self._specs:
            array = inputs.get(name)
            if array is None:
                raise InvalidInput("Missing input with specific name", f"Required input: {name}")
            if spec is not None and not is_string_array(array):  # strings: the model node decodes them
                spec.validate(array)

    def observe(self, observer: ServableObserver | None) -> None:
        """Nothing to observe: a pipeline's DL-model nodes report on their models (spec §10.3)."""

    def capacity(self) -> Capacity | None:
        """None: a pipeline holds no streams or infer requests of its own."""
        self._built()
        return None

    def active_requests(self) -> int:
        return self._in_flight

    def batch_stats(self) -> tuple[int, int] | None:
        return None

    async def retire(self, *, removed: bool) -> None:
        """Stop serving: END if ``removed`` from the configuration, else replaced (state unchanged
        for the requests that hold it); closes the nodes once no request uses this build."""
        if removed:
            self._status = VersionStatus(PIPELINE_VERSION, State.UNLOADING)
        while True:
            await self._idle.wait()
            await asyncio.sleep(RETIRE_GRACE_S)
            if self._idle.is_set():
                break
        await asyncio.to_thread(self.close)  # deinitialize waits for node calls still running
        if removed:
            self._status = VersionStatus(PIPELINE_VERSION, State.END)

    def close(self) -> None:
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            try:
                pipeline.close()
            except Exception:  # a node's deinitialize/finalize failing must not stop the others' cleanup
                log.exception("Pipeline %s: closing its nodes failed", self.name)


def _input_specs(inputs: tuple[TensorMetadata, ...]) -> tuple[tuple[str, TensorSpec | None], ...]:
    """Per input in name order (OVMS reports the first missing alphabetically), the spec requests are
    checked against; None for OVMS's unspecified metadata (an input only wired to ``response`` or
    to a node that declares nothing)."""
    specs: list[tuple[str, TensorSpec | None]] = []
    for index, tensor in sorted(enumerate(inputs), key=lambda item: item[1].name):
        if tensor.dtype is UNSPECIFIED:
            specs.append((tensor.name, None))
            continue
        shape = tuple(Dim.any() if d == ANY_DIM else Dim.fixed(d) for d in tensor.shape)
        specs.append((tensor.name, TensorSpec(tensor.name, index, tensor.dtype, shape, None)))
    return tuple(specs)
