"""Pipelines in the ModelManager: built against served models, following them, swapped while serving."""

import asyncio
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from builders import write_ir
from pipeline_builders import add_model, square_model
from pipeline_configs import connect
from pipeline_python_nodes import Gate

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import InternalError, ModelNotFound, NotFound, NotReady
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.pipelines import pipeline_version
from ovms_cli.servables.pipelines.definition import (
    CustomNodeLibraryConfig,
    PipelineDefinition,
    parse_pipeline,
)
from ovms_cli.types import ErrorCode, State, VersionStatus

X = np.arange(8, dtype=np.float32).reshape(2, 4) - 3


def three_wide() -> ov.Model:
    x = ops.parameter([-1, 3], ov.Type.f32, name="x")
    y = ops.multiply(x, x)
    y.output(0).get_tensor().set_names({"y"})
    return ov.Model([y], [x], "square3")


def definition(name: str = "chain", first: dict[str, Any] | None = None) -> PipelineDefinition:
    """request.x → ``first`` (default: square) → add(a=first.y, b=request.x) → response.result."""
    first = first or {"name": "sq", "type": "DL model", "model_name": "square"}
    config = {
        "name": name,
        "inputs": ["x"],
        "nodes": [
            first | {"inputs": connect(x="request.x"), "outputs": [{"data_item": "y", "alias": "y"}]},
            {
                "name": "plus",
                "type": "DL model",
                "model_name": "add",
                "inputs": connect(a=f"{first['name']}.y", b="request.x"),
                "outputs": [{"data_item": "sum", "alias": "total"}],
            },
        ],
        "outputs": connect(result="plus.total"),
    }
    parsed, problems = parse_pipeline(config, "pipeline_config_list[0]")
    assert problems == []
    assert parsed is not None
    return parsed


GATE = {"name": "gate", "type": "python", "handler": "pipeline_python_nodes:Gate", "params": {"tag": "0"}}


@pytest.fixture
def models(tmp_path: Path) -> list[ModelConfig]:
    write_ir(square_model(), tmp_path / "square")
    write_ir(add_model(), tmp_path / "add")
    return [ModelConfig("square", str(tmp_path / "square")), ModelConfig("add", str(tmp_path / "add"))]


@pytest.fixture
async def manager(models: list[ModelConfig]) -> Any:
    served = ModelManager(ov.Core())
    await served.load(models, pipelines=[definition()])
    yield served
    served.unload()


def state(manager: ModelManager, name: str) -> tuple[State, ErrorCode, str]:
    (status,) = manager.model_status(name, None)
    return status.state, status.error_code, status.reason


async def test_a_pipeline_is_addressed_like_a_model(manager: ModelManager) -> None:
    assert manager.names() == ("square", "add", "chain")
    assert manager.has("chain") and manager.is_pipeline("chain") and not manager.is_pipeline("add")
    served = manager.resolve("chain", 5)  # unversioned: any version is version 1 (spec §8.2)
    assert served.version == 1
    np.testing.assert_array_equal((await served.infer({"x": X}))["result"], X * X + X)
    assert manager.model_status("chain", None) == (VersionStatus(1, State.AVAILABLE),)
    metadata = manager.metadata("chain", None)
    assert (metadata.versions, [t.shape for t in metadata.inputs]) == ((1,), [(-1, 4)])
    assert manager.is_model_ready("chain", None)
    assert [(name, number) for name, number, _ in manager.servables()][-1] == ("chain", 1)


async def test_apply_without_pipelines_keeps_them_and_follows_the_models(
    manager: ModelManager, models: list[ModelConfig]
) -> None:
    assert await manager.apply([models[0]])  # "add" removed: the pipeline cannot run
    current, code, reason = state(manager, "chain")
    assert (current, code) == (State.LOADING, ErrorCode.FAILED_PRECONDITION)
    assert "Pipeline definition has reference to missing model - node: plus; model: add" in reason
    assert manager.load_problems() == {"chain": [reason]}
    with pytest.raises(NotReady, match="Pipeline is not loaded yet - name: chain; pipeline_config_list"):
        await manager.resolve("chain", None).infer({"x": X})
    assert await manager.apply(models)
    assert state(manager, "chain") == (State.AVAILABLE, ErrorCode.OK, "")
    np.testing.assert_array_equal((await manager.resolve("chain", None).infer({"x": X}))["result"], X * X + X)


async def test_a_new_model_version_revalidates_the_pipeline(
    manager: ModelManager, models: list[ModelConfig]
) -> None:
    square = Path(models[0].base_path)
    write_ir(three_wide(), square, 2)  # the default version now produces [-1, 3]
    await manager.sync_versions()  # a new version loads once the watcher saw it unchanged twice
    assert await manager.sync_versions()
    current, _, reason = state(manager, "chain")
    assert current is State.LOADING
    assert (
        "Invalid input shape - node: plus; input: a; source: sq.y; produced: [-1, 3]; expected: [-1, 4]"
        in reason
    )
    shutil.rmtree(square / "2")
    assert await manager.sync_versions()
    assert state(manager, "chain")[0] is State.AVAILABLE


async def test_a_changed_definition_is_swapped_in_without_dropping_in_flight_requests(
    manager: ModelManager, models: list[ModelConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_version, "RETIRE_GRACE_S", 0.05)
    Gate.open.clear()
    finalized = Gate.finalized
    await manager.apply(models, pipelines=[definition(first=GATE)])
    old = manager.resolve("chain", None)
    running = asyncio.ensure_future(old.infer({"x": X}))
    await asyncio.sleep(0.1)
    await manager.apply(models, pipelines=[definition(first=GATE | {"params": {"tag": "10"}})])
    new = manager.resolve("chain", None)
    assert new is not old
    assert Gate.finalized == finalized  # the old build still has a request
    Gate.open.set()
    np.testing.assert_array_equal((await running)["result"], X + X)  # the old definition answered
    np.testing.assert_array_equal((await new.infer({"x": X}))["result"], X + 10 + X)
    for _ in range(100):
        if Gate.finalized == finalized + 1:
            break
        await asyncio.sleep(0.02)
    assert Gate.finalized == finalized + 1


async def test_a_removed_pipeline_is_retired(
    manager: ModelManager, models: list[ModelConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_version, "RETIRE_GRACE_S", 0.01)
    assert await manager.apply(models, pipelines=[])
    for _ in range(100):
        if state(manager, "chain")[0] is State.END:
            break
        await asyncio.sleep(0.02)
    assert state(manager, "chain")[0] is State.END
    with pytest.raises(NotFound, match="Pipeline is retired - name: chain"):
        await manager.resolve("chain", None).infer({"x": X})


async def test_a_pipeline_named_like_a_model_is_refused_and_the_model_keeps_its_name(
    manager: ModelManager, models: list[ModelConfig]
) -> None:
    await manager.apply(models, pipelines=[definition(name="add")])
    assert not manager.is_pipeline("add")
    np.testing.assert_array_equal((await manager.resolve("add", None).infer({"a": X, "b": X}))["sum"], X + X)
    assert manager.load_problems() == {
        "add": ["pipeline_config_list[0].name: Pipeline has the same name as model - name: add"]
    }


async def test_a_library_that_fails_to_load_makes_its_pipelines_unavailable(
    manager: ModelManager, models: list[ModelConfig], tmp_path: Path
) -> None:
    custom = {"name": "sq", "type": "custom", "library_name": "lib"}
    library = CustomNodeLibraryConfig("lib", str(tmp_path / "missing.so"))
    await manager.apply(models, pipelines=[definition(first=custom)], libraries=[library])
    current, _, reason = state(manager, "chain")
    assert current is State.LOADING
    assert "Pipeline refers to incorrect library - node: sq; library: lib" in reason
    assert "library lib: Custom node library failed to open - library: lib;" in reason


async def test_dl_nodes_reach_models_only(manager: ModelManager) -> None:
    with pytest.raises(ModelNotFound):
        await manager._node_infer("chain", None, {"x": X})


async def test_a_node_error_names_the_node(manager: ModelManager, models: list[ModelConfig]) -> None:
    raises = {"name": "boom", "type": "python", "handler": "pipeline_python_nodes:Raises"}
    await manager.apply(models, pipelines=[definition(first=raises)])
    with pytest.raises(InternalError, match="Python node failed during execution - node: boom; ValueError"):
        await manager.resolve("chain", None).infer({"x": X})


async def test_an_edited_handler_file_is_imported_afresh_at_the_next_version_check(
    models: list[ModelConfig], tmp_path: Path
) -> None:
    handler = tmp_path / "nodes" / "scale.py"
    handler.parent.mkdir()
    scale = "import numpy as np\n\nclass Scale:\n    def initialize(self, params): pass\n    def finalize(self): pass\n"
    handler.write_text(scale + "    def execute(self, inputs): return {'y': inputs['x'] * np.float32(2)}\n")
    node = {"name": "py", "type": "python", "handler": "nodes/scale.py:Scale"}
    served = ModelManager(ov.Core())
    await served.load(models, pipelines=[definition(first=node)], base_dir=tmp_path)
    try:
        result = (await served.resolve("chain", None).infer({"x": X}))["result"]
        np.testing.assert_array_equal(result, X * 2 + X)
        assert not await served.sync_versions()  # nothing changed: no rebuild

        handler.write_text(
            scale + "    def execute(self, inputs): return {'y': inputs['x'] * np.float32(10)}\n"
        )
        assert await served.sync_versions()

        result = (await served.resolve("chain", None).infer({"x": X}))["result"]
        np.testing.assert_array_equal(result, X * 10 + X)
    finally:
        served.unload()
