"""A servable pipeline: a definition made ready to run (spec §8.6 load order).

``build_pipeline`` initializes every custom and Python node with its params, reads the custom
nodes' signatures, validates the graph, derives the metadata and compiles the executor; any
problem leaves no pipeline (and closes what it initialized). ``Pipeline.close`` deinitializes
custom nodes and finalizes Python nodes once no request uses them (the registry decides when).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ovms_cli.errors import ServingError
from ovms_cli.servables.pipelines.coalescing import coalescing_model_node
from ovms_cli.servables.pipelines.custom_node_library import CustomNode, CustomNodeLibrary
from ovms_cli.servables.pipelines.definition import NodeDefinition, NodeKind, PipelineDefinition
from ovms_cli.servables.pipelines.executor import (
    Infer,
    NodeFunction,
    PipelineExecutor,
    model_node,
    threaded_node,
)
from ovms_cli.servables.pipelines.pipeline_metadata import PipelineMetadata, derive_metadata
from ovms_cli.servables.pipelines.problems import Code, Problem
from ovms_cli.servables.pipelines.python_node import PythonNode
from ovms_cli.servables.pipelines.signatures import ModelCatalog, NodeSignature
from ovms_cli.servables.pipelines.validation import ValidationContext, validate

PIPELINE_VERSION = 1  # pipelines are unversioned; OVMS reports version 1 (§8.2)


@dataclass
class Pipeline:
    definition: PipelineDefinition
    metadata: PipelineMetadata
    executor: PipelineExecutor
    custom_nodes: list[CustomNode] = field(default_factory=list)
    python_nodes: list[PythonNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.definition.name

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pipeline inputs → pipeline outputs; see ``PipelineExecutor.run`` for the errors."""
        return await self.executor.run(inputs)

    def close(self) -> None:
        _close(self.custom_nodes, self.python_nodes)


def _close(custom_nodes: list[CustomNode], python_nodes: list[PythonNode]) -> None:
    for custom in custom_nodes:
        custom.deinitialize()
    for python in python_nodes:
        python.finalize()


def build_pipeline(
    definition: PipelineDefinition,
    models: ModelCatalog,
    infer: Infer,
    libraries: Mapping[str, CustomNodeLibrary],
    pool: Executor,
    base_dir: Path | None = None,
    coalesce_models: Collection[str] = (),
) -> tuple[Pipeline | None, list[Problem]]:
    """The runnable pipeline, or None and every problem found (JSON paths from the definition).

    ``infer`` is the registry's infer path for DL-model nodes; ``libraries`` the loaded
    ``custom_node_library_config_list``; ``pool`` runs custom and Python nodes; ``base_dir``
    resolves relative Python node file paths (the config file's directory); DL-model nodes of
    ``coalesce_models`` (models whose dim 0 is a batch dimension that is not fixed) send the
    concurrent calls of demultiplexed branches as one inference (``coalescing``).
    """
    loader = _NodeLoader(infer, libraries, pool, base_dir, coalesce_models)
    functions: dict[str, NodeFunction] = {}
    problems: list[Problem] = []
    for node in definition.nodes:
        try:
            functions[node.name] = loader.prepare(node)
        except ServingError as error:
            problems.append(Problem(node.path, Code.PIPELINE_NODE_LOAD_FAILED, error.message))
    context = ValidationContext(models, libraries.keys(), loader.signatures)
    validated = validate(definition, context)
    problems += validated.problems
    metadata = None
    if validated.levels is not None and not problems:
        metadata, found = derive_metadata(definition, validated.levels, context.signature)
        problems += found
    if metadata is None or validated.levels is None or problems:
        _close(loader.custom_nodes, loader.python_nodes)
        return None, problems
    executor = PipelineExecutor(definition, validated.levels, functions)
    return Pipeline(definition, metadata, executor, loader.custom_nodes, loader.python_nodes), []


@dataclass
class _NodeLoader:
    """Turns node definitions into node functions, keeping what must be closed later."""

    infer: Infer
    libraries: Mapping[str, CustomNodeLibrary]
    pool: Executor
    base_dir: Path | None
    coalesce_models: Collection[str]
    custom_nodes: list[CustomNode] = field(default_factory=list)
    python_nodes: list[PythonNode] = field(default_factory=list)
    signatures: dict[str, NodeSignature] = field(default_factory=dict)

    def prepare(self, node: NodeDefinition) -> NodeFunction:
        if node.kind is NodeKind.DL_MODEL:
            make = coalescing_model_node if node.model_name in self.coalesce_models else model_node
            return make(self.infer, node.model_name or "", node.version)
        if node.kind is NodeKind.PYTHON:
            python = PythonNode(node.name, node.handler or "", node.params_dict, self.base_dir)
            self.python_nodes.append(python)
            return threaded_node(self.pool, python.execute)
        library = self.libraries.get(node.library_name or "")
        if library is None:  # reported by validation (PIPELINE_DEFINITION_INVALID_NODE_LIBRARY)
            return threaded_node(self.pool, _missing)
        custom = library.initialize(node.name, node.params_dict)
        self.custom_nodes.append(custom)
        self.signatures[node.name] = custom.signature()
        return threaded_node(self.pool, custom.execute)


def _missing(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    raise AssertionError("a pipeline with a missing library is never built")
