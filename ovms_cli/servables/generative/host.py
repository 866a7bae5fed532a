"""Where the server keeps its generative models: the registry is created (and OpenVINO GenAI
imported) only once a generative model is configured, so a classic server never imports it.

The host is also the ``GraphCatalog`` the model manager shows the classic APIs (``servables/graphs.py``):
every generative model ever configured, by name, with OVMS's graph status: LOADING while it loads,
AVAILABLE while a build serves (also when a later reload of it failed: the previous build keeps
serving and the failure is in ``graph_problems``), LOADING with FAILED_PRECONDITION and the error when
nothing serves, END once removed from the configuration."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openvino as ov

from ovms_cli.errors import InternalError
from ovms_cli.servables.generative.graph_config import GenerativeConfig, GraphConfigError, read_graph
from ovms_cli.servables.graphs import GraphVersion
from ovms_cli.types import State, VersionStatus

log = logging.getLogger("ovms.genai")

if TYPE_CHECKING:
    from ovms_cli.servables.generative.registry import GenerativeRegistry


class GenerativeHost:
    def __init__(self, core: ov.Core) -> None:
        self._core = core
        self.registry: GenerativeRegistry | None = None
        self.config_problems: dict[str, str] = {}
        self._graphs: dict[str, GraphVersion] = {}
        self._tasks: dict[str, str] = {}  # configured name -> task, for the graphs' metadata and errors
        self._config_file: tuple[Mapping[str, Any], Path] | None = None  # what apply_config read last

    async def apply(
        self, configs: Sequence[GenerativeConfig], keep: Collection[str] = (), *, retry_failed: bool = True
    ) -> bool:
        """Serve exactly ``configs``; ``keep``: names whose entry did not read this time (their current
        build keeps serving). ``retry_failed=False``: a config that failed to load as it is now is not
        tried again (the watcher's periodic pass). True if anything was loaded or retired."""
        for config in configs:
            self._tasks[config.name] = config.task.value
            current = self._graphs.get(config.name)
            if current is None or current.state is State.END:  # new, or added back
                self._set(config.name, GraphVersion.loading())
        try:
            return await self._apply(configs, keep, retry_failed)
        finally:
            self._refresh_graphs({c.name for c in configs} | set(keep))

    async def _apply(
        self, configs: Sequence[GenerativeConfig], keep: Collection[str], retry_failed: bool
    ) -> bool:
        if self.registry is None:
            if not configs:
                return False
            try:
                from ovms_cli.servables.generative.registry import GenerativeRegistry
            except ImportError as error:
                raise InternalError(
                    "Generative models need the genai extra", 'pip install "ovms[genai]"'
                ) from error
            self.registry = GenerativeRegistry(self._core)
        return await self.registry.apply(configs, keep, retry_failed=retry_failed)

    async def apply_config(
        self, raw: Mapping[str, Any], config_dir: Path, *, retry_failed: bool = True
    ) -> bool:
        """Apply config.json's ``mediapipe_config_list``; an entry whose graph does not read is reported
        and not loaded (a build of it already serving keeps serving)."""
        self._config_file = (raw, config_dir)
        configs, problems = configs_from_file(raw, config_dir)
        for name, problem in problems.items():
            if self.config_problems.get(name) != problem:  # once, not at every watcher pass
                log.error("Generative model %s is not loaded: %s", name, problem)
        self.config_problems = problems
        return await self.apply(configs, keep=tuple(self.config_problems), retry_failed=retry_failed)

    async def sync(self, retry_failed: bool) -> bool:
        """Read config.json's graphs again (an edited graph.pbtxt reloads its model, genai-spec §6.3)."""
        if self._config_file is None:
            return False
        return await self.apply_config(*self._config_file, retry_failed=retry_failed)

    def problems(self) -> dict[str, str]:
        loaded = {} if self.registry is None else self.registry.problems
        return {**self.config_problems, **loaded}

    # GraphCatalog ----------------------------------------------------------------------------------

    def graph(self, name: str) -> GraphVersion | None:
        return self._graphs.get(name)

    def graph_names(self) -> Sequence[str]:
        return tuple(self._graphs)

    def graph_problems(self) -> dict[str, list[str]]:
        return {name: [problem] for name, problem in self.problems().items()}

    def _refresh_graphs(self, configured: Collection[str]) -> None:
        problems = self.problems()
        for name in configured:
            if self.registry is not None and self.registry.has(name):
                self._set(name, GraphVersion.available())
            elif name in problems:
                self._set(name, GraphVersion.failed(problems[name]))
        for name, graph in self._graphs.items():
            if name not in configured and graph.state is not State.END:
                self._set(name, GraphVersion.retired())

    def _set(self, name: str, status: VersionStatus) -> None:
        self._graphs[name] = GraphVersion(name, self._tasks.get(name, "text_generation"), status)

    async def close(self) -> None:
        if self.registry is not None:
            await asyncio.to_thread(self.registry.close)


def configs_from_file(
    raw: Mapping[str, Any], config_dir: Path
) -> tuple[list[GenerativeConfig], dict[str, str]]:
    """``mediapipe_config_list: [{"name", "base_path", "graph_path"?}]``: each graph.pbtxt read.

    ``base_path`` is relative to config.json's folder; ``graph_path`` (default ``graph.pbtxt``) to
    ``base_path``, as in OVMS. Returns the configs and, by name, why the others were refused: also a
    name a model or pipeline of the file has, or an earlier entry (OVMS: ``MODEL_NAME_OCCUPIED``,
    the first one serves).
    """
    configs: list[GenerativeConfig] = []
    problems: dict[str, str] = {}
    taken = _classic_names(raw)
    for item in raw.get("mediapipe_config_list") or []:
        name = item["name"]
        if name in taken:
            problems[name] = f"the name is taken by {taken[name]} (MODEL_NAME_OCCUPIED)"
            continue
        taken[name] = "an earlier mediapipe_config_list entry"
        if "subconfig" in item:
            problems[name] = "subconfig is not supported"
            continue
        base = config_dir / item.get("base_path", name)
        graph = base / item.get("graph_path", "graph.pbtxt")
        try:
            configs.append(read_graph(name, graph))
        except GraphConfigError as error:
            problems[name] = str(error)
    return configs, problems


def _classic_names(raw: Mapping[str, Any]) -> dict[str, str]:
    """Names of config.json's models and pipelines, each with what it names."""
    taken: dict[str, str] = {}
    for entry in raw.get("model_config_list") or []:
        config = entry.get("config") if isinstance(entry, dict) else None
        if isinstance(config, dict) and isinstance(config.get("name"), str):
            taken[config["name"]] = "a model"
    for pipeline in raw.get("pipeline_config_list") or []:
        if isinstance(pipeline, dict) and isinstance(pipeline.get("name"), str):
            taken[pipeline["name"]] = "a pipeline"
    return taken
