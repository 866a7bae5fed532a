"""``mapping_config.json``: the public names of a version's tensors (spec §2.4).

The file renames tensors, ``{"inputs": {"<tensor name>": "<public name>"}, "outputs": {...}}``;
the public names are what every API shows and takes. A mapping must keep each name meaning one
tensor, so a load fails (naming both tensors) when two inputs, or two outputs, would share a public
name, or when a public name is another tensor's own name: ``shape``/``layout`` keys and clients
that still use the original name would then reach the wrong tensor. An input and an output may
share a name, as in OVMS.

Deliberate difference from OVMS (which logs and ignores an unreadable file): a file that is not
JSON, or whose sections or names are not strings, fails the load, so a mapping is never silently
dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAPPING_FILE = "mapping_config.json"
SECTIONS = ("inputs", "outputs")


class MappingError(Exception):
    """The mapping cannot be applied; the message names the file and the tensors."""


def read_mapping(version_dir: Path) -> dict[str, dict[str, str]]:
    """Both sections of the version's mapping (empty when there is no file). Raises MappingError."""
    path = version_dir / MAPPING_FILE
    mapping: dict[str, dict[str, str]] = {section: {} for section in SECTIONS}
    if not path.is_file():
        return mapping
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MappingError(f"{path}: not a readable JSON file: {error}") from error
    if not isinstance(raw, dict):
        raise MappingError(f'{path}: expected an object with "inputs" and/or "outputs"')
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise MappingError(f"{path}: unknown keys {unknown}; only {list(SECTIONS)} are allowed")
    for section in SECTIONS:
        names = raw.get(section, {})
        if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
            raise MappingError(f'{path}: "{section}" must map tensor names to public name strings')
        mapping[section] = names
    return mapping


def public_names(originals: Sequence[str], renames: dict[str, str], kind: str) -> list[str]:
    """The public name of each tensor of one kind (``"input"`` or ``"output"``), in model order.

    Raises MappingError when two tensors would share a public name or a public name is another
    tensor's original name.
    """
    public = [renames.get(name, name) for name in originals]
    owner_of_original = {name: name for name in originals}
    taken: dict[str, str] = {}
    for original, name in zip(originals, public, strict=True):
        if name in taken:
            raise MappingError(
                f'{kind}s "{taken[name]}" and "{original}" would both be named "{name}" by {MAPPING_FILE}'
            )
        taken[name] = original
        other = owner_of_original.get(name)
        if other is not None and other != original and other in renames:
            raise MappingError(
                f'{MAPPING_FILE} renames {kind} "{original}" to "{name}", the original name of {kind} '
                f'"{other}" (renamed to "{renames[other]}")'
            )
    return public
