"""Fixtures that write config.json files and model folders (tests/config and tests/cli use them)."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WriteConfig = Callable[[Any], Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a config.json (a JSON value, or raw text when given a str) into ``tmp_path``."""

    def write(content: Any) -> Path:
        path = tmp_path / "config.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return path

    return write


@pytest.fixture
def model_dir(tmp_path: Path) -> Callable[..., Path]:
    """Create ``tmp_path/<name>`` with the given version folders."""

    def make(name: str, *versions: str) -> Path:
        base = tmp_path / name
        base.mkdir(parents=True)
        for version in versions:
            (base / version).mkdir()
        return base

    return make
