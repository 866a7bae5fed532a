"""A server over the models Triton's client examples expect (tests/triton_models.py), with metrics
on, for the tests of Triton's extensions; import ``triton_server`` into a test module to use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_process import ServerProcess, start_server
from triton_models import TOKENIZERS_EXTENSION, write_triton_repository


def triton_server_args(config: Path) -> list[str]:
    return ["--config_path", str(config), "--cpu_extension", str(TOKENIZERS_EXTENSION), "--metrics_enable"]


@pytest.fixture(scope="module")
def triton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("triton_repository")
    config = write_triton_repository(root)
    running = start_server(triton_server_args(config), root / "ovms.log")
    yield running
    assert running.stop() == 0, running.log_text()
