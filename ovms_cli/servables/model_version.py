"""One version of a model: its lifecycle state and, once AVAILABLE, inference on it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import numpy as np
import openvino as ov

from ovms_cli import types
from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import InvalidInput, NotFound, NotReady
from ovms_cli.inference.images import decode_images
from ovms_cli.inference.strings import STRING_OUTPUT_SUFFIX, strings_to_u8_2d, u8_2d_to_strings
from ovms_cli.inference.tensor_spec import TensorSpec, check_requested, is_string_array
from ovms_cli.repository.source import ModelSource, RepositoryError
from ovms_cli.servables.model_loader import LoadedModel, LoadError, Runtime, load_model
from ovms_cli.servables.servable import Capacity, ServableObserver
from ovms_cli.servables.stateful.sequence_parameters import NOT_STATEFUL
from ovms_cli.servables.stateful.sequence_store import SequenceStore
from ovms_cli.servables.stateful.special_inputs import ID_NOT_PROVIDED, SEQUENCE_ID, SequenceRequest
from ovms_cli.servables.statistics import InferenceStatistics, ObserverTee
from ovms_cli.types import Array, ErrorCode, State, TensorMetadata, VersionStatus, as_bytes

log = logging.getLogger("ovms.modelmanager")


class ModelVersion:
    def __init__(self, model_name: str, version: int, source: ModelSource, config: ModelConfig) -> None:
        self.model_name = model_name
        self.version = version
        self.source = source
        self.config = config
        self._status = VersionStatus(version, State.START)
        self._loaded: LoadedModel | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._string_outputs: frozenset[str] = frozenset()
        self.statistics = InferenceStatistics()
        self._observer: ServableObserver = self.statistics
        self._batch_index: int | None = None  # of the first input: a request's rows for statistics

    @property
    def status(self) -> VersionStatus:
        return self._status

    @property
    def state(self) -> State:
        return self._status.state

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None or self.state is not State.AVAILABLE:
            raise self.unavailable_error()
        return self._loaded

    def unavailable_error(self) -> NotFound | NotReady:
        detail = f"name: {self.model_name}; version: {self.version}"
        if self.state >= State.UNLOADING:
            return NotFound("Model with requested version is retired", detail)
        return NotReady("Model with requested version is not loaded yet", detail)

    def load(self, runtime: Runtime) -> None:
        """Blocking: read and compile the model. Leaves the version AVAILABLE or failed."""
        self._set_status(State.LOADING)
        try:
            loaded = load_model(runtime, self.config, self.source.fetch(self.version))
        except (LoadError, RepositoryError, RuntimeError) as error:
            self._set_status(State.LOADING, ErrorCode.UNKNOWN, str(error))
            log.error("Loading version %d of model %s failed: %s", self.version, self.model_name, error)
            return
        self._loaded = loaded
        self._string_outputs = frozenset(
            name
            for name, spec in loaded.outputs.items()
            if name.endswith(STRING_OUTPUT_SUFFIX) and spec.dtype is types.U8 and len(spec.shape or ()) == 2
        )
        first = next(iter(loaded.inputs.values()), None)
        self._batch_index = None if first is None or first.shape is None else first.batch_index
        self._install_observer(loaded, None)
        self._set_status(State.AVAILABLE)
        log.info(
            "Loaded model %s; version: %d; batch size: %s; No of InferRequests: %d",
            self.model_name,
            self.version,
            self._batch_size_text(loaded),
            loaded.nireq,
        )

    @property
    def stateful(self) -> bool:
        """Whether requests run in sequences (``stateful: true``, spec §9)."""
        return self.config.stateful

    def sequence_store(self) -> SequenceStore | None:
        """The live sequences of this loaded stateful version; None otherwise."""
        loaded = self._loaded
        if loaded is None or loaded.runner is None or self.state is not State.AVAILABLE:
            return None
        return loaded.runner.store

    async def retire(self, *, release: bool = True) -> None:
        """Stop taking requests, let in-flight ones finish, then unload (END)."""
        self._set_status(State.UNLOADING)
        self._drop_sequences()
        await self._idle.wait()
        self._loaded = None
        if release:
            await asyncio.to_thread(self.source.release, self.version)
        self._set_status(State.END)

    def unload(self) -> None:
        self._set_status(State.UNLOADING)
        self._drop_sequences()
        self._loaded = None
        self.source.release(self.version)
        self._set_status(State.END)

    def input_metadata(self) -> tuple[TensorMetadata, ...]:
        return tuple(spec.metadata() for spec in self.loaded.inputs.values())

    def output_metadata(self) -> tuple[TensorMetadata, ...]:
        loaded = self.loaded
        return tuple(
            TensorMetadata(name, types.STRING, spec.metadata().shape[:1])
            if name in self._string_outputs
            else spec.metadata()
            for name, spec in loaded.outputs.items()
        )

    async def infer(
        self,
        inputs: Mapping[str, Array],
        requested: tuple[str, ...] = (),
        sequence: SequenceRequest | None = None,
    ) -> dict[str, Array]:
        """``sequence``: the sequence a request to a stateful version runs in (required there, refused elsewhere);
        the outputs then include ``sequence_id`` (spec §9.3)."""
        loaded = self.loaded
        if (sequence is None) != (loaded.runner is None):
            raise InvalidInput(ID_NOT_PROVIDED if sequence is None else NOT_STATEFUL)
        observer = self._observer
        self._in_flight += 1
        self._idle.clear()
        start = time.perf_counter()
        prepared = inferred = start
        try:
            check_requested(
                tuple(n for n in requested if n not in _sequence_output(sequence)), loaded.outputs
            )
            feed = await _prepare_inputs(inputs, loaded.by_name)
            prepared = time.perf_counter()
            if loaded.runner is not None and sequence is not None:
                outputs = await loaded.runner.infer(sequence, feed)
            else:
                outputs = await loaded.infer(feed)
            inferred = time.perf_counter()
            if requested:
                outputs = {name: outputs[name] for name in (*requested, *_sequence_output(sequence))}
            for name in self._string_outputs.intersection(outputs):
                outputs[name] = u8_2d_to_strings(outputs[name], name)
        except BaseException:
            observer.request_served(False, time.perf_counter() - start, 0.0, 0.0, 0)
            raise
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        end = time.perf_counter()
        observer.request_served(True, end - start, prepared - start, end - inferred, self._rows(feed))
        return outputs

    def observe(self, observer: ServableObserver | None) -> None:
        """Report this loaded version's queues and batcher to its statistics and ``observer`` (metrics)."""
        self._install_observer(self.loaded, observer)

    def _install_observer(self, loaded: LoadedModel, observer: ServableObserver | None) -> None:
        tee = self.statistics if observer is None else ObserverTee(self.statistics, observer)
        self._observer = tee
        loaded.queue.observer = tee
        if loaded.latency_lane is not None:
            loaded.latency_lane.observer = tee
        if loaded.batcher is not None:
            loaded.batcher.observer = tee

    def _rows(self, feed: Mapping[int, Array]) -> int:
        """A request's batch extent, as Triton counts inferences: 1 without a batch dimension."""
        index = self._batch_index
        first = feed.get(0)
        if index is None or first is None or first.ndim <= index:
            return 1
        return int(first.shape[index])

    def capacity(self) -> Capacity:
        loaded = self.loaded
        return Capacity(_streams(loaded.compiled, loaded.nireq), loaded.nireq)

    def active_requests(self) -> int:
        loaded = self._loaded
        if loaded is None:
            return 0
        return sum(q.active for q in (loaded.queue, loaded.latency_lane) if q is not None)

    def batch_stats(self) -> tuple[int, int] | None:
        loaded = self._loaded
        if loaded is None or loaded.batcher is None or self.state is not State.AVAILABLE:
            return None
        return loaded.batcher.stats.executions, loaded.batcher.stats.requests

    def _drop_sequences(self) -> None:
        """Unloading or reloading: this version's sequences go; their next request gets "sequence missing"."""
        loaded = self._loaded
        if loaded is None or loaded.runner is None:
            return
        dropped = loaded.runner.store.drop_all()
        if dropped:
            log.info("Model %s version %d: dropped %d sequences", self.model_name, self.version, dropped)

    def _set_status(self, state: State, code: ErrorCode = ErrorCode.OK, reason: str = "") -> None:
        self._status = VersionStatus(self.version, state, code, reason)
        log.info(
            'STATUS CHANGE: Version %d of model %s status change. New status: ( "state": "%s", "error_code": "%s" )',
            self.version,
            self.model_name,
            state.name,
            code.name,
        )

    @staticmethod
    def _batch_size_text(loaded: LoadedModel) -> str:
        first = next(iter(loaded.inputs.values()), None)
        if first is None or first.shape is None or first.batch_index is None:
            return "none"
        return str(first.shape[first.batch_index])


def _sequence_output(sequence: SequenceRequest | None) -> tuple[str, ...]:
    return () if sequence is None else (SEQUENCE_ID,)


def _streams(compiled: ov.CompiledModel, nireq: int) -> int:
    try:
        return int(compiled.get_property("NUM_STREAMS"))
    except (RuntimeError, TypeError, ValueError):
        return nireq


async def _prepare_inputs(inputs: Mapping[str, Array], specs: tuple[TensorSpec, ...]) -> dict[int, Array]:
    """``specs`` in name order: OVMS reports the alphabetically first missing input."""
    if len(inputs) != len(specs):
        raise InvalidInput("Invalid number of inputs", f"Expected: {len(specs)}; Actual: {len(inputs)}")
    feed: dict[int, Array] = {}
    for spec in specs:
        array = inputs.get(spec.name)
        if array is None:
            raise InvalidInput("Missing input with specific name", f"Required input: {spec.name}")
        if is_string_array(array) and spec.shape is not None and len(spec.shape) == 4:
            array = await asyncio.to_thread(decode_images, array, spec)
        else:
            array = _convert_strings(array, spec)
        spec.validate(array)
        feed[spec.index] = array
    return feed


def _convert_strings(array: Array, spec: TensorSpec) -> Array:
    if not is_string_array(array):
        return array
    if spec.dtype is types.STRING:
        return np.array([as_bytes(s) for s in array.flat]).reshape(array.shape)
    if spec.dtype is types.U8 and spec.shape is not None and len(spec.shape) == 2:
        return strings_to_u8_2d(array, spec.name)
    raise InvalidInput(
        "Invalid input precision",
        f"Expected: {spec.dtype.kserve}; Actual: BYTES; input name: {spec.name}",
    )
