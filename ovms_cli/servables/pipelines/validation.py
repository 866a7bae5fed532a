"""Load-time validation of a pipeline definition with OVMS's rules and messages (spec §8.3, §8.6).

OVMS checks in a fixed order and stops at the first failure; ``validate`` keeps that order but
returns every problem, each with the JSON path of the offending entry. A check that needs a
signature nobody knows (e.g. a Python node without one, or a library not loaded by
``validate-config``) is skipped rather than guessed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from ovms_cli.servables.pipelines.definition import (
    DYNAMIC,
    ENTRY,
    EXIT,
    Connection,
    NodeDefinition,
    NodeKind,
    PipelineDefinition,
)
from ovms_cli.servables.pipelines.problems import Code, Problem
from ovms_cli.servables.pipelines.signatures import ModelCatalog, NodeSignature, dims_compatible
from ovms_cli.servables.pipelines.topology import (
    Levels,
    compute_levels,
    dependencies,
    find_cycle,
    unreachable_from_exit,
)
from ovms_cli.types import TensorMetadata

MIN_DEMULTIPLIED_RANK = 3  # OVMS: demultiplexed tensors need at least 3 dimensions (§8.3)


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """Everything validation reads besides the definition.

    ``node_signatures`` holds, per node name, what a custom library reported for that node's params
    (``getInputsInfo``/``getOutputsInfo``) or what a Python node declared; DL-model nodes come from
    ``models``.
    """

    models: ModelCatalog
    library_names: Collection[str] = ()
    node_signatures: Mapping[str, NodeSignature] = field(default_factory=dict)

    def signature(self, node: NodeDefinition) -> NodeSignature | None:
        if node.kind is NodeKind.DL_MODEL:
            return self.models.signature(node.model_name or "", node.version)
        return self.node_signatures.get(node.name)


@dataclass(frozen=True, slots=True)
class Validated:
    """The outcome: problems (empty = valid) and, when the graph is sound, its levels."""

    problems: list[Problem]
    levels: Levels | None


def validate(pipeline: PipelineDefinition, context: ValidationContext) -> Validated:
    """Every problem of ``pipeline`` in OVMS's order (§8.6)."""
    problems: list[Problem] = []
    if pipeline.name in context.models.model_names():
        problems.append(
            Problem(f"{pipeline.path}.name", Code.PIPELINE_NAME_OCCUPIED, f"name: {pipeline.name}")
        )
    _check_libraries(pipeline, context, problems)
    _check_node_names(pipeline, problems)
    for node in pipeline.nodes:
        _check_node(pipeline, node, context, problems)
    _check_connections(pipeline, None, pipeline.outputs, f"{pipeline.path}.outputs", context, problems)
    deps = dependencies(pipeline)
    if any(p.code in _BROKEN_REFERENCES for p in problems):
        return Validated(problems, None)
    if cycle := find_cycle(deps):
        problems.append(Problem(pipeline.path, Code.PIPELINE_CYCLE_FOUND, " -> ".join(cycle)))
        return Validated(problems, None)
    for name in unreachable_from_exit(deps):
        unconnected = pipeline.node(name)
        path = unconnected.path if unconnected else pipeline.path
        problems.append(Problem(path, Code.PIPELINE_CONTAINS_UNCONNECTED_NODES, f"node: {name}"))
    levels = compute_levels(pipeline, problems)
    _check_demultiplexers(pipeline, context, problems)
    return Validated(problems, None if problems else levels)


_BROKEN_REFERENCES = frozenset(
    {
        Code.PIPELINE_NODE_NAME_DUPLICATE,
        Code.PIPELINE_NODE_REFERING_TO_MISSING_NODE,
        Code.PIPELINE_EXIT_USED_AS_NODE_DEPENDENCY,
        Code.PIPELINE_NODE_GATHER_FROM_NOT_EXISTING_NODE,
        Code.PIPELINE_NODE_GATHER_FROM_NOT_DEMULTIPLEXER,
        Code.PIPELINE_NODE_GATHER_FROM_ENTRY_NODE,
    }
)


def _check_libraries(
    pipeline: PipelineDefinition, context: ValidationContext, problems: list[Problem]
) -> None:
    for node in pipeline.nodes:
        if node.kind is NodeKind.CUSTOM and node.library_name not in context.library_names:
            problems.append(
                Problem(
                    f"{node.path}.library_name",
                    Code.PIPELINE_DEFINITION_INVALID_NODE_LIBRARY,
                    f"node: {node.name}; library: {node.library_name}",
                )
            )


def _check_node_names(pipeline: PipelineDefinition, problems: list[Problem]) -> None:
    seen = {ENTRY, EXIT}
    for node in pipeline.nodes:
        if node.name in seen:
            problems.append(
                Problem(f"{node.path}.name", Code.PIPELINE_NODE_NAME_DUPLICATE, f"node: {node.name}")
            )
        seen.add(node.name)


def _check_node(
    pipeline: PipelineDefinition, node: NodeDefinition, context: ValidationContext, problems: list[Problem]
) -> None:
    if node.kind is NodeKind.DL_MODEL:
        signature = context.models.signature(node.model_name or "", node.version)
        if signature is None:
            which = f"{node.model_name}" + (f"; version: {node.version}" if node.version else "")
            problems.append(
                Problem(
                    f"{node.path}.model_name",
                    Code.PIPELINE_NODE_REFERING_TO_MISSING_MODEL,
                    f"node: {node.name}; model: {which}",
                )
            )
        elif signature.forbidden_dynamic:
            problems.append(
                Problem(
                    f"{node.path}.model_name",
                    Code.FORBIDDEN_MODEL_DYNAMIC_PARAMETER,
                    f"node: {node.name}; model {node.model_name} uses auto batch size or shape",
                )
            )
    _check_gather(pipeline, node, problems)
    _check_connections(pipeline, node, node.inputs, f"{node.path}.inputs", context, problems)


def _check_gather(pipeline: PipelineDefinition, node: NodeDefinition, problems: list[Problem]) -> None:
    source = node.gather_from_node
    if source is None:
        return
    path = f"{node.path}.gather_from_node"
    if source == ENTRY:  # even with entry demultiplexing: only the response gathers it (§8.3)
        problems.append(Problem(path, Code.PIPELINE_NODE_GATHER_FROM_ENTRY_NODE, f"node: {node.name}"))
        return
    demultiplexer = pipeline.node(source)
    if demultiplexer is None:
        problems.append(
            Problem(
                path,
                Code.PIPELINE_NODE_GATHER_FROM_NOT_EXISTING_NODE,
                f"node: {node.name}; gather from: {source}",
            )
        )
    elif demultiplexer.demultiply_count is None:
        problems.append(
            Problem(
                path,
                Code.PIPELINE_NODE_GATHER_FROM_NOT_DEMULTIPLEXER,
                f"node: {node.name}; gather from: {source}",
            )
        )


def _check_connections(
    pipeline: PipelineDefinition,
    consumer: NodeDefinition | None,  # None: the response node
    connections: tuple[Connection, ...],
    path: str,
    context: ValidationContext,
    problems: list[Problem],
) -> None:
    name = consumer.name if consumer else EXIT
    signature = context.signature(consumer) if consumer else None
    connected: set[str] = set()
    for i, connection in enumerate(connections):
        where = f"{path}[{i}]"
        details = (
            f"node: {name}; input: {connection.target}; source: {connection.node_name}.{connection.data_item}"
        )
        if connection.target in connected:
            code = Code.PIPELINE_MODEL_INPUT_CONNECTED_TO_MULTIPLE_DATA_SOURCES
            problems.append(Problem(where, code, details))
        connected.add(connection.target)
        if connection.node_name == EXIT:
            problems.append(Problem(where, Code.PIPELINE_EXIT_USED_AS_NODE_DEPENDENCY, details))
            continue
        produced = _produced(pipeline, connection, context, where, details, problems)
        if signature is None or consumer is None:
            continue
        wanted = signature.inputs.get(connection.target)
        if wanted is None:
            problems.append(Problem(where, Code.PIPELINE_CONNECTION_TO_MISSING_MODEL_INPUT, details))
        elif produced is not None:
            _check_tensor(pipeline, connection, consumer, produced, wanted, where, details, problems)
    if signature is not None and consumer is not None:
        missing = sorted(set(signature.inputs) - connected)
        if missing:
            problems.append(
                Problem(
                    path,
                    Code.PIPELINE_NOT_ALL_INPUTS_CONNECTED,
                    f"node: {name}; not connected: {', '.join(missing)}",
                )
            )


def _produced(
    pipeline: PipelineDefinition,
    connection: Connection,
    context: ValidationContext,
    where: str,
    details: str,
    problems: list[Problem],
) -> TensorMetadata | None:
    """The producer's tensor behind ``connection`` if known; records reference problems."""
    if connection.node_name == ENTRY:
        if connection.data_item not in pipeline.inputs:
            problems.append(Problem(where, Code.PIPELINE_NODE_REFERING_TO_MISSING_DATA_SOURCE, details))
        return None
    producer = pipeline.node(connection.node_name)
    if producer is None:
        problems.append(Problem(where, Code.PIPELINE_NODE_REFERING_TO_MISSING_NODE, details))
        return None
    data_item = producer.alias_source(connection.data_item)
    if data_item is None:
        problems.append(Problem(where, Code.PIPELINE_NODE_REFERING_TO_MISSING_DATA_SOURCE, details))
        return None
    signature = context.signature(producer)
    if signature is None:
        return None
    tensor = signature.outputs.get(data_item)
    if tensor is None:
        problems.append(
            Problem(
                where, Code.PIPELINE_NODE_REFERING_TO_MISSING_MODEL_OUTPUT, f"{details}; output: {data_item}"
            )
        )
    return tensor


def seen_shape(
    pipeline: PipelineDefinition, producer: str, consumer: NodeDefinition | None, shape: tuple[int, ...]
) -> tuple[int, ...]:
    """The shape of a producer's output as its consumer gets it: minus dim 0 after the producer's
    demultiplexing, plus the shard count in front when the consumer gathers (§8.3)."""
    node = pipeline.node(producer)
    if node is not None and node.demultiply_count is not None:
        shape = shape[1:]
    if consumer is not None and consumer.gather_from_node is not None:
        source = pipeline.node(consumer.gather_from_node)
        count = source.demultiply_count if source else pipeline.demultiply_count
        shape = (count if count is not None else DYNAMIC, *shape)
    return shape


def _check_tensor(
    pipeline: PipelineDefinition,
    connection: Connection,
    consumer: NodeDefinition,
    produced: TensorMetadata,
    wanted: TensorMetadata,
    where: str,
    details: str,
    problems: list[Problem],
) -> None:
    if produced.dtype != wanted.dtype:
        problems.append(
            Problem(
                where,
                Code.INVALID_PRECISION,
                f"{details}; produced: {produced.dtype.ovms}; expected: {wanted.dtype.ovms}",
            )
        )
    shape = seen_shape(pipeline, connection.node_name, consumer, produced.shape)
    if not dims_compatible(shape, wanted.shape):
        problems.append(
            Problem(
                where,
                Code.INVALID_SHAPE,
                f"{details}; produced: {list(shape)}; expected: {list(wanted.shape)}",
            )
        )


def _check_demultiplexers(
    pipeline: PipelineDefinition, context: ValidationContext, problems: list[Problem]
) -> None:
    counts = [n.demultiply_count for n in pipeline.nodes if n.demultiply_count is not None]
    if pipeline.demultiply_count is not None:
        counts.append(pipeline.demultiply_count)
    if DYNAMIC in counts and len(counts) > 1:
        problems.append(
            Problem(
                pipeline.path,
                Code.NOT_IMPLEMENTED,
                "a dynamic demultiplexer must be the only demultiplexer of a pipeline",
            )
        )
    for node in pipeline.nodes:
        signature = context.signature(node)
        if node.demultiply_count is None or signature is None:
            continue
        for output in node.outputs:
            tensor = signature.outputs.get(output.data_item)
            if tensor is None:
                continue
            details = f"node: {node.name}; output: {output.data_item}; shape: {list(tensor.shape)}"
            if len(tensor.shape) < MIN_DEMULTIPLIED_RANK:
                problems.append(
                    Problem(
                        f"{node.path}.demultiply_count",
                        Code.PIPELINE_NOT_ENOUGH_SHAPE_DIMENSIONS_TO_DEMULTIPLY,
                        details,
                    )
                )
            elif node.demultiply_count != DYNAMIC and tensor.shape[0] not in (DYNAMIC, node.demultiply_count):
                code = Code.PIPELINE_DEMULTIPLY_COUNT_DOES_NOT_MATCH_TENSOR_SHARD_COUNT
                problems.append(
                    Problem(
                        f"{node.path}.demultiply_count",
                        code,
                        f"{details}; demultiply_count: {node.demultiply_count}",
                    )
                )
