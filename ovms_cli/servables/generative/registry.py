"""The generative servables a server holds, beside ``ModelManager``'s classic ones.

Loaded from ``mediapipe_config_list`` graphs or ``--source_model``; a reload loads new and changed
entries beside the serving ones and swaps (a failing entry keeps the previous one serving and is
reported), and retires removed ones. The ``/v3`` routes resolve names here; an unknown name is 404.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import openvino as ov

from ovms_cli.errors import NotFound, ServingError
from ovms_cli.servables.generative.embeddings import EmbeddingsServable
from ovms_cli.servables.generative.graph_config import GenerativeConfig, Task
from ovms_cli.servables.generative.rerank import RerankServable
from ovms_cli.servables.generative.text_generation import TextGenerationServable

log = logging.getLogger("ovms.genai")

RETIRE_POLL_S = 0.05

GenerativeServable = TextGenerationServable | EmbeddingsServable | RerankServable


class GenerativeModelNotFound(NotFound):
    """OVMS's message for an unknown graph (genai-spec §1.3)."""

    def __init__(self, name: str) -> None:
        super().__init__("Mediapipe graph definition with requested name is not found", f"name: {name}")


class WrongTask(ServingError):
    """A model addressed on an endpoint of another task (e.g. embeddings on /v3/chat/completions)."""

    http_status = 400


@dataclass(slots=True)
class Served:
    servable: GenerativeServable
    created: int  # Unix seconds it was loaded: OpenAI's model ``created``


class GenerativeRegistry:
    def __init__(self, core: ov.Core) -> None:
        self._core = core
        self._served: dict[str, Served] = {}
        self.problems: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._retiring: dict[asyncio.Task[None], GenerativeServable] = {}
        self._failed: dict[str, GenerativeConfig] = {}  # the config each failing name last failed with

    async def apply(
        self, configs: Sequence[GenerativeConfig], keep: Collection[str] = (), *, retry_failed: bool = True
    ) -> bool:
        """Serve exactly ``configs`` (and what serves under a name in ``keep``). True if anything
        changed; failures are in ``problems``. ``retry_failed=False``: a config that failed as it is
        now is not loaded again (its problem stays reported)."""
        async with self._lock:
            changed = False
            previous, self.problems = self.problems, {}
            for config in configs:
                current = self._served.get(config.name)
                if current is not None and current.servable.config == config:
                    self._failed.pop(config.name, None)
                    continue
                if not retry_failed and self._failed.get(config.name) == config and config.name in previous:
                    self.problems[config.name] = previous[config.name]
                    continue
                try:
                    fresh = await asyncio.to_thread(self._build, config)
                except Exception as error:
                    log.error(
                        "Generative model %s failed to load from %s: %s",
                        config.name,
                        config.models_path,
                        error,
                    )
                    self.problems[config.name] = str(error)
                    self._failed[config.name] = config
                    continue
                self._failed.pop(config.name, None)
                fresh.start(asyncio.get_running_loop())
                self._served[config.name] = Served(fresh, int(time.time()))
                log.info(
                    "Generative model %s (%s) loaded from %s",
                    config.name,
                    config.task.value,
                    config.models_path,
                )
                if current is not None:
                    self._retire(current.servable)
                changed = True
            wanted = {c.name for c in configs} | set(keep)
            for name in [n for n in self._served if n not in wanted]:
                log.info("Generative model %s was removed from the configuration: unloading it", name)
                self._retire(self._served.pop(name).servable)
                changed = True
            return changed

    def _build(self, config: GenerativeConfig) -> GenerativeServable:
        if config.task is Task.TEXT_GENERATION:
            return TextGenerationServable(config)
        if config.task is Task.EMBEDDINGS:
            return EmbeddingsServable(config, self._core)
        return RerankServable(config)

    def resolve(self, name: str) -> GenerativeServable:
        found = self._served.get(name)
        if found is None:
            raise GenerativeModelNotFound(name)
        return found.servable

    def has(self, name: str) -> bool:
        return name in self._served

    def listing(self) -> list[tuple[str, int]]:
        """(name, created) of every served model, in load order."""
        return [(name, served.created) for name, served in self._served.items()]

    def text_generation(self) -> list[TextGenerationServable]:
        return [s.servable for s in self._served.values() if isinstance(s.servable, TextGenerationServable)]

    def _retire(self, servable: GenerativeServable) -> None:
        """Unload a replaced or removed servable once its in-flight requests finish (ARCHITECTURE §3)."""
        task = asyncio.create_task(self._unload_when_idle(servable))
        self._retiring[task] = servable
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def _unload_when_idle(self, servable: GenerativeServable) -> None:
        while isinstance(servable, TextGenerationServable) and not servable.engine.idle:
            await asyncio.sleep(RETIRE_POLL_S)
        await asyncio.to_thread(servable.close)
        log.info("Generative model %s retired from %s", servable.config.name, servable.config.models_path)

    def close(self) -> None:
        """Stop every generation, retiring ones included (shutdown), and unload."""
        for task, servable in list(self._retiring.items()):
            task.cancel()
            servable.close()
        for served in self._served.values():
            served.servable.close()
        self._served.clear()
