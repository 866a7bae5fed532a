"""The servables a server holds and the protocol-free operations every API is built from."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path

import openvino as ov

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import ModelNotFound, NotReady, VersionNotFound
from ovms_cli.servables.graphs import GraphCatalog, GraphVersion, NoGraphs
from ovms_cli.servables.model import Model
from ovms_cli.servables.model_loader import Runtime
from ovms_cli.servables.pipeline_registry import PipelineRegistry
from ovms_cli.servables.pipelines.definition import CustomNodeLibraryConfig, PipelineDefinition
from ovms_cli.servables.pipelines.signatures import NodeSignature
from ovms_cli.servables.servable import Servable
from ovms_cli.servables.stateful.request_routing import infer_servable
from ovms_cli.servables.stateful.sequence_store import SequenceStore
from ovms_cli.types import Array, InferenceRequest, InferenceResponse, ModelMetadata, State, VersionStatus

log = logging.getLogger("ovms.modelmanager")


class ModelManager:
    def __init__(self, core: ov.Core | None = None, cache_dir: Path | None = None) -> None:
        self.runtime = Runtime(core or ov.Core(), cache_dir)
        self.models: dict[str, Model] = {}  # every model ever configured; removed ones keep END versions
        self.configured: tuple[str, ...] = ()
        self.ready = False
        self._not_applied: dict[str, list[str]] = {}  # configs refused while the previous one serves
        self._lock = asyncio.Lock()
        self.pipelines = PipelineRegistry(self, self._node_infer)
        self.graphs: GraphCatalog = NoGraphs()  # generative models, shown as OVMS shows its graphs

    @property
    def core(self) -> ov.Core:
        return self.runtime.core

    async def load(
        self,
        configs: Sequence[ModelConfig],
        *,
        pipelines: Sequence[PipelineDefinition] = (),
        libraries: Sequence[CustomNodeLibraryConfig] = (),
        base_dir: Path | None = None,
    ) -> None:
        """The initial load; the server is ready afterwards, whatever failed."""
        await self.apply(configs, pipelines=pipelines, libraries=libraries, base_dir=base_dir)
        self.ready = True

    async def apply(
        self,
        configs: Sequence[ModelConfig],
        *,
        pipelines: Sequence[PipelineDefinition] | None = None,
        libraries: Sequence[CustomNodeLibraryConfig] = (),
        base_dir: Path | None = None,
    ) -> bool:
        """Serve exactly ``configs``: add, reconfigure and retire models. True if anything changed.

        Then (spec §2.9 order) custom node ``libraries`` and ``pipelines``: serve exactly these
        (``base_dir``: where relative Python node files are); ``pipelines=None`` keeps the current
        ones and only follows the models they use.
        """
        async with self._lock:
            changed = await self._apply_models(configs)
            if pipelines is None:
                return await self.pipelines.refresh() or changed
            return await self.pipelines.apply(pipelines, libraries, base_dir) or changed

    async def _apply_models(self, configs: Sequence[ModelConfig]) -> bool:
        changed = False
        for config in configs:
            changed = await self._apply_one(config) or changed
        wanted = {c.name for c in configs}
        for name in self.configured:
            if name not in wanted:
                log.info("Model %s was removed from the configuration: retiring its versions", name)
                await self.models[name].retire()
                if not self.models[name].versions:  # nothing to list: unknown, as in OVMS
                    del self.models[name]
                changed = True
        self.configured = tuple(c.name for c in configs)
        return changed

    async def _apply_one(self, config: ModelConfig) -> bool:
        self._not_applied.pop(config.name, None)
        current = self.models.get(config.name)
        if (
            current is not None
            and config.name in self.configured
            and current.config.base_path == config.base_path
        ):
            if current.config == config:
                current.forget_refused_config()  # the served config is wanted again
                return False
            return await current.reconfigure(self.runtime, config)
        fresh = Model(config)
        if current is None:
            self.models[config.name] = fresh
            await fresh.sync(self.runtime, initial=True)
            return True
        # A new base path, or a model added back: load beside whatever still serves, then swap.
        await fresh.sync(self.runtime, initial=True)
        live = [v for v in current.versions.values() if v.state is State.AVAILABLE]
        if live and not fresh.available_versions():
            log.error(
                "Model %s: nothing loads from %s; the previous versions keep serving",
                config.name,
                config.base_path,
            )
            why = fresh.problems() or ["no version to serve"]
            self._not_applied[config.name] = [f"nothing loads from {config.base_path}: {w}" for w in why]
            return False
        fresh.versions = {**current.versions, **fresh.versions}  # retired versions stay listed
        self.models[config.name] = fresh
        for version in live:
            await version.retire()
        return True

    def load_problems(self) -> dict[str, list[str]]:
        """Configured model or pipeline name → why it does not serve as configured (spec §2.9); only
        failing ones."""
        found: dict[str, list[str]] = {}
        for name in self.configured:
            problems = self._not_applied.get(name, []) + self.models[name].problems()
            if problems:
                found[name] = problems
        for name, problems in self.pipelines.problems().items():  # a pipeline may clash with a model's name
            found.setdefault(name, []).extend(problems)
        for name, problems in self.graphs.graph_problems().items():
            found.setdefault(name, []).extend(problems)
        return found

    def startup_failure(self) -> str | None:
        """Why the first model that failed to load did (for exiting on a load failure), or None."""
        for model in self.models.values():
            if model.listing_error is not None:
                return f"Model {model.name} failed to load - {model.listing_error}"
            failed = [v for v in model.versions.values() if v.status.error_code != 0]
            if failed:
                reasons = "; ".join(f"version {v.version}: {v.status.reason}" for v in failed)
                return f"Model {model.name} failed to load - {reasons}"
        return None

    async def sync_versions(self) -> bool:
        """One watcher pass over every configured model's repository."""
        async with self._lock:
            changed = False
            for name in self.configured:
                changed = await self.models[name].sync(self.runtime) or changed
            return await self.pipelines.refresh() or changed

    def unload(self) -> None:
        self.pipelines.close()
        for model in self.models.values():
            model.unload()

    def model(self, name: str) -> Model:
        found = self.models.get(name)
        if found is None:
            raise ModelNotFound(name)
        return found

    def has(self, name: str) -> bool:
        """Whether ``name`` was ever configured, model, pipeline or graph (retired ones stay listed)."""
        return name in self.models or self.pipelines.get(name) is not None or self._graph(name) is not None

    def names(self) -> tuple[str, ...]:
        """Every model name ever configured in the order first configured, then every pipeline's, then
        every generative model's (OVMS's graphs)."""
        names = tuple(self.models) + tuple(n for n in self.pipelines.versions if n not in self.models)
        return names + tuple(n for n in self.graphs.graph_names() if n not in names)

    def is_pipeline(self, name: str) -> bool:
        """Whether requests for ``name`` go to a pipeline (a configured model keeps its name)."""
        return self._pipeline(name) is not None

    def _pipeline(self, name: str) -> Servable | None:
        if name in self.configured:
            return None
        return self.pipelines.get(name)

    def is_graph(self, name: str) -> bool:
        """Whether ``name`` is a generative model's (a model or pipeline of that name takes precedence)."""
        return self._graph(name) is not None

    def _graph(self, name: str) -> GraphVersion | None:
        if name in self.models or self.pipelines.get(name) is not None:
            return None
        return self.graphs.graph(name)

    def config(self, name: str) -> ModelConfig:
        """The configuration ``name`` serves with. Raises ModelNotFound."""
        return self.model(name).config

    def servables(self) -> Iterator[tuple[str, int, Servable]]:
        """(name, version number, servable) of every version ever registered, in any state."""
        for model in list(self.models.values()):
            for number, version in list(model.versions.items()):
                yield model.name, number, version
        for name, pipeline in list(self.pipelines.versions.items()):
            if self.is_pipeline(name):
                yield name, pipeline.version, pipeline

    def sequence_stores(self, *, idle_cleanup_only: bool = False) -> Iterator[tuple[str, int, SequenceStore]]:
        """(name, version number, sequences) of every loaded stateful version; with ``idle_cleanup_only``,
        of those configured with ``idle_sequence_cleanup: true`` (the idle cleaner's, spec §9.3)."""
        for model in list(self.models.values()):
            for number, version in list(model.versions.items()):
                store = version.sequence_store()
                if store is not None and (version.config.idle_sequence_cleanup or not idle_cleanup_only):
                    yield model.name, number, store

    def idle_sequence_stores(self) -> Iterator[SequenceStore]:
        """The sequences the idle cleaner visits (``idle_sequence_cleanup: true``, spec §9.3)."""
        return (store for _, _, store in self.sequence_stores(idle_cleanup_only=True))

    def resolve(self, name: str, version: int | None) -> Servable:
        """The servable a request for ``name`` and ``version`` (None: the default) goes to.

        Raises ModelNotFound, VersionNotFound, or NotReady/NotFound when no version can serve.
        A pipeline is unversioned: ``version`` is ignored, as OVMS does (spec §8.2).
        """
        pipeline = self._pipeline(name) or self._graph(name)
        if pipeline is not None:
            return pipeline
        return self.model(name).version(version)

    def tfs_servable(self, name: str, version: int | None) -> Servable:
        """``resolve`` for TensorFlow Serving's metadata and predict, which know models and pipelines
        only: a generative model's name is ModelNotFound there, as in OVMS."""
        if self._graph(name) is not None:
            raise ModelNotFound(name)
        return self.resolve(name, version)

    def is_model_ready(self, name: str, version: int | None) -> bool:
        """Whether the version (default: the highest available) serves now.

        A model whose versions are still loading is not ready; one that has no version to serve,
        or an unknown version, is NotFound.
        """
        try:
            return self.resolve(name, version).state is State.AVAILABLE
        except NotReady:
            return False

    def model_status(self, name: str, version: int | None) -> tuple[VersionStatus, ...]:
        """Every version the model ever registered, in any state, ascending; or only ``version``.

        A pipeline or a generative model has the one version 1 whatever ``version`` asks (spec §8.2).
        """
        pipeline = self._pipeline(name) or self._graph(name)
        if pipeline is not None:
            return (pipeline.status,)
        model = self.model(name)
        if version is None:
            return tuple(model.versions[number].status for number in sorted(model.versions))
        found = model.versions.get(version)
        if found is None:
            raise VersionNotFound(name, version)
        return (found.status,)

    def metadata(self, name: str, version: int | None, served: Servable | None = None) -> ModelMetadata:
        """``served``: the servable already resolved for this request, if the caller has it."""
        pipeline = self._pipeline(name) or self._graph(name)
        if pipeline is not None:
            available = (pipeline.version,) if pipeline.state is State.AVAILABLE else ()
            return ModelMetadata(name, available, pipeline.input_metadata(), pipeline.output_metadata())
        model = self.model(name)
        if served is None:
            served = model.version(version)
        return ModelMetadata(
            name=name,
            versions=model.available_versions(),
            inputs=served.input_metadata(),
            outputs=served.output_metadata(),
        )

    async def infer(self, request: InferenceRequest, served: Servable | None = None) -> InferenceResponse:
        """``served``: the servable already resolved for this request (TFS REST decodes against it)."""
        if served is None:
            served = self.resolve(request.model_name, request.model_version)
        outputs = await infer_servable(served, request)
        return InferenceResponse(request.model_name, served.version, outputs, request.id)

    # The pipelines' view of the models (``PipelineRegistry``'s ``ServedModels`` and the executor's
    # ``infer``): configured models only, never a pipeline.
    def model_names(self) -> Collection[str]:
        return self.configured

    def model_config(self, name: str) -> ModelConfig | None:
        model = self.models.get(name)
        return model.config if model is not None and name in self.configured else None

    def served_signatures(self, name: str) -> Mapping[int, NodeSignature]:
        model = self.models.get(name)
        if model is None or name not in self.configured:
            return {}
        return {
            number: NodeSignature.of(version.input_metadata(), version.output_metadata())
            for number in model.available_versions()
            if (version := model.versions[number])
        }

    async def _node_infer(self, name: str, version: int | None, inputs: dict[str, Array]) -> dict[str, Array]:
        """A DL-model node's inference: the same path as a direct request to the model."""
        if name not in self.configured:
            raise ModelNotFound(name)
        return await self.model(name).version(version).infer(inputs)
