"""A named model: its versions, the version policy, and which version serves by default."""

from __future__ import annotations

import logging

import openvino as ov

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import NotReady, VersionNotFound
from ovms_cli.repository.source import RepositoryError, open_source
from ovms_cli.servables.model_version import ModelVersion
from ovms_cli.servables.states import State

log = logging.getLogger("ovms.modelmanager")


class Model:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.name = config.name
        self.versions: dict[int, ModelVersion] = {}
        self.source = open_source(config.base_path)

    def load(self, core: ov.Core) -> None:
        """Blocking: load the versions the policy selects, falling back past versions that fail."""
        try:
            listed = self.source.list_versions()
        except RepositoryError as error:
            log.error("Model %s: %s", self.name, error)
            return
        present = [v for v, entry in listed.items() if entry.complete]
        failed: set[int] = set()
        while True:
            wanted = self.config.version_policy.select(v for v in present if v not in failed)
            pending = [v for v in wanted if self._state(v) is None]
            if not pending:
                return
            for number in pending:
                version = ModelVersion(self.name, number, self.source, self.config)
                self.versions[number] = version
                version.load(core)
                if version.state is not State.AVAILABLE:
                    failed.add(number)

    def _state(self, number: int) -> State | None:
        version = self.versions.get(number)
        return None if version is None else version.state

    def unload(self) -> None:
        for version in self.versions.values():
            if version.state is State.AVAILABLE:
                version.unload()

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
