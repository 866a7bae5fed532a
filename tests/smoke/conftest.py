"""The README's quick start as a user runs it: the installed `ovms` console script serving `ovms demo`.

This folder imports nothing beyond a plain `pip install .`, the clients and pytest, so .ci/run
runs it in a fresh venv against the newest tritonclient and ovmsclient (and, before the clients
are installed, whatever protobuf `pip install .` alone resolves), besides the main suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import openvino as ov
import pytest
from server_process import ServerProcess, ovms_script, start_server

from ovms_cli.demo import DEMO_MODEL, FEATURES


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``ovms demo`` writes its repository."""
    return tmp_path_factory.mktemp("smoke") / "demo-models"


@pytest.fixture(scope="session")
def demo_server(demo_models: Path) -> Iterator[ServerProcess]:
    """``ovms demo --dir D`` on free ports: model ``demo``, ``input: FP32[-1, 4]`` → ``probabilities``."""
    log = demo_models.parent / "ovms.log"
    running = start_server(["--dir", str(demo_models)], log, command=(str(ovms_script()), "demo"))
    yield running
    assert running.stop() == 0, running.log_text()


@pytest.fixture(scope="session")
def readme_input() -> npt.NDArray[np.float32]:
    """The README's example input: ``[[0, 1, 2, 3], [4, 5, 6, 7]]``."""
    return np.arange(2 * FEATURES, dtype=np.float32).reshape(2, FEATURES)


@pytest.fixture(scope="session")
def expected_probabilities(
    demo_server: ServerProcess, demo_models: Path, readme_input: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """What OpenVINO computes in-process for the README's input on the model file ``ovms demo`` wrote."""
    compiled = ov.Core().compile_model(str(demo_models / DEMO_MODEL / "1" / "model.xml"), "CPU")
    return np.asarray(compiled(readme_input)[0], dtype=np.float32)
