"""A named model: its versions, the version policy, and which version serves by default.

``sync`` brings the served versions in line with the repository and the policy: versions that
appear (complete, and unchanged since the previous look) load; versions the policy no longer
selects, or whose folder disappeared, retire once their in-flight requests finish and stay
listed as END. A listing that fails changes nothing, and a version that failed to load is tried
again only when its files change.
"""

from __future__ import annotations

import asyncio
import logging

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import NotReady, VersionNotFound
from ovms_cli.repository.source import RepositoryError, VersionEntry, open_source
from ovms_cli.servables.model_loader import Runtime
from ovms_cli.servables.model_version import ModelVersion
from ovms_cli.types import State

log = logging.getLogger("ovms.modelmanager")

# OVMS's REQUESTED_MODEL_TYPE_CHANGE (spec §9.1): unload the model (remove it from the config) first.
STATEFUL_FLAG_CHANGED = "the stateful flag cannot change while the model is loaded"


class Model:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.name = config.name
        self.versions: dict[int, ModelVersion] = {}
        self.source = open_source(config.base_path)
        self._seen: dict[int, str] = {}  # fingerprints at the previous listing
        self._failed: dict[int, str] = {}  # fingerprint of the files a version failed to load from
        self.listing_error: str | None = None  # why the last look at the repository failed
        self._kept: dict[int, str] = {}  # versions serving their old config: why the new one failed

    async def sync(self, runtime: Runtime, *, initial: bool = False) -> bool:
        """Load and retire versions; True if anything changed. ``initial``: trust the first listing."""
        try:
            listed = await asyncio.to_thread(self.source.list_versions)
        except RepositoryError as error:
            log.error("Model %s: listing versions failed, keeping what is served: %s", self.name, error)
            self.listing_error = str(error)
            return False
        self.listing_error = None
        candidates = self._candidates(listed, initial)
        self._seen = {v: entry.fingerprint for v, entry in listed.items()}
        changed = False
        while True:
            wanted = set(self.config.version_policy.select(candidates))
            pending = sorted((v for v in wanted if not self._serving(v)), reverse=True)
            if not pending:
                break
            for number in pending:
                changed = True
                if not await self._load_version(runtime, number):
                    self._failed[number] = listed[number].fingerprint
                    candidates.remove(number)
        for number in [
            v for v, mv in self.versions.items() if mv.state is State.AVAILABLE and v not in wanted
        ]:
            await self.versions[number].retire()
            changed = True
        return changed

    def _candidates(self, listed: dict[int, VersionEntry], initial: bool) -> list[int]:
        out = []
        for number, entry in listed.items():
            stable = initial or self._seen.get(number) == entry.fingerprint or self._serving(number)
            if entry.complete and stable and self._failed.get(number) != entry.fingerprint:
                out.append(number)
        return out

    def _serving(self, number: int) -> bool:
        version = self.versions.get(number)
        return (
            version is not None
            and version.state in (State.START, State.LOADING, State.AVAILABLE)
            and (version.status.error_code == 0)
        )

    async def _load_version(self, runtime: Runtime, number: int) -> bool:
        """Load a version nothing serves (new, retired or failed); it shows START/LOADING meanwhile."""
        version = ModelVersion(self.name, number, self.source, self.config)
        self.versions[number] = version
        await asyncio.to_thread(version.load, runtime)
        return version.state is State.AVAILABLE

    async def reconfigure(self, runtime: Runtime, config: ModelConfig) -> bool:
        """Apply a new config of the same model. Served versions reload beside the old ones and swap
        in when ready; a version that fails to reload keeps serving with its old config."""
        reload_needed = _reload_keys(config) != _reload_keys(self.config)
        self._kept = {}
        if config.stateful != self.config.stateful and self.available_versions():
            log.error(
                "Model %s: %s; it keeps serving with its previous config", self.name, STATEFUL_FLAG_CHANGED
            )
            self._kept = dict.fromkeys(self.available_versions(), STATEFUL_FLAG_CHANGED)
            return False
        if not reload_needed:
            self.config = config
            return await self.sync(runtime)
        self.config = config
        changed = False
        for number in list(self.available_versions()):
            changed = True
            if not await self._reload_version(runtime, number, config):
                log.error("Model %s version %d keeps serving with its previous config", self.name, number)
        return await self.sync(runtime) or changed

    def forget_refused_config(self) -> None:
        """The config the versions serve is the wanted one again: a refused or failed new config (kept
        versions, ``problems``) is no longer a problem."""
        self._kept = {}

    async def _reload_version(self, runtime: Runtime, number: int, config: ModelConfig) -> bool:
        version = ModelVersion(self.name, number, self.source, config)
        await asyncio.to_thread(version.load, runtime)
        if version.state is not State.AVAILABLE:
            self._kept[number] = version.status.reason
            return False
        previous = self.versions[number]
        self.versions[number] = version
        await previous.retire(release=False)
        return True

    async def retire(self) -> None:
        """The model left the configuration: every version ends (one that failed to load too, as OVMS
        lists retired models), and stays listed."""
        for version in list(self.versions.values()):
            if version.state < State.UNLOADING:
                await version.retire()

    def unload(self) -> None:
        for version in self.versions.values():
            if version.state is State.AVAILABLE:
                version.unload()

    def problems(self) -> list[str]:
        """Why the repository or a listed version does not serve as configured, one line each."""
        if self.listing_error is not None:
            return [self.listing_error]
        failed = [
            f"version {n}: {v.status.reason}"
            for n, v in sorted(self.versions.items())
            if v.status.error_code != 0 and n in self._seen and n not in self._kept
        ]
        kept = [f"version {n} keeps its previous config: {why}" for n, why in sorted(self._kept.items())]
        return failed + kept

    def available_versions(self) -> tuple[int, ...]:
        return tuple(sorted(n for n, v in self.versions.items() if v.state is State.AVAILABLE))

    def version(self, number: int | None) -> ModelVersion:
        """The requested version (None: the highest AVAILABLE one), in whatever state it is."""
        if number is None:
            available = self.available_versions()
            if available:
                return self.versions[available[-1]]
            if any(v.state <= State.LOADING and v.status.error_code == 0 for v in self.versions.values()):
                raise NotReady("Model with requested version is not loaded yet", f"name: {self.name}")
            raise VersionNotFound(self.name, None)
        found = self.versions.get(number)
        if found is None:
            raise VersionNotFound(self.name, number)
        return found


def _reload_keys(config: ModelConfig) -> tuple[object, ...]:
    """Everything but the version policy: a change to any of these reloads the versions (spec §3.4)."""
    return (
        config.base_path,
        config.batch_size,
        repr(config.shape),
        repr(config.layout),
        config.nireq,
        config.target_device,
        tuple(sorted(config.plugin_config.items())),
        config.allow_cache,
        config.stateful,
        config.idle_sequence_cleanup,
        config.low_latency_transformation,
        config.max_sequence_number,
        config.dynamic_batching,
    )
