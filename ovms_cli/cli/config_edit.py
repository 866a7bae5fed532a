"""Adding a model to config.json and removing one, for shell scripts (OVMS 2025's config directives).

``ovms --add_to_config`` / ``ovms add-to-config`` appends ``{"config": {...}}`` to
``model_config_list`` (creating the file with that one model when it does not exist, as OVMS does);
a name already configured is refused. ``ovms --remove_from_config`` / ``ovms remove-from-config``
removes the model of that name; a missing file or name is refused, and so is a model a pipeline
uses. Every other key, pipeline and model stays as it was.

The file is replaced atomically: the new text goes to a temporary file in the same folder, is
fsynced and validated as ``ovms validate-config`` does (``load_config``), and only then renamed over
the old one, so a running server's watcher (``--file_system_poll_wait_seconds``) never reads half a
file, and an edit whose result is invalid writes nothing. An add checks every local ``base_path``
too (a missing folder would make a config the server's reload refuses with 412); a removal does
not, so a model whose folder is gone can still be taken out. Edits of one folder's config files are
serialised with an advisory lock on the folder, so two scripts adding models at once lose neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ovms_cli.config.problems import ConfigError, Problem
from ovms_cli.config.server_config import load_config

CONFIG_FILENAME = "config.json"


class EditError(Exception):
    """The edit was refused and nothing was written (exit 1); ``problems`` say why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def config_file(path: Path) -> Path:
    """The config file meant by ``path``: a folder means its config.json (OVMS 2025.0/2025.1 took one)."""
    return path / CONFIG_FILENAME if path.is_dir() else path


def add_model(config: Path, entry: Mapping[str, Any]) -> None:
    """Append ``entry`` (a ``model_config_list[].config`` object with ``name``) to ``config``."""
    with _folder_lock(config.parent):
        document = _read(config) if config.exists() else {"model_config_list": []}
        models = _model_list(document, config)
        if any(_name(item) == entry["name"] for item in models):
            raise EditError([f"{config}: a model named {json.dumps(entry['name'])} is already configured"])
        models.append({"config": dict(entry)})
        _replace(config, document, check_paths=True)


def remove_model(config: Path, name: str) -> None:
    """Remove the model called ``name`` from ``config``."""
    with _folder_lock(config.parent):
        if not config.is_file():
            raise EditError([f"{config}: no such config file"])
        document = _read(config)
        models = _model_list(document, config)
        index = next((i for i, item in enumerate(models) if _name(item) == name), None)
        if index is None:
            raise EditError([f"{config}: no model named {json.dumps(name)} to remove"])
        users = _pipelines_using(document, name)
        if users:
            raise EditError([f"{config}: model {json.dumps(name)} is used by pipeline(s) {', '.join(users)}"])
        del models[index]
        _replace(config, document, check_paths=False)


def _read(config: Path) -> dict[str, Any]:
    try:
        document = json.loads(config.read_text(encoding="utf-8"))
    except OSError as error:
        raise EditError([f"{config}: cannot read: {error.strerror or error}"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EditError([f"{config}: not valid JSON: {error}"]) from None
    if not isinstance(document, dict):
        raise EditError([f"{config}: expected a JSON object"])
    return document


def _model_list(document: dict[str, Any], config: Path) -> list[Any]:
    models = document.setdefault("model_config_list", [])
    if not isinstance(models, list):
        raise EditError([f"{config}: model_config_list: expected array"])
    return models


def _name(item: Any) -> Any:
    model = item.get("config") if isinstance(item, dict) else None
    return model.get("name") if isinstance(model, dict) else None


def _pipelines_using(document: Mapping[str, Any], model: str) -> list[str]:
    pipelines = document.get("pipeline_config_list")
    if not isinstance(pipelines, list):
        return []
    return [
        str(pipeline.get("name"))
        for pipeline in pipelines
        if isinstance(pipeline, dict)
        and any(isinstance(n, dict) and n.get("model_name") == model for n in pipeline.get("nodes") or [])
    ]


def _replace(config: Path, document: Mapping[str, Any], *, check_paths: bool) -> None:
    """Write, fsync and validate a temporary file beside ``config``, then rename it over ``config``."""
    text = json.dumps(document, indent=4, ensure_ascii=False) + "\n"
    handle, name = tempfile.mkstemp(prefix=f".{config.name}.", suffix=".tmp", dir=config.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        _validate(temporary, config, check_paths)
        if config.exists():
            os.chmod(temporary, config.stat().st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, config)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(config.parent)


def _validate(written: Path, config: Path, check_paths: bool) -> None:
    """The checks ``ovms validate-config`` makes (``check_paths``: local base paths exist too)."""
    try:
        load_config(written, check_paths=check_paths)
    except ConfigError as error:
        raise EditError(
            [f"{config}: the result would be invalid, nothing written:", *_lines(error.problems)]
        ) from None


def _lines(problems: list[Problem]) -> list[str]:
    return [f"  {problem}" for problem in problems]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open a folder and needs none."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` (POSIX flock); no lock where fcntl does not exist."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError as error:
        raise EditError([f"{folder}: cannot open the folder: {error.strerror or error}"]) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


_JSON_OBJECT_OPTIONS = ("model_version_policy", "plugin_config")
_PER_NAME_OR_SINGLE_OPTIONS = ("shape", "layout")


def config_entry(options: Mapping[str, Any]) -> dict[str, Any]:
    """``cli_model_options``'s result in config.json's spelling (spec §2.2).

    JSON texts (``--plugin_config '{"NUM_STREAMS": "1"}'``, ``--shape '{"in": "(1,3)"}'``) become
    objects and a numeric ``--batch_size`` an integer; other values are written as given. Call it
    on options that ``model_config_from_cli`` accepted: their JSON texts parse.
    """
    entry = dict(options)
    for key in _JSON_OBJECT_OPTIONS:
        if isinstance(entry.get(key), str):
            entry[key] = json.loads(entry[key])
    for key in _PER_NAME_OR_SINGLE_OPTIONS:
        value = entry.get(key)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            entry[key] = json.loads(value)
    batch = entry.get("batch_size")
    if isinstance(batch, str) and batch.isdigit():
        entry["batch_size"] = int(batch)
    return entry
