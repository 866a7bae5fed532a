"""Read, reshape and compile one model version: everything done once at load time (spec §3.7).

Blocking: call it from a worker thread, never from the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino as ov

from ovms_cli.config.grammar import ShapeSpec
from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.preprocessing import Preprocessing
from ovms_cli.inference import openvino_messages, ov_types
from ovms_cli.inference.batcher import Batcher, run_alone
from ovms_cli.inference.infer_queue import InferQueue
from ovms_cli.inference.preprocessing import PreprocessingError, add_preprocessing, check_input
from ovms_cli.inference.shapes import Dim, Shape, shape_from_ov, shape_to_ov
from ovms_cli.inference.tensor_spec import TensorSpec
from ovms_cli.repository.versions import find_model_file
from ovms_cli.servables.stateful.config_rules import stateful_config_problems
from ovms_cli.servables.stateful.low_latency import apply_low_latency
from ovms_cli.servables.stateful.runner import StatefulRunner
from ovms_cli.servables.stateful.sequence_store import SequenceStore
from ovms_cli.servables.stateful.state_queue import StateQueue
from ovms_cli.servables.tensor_mapping import MappingError, public_names, read_mapping
from ovms_cli.types import Array, TensorMetadata

log = logging.getLogger("ovms.modelmanager")

MAX_NIREQ = 100_000


@dataclass(frozen=True, slots=True)
class Runtime:
    """What every load shares: the one OpenVINO Core, and the compiled-model cache folder."""

    core: ov.Core
    cache_dir: Path | None = None


class LoadError(Exception):
    """A version could not be loaded; the message says why."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    inputs: Mapping[str, TensorSpec]  # by public name, in model order
    outputs: Mapping[str, TensorSpec]
    queue: InferQueue
    nireq: int
    compiled: ov.CompiledModel
    batcher: Batcher | None = None
    latency_lane: InferQueue | None = None  # the model compiled for LATENCY, for a request alone
    by_name: tuple[TensorSpec, ...] = ()  # inputs in name order, the order requests are checked in
    # A stateful model's sequences (spec §9); ``queue`` is then the runner's StateQueue.
    runner: StatefulRunner | None = None

    async def infer(self, feed: Mapping[int, Array]) -> dict[str, Array]:
        if self.batcher is not None:
            return await self.batcher.infer(feed)
        return await run_alone(self.queue, self.latency_lane, feed)


def load_model(runtime: Runtime, config: ModelConfig, version_dir: Path) -> LoadedModel:
    problems = stateful_config_problems(config)
    if problems:
        raise LoadError("; ".join(problems))
    model, in_names, out_names, batch_indices = _shaped_model(runtime.core, config, version_dir)
    compiled = _compile(runtime, model, config)
    nireq = config.nireq or default_nireq(compiled)
    if nireq > MAX_NIREQ:
        raise LoadError(f"Nireq parameter too high - Exceeded allowed nireq value: {nireq}")
    inputs = {
        n: _spec(n, i, p, b)
        for i, (n, p, b) in enumerate(zip(in_names, compiled.inputs, batch_indices, strict=True))
    }
    outputs = {n: _spec(n, i, p, 0) for i, (n, p) in enumerate(zip(out_names, compiled.outputs, strict=True))}
    if config.stateful:
        state_queue = StateQueue(compiled, nireq, out_names)
        runner = StatefulRunner(SequenceStore(config.max_sequence_number), state_queue)
        by_name = tuple(inputs[name] for name in sorted(inputs))
        return LoadedModel(inputs, outputs, state_queue, nireq, compiled, by_name=by_name, runner=runner)
    queue = InferQueue(compiled, nireq, out_names)
    batcher = None
    if config.dynamic_batching is not None:
        _check_batchable_outputs(compiled)
        batching = config.dynamic_batching
        buckets = {
            size: InferQueue(_compile(runtime, _with_batch(model, size), config), nireq, out_names)
            for size in bucket_sizes(batching.max_batch_size)
        }
        streams = int(compiled.get_property("NUM_STREAMS"))
        batcher = Batcher(queue, batching.max_batch_size, batching.max_batch_delay_us, buckets, streams)
    lane = None
    if uses_latency_lane(config):
        lane = InferQueue(_compile(runtime, model, config, LATENCY_LANE), 1, out_names)
        if batcher is not None:
            batcher.lane = lane
    by_name = tuple(inputs[name] for name in sorted(inputs))
    return LoadedModel(inputs, outputs, queue, queue.size, compiled, batcher, lane, by_name)


def _shaped_model(
    core: ov.Core, config: ModelConfig, version_dir: Path
) -> tuple[ov.Model, list[str], list[str], list[int | None]]:
    """``prepare_model`` then the configured shape and batch: the model as it will compile."""
    model, in_names, out_names = prepare_model(core, config, version_dir)
    batch_indices = [_batch_index(p) for p in model.inputs]
    _reshape(model, config, in_names, batch_indices)
    if config.stateful and config.low_latency_transformation:
        _apply_low_latency(model)
    if config.dynamic_batching is not None:
        _allow_variable_batch(model, batch_indices)
    return model, in_names, out_names, batch_indices


def read_signature(
    core: ov.Core, config: ModelConfig, version_dir: Path
) -> tuple[tuple[TensorMetadata, ...], tuple[TensorMetadata, ...]]:
    """The inputs and outputs a version would serve with, without compiling it (``validate-config``
    checks pipelines against them). Raises ``LoadError`` and ``RepositoryError`` like ``load_model``."""
    model, in_names, out_names, batch_indices = _shaped_model(core, config, version_dir)
    inputs = tuple(
        _spec(n, i, p, b).metadata()
        for i, (n, p, b) in enumerate(zip(in_names, model.inputs, batch_indices, strict=True))
    )
    outputs = tuple(
        _spec(n, i, p, 0).metadata() for i, (n, p) in enumerate(zip(out_names, model.outputs, strict=True))
    )
    return inputs, outputs


def prepare_model(
    core: ov.Core, config: ModelConfig, version_dir: Path
) -> tuple[ov.Model, list[str], list[str]]:
    """Read a version's model and apply its layouts and preprocessing (spec §3.7 steps 1-4).

    Returns the model and its public input and output names (``mapping_config.json`` applied).
    Raises ``LoadError``, and ``RepositoryError`` when the folder holds no model file.
    """
    model_file = find_model_file(version_dir)
    try:
        model = core.read_model(str(model_file))
    except RuntimeError as error:
        raise LoadError(f"cannot read {model_file}: {_first_line(error)}") from error
    try:
        mapping = read_mapping(version_dir)
        in_names = public_names([_port_name(p) for p in model.inputs], mapping["inputs"], "input")
        out_names = public_names([_port_name(p) for p in model.outputs], mapping["outputs"], "output")
    except MappingError as error:
        raise LoadError(str(error)) from error
    return _apply_layouts_and_preprocessing(model, config, in_names, out_names), in_names, out_names


def default_nireq(compiled: ov.CompiledModel) -> int:
    """Twice what OpenVINO finds optimal: the extra requests wait in OpenVINO, not in our queue.

    The event loop takes a while to answer a finished request and start the next; with only the
    optimal number, each stream idles in between. MobileNet-V2 over gRPC at 8 clients on 2 cores:
    2 requests 118-120 req/s, 4 requests 139-163 (``benchmarks/sweep.sh``, ``--nireq 2`` and ``4``).
    """
    return 2 * int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))


def _apply_low_latency(model: ov.Model) -> None:
    try:
        apply_low_latency(model)
    except RuntimeError as error:
        raise LoadError(f"low_latency_transformation failed: {_first_line(error)}") from error


def _allow_variable_batch(model: ov.Model, batch_indices: list[int | None]) -> None:
    """Dynamic batching stacks requests along dimension 0: it must exist and be free to vary."""
    targets = {}
    for port, batch in zip(model.inputs, batch_indices, strict=True):
        shape = port.get_partial_shape()
        if batch != 0 or shape.rank.is_dynamic:
            raise LoadError(
                f"dynamic batching needs the batch at dimension 0 of every input; input {_port_name(port)} "
                f"has layout {ov.layout_helpers.get_layout(port).to_string()}"
            )
        if shape[0].is_static:
            targets[port] = ov.PartialShape([ov.Dimension(), *list(shape)[1:]])
    if not targets:
        return
    try:
        model.reshape(targets)
    except RuntimeError as error:
        raise LoadError(
            f"dynamic batching needs a batch dimension that can vary; this model's cannot: {_first_line(error)}"
        ) from error


def bucket_sizes(max_batch_size: int) -> list[int]:
    """The static batch sizes compiled beside the dynamic one: powers of two, and the maximum."""
    return sorted({1 << n for n in range(max_batch_size.bit_length())} | {max_batch_size})


def _with_batch(model: ov.Model, size: int) -> ov.Model:
    static = model.clone()
    try:
        static.reshape(
            {port: ov.PartialShape([size, *list(port.get_partial_shape())[1:]]) for port in static.inputs}
        )
    except RuntimeError as error:
        raise LoadError(f"dynamic batching: cannot fix the batch at {size}: {_first_line(error)}") from error
    return static


def _check_batchable_outputs(compiled: ov.CompiledModel) -> None:
    for port in compiled.outputs:
        shape = port.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() == 0 or shape[0].is_static:
            raise LoadError(
                f"dynamic batching needs outputs batched along dimension 0; output {_port_name(port)} is {shape}"
            )


def _port_name(port: ov.Output) -> str:
    names = port.get_names()
    return min(names) if names else str(port.get_node().get_friendly_name())


def _first_line(error: BaseException) -> str:
    """OpenVINO's message on one line, without its source locations."""
    return " ".join(openvino_messages.said(error)) or type(error).__name__


def _layouts_for(config: ModelConfig, names: list[str], kind: str) -> dict[str, str]:
    layout = config.layout
    if layout is None:
        return {}
    if isinstance(layout, str):
        if kind == "output":
            return {}
        if len(names) != 1:
            raise LoadError("Anonymous fixed layout is invalid for models with multiple inputs")
        return {names[0]: layout}
    return {k: v for k, v in layout.items() if k in names}


def _apply_layouts_and_preprocessing(
    model: ov.Model, config: ModelConfig, ins: list[str], outs: list[str]
) -> ov.Model:
    """Layouts (spec §2.3.2), then the single input's preprocessing, in one PrePostProcessor as OVMS does."""
    in_layouts = _layouts_for(config, ins, "input")
    out_layouts = _layouts_for(config, outs, "output")
    if isinstance(config.layout, dict):
        unknown = set(config.layout) - set(ins) - set(outs)
        if unknown:
            raise LoadError(f"Layout from config not found in model: {sorted(unknown)}")
    preprocessing = config.preprocessing
    if not in_layouts and not out_layouts and not preprocessing.configured:
        return model
    ppp = ov.preprocess.PrePostProcessor(model)
    for index, name in enumerate(ins):
        if name in in_layouts:
            target, _, source = in_layouts[name].partition(":")
            port = ppp.input(index)
            port.tensor().set_layout(ov.Layout(target))
            port.model().set_layout(ov.Layout(source or target))
    for index, name in enumerate(outs):
        if name in out_layouts:
            target, _, source = out_layouts[name].partition(":")
            port_out = ppp.output(index)
            port_out.model().set_layout(ov.Layout(source or target))
            port_out.tensor().set_layout(ov.Layout(target))
    if preprocessing.configured:
        _check_preprocessing(model, preprocessing, ins, in_layouts)
        add_preprocessing(ppp.input(0), preprocessing)
    try:
        return ppp.build()
    except RuntimeError as error:
        if preprocessing.configured:
            raise LoadError(
                f"Cannot apply preprocessing ({preprocessing.describe()}): {_first_line(error)}"
            ) from error
        raise LoadError(f"Layout incompatible with given shape: {_first_line(error)}") from error


def _check_preprocessing(
    model: ov.Model, preprocessing: Preprocessing, ins: list[str], in_layouts: Mapping[str, str]
) -> None:
    """OVMS applies mean/scale/color_format/precision to the only input of a model."""
    if len(ins) != 1:
        raise LoadError(
            f"mean, scale, color_format and precision apply to a model with one input; this one has {len(ins)}"
        )
    port = model.inputs[0]
    configured = in_layouts.get(ins[0], "")
    layout = configured.partition(":")[2] or configured or _layout_text(port)
    shape = port.get_partial_shape()
    channels = None
    if (
        "C" in layout
        and "." not in layout
        and shape.rank.is_static
        and shape.rank.get_length() == len(layout)
    ):
        dim = shape[layout.index("C")]
        channels = dim.get_length() if dim.is_static else None
    try:
        check_input(preprocessing, ins[0], port.get_element_type(), channels, layout)
    except PreprocessingError as error:
        raise LoadError(str(error)) from error


def _batch_index(port: ov.Output) -> int | None:
    layout = ov.layout_helpers.get_layout(port)
    if not layout.empty and ov.layout_helpers.has_batch(layout):
        index = int(ov.layout_helpers.batch_idx(layout))
        rank = port.get_partial_shape().rank
        return index % rank.get_length() if rank.is_static and rank.get_length() else None
    shape = port.get_partial_shape()
    return 0 if shape.rank.is_dynamic or shape.rank.get_length() > 0 else None


def _target_shape(spec: ShapeSpec, current: ov.PartialShape) -> ov.PartialShape:
    if spec == "auto":
        if current.rank.is_dynamic:
            return current
        return ov.PartialShape([ov.Dimension() for _ in range(current.rank.get_length())])
    assert not isinstance(spec, str)
    return shape_to_ov(spec)


def _reshape(model: ov.Model, config: ModelConfig, names: list[str], batch: list[int | None]) -> None:
    targets: dict[int, ov.PartialShape] = {}
    shape = config.shape
    if isinstance(shape, dict):
        unknown = set(shape) - set(names)
        if unknown:
            raise LoadError(f"Shape from config not found in model: {sorted(unknown)}")
        for index, name in enumerate(names):
            if name in shape:
                targets[index] = _target_shape(shape[name], model.inputs[index].get_partial_shape())
    elif shape is not None:
        if len(names) != 1 and shape != "auto":
            raise LoadError("Anonymous fixed shape is invalid for models with multiple inputs")
        for index, port in enumerate(model.inputs):
            targets[index] = _target_shape(shape, port.get_partial_shape())
    elif config.batch_size is not None:
        dim = Dim.any() if config.batch_size == "auto" else config.batch_size
        for index, port in enumerate(model.inputs):
            current = port.get_partial_shape()
            b = batch[index]
            if b is None or current.rank.is_dynamic:
                continue
            dims: Shape = shape_from_ov(current)
            targets[index] = shape_to_ov((*dims[:b], dim, *dims[b + 1 :]))
    if not targets:
        return
    try:
        model.reshape({model.inputs[i]: s for i, s in targets.items()})
    except RuntimeError as error:
        raise LoadError(f"Model could not be reshaped with requested shape: {_first_line(error)}") from error


def plugin_config_with_defaults(config: ModelConfig) -> dict[str, Any]:
    properties: dict[str, Any] = dict(config.plugin_config)
    if "NUM_STREAMS" not in properties and "PERFORMANCE_HINT" not in properties:
        properties["PERFORMANCE_HINT"] = "THROUGHPUT"
    return properties


LATENCY_LANE = {"PERFORMANCE_HINT": "LATENCY"}


def uses_latency_lane(config: ModelConfig) -> bool:
    """On CPU with the default hint, a second compilation for LATENCY serves requests that arrive alone.

    THROUGHPUT runs one stream per core: a lone request gets one core and waits for it (on two
    cores, 0.6 of LATENCY's speed), while LATENCY gives it every core but serves concurrent
    requests worse (0.8 of THROUGHPUT's at 4 clients): benchmarks/hints.py. The lane costs a second
    copy of the compiled model; setting PERFORMANCE_HINT or NUM_STREAMS turns it off.
    """
    chosen = "PERFORMANCE_HINT" in config.plugin_config or "NUM_STREAMS" in config.plugin_config
    return not chosen and config.target_device == "CPU" and not config.stateful


def uses_cache(config: ModelConfig) -> bool:
    """OVMS's rule (spec §11.1): models reshaped per request skip the cache unless allow_cache."""
    shape = config.shape
    auto = (
        config.batch_size == "auto"
        or shape == "auto"
        or (isinstance(shape, dict) and "auto" in shape.values())
    )
    return config.allow_cache or not auto


def _compile(
    runtime: Runtime, model: ov.Model, config: ModelConfig, overrides: Mapping[str, Any] | None = None
) -> ov.CompiledModel:
    properties = {**plugin_config_with_defaults(config), **(overrides or {})}
    if runtime.cache_dir is not None and uses_cache(config):
        properties["CACHE_DIR"] = str(runtime.cache_dir)
    try:
        return runtime.core.compile_model(model, config.target_device, properties)
    except RuntimeError as error:
        raise LoadError(f"Cannot compile model into target device: {_first_line(error)}") from error


def _spec(name: str, index: int, port: ov.Output, batch_index: int | None) -> TensorSpec:
    dtype = ov_types.from_ov(port.get_element_type())
    if dtype is None:
        raise LoadError(f"tensor {name}: element type {port.get_element_type()} has no API datatype")
    shape = port.get_partial_shape()
    dims = None if shape.rank.is_dynamic else shape_from_ov(shape)
    return TensorSpec(name, index, dtype, dims, batch_index, _layout_text(port))


def _layout_text(port: ov.Output) -> str:
    """``NHWC`` for a layout OpenVINO prints as ``[N,H,W,C]``; empty when the model has none."""
    text = ov.layout_helpers.get_layout(port).to_string().strip("[]").replace(",", "")
    return "" if text == "..." else text
