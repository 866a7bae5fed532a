"""Version folders of a local model base path and the model file inside one (spec §3.1, §3.2)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger("ovms.repository")

_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")
_INT64_MAX = 2**63 - 1


class RepositoryError(Exception):
    """A base path or version folder that cannot be served; ``message`` follows OVMS's texts."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def discover_versions(base_path: Path) -> list[int]:
    """The positive version numbers of the sub-directories of ``base_path``, ascending."""
    return sorted(version_directories(base_path))


def version_directories(base_path: Path) -> dict[int, Path]:
    """Version number → its folder.

    Folder names are read like C ``stoll`` (``1abc`` is version 1). When two folders read as the
    same number, the one spelled canonically (``1``) wins, else the first in name order.
    """
    if not base_path.is_dir():
        raise RepositoryError(f"The provided base path is invalid or doesn't exists: {base_path}")
    found: dict[int, Path] = {}
    for entry in sorted(base_path.iterdir()):
        if not entry.is_dir():
            continue
        version = _version_number(entry.name)
        if version is None:
            continue
        if version not in found or entry.name == str(version):
            found[version] = entry
    if not found:
        logger.warning("No version found for model in path: %s", base_path)
    return found


def _version_number(name: str) -> int | None:
    match = _LEADING_INTEGER.match(name)
    if match is None:
        logger.warning("Expected version directory name to be in number format. Got: %s", name)
        return None
    value = int(match.group(1))
    if value <= 0 or value > _INT64_MAX:
        return None
    return value


def find_model_file(version_dir: Path) -> Path:
    """The path to give to OpenVINO's ``read_model`` for one version folder.

    First match wins: IR ``.xml`` with the ``.bin`` of the same stem, ``.onnx``, ``.pdmodel`` with
    the ``.pdiparams`` of the same stem, ``saved_model.pb`` (the folder itself is returned), any
    other ``.pb``, ``.tflite``. Within one format the first file in name order is taken.
    """
    if not version_dir.is_dir():
        raise RepositoryError(f"The provided base path is invalid or doesn't exists: {version_dir}")
    name = model_file_name(entry.name for entry in version_dir.iterdir() if entry.is_file())
    if name is None:
        raise RepositoryError(f"File not found or cannot open: {version_dir}")
    return version_dir if name == SAVED_MODEL else version_dir / name


SAVED_MODEL = "saved_model.pb"


def model_file_name(file_names: Iterable[str]) -> str | None:
    """Which of a version folder's files holds the model (rules of ``find_model_file``), or None.

    Works on bare names so that remote listings can tell a complete version from a partial one.
    """
    names = sorted(file_names)
    present = set(names)
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if dot and suffix == "xml" and f"{stem}.bin" in present:
            return name
    for name in names:
        if name.endswith(".onnx"):
            return name
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if dot and suffix == "pdmodel" and f"{stem}.pdiparams" in present:
            return name
    if SAVED_MODEL in present:
        return SAVED_MODEL
    for suffix in (".pb", ".tflite"):
        for name in names:
            if name.endswith(suffix):
                return name
    return None
