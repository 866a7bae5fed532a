from pathlib import Path

import openvino as ov
import pytest


@pytest.fixture(scope="session")
def core() -> ov.Core:
    return ov.Core()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path / "models"
