"""``ovms --list_models --model_repository_path DIR`` (OVMS 2025) and ``ovms list-models``.

The servable models under a repository folder: every folder holding a numbered version folder
(spec §3.1), named by its path relative to the repository with ``/`` (``resnet``,
``meta/llama``), as OVMS prints them; folders without versions are searched further down.
OVMS also lists MediaPipe graph folders (``graph.pbtxt``); this server serves a graph folder given
to ``--model_path`` or listed in ``mediapipe_config_list``, but a repository's graph folders are not
listed or loaded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ovms_cli.repository.versions import discover_versions


@dataclass(frozen=True, slots=True)
class ListedModel:
    name: str  # relative to the repository, "/"-separated
    base_path: Path
    versions: tuple[int, ...]


class ListingError(Exception):
    """The repository folder cannot be listed (exit 1)."""


def list_models(repository: Path) -> list[ListedModel]:
    """The models under ``repository``, by name. Raises ``ListingError``."""
    if not repository.is_dir():
        raise ListingError(f"model_repository_path {repository} is not a directory")
    quiet = logging.getLogger("ovms.repository")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "No version found" for every plain folder is no news here
    try:
        return sorted(_walk(repository.absolute(), repository.absolute()), key=lambda m: m.name)
    finally:
        quiet.setLevel(level)


def _walk(root: Path, folder: Path) -> list[ListedModel]:
    found: list[ListedModel] = []
    for child in sorted(folder.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        versions = discover_versions(child)
        if versions:
            found.append(ListedModel(child.relative_to(root).as_posix(), child, tuple(versions)))
        else:
            found.extend(_walk(root, child))
    return found


def as_text(models: list[ListedModel]) -> str:
    """One name a line, as OVMS prints them."""
    return "".join(f"{model.name}\n" for model in models)


def as_json(repository: Path, models: list[ListedModel], error: str | None = None) -> str:
    """One JSON document, also when listing failed (as ``validate-config --json``):
    ``{"model_repository_path": str, "models": [{"name", "base_path", "versions"}], "error": str | null}``;
    ``models`` is empty when ``error`` is set.
    """
    document = {
        "model_repository_path": str(repository.absolute()),
        "models": [
            {"name": m.name, "base_path": str(m.base_path), "versions": list(m.versions)} for m in models
        ],
        "error": error,
    }
    return json.dumps(document, indent=2) + "\n"
