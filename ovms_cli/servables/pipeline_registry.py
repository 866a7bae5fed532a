"""The pipelines a server holds, kept in line with the configuration and the models they use.

Spec §2.9 order: after the models of a pass, custom node libraries load (``base_path`` changed →
reloaded; removed → dropped), then every configured pipeline is (re)built when what it was built
from changed: its definition, a library it uses, a Python node's handler file (its mtime or size), or a
model version it uses (which version is the default, its inputs and outputs, §8.6 "subscribed" models). A build that fails leaves the pipeline
listed as not loaded with its problems as the reason while everything else serves; a rebuild that
succeeds is swapped in and the previous build retires once its in-flight requests finish.

Stateful models are refused as nodes here (spec §9.1; ``stateful.config_rules.IN_PIPELINE``), and
models with ``dynamic_batching`` have their demultiplexed branches coalesced into one inference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import ServingError
from ovms_cli.servables.pipelines.custom_node_library import CustomNodeLibrary
from ovms_cli.servables.pipelines.definition import CustomNodeLibraryConfig, NodeKind, PipelineDefinition
from ovms_cli.servables.pipelines.executor import Infer
from ovms_cli.servables.pipelines.pipeline import Pipeline, build_pipeline
from ovms_cli.servables.pipelines.pipeline_version import PipelineVersion
from ovms_cli.servables.pipelines.problems import Code, Problem
from ovms_cli.servables.pipelines.python_node import handler_file
from ovms_cli.servables.pipelines.signatures import NodeSignature, StaticModelCatalog
from ovms_cli.servables.stateful.config_rules import IN_PIPELINE, uses_auto_shape
from ovms_cli.types import State

log = logging.getLogger("ovms.modelmanager")


class ServedModels(Protocol):
    """What the registry reads of the models (``ModelManager`` implements it)."""

    def model_names(self) -> Collection[str]:
        """Every configured model name."""
        ...

    def model_config(self, name: str) -> ModelConfig | None:
        """The configuration of a configured model, None for an unknown name."""
        ...

    def served_signatures(self, name: str) -> Mapping[int, NodeSignature]:
        """Version number → inputs and outputs of each AVAILABLE version of ``name``."""
        ...


@dataclass(frozen=True, slots=True)
class _Built:
    """What one build of a pipeline read: equal keys mean a rebuild would give the same pipeline."""

    definition: PipelineDefinition
    libraries: tuple[tuple[str, str | None], ...]  # (name, loaded path or None)
    handler_files: tuple[tuple[str, Hashable], ...]  # Python nodes' handler files: (handler, file version)
    models: tuple[Hashable, ...]
    name_taken: bool


class PipelineRegistry:
    def __init__(self, models: ServedModels, infer: Infer) -> None:
        self._models = models
        self._infer = infer
        self.versions: dict[str, PipelineVersion] = {}  # every pipeline ever configured
        self.configured: tuple[str, ...] = ()
        self._definitions: tuple[PipelineDefinition, ...] = ()
        self._built: dict[str, _Built] = {}
        self._library_configs: tuple[CustomNodeLibraryConfig, ...] = ()
        self.libraries: dict[str, CustomNodeLibrary] = {}
        self.library_errors: dict[str, str] = {}  # library name → why it did not load
        self._base_dir: Path | None = None
        self._pool = ThreadPoolExecutor(thread_name_prefix="ovms-node")
        self._retiring: set[asyncio.Task[None]] = set()

    async def apply(
        self,
        definitions: Sequence[PipelineDefinition],
        libraries: Sequence[CustomNodeLibraryConfig],
        base_dir: Path | None,
    ) -> bool:
        """Serve exactly these pipelines and libraries; True if any pipeline changed."""
        self._base_dir = base_dir
        await self._load_libraries(libraries)
        self._definitions = tuple(definitions)
        wanted = {d.name for d in definitions}
        changed = False
        for name in self.configured:
            if name not in wanted:
                log.info("Pipeline %s was removed from the configuration: retiring it", name)
                self._retire(self.versions[name], removed=True)
                self._built.pop(name, None)
                changed = True
        self.configured = tuple(d.name for d in definitions)
        return await self.refresh() or changed

    async def refresh(self) -> bool:
        """Rebuild every configured pipeline whose definition, libraries or models changed."""
        changed = False
        for definition in self._definitions:
            key = self._key(definition)
            if self._built.get(definition.name) == key:
                continue
            self._built[definition.name] = key
            await self._build(definition)
            changed = True
        return changed

    def get(self, name: str) -> PipelineVersion | None:
        return self.versions.get(name)

    def problems(self) -> dict[str, list[str]]:
        """Configured pipeline name → why it does not serve; only failing ones."""
        found: dict[str, list[str]] = {}
        for name in self.configured:
            version = self.versions[name]
            if version.state is not State.AVAILABLE:
                found[name] = [version.status.reason or version.state.name]
        return found

    def close(self) -> None:
        """Close every build now (server shutdown: no request is left)."""
        for task in self._retiring:
            task.cancel()
        for version in self.versions.values():
            version.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _load_libraries(self, configs: Sequence[CustomNodeLibraryConfig]) -> None:
        wanted = {c.name: c for c in configs}
        for name in [n for n in self.libraries if n not in wanted]:
            log.info("Custom node library %s was removed from the configuration", name)
            del self.libraries[name]
        self.library_errors = {}
        for config in configs:
            current = self.libraries.get(config.name)
            if current is not None and str(current.path) == config.base_path:
                continue
            try:
                library = await asyncio.to_thread(CustomNodeLibrary, config.name, Path(config.base_path))
            except ServingError as error:
                log.error("Custom node library %s failed to load: %s", config.name, error.message)
                self.libraries.pop(config.name, None)
                self.library_errors[config.name] = error.message
                continue
            log.info("Loaded custom node library %s from %s", config.name, config.base_path)
            self.libraries[config.name] = library
        self._library_configs = tuple(configs)

    def _key(self, definition: PipelineDefinition) -> _Built:
        libraries = tuple(
            (node.library_name or "", self._library_path(node.library_name or ""))
            for node in definition.nodes
            if node.kind is NodeKind.CUSTOM
        )
        models: list[Hashable] = []
        for node in definition.nodes:
            if node.kind is not NodeKind.DL_MODEL or node.model_name is None:
                continue
            config = self._models.model_config(node.model_name)
            signatures = self._models.served_signatures(node.model_name)
            number = node.version if node.version is not None else max(signatures, default=None)
            signature = signatures.get(number) if number is not None else None
            models.append((node.model_name, node.version, number, _frozen(signature), config))
        taken = definition.name in self._models.model_names()
        handlers = tuple(
            (node.handler, _file_version(node.handler, self._base_dir))
            for node in definition.nodes
            if node.kind is NodeKind.PYTHON and node.handler is not None
        )
        return _Built(definition, libraries, handlers, tuple(models), taken)

    def _library_path(self, name: str) -> str | None:
        library = self.libraries.get(name)
        return None if library is None else str(library.path)

    async def _build(self, definition: PipelineDefinition) -> None:
        catalog, refused = pipeline_catalog(definition, self._models)
        coalesce = [
            name
            for name in catalog.model_names()
            if (config := self._models.model_config(name)) is not None and config.dynamic_batching is not None
        ]
        pipeline, problems = await asyncio.to_thread(
            build_pipeline,
            definition,
            catalog,
            self._infer,
            dict(self.libraries),
            self._pool,
            self._base_dir,
            coalesce,
        )
        problems = refused + problems
        if problems and pipeline is not None:
            await asyncio.to_thread(pipeline.close)
            pipeline = None
        self._swap(definition.name, pipeline, problems)

    def _swap(self, name: str, pipeline: Pipeline | None, problems: list[Problem]) -> None:
        library_notes = [
            f"library {n}: {why}"
            for n, why in self.library_errors.items()
            if any(
                p.code is Code.PIPELINE_DEFINITION_INVALID_NODE_LIBRARY and f"library: {n}" in p.details
                for p in problems
            )
        ]
        reason = "; ".join([str(p) for p in problems] + library_notes)
        fresh = PipelineVersion(name, pipeline, reason)
        previous = self.versions.get(name)
        self.versions[name] = fresh
        if pipeline is None:
            log.error("Pipeline %s is not loaded: %s", name, reason)
        else:
            log.info("Pipeline %s is available", name)
        if previous is not None:
            self._retire(previous, removed=False)

    def _retire(self, version: PipelineVersion, *, removed: bool) -> None:
        task = asyncio.create_task(version.retire(removed=removed), name=f"retire-pipeline-{version.name}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)


def pipeline_catalog(
    definition: PipelineDefinition, models: ServedModels
) -> tuple[StaticModelCatalog, list[Problem]]:
    """The models as a build of ``definition`` sees them, and its nodes refused for their model's
    configuration: stateful (spec §9.1) or, marked for validation, ``auto`` batch size or shape (§8.1)."""
    used = {n.model_name for n in definition.nodes if n.kind is NodeKind.DL_MODEL}
    table: dict[str, Mapping[int, NodeSignature]] = {}
    for name in models.model_names():
        table[name] = dict(models.served_signatures(name)) if name in used else {}
    refused: list[Problem] = []
    for node in definition.nodes:
        config = models.model_config(node.model_name or "") if node.kind is NodeKind.DL_MODEL else None
        if config is None:
            continue
        if config.stateful:
            refused.append(
                Problem(
                    f"{node.path}.model_name",
                    Code.REQUESTED_STATEFUL_PARAMETERS_ON_SUBSCRIBED_MODEL,
                    f"node: {node.name}; model: {node.model_name}; {IN_PIPELINE}",
                )
            )
        elif uses_auto_shape(config):
            table[config.name] = {
                n: NodeSignature(s.inputs, s.outputs, forbidden_dynamic=True)
                for n, s in table[config.name].items()
            }
    return StaticModelCatalog(table), refused


def _file_version(handler: str, base_dir: Path | None) -> Hashable:
    """A handler ``file.py:Class``'s (mtime, size), so that an edited file is imported afresh on the next
    reload or version check; None for a module name (imported once per process, as Python does) or a
    file that is not there (the build reports it)."""
    path = handler_file(handler, base_dir)
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _frozen(signature: NodeSignature | None) -> Hashable:
    if signature is None:
        return None
    return (
        tuple(sorted(signature.inputs.items())),
        tuple(sorted(signature.outputs.items())),
        signature.forbidden_dynamic,
    )
