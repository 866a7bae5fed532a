"""Keeps the served models in line with config.json and the model repositories, while serving.

Every ``poll_seconds`` (and on demand, for ``POST /v1/config/reload``): if config.json's content
changed (MD5 of its bytes, not its timestamp), the new config is validated and applied as a
whole, or not at all; then every configured model's repository is listed and versions load and
retire by the version policy. A config that does not validate leaves everything as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from ovms_cli.config.problems import quote
from ovms_cli.config.server_config import ConfigError, ServerConfig, load_config
from ovms_cli.errors import PreconditionFailed
from ovms_cli.servables.manager import ModelManager

log = logging.getLogger("ovms.modelmanager")


class ConfigReloadError(PreconditionFailed):
    def __init__(self, problems: str) -> None:
        super().__init__("Reloading config file failed", problems)


class ModelsFailedToLoad(PreconditionFailed):
    """A reload applied, but some configured models do not serve as configured (spec §2.9, §4.6).

    412 like a refused config: the server's files, not the (empty) request, are at fault.
    """

    def __init__(self, problems: dict[str, list[str]]) -> None:
        failed = "; ".join(f"model {quote(name)}: {', '.join(why)}" for name, why in problems.items())
        super().__init__("Reloading models failed", f"{failed}; the other models are served as configured")


class Watcher:
    def __init__(self, manager: ModelManager, config_path: Path | None, poll_seconds: float) -> None:
        self._manager = manager
        self._config_path = config_path
        self.poll_seconds = poll_seconds
        self._digest: str | None = None
        self._last_failed = False
        self._applied = False  # this pass applied a changed config (``also_sync`` is not needed)
        self._lock = asyncio.Lock()
        self.also_apply: Callable[[ServerConfig], Awaitable[bool]] | None = None  # e.g. generative models
        # Every pass after the config: e.g. generative models' graph.pbtxt files read again; the
        # argument says whether to retry what failed as it is (True for the reload API).
        self.also_sync: Callable[[bool], Awaitable[bool]] | None = None

    def mark_loaded(self, content: bytes) -> None:
        """Record the config that the initial load used."""
        self._digest = hashlib.md5(content).hexdigest()

    async def run(self) -> None:
        log.info("Started model manager thread")
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.check(raise_errors=False)
            except Exception:
                log.exception("Watcher pass failed; serving continues")

    async def check(self, *, raise_errors: bool = True) -> bool:
        """One pass: config first, then versions. True if anything was loaded or retired.

        With ``raise_errors`` (the reload API), raises ``ConfigReloadError`` for a config that does not
        validate and ``ModelsFailedToLoad`` when a configured model does not serve as configured.
        """
        async with self._lock:
            changed = False
            self._applied = False
            if self._config_path is not None:
                changed = await self._reload_config(raise_errors)
            changed = await self._manager.sync_versions() or changed
            if self.also_sync is not None and not self._applied:
                changed = await self.also_sync(raise_errors) or changed
            problems = self._manager.load_problems() if raise_errors else {}
            if problems:
                raise ModelsFailedToLoad(problems)
            return changed

    async def _reload_config(self, raise_errors: bool) -> bool:
        assert self._config_path is not None
        try:
            content = await asyncio.to_thread(self._config_path.read_bytes)
        except OSError as error:
            return self._failed(f"Config file not found or cannot open: {error}", raise_errors)
        digest = hashlib.md5(content).hexdigest()
        if digest == self._digest and not self._last_failed:
            return False
        try:
            config = await asyncio.to_thread(load_config, self._config_path, check_paths=False)
        except ConfigError as error:
            self._digest = digest
            return self._failed("; ".join(str(p) for p in error.problems), raise_errors)
        self._digest, self._last_failed = digest, False
        log.info("Configuration file %s changed: applying it", self._config_path)
        changed = await self._manager.apply(
            config.models, pipelines=config.pipelines, libraries=config.libraries, base_dir=config.base_dir
        )
        if self.also_apply is not None:
            changed = await self.also_apply(config) or changed
            self._applied = True
        return changed

    def _failed(self, why: str, raise_errors: bool) -> bool:
        if not self._last_failed or raise_errors:
            log.error(
                "Configuration file %s is not valid; the served models stay as they are: %s",
                self._config_path,
                why,
            )
        self._last_failed = True
        if raise_errors:
            raise ConfigReloadError(why)
        return False
