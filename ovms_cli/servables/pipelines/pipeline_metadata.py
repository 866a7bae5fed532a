"""A pipeline's input and output metadata, derived from the nodes they connect to (spec §8.4).

* input = what the node input(s) it feeds expect; several consumers are intersected
  (``PIPELINE_INPUTS_AMBIGUOUS_METADATA`` when incompatible); entry demultiplexing prepends
  ``demultiply_count`` (or -1);
* output = the producing node's output, minus dim 0 if that node demultiplexes, plus one leading
  dimension per demultiplexer still open at ``response`` (outermost first);
* anything only wired to ``response`` or produced by a node without a known signature gets OVMS's
  unspecified metadata (``INVALID`` precision, empty shape).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ovms_cli.servables.pipelines.definition import DYNAMIC, ENTRY, NodeDefinition, PipelineDefinition
from ovms_cli.servables.pipelines.problems import Code, Problem
from ovms_cli.servables.pipelines.signatures import (
    UNSPECIFIED,
    NodeSignature,
    dims_compatible,
    intersect_dims,
)
from ovms_cli.servables.pipelines.topology import Levels
from ovms_cli.servables.pipelines.validation import seen_shape
from ovms_cli.types import TensorMetadata


@dataclass(frozen=True, slots=True)
class PipelineMetadata:
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]


SignatureOf = Callable[[NodeDefinition], NodeSignature | None]


def derive_metadata(
    pipeline: PipelineDefinition, levels: Levels, signature_of: SignatureOf
) -> tuple[PipelineMetadata | None, list[Problem]]:
    """Metadata of a validated pipeline (``levels`` from ``validate``), or None and the problems."""
    problems: list[Problem] = []
    inputs = tuple(_input(pipeline, name, signature_of, problems) for name in pipeline.inputs)
    outputs = tuple(_output(pipeline, i, levels, signature_of) for i in range(len(pipeline.outputs)))
    return (None if problems else PipelineMetadata(inputs, outputs)), problems


def _input(
    pipeline: PipelineDefinition, name: str, signature_of: SignatureOf, problems: list[Problem]
) -> TensorMetadata:
    found: TensorMetadata | None = None
    for node in pipeline.nodes:
        signature = signature_of(node)
        for connection in node.inputs:
            if connection.node_name != ENTRY or connection.data_item != name or signature is None:
                continue
            wanted = signature.inputs.get(connection.target)
            if wanted is None:
                continue
            if found is None:
                found = TensorMetadata(name, wanted.dtype, wanted.shape)
            elif found.dtype != wanted.dtype or not dims_compatible(found.shape, wanted.shape):
                details = f"input: {name}; {list(found.shape)} {found.dtype.ovms} vs {list(wanted.shape)} {wanted.dtype.ovms} at node {node.name}"
                problems.append(
                    Problem(f"{pipeline.path}.inputs", Code.PIPELINE_INPUTS_AMBIGUOUS_METADATA, details)
                )
            else:
                found = TensorMetadata(name, found.dtype, intersect_dims(found.shape, wanted.shape))
    if found is None:
        return TensorMetadata(name, UNSPECIFIED, ())
    if pipeline.demultiply_count is not None:
        return TensorMetadata(name, found.dtype, (pipeline.demultiply_count, *found.shape))
    return found


def _output(
    pipeline: PipelineDefinition, index: int, levels: Levels, signature_of: SignatureOf
) -> TensorMetadata:
    connection = pipeline.outputs[index]
    producer = pipeline.node(connection.node_name)
    signature = signature_of(producer) if producer else None
    data_item = producer.alias_source(connection.data_item) if producer else None
    tensor = signature.outputs.get(data_item) if signature and data_item else None
    if tensor is None:
        return TensorMetadata(connection.target, UNSPECIFIED, ())
    shape = seen_shape(pipeline, connection.node_name, None, tensor.shape)
    for demultiplexer in reversed(levels.outputs[connection.node_name]):
        node = pipeline.node(demultiplexer)
        count = node.demultiply_count if node else pipeline.demultiply_count
        shape = (count if count is not None else DYNAMIC, *shape)
    return TensorMetadata(connection.target, tensor.dtype, shape)
