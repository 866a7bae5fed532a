from pathlib import Path

import openvino as ov
import pytest

from ovms_cli.servables.model_loader import Runtime


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    return Runtime(ov.Core())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path / "models"
