"""Reading and checking a whole config.json (spec §2.1, §2.9, §2.11)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ovms_cli.config.model_config import ModelConfig, model_config_from_dict
from ovms_cli.config.names import name_problem
from ovms_cli.config.problems import ConfigError, Problem, json_path, quote, schema_problems
from ovms_cli.config.schema import CONFIG_SCHEMA
from ovms_cli.repository.versions import discover_versions
from ovms_cli.servables.pipelines.definition import CustomNodeLibraryConfig, PipelineDefinition, parse_config

__all__ = ["ConfigError", "Problem", "ServerConfig", "load_config"]

_SECTIONS = tuple(CONFIG_SCHEMA["properties"])
_SECTION_ITEM = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")
_PARSE_ATTEMPTS = 3
_PARSE_RETRY_DELAY_S = 0.010


@dataclass(frozen=True)
class ServerConfig:
    models: tuple[ModelConfig, ...]
    source: Path | None
    raw: Mapping[str, Any]  # the whole file, for the parts (monitoring, ...) parsed elsewhere
    pipelines: tuple[PipelineDefinition, ...] = ()
    libraries: tuple[CustomNodeLibraryConfig, ...] = ()  # base_path absolute (relative: to the config dir)

    @property
    def base_dir(self) -> Path | None:
        """Where relative paths of the file resolve (Python node files)."""
        return None if self.source is None else self.source.parent


def load_config(path: Path, *, check_paths: bool = True) -> ServerConfig:
    """Read, validate and parse config.json; raise ``ConfigError`` listing every problem found.

    With ``check_paths`` every local ``base_path`` must be a directory holding a numeric version folder.
    """
    raw = _read_json(path)
    problems = schema_problems(raw, CONFIG_SCHEMA)
    models: list[ModelConfig] = []
    if isinstance(raw, dict) and isinstance(raw.get("model_config_list"), list):
        items: list[Any] = raw["model_config_list"]
        models = _parse_models(items, path.absolute().parent, problems, check_paths)
        problems.extend(_duplicate_names(items))
    pipelines: list[PipelineDefinition] = []
    libraries: list[CustomNodeLibraryConfig] = []
    if isinstance(raw, dict):
        problems.extend(_servable_name_problems(raw, problems))
        pipelines, libraries = _parse_pipelines(raw, path.absolute().parent, problems)
    if problems:
        raise ConfigError(sorted(problems, key=_document_position))
    return ServerConfig(
        models=tuple(models),
        source=path.absolute(),
        raw=raw,
        pipelines=tuple(pipelines),
        libraries=tuple(libraries),
    )


def _parse_pipelines(
    raw: dict[str, Any], config_dir: Path, problems: list[Problem]
) -> tuple[list[PipelineDefinition], list[CustomNodeLibraryConfig]]:
    """Pipelines and custom node libraries (spec §2.6, §2.7), once the schema accepted their sections.

    Graph rules (§8.6) need the models: the server checks them at load, ``validate-config`` too.
    """
    sections = ("pipeline_config_list", "custom_node_library_config_list")
    if any(_is_under(p.path, s) for p in problems for s in sections):
        return [], []
    pipelines, libraries, found = parse_config(raw)
    problems.extend(Problem(p.path, p.message) for p in found)
    return pipelines, [replace(lib, base_path=str(config_dir / lib.base_path)) for lib in libraries]


def _parse_models(
    items: list[Any], config_dir: Path, problems: list[Problem], check_paths: bool
) -> list[ModelConfig]:
    """The models whose items passed the schema; their own problems are added to ``problems``."""
    models: list[ModelConfig] = []
    for index, item in enumerate(items):
        item_path = f"model_config_list[{index}]"
        if any(_is_under(p.path, item_path) for p in problems):
            continue
        config_path = f"{item_path}.config"
        try:
            model = model_config_from_dict(item["config"], config_dir, config_path)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        models.append(model)
        if check_paths:
            problems.extend(_base_path_problems(model, json_path(config_path, ["base_path"])))
    return models


def _read_json(path: Path) -> Any:
    """Parse the file, retrying briefly in case it is being written."""
    for attempt in range(1, _PARSE_ATTEMPTS + 1):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError([Problem("$", f"cannot read {path}: {error.strerror or error}")]) from None
        except RecursionError:
            raise ConfigError([Problem("$", f"{path}: JSON nested too deeply to read")]) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            if attempt == _PARSE_ATTEMPTS:
                raise ConfigError([Problem("$", _decode_message(error))]) from None
            time.sleep(_PARSE_RETRY_DELAY_S)
    raise AssertionError("unreachable")


def _decode_message(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno} (char {error.pos})"
    return f"not valid UTF-8 text: {error}"


def _document_position(problem: Problem) -> tuple[int, int]:
    """Root problems first, then by section in schema order and item index (the sort is stable)."""
    match = _SECTION_ITEM.match(problem.path)
    if match is None:
        return (-1, 0) if problem.path == "$" else (len(_SECTIONS), 0)
    section, index = match.groups()
    rank = _SECTIONS.index(section) if section in _SECTIONS else len(_SECTIONS)
    return rank, int(index or 0)


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _duplicate_names(items: list[Any]) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, item in enumerate(items):
        config = item.get("config") if isinstance(item, dict) else None
        name = config.get("name") if isinstance(config, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            yield Problem(f"model_config_list[{index}].config.name", f"duplicate model name {quote(name)}")
        seen.add(name)


_NAMED_SECTIONS = ("pipeline_config_list", "mediapipe_config_list")


def _servable_name_problems(raw: dict[str, Any], found: list[Problem]) -> Iterator[Problem]:
    """Pipeline and MediaPipe graph names follow the model name rule (``names``); items the schema
    already refused are left to its report."""
    for section in _NAMED_SECTIONS:
        items = raw.get(section)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            where = f"{section}[{index}].name"
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or any(p.path == where for p in found):
                continue
            problem = name_problem(name)
            if problem is not None:
                yield Problem(where, problem)


def _base_path_problems(model: ModelConfig, where: str) -> list[Problem]:
    if model.is_remote:
        return []
    base = Path(model.base_path)
    if not base.exists():
        return [Problem(where, f"directory {base} does not exist")]
    if not base.is_dir():
        return [Problem(where, f"{base} is not a directory")]
    if not discover_versions(base):
        return [Problem(where, f"no numeric version folder in {base}")]
    return []
