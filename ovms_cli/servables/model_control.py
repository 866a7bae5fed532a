"""Model control: which models serve, and the KServe v2 repository extension over them.

``--model_control_mode`` (Triton's ``--model-control-mode``, the KServe v2 repository extension):

* ``none`` (default): the served set is the one start-up was given (config.json, with its reloads,
  ``--model_name``/``--model_path``, or every model under ``--model_repository_path``). The index
  lists it; load and unload are refused with ``ModelControlDisabled`` (412 / FAILED_PRECONDITION:
  the server was started so; retrying does not help, unlike Triton's UNAVAILABLE).
* ``explicit``: models serve only when loaded, at start (``--load_model``) or through
  ``load``; ``unload`` retires them. A model is found by name among config.json's entries (read
  again at every load and index, not polled: an edited entry applies at its next load), else as
  ``--model_repository_path/NAME`` with numbered version folders (spec §3.1). Loaded models'
  version folders keep being followed as in OVMS (``--file_system_poll_wait_seconds``).

Every change goes through ``ModelManager.apply`` with the whole set that should serve, so a load
compiles beside what serves and an unload retires the model's versions once their in-flight
requests finish: UNLOADING, then END (kept listed); requests after the unload began get NOT_FOUND.

DAG pipelines (config.json's ``pipeline_config_list`` and custom node libraries, read at start-up
and again at every load and unload) are not under model control: load and unload of a pipeline's name are refused with ``PipelineNotUnderControl`` (412 /
FAILED_PRECONDITION, as ``ModelControlDisabled``: what is a pipeline is the config file's choice).
A pipeline follows the models it uses, as on a config reload (``PipelineRegistry.refresh`` after
every change): it serves once they are all loaded, and is listed UNAVAILABLE with the reason while
one is not, whatever ``unload_dependents`` says (Triton's ensembles are loaded explicitly instead).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from ovms_cli.config.model_config import ModelConfig, model_config_from_dict
from ovms_cli.config.names import name_problem
from ovms_cli.config.problems import ConfigError, quote
from ovms_cli.config.server_config import ServerConfig, load_config
from ovms_cli.errors import InvalidInput, ModelNotFound, PreconditionFailed
from ovms_cli.repository.versions import discover_versions
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.watcher import Watcher
from ovms_cli.types import RepositoryEntry, State, VersionStatus

log = logging.getLogger("ovms.modelmanager")

READY = "READY"
LOADING = "LOADING"
UNLOADING = "UNLOADING"
UNAVAILABLE = "UNAVAILABLE"
NOT_LOADED = "not loaded"
UNLOADED = "unloaded"
LOAD_CONFIG = "config"  # where problems of a load request's config are located: config.nireq, ...


class ControlMode(StrEnum):
    NONE = "none"
    EXPLICIT = "explicit"


class ModelControlDisabled(PreconditionFailed):
    def __init__(self) -> None:
        super().__init__(
            "Model control is disabled",
            "the server serves the models it was started with; start it with "
            "--model_control_mode explicit to load and unload models",
        )


class PipelineNotUnderControl(PreconditionFailed):
    def __init__(self, name: str) -> None:
        super().__init__(
            "Pipelines are not under model control",
            f"name: {name}; a pipeline serves while every model it uses is loaded: load or unload those",
        )


class ModelLoadFailed(PreconditionFailed):
    """The model's files do not serve (412 like a failed config reload: the server's files are at fault)."""

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        super().__init__("Model failed to load", f"name: {name}; {'; '.join(problems)}")


class ConfigFileInvalid(PreconditionFailed):
    def __init__(self, path: Path, problems: str) -> None:
        super().__init__("Reading the config file failed", f"{path}: {problems}")


class ConfigReloadOff(PreconditionFailed):
    def __init__(self) -> None:
        super().__init__(
            "Config reload is off in explicit model control mode",
            "config.json is read at every load: POST /v2/repository/models/{name}/load",
        )


def check_model_name(name: str) -> None:
    """Raise ``InvalidInput`` unless ``name`` is a servable name (``config.names``): no ``/``, not ``..``."""
    problem = name_problem(name)
    if problem is None and "\x00" in name:
        problem = "must not contain a NUL character"
    if problem is not None:
        raise InvalidInput("Invalid model name", f"{quote(name)} {problem}")


class ModelSources:
    """Where explicit mode finds models by name: config.json's entries first, then the repository.

    Reads files: call from a thread when serving.
    """

    def __init__(self, repository: Path | None = None, config_path: Path | None = None) -> None:
        self.repository = None if repository is None else repository.absolute()
        self.config_path = config_path

    def find(self, name: str) -> ModelConfig:
        """The configuration ``name`` loads with. Raises ModelNotFound, ConfigFileInvalid."""
        found = self._config_entries().get(name) or self._repository_model(name)
        if found is None:
            raise ModelNotFound(name)
        return found

    def names(self) -> set[str]:
        """Every model name a load can find; a config file that does not read is logged and skipped."""
        try:
            names = set(self._config_entries())
        except ConfigFileInvalid as error:
            log.warning("Model index without the config file's models: %s", error.message)
            names = set()
        return names | set(self._repository_names())

    def config(self) -> ServerConfig | None:
        """config.json as it reads now (None without one). Raises ConfigFileInvalid."""
        if self.config_path is None:
            return None
        try:
            return load_config(self.config_path, check_paths=False)
        except ConfigError as error:
            raise ConfigFileInvalid(self.config_path, "; ".join(str(p) for p in error.problems)) from error

    def _config_entries(self) -> dict[str, ModelConfig]:
        config = self.config()
        return {} if config is None else {model.name: model for model in config.models}

    def _repository_model(self, name: str) -> ModelConfig | None:
        if self.repository is None:
            return None
        base = self.repository / name
        try:
            is_model = base.is_dir()
        except OSError:  # a name too long for the file system
            return None
        return ModelConfig(name=name, base_path=str(base)) if is_model else None

    def _repository_names(self) -> Iterable[str]:
        """Folders of the repository holding a numbered version folder, usable as model names."""
        if self.repository is None:
            return ()
        try:
            folders = [f for f in self.repository.iterdir() if f.is_dir() and not f.name.startswith(".")]
        except OSError as error:
            log.warning("Cannot list --model_repository_path %s: %s", self.repository, error)
            return ()
        return [f.name for f in folders if name_problem(f.name) is None and discover_versions(f)]


class ModelControl:
    """The repository extension's operations over a ``ModelManager`` (transport-free)."""

    def __init__(
        self,
        manager: ModelManager,
        mode: ControlMode = ControlMode.NONE,
        sources: ModelSources | None = None,
        loaded: Sequence[ModelConfig] = (),
    ) -> None:
        """``loaded``: what start-up loads (explicit mode: the ``--load_model`` models)."""
        self._manager = manager
        self.mode = mode
        self._sources = sources or ModelSources()
        self._loaded = {config.name: config for config in loaded}
        self._loading: set[str] = set()
        self._failures: dict[str, str] = {}  # explicit mode: why the last load of a model failed
        self._lock = asyncio.Lock()

    @property
    def manager(self) -> ModelManager:
        """The manager whose served set this drives."""
        return self._manager

    async def index(self, ready_only: bool = False) -> list[RepositoryEntry]:
        """Every model the server serves, served, or (explicit mode) can load, by name then version."""
        known = set(self._manager.names())
        if self.mode is ControlMode.EXPLICIT:
            known |= await asyncio.to_thread(self._sources.names)
        entries = [entry for name in sorted(known) for entry in self._entries(name)]
        return [e for e in entries if e.state == READY] if ready_only else entries

    def _entries(self, name: str) -> list[RepositoryEntry]:
        statuses = self._manager.model_status(name, None) if self._manager.has(name) else ()
        if statuses:
            return [_entry(name, status) for status in statuses]
        if name in self._loading:
            return [RepositoryEntry(name, None, LOADING)]
        if not self._manager.has(name):
            return [RepositoryEntry(name, None, UNAVAILABLE, self._failures.get(name, NOT_LOADED))]
        problems = self._manager.load_problems().get(name) or ["no version to serve"]
        return [RepositoryEntry(name, None, UNAVAILABLE, "; ".join(problems))]

    async def load(self, name: str, config_json: str | None = None) -> None:
        """Load (or reload with a new config) ``name``; returns once it serves.

        ``config_json``: a JSON object of OVMS model options, as a ``model_config_list[].config`` of
        config.json (spec §2); ``name`` and ``base_path`` come from where the model was found.
        Raises ModelControlDisabled, InvalidInput (a bad name or config, the field named),
        PipelineNotUnderControl (``name`` is a pipeline's and no model's), ModelNotFound,
        ConfigFileInvalid, ModelLoadFailed (nothing serves: it stays unloaded; a reload that fails
        keeps the previous versions serving).
        """
        self._require_explicit()
        check_model_name(name)
        async with self._lock:
            found = await self._find(name)
            config = found if config_json is None else load_request_config(config_json, found)
            previous = self._loaded.get(name)
            log.info("Loading model %s from %s", name, config.base_path)
            self._loaded[name] = config
            self._loading.add(name)
            try:
                await self._apply()
            finally:
                self._loading.discard(name)
            problems = self._load_problems(name)
            if not problems:
                self._failures.pop(name, None)
                return
            if previous is None:
                del self._loaded[name]
            else:  # back to the config that served: a reload that fails keeps the model serving
                self._loaded[name] = previous
            await self._apply()
            self._failures[name] = "; ".join(problems)
            raise ModelLoadFailed(name, problems)

    async def unload(self, name: str, unload_dependents: bool = False) -> None:
        """Retire every version of ``name``; returns once their in-flight requests finished (END).

        Unloading a model that is not loaded does nothing, as in Triton. ``unload_dependents``:
        the pipelines using the model become unavailable with either value (they follow their
        models; they are not under control). Raises ModelControlDisabled, InvalidInput (a bad
        name), PipelineNotUnderControl (``name`` is a pipeline's), ModelNotFound.
        """
        self._require_explicit()
        check_model_name(name)
        async with self._lock:
            if name not in self._loaded:
                if self._manager.is_pipeline(name):
                    raise PipelineNotUnderControl(name)
                if not self._manager.has(name) and name not in await asyncio.to_thread(self._sources.names):
                    raise ModelNotFound(name)
                log.info("Model %s is not loaded: nothing to unload", name)
                return
            log.info("Unloading model %s (dependents requested: %s)", name, unload_dependents)
            del self._loaded[name]
            self._failures.pop(name, None)
            await self._apply()

    async def _find(self, name: str) -> ModelConfig:
        """A model's config by name (a model may share a pipeline's name and then takes it over)."""
        try:
            return await asyncio.to_thread(self._sources.find, name)
        except ModelNotFound:
            if self._manager.is_pipeline(name):
                raise PipelineNotUnderControl(name) from None
            raise

    def _require_explicit(self) -> None:
        if self.mode is not ControlMode.EXPLICIT:
            raise ModelControlDisabled()

    async def _apply(self) -> None:
        """Serve the loaded models, and config.json's pipelines as it reads now (one that does not
        read keeps the current pipelines: an unload must not fail on it)."""
        models = tuple(self._loaded.values())
        try:
            config = await asyncio.to_thread(self._sources.config)
        except ConfigFileInvalid as error:
            log.warning("Pipelines kept as they were: %s", error.message)
            config = None
        if config is None:
            await self._manager.apply(models)
            return
        await self._manager.apply(
            models, pipelines=config.pipelines, libraries=config.libraries, base_dir=config.base_dir
        )

    def _load_problems(self, name: str) -> list[str]:
        problems = self._manager.load_problems().get(name, [])
        if not self._manager.model(name).available_versions():
            return problems or [f"no version to serve in {self._loaded[name].base_path}"]
        return problems


def _entry(name: str, status: VersionStatus) -> RepositoryEntry:
    """A version's OVMS state (spec §3.3) in Triton's index spelling."""
    if status.error_code != 0:
        return RepositoryEntry(name, status.version, UNAVAILABLE, status.reason)
    if status.state is State.AVAILABLE:
        return RepositoryEntry(name, status.version, READY)
    if status.state is State.UNLOADING:
        return RepositoryEntry(name, status.version, UNLOADING)
    if status.state is State.END:
        return RepositoryEntry(name, status.version, UNAVAILABLE, UNLOADED)
    return RepositoryEntry(name, status.version, LOADING)


def load_request_config(config_json: str, found: ModelConfig) -> ModelConfig:
    """A load request's config (a JSON object of config.json model options) for the model ``found``.

    Validated with config.json's model schema; problems are located under ``config``
    (``config.nireq: must be >= 0``). ``name`` and ``base_path`` may be given only as found: a load
    names a model, it does not move it. Raises InvalidInput.
    """
    try:
        options: Any = json.loads(config_json)
    except json.JSONDecodeError as error:
        raise InvalidInput("Invalid model config", f"{LOAD_CONFIG}: not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidInput("Invalid model config", f"{LOAD_CONFIG}: JSON nested too deeply") from None
    if not isinstance(options, dict):
        raise InvalidInput("Invalid model config", f"{LOAD_CONFIG}: expected a JSON object of model options")
    for key, value in (("name", found.name), ("base_path", found.base_path)):
        if key in options and options[key] != value:
            raise InvalidInput(
                "Invalid model config",
                f"{LOAD_CONFIG}.{key}: must be {quote(value)} (where the model was found) or left out",
            )
    options = {**options, "name": found.name, "base_path": found.base_path}
    try:
        return model_config_from_dict(options, Path(found.base_path).parent, LOAD_CONFIG)
    except ConfigError as error:
        raise InvalidInput("Invalid model config", "; ".join(str(p) for p in error.problems)) from None


def initial_models(sources: ModelSources, names: Sequence[str]) -> tuple[ModelConfig, ...]:
    """The configs of ``--load_model`` names (``*``: every model the sources hold), for start-up.

    Raises InvalidInput, ModelNotFound, ConfigFileInvalid.
    """
    if "*" in names:
        names = sorted(sources.names())
    for name in names:
        check_model_name(name)
    return tuple(sources.find(name) for name in dict.fromkeys(names))


def repository_models(repository: Path) -> tuple[ModelConfig, ...]:
    """Every model under ``repository`` with default options: ``none`` mode's ``--model_repository_path``."""
    sources = ModelSources(repository)
    return tuple(sources.find(name) for name in sorted(sources.names()))


class ExplicitModeWatcher(Watcher):
    """Explicit mode's watcher: loaded models' versions are followed; config.json is not polled, and
    ``POST /v1/config/reload`` (the API's ``check``) is refused with ``ConfigReloadOff``."""

    def __init__(self, manager: ModelManager, poll_seconds: float) -> None:
        super().__init__(manager, None, poll_seconds)

    async def check(self, *, raise_errors: bool = True) -> bool:
        if raise_errors:
            raise ConfigReloadOff()
        return await super().check(raise_errors=False)
