import openvino as ov
import pytest
from stateful_builders import recurrent_cell_model, running_sum_model


@pytest.fixture(scope="session")
def core() -> ov.Core:
    return ov.Core()


@pytest.fixture(scope="session")
def running_sum(core: ov.Core) -> ov.CompiledModel:
    return core.compile_model(running_sum_model(), "CPU")


@pytest.fixture(scope="session")
def cell(core: ov.Core) -> ov.CompiledModel:
    return core.compile_model(recurrent_cell_model(), "CPU")
