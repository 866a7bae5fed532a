from pathlib import Path

import pytest
from pipeline_builders import compile_c_node


@pytest.fixture(scope="session")
def c_nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test libraries of ``c_nodes/`` compiled once per session: name → ``.so`` path."""
    out = tmp_path_factory.mktemp("c_nodes")
    return {name: compile_c_node(name, out) for name in ("add_mul", "crops", "add_one")}
