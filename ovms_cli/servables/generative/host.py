"""Where the server keeps its generative models: the registry is created (and OpenVINO GenAI
imported) only once a generative model is configured, so a classic server never imports it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openvino as ov

from ovms_cli.errors import InternalError
from ovms_cli.servables.generative.graph_config import GenerativeConfig, GraphConfigError, read_graph

if TYPE_CHECKING:
    from ovms_cli.servables.generative.registry import GenerativeRegistry


class GenerativeHost:
    def __init__(self, core: ov.Core) -> None:
        self._core = core
        self.registry: GenerativeRegistry | None = None
        self.config_problems: dict[str, str] = {}

    async def apply(self, configs: Sequence[GenerativeConfig]) -> bool:
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
        return await self.registry.apply(configs)

    async def apply_config(self, raw: Mapping[str, Any], config_dir: Path) -> bool:
        """Apply config.json's ``mediapipe_config_list`` (entries that do not parse are not served)."""
        configs, self.config_problems = configs_from_file(raw, config_dir)
        return await self.apply(configs)

    def problems(self) -> dict[str, str]:
        loaded = {} if self.registry is None else self.registry.problems
        return {**self.config_problems, **loaded}

    async def close(self) -> None:
        if self.registry is not None:
            await asyncio.to_thread(self.registry.close)


def configs_from_file(
    raw: Mapping[str, Any], config_dir: Path
) -> tuple[list[GenerativeConfig], dict[str, str]]:
    """``mediapipe_config_list: [{"name", "base_path", "graph_path"?}]``: each graph.pbtxt read.

    ``base_path`` is relative to config.json's folder; ``graph_path`` (default ``graph.pbtxt``) to
    ``base_path``, as in OVMS. Returns the configs and, by name, why the others were refused.
    """
    configs: list[GenerativeConfig] = []
    problems: dict[str, str] = {}
    for item in raw.get("mediapipe_config_list") or []:
        name = item["name"]
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
