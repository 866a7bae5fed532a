"""ModelControl over a real ModelManager and real OpenVINO models (servables/model_control.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from builders import affine_model, write_ir
from pipeline_builders import add_model, square_model
from pipeline_configs import MISSING_MODEL, WITHOUT_ADD, connect, node, square_then_add

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.server_config import load_config
from ovms_cli.errors import InvalidInput, ModelNotFound, NotFound, NotReady
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.model_control import (
    ConfigFileInvalid,
    ConfigReloadOff,
    ControlMode,
    ExplicitModeWatcher,
    ModelControl,
    ModelControlDisabled,
    ModelLoadFailed,
    ModelSources,
    PipelineNotUnderControl,
    initial_models,
    repository_models,
)
from ovms_cli.types import RepositoryEntry, State

ROW = np.arange(4, dtype=np.float32).reshape(1, 4)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_ir(affine_model(), root / "affine", 1)
    write_ir(affine_model(), root / "other", 1)
    write_ir(affine_model(), root / "other", 2)
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    (root / "empty").mkdir()  # no version folder: not a model
    write_ir(affine_model(), tmp_path / "elsewhere", 7)
    return root


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """config.json beside the repository: one entry of its own, one that shadows a repository folder."""
    path = tmp_path / "config.json"
    entries = [
        {"name": "from_config", "base_path": "elsewhere"},
        {"name": "other", "base_path": "elsewhere", "nireq": 3},
    ]
    path.write_text(json.dumps({"model_config_list": [{"config": e} for e in entries]}))
    return path


@pytest.fixture
def control(repository: Path, config_file: Path) -> ModelControl:
    return ModelControl(ModelManager(ov.Core()), ControlMode.EXPLICIT, ModelSources(repository, config_file))


async def test_index_lists_what_can_load_before_anything_is_loaded(control: ModelControl) -> None:
    assert await control.index() == [
        RepositoryEntry("affine", None, "UNAVAILABLE", "not loaded"),
        RepositoryEntry("broken", None, "UNAVAILABLE", "not loaded"),
        RepositoryEntry("from_config", None, "UNAVAILABLE", "not loaded"),
        RepositoryEntry("other", None, "UNAVAILABLE", "not loaded"),
    ]
    assert await control.index(ready_only=True) == []


async def test_load_serves_the_model_and_index_shows_it_ready(control: ModelControl) -> None:
    await control.load("affine")

    assert RepositoryEntry("affine", 1, "READY") in await control.index()
    assert await control.index(ready_only=True) == [RepositoryEntry("affine", 1, "READY")]
    served = control.manager.resolve("affine", None)
    outputs = await served.infer({"input": ROW})
    np.testing.assert_array_equal(outputs["scaled"], ROW * 2 + 1)


async def test_a_config_entry_wins_over_a_repository_folder_of_the_same_name(
    control: ModelControl, tmp_path: Path
) -> None:
    await control.load("other")

    config = control.manager.config("other")
    assert (config.base_path, config.nireq) == (str(tmp_path / "elsewhere"), 3)
    assert await control.index(ready_only=True) == [RepositoryEntry("other", 7, "READY")]


async def test_load_with_a_config_body_applies_its_options(control: ModelControl) -> None:
    await control.load("affine", json.dumps({"nireq": 2, "shape": "(1,4)"}))

    config = control.manager.config("affine")
    assert config.nireq == 2
    assert control.manager.metadata("affine", None).inputs[0].shape == (1, 4)


async def test_load_again_without_a_body_goes_back_to_the_found_config(control: ModelControl) -> None:
    await control.load("affine", json.dumps({"nireq": 2}))
    await control.load("affine")

    assert control.manager.config("affine").nireq == 0
    assert await control.index(ready_only=True) == [RepositoryEntry("affine", 1, "READY")]


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ('{"nireq": -1}', "config.nireq: must be >= 0"),
        ('{"nireq": "two"}', "config.nireq: expected integer"),
        ('{"no_such_option": 1}', 'unknown key "no_such_option"'),
        ('{"shape": "(1,x)"}', "config.shape"),
        ('{"name": "renamed"}', 'config.name: must be "affine"'),
        ('{"base_path": "/etc"}', "config.base_path: must be"),
        ("[1, 2]", "config: expected a JSON object"),
        ("{nireq: 1", "config: not valid JSON"),
    ],
)
async def test_a_bad_config_body_is_refused_with_the_field_named(
    control: ModelControl, config: str, named: str
) -> None:
    with pytest.raises(InvalidInput, match="Invalid model config") as refused:
        await control.load("affine", config)

    assert named in refused.value.message
    assert not control.manager.has("affine")


@pytest.mark.parametrize("name", ["../affine", "..", ".", "a/b", "/etc", "", "a:b", "nul\x00byte"])
async def test_bad_names_are_refused_before_any_lookup(control: ModelControl, name: str) -> None:
    for call in (control.load, control.unload):
        with pytest.raises(InvalidInput, match="Invalid model name"):
            await call(name)
    assert control.manager.names() == ()


async def test_an_unknown_model_is_not_found(control: ModelControl) -> None:
    with pytest.raises(ModelNotFound, match="name: nope"):
        await control.load("nope")
    with pytest.raises(ModelNotFound, match="name: nope"):
        await control.unload("nope")
    with pytest.raises(ModelNotFound):
        await control.load("empty" + "x" * 300)  # longer than a file name may be


async def test_a_model_that_fails_to_load_stays_unloaded_with_its_reason(
    control: ModelControl, repository: Path
) -> None:
    with pytest.raises(ModelLoadFailed, match="Model failed to load - name: broken; version 1: "):
        await control.load("broken")

    (entry,) = [e for e in await control.index() if e.name == "broken"]
    assert (entry.version, entry.state) == (1, "UNAVAILABLE")
    assert entry.reason
    with pytest.raises(NotFound):
        control.manager.resolve("broken", None)

    write_ir(affine_model(), repository / "broken", 2)  # fixed: a new version folder
    await control.load("broken")
    assert await control.index(ready_only=True) == [RepositoryEntry("broken", 2, "READY")]


async def test_a_folder_without_versions_fails_to_load(control: ModelControl, repository: Path) -> None:
    with pytest.raises(ModelLoadFailed, match="no version to serve in"):
        await control.load("empty")

    assert not control.manager.has("empty")
    assert "empty" not in {e.name for e in await control.index()}  # not a model folder


async def test_unload_ends_the_versions_and_later_requests_are_not_found(control: ModelControl) -> None:
    await control.load("affine")
    await control.load("other")

    await control.unload("affine", unload_dependents=True)

    assert [s.state for s in control.manager.model_status("affine", None)] == [State.END]
    with pytest.raises(NotFound):
        control.manager.resolve("affine", None)
    assert await control.index(ready_only=True) == [RepositoryEntry("other", 7, "READY")]
    assert RepositoryEntry("affine", 1, "UNAVAILABLE", "unloaded") in await control.index()


async def test_in_flight_requests_finish_before_the_unload_returns(control: ModelControl) -> None:
    await control.load("affine")
    served = control.manager.resolve("affine", None)
    running = [asyncio.create_task(served.infer({"input": ROW})) for _ in range(16)]
    await asyncio.sleep(0)  # admitted before the unload starts

    await control.unload("affine")

    assert all(task.done() for task in running)
    for task in running:
        np.testing.assert_array_equal(task.result()["scaled"], ROW * 2 + 1)


async def test_unloading_a_model_that_is_not_loaded_does_nothing(control: ModelControl) -> None:
    await control.unload("affine")
    await control.unload("affine")

    assert control.manager.names() == ()


async def test_load_after_unload_serves_again(control: ModelControl) -> None:
    await control.load("affine")
    await control.unload("affine")
    await control.load("affine")

    assert await control.index(ready_only=True) == [RepositoryEntry("affine", 1, "READY")]


async def test_the_config_file_is_read_again_at_each_load(control: ModelControl, config_file: Path) -> None:
    await control.load("from_config")
    document = json.loads(config_file.read_text())
    document["model_config_list"][0]["config"]["nireq"] = 5
    config_file.write_text(json.dumps(document))

    await control.load("from_config")

    assert control.manager.config("from_config").nireq == 5


async def test_a_broken_config_file_fails_loads_but_not_the_index(
    control: ModelControl, config_file: Path
) -> None:
    config_file.write_text("{not json")

    with pytest.raises(ConfigFileInvalid, match="Reading the config file failed"):
        await control.load("affine")
    assert {e.name for e in await control.index()} == {"affine", "broken", "other"}


async def test_none_mode_refuses_load_and_unload_and_indexes_what_serves(repository: Path) -> None:
    manager = ModelManager(ov.Core())
    await manager.load([ModelConfig("affine", str(repository / "affine"))])
    control = ModelControl(manager)

    for call in (control.load, control.unload):
        with pytest.raises(ModelControlDisabled, match="--model_control_mode explicit"):
            await call("affine")
    assert await control.index() == [RepositoryEntry("affine", 1, "READY")]
    assert ModelControlDisabled.http_status == 412


async def test_models_loaded_at_start_are_unloadable(repository: Path, config_file: Path) -> None:
    sources = ModelSources(repository, config_file)
    models = initial_models(sources, ["affine", "affine"])
    manager = ModelManager(ov.Core())
    await manager.load(models)
    control = ModelControl(manager, ControlMode.EXPLICIT, sources, models)

    await control.unload("affine")

    assert await control.index(ready_only=True) == []


def test_initial_models_by_name_and_star(repository: Path, config_file: Path) -> None:
    sources = ModelSources(repository, config_file)

    assert [m.name for m in initial_models(sources, ["*"])] == ["affine", "broken", "from_config", "other"]
    with pytest.raises(ModelNotFound):
        initial_models(sources, ["nope"])
    with pytest.raises(InvalidInput):
        initial_models(sources, ["../affine"])


def test_repository_models_are_the_folders_with_versions(repository: Path) -> None:
    assert [(m.name, Path(m.base_path)) for m in repository_models(repository)] == [
        (name, repository / name) for name in ("affine", "broken", "other")
    ]


async def test_explicit_mode_watcher_refuses_the_reload_api_but_polls_versions(repository: Path) -> None:
    manager = ModelManager(ov.Core())
    await manager.load([ModelConfig("affine", str(repository / "affine"))])
    watcher = ExplicitModeWatcher(manager, poll_seconds=1)

    with pytest.raises(ConfigReloadOff, match="explicit model control mode"):
        await watcher.check()
    write_ir(affine_model(), repository / "affine", 2)
    await watcher.check(raise_errors=False)  # a version first seen waits for a second look
    assert await watcher.check(raise_errors=False)
    assert manager.model("affine").available_versions() == (2,)  # the policy (latest 1) moved on


# --- pipelines: not under control, they follow their models --------------------------------------


@pytest.fixture
async def with_pipeline(tmp_path: Path) -> ModelControl:
    """Explicit mode on config.json's ``square`` and ``add`` models (none loaded) and the pipeline
    ``chain`` over them, started as the server starts it."""
    write_ir(square_model(), tmp_path / "square", 1)
    write_ir(add_model(), tmp_path / "add", 1)
    path = tmp_path / "config.json"
    _write_config(path, [square_then_add()])
    config = load_config(path)
    manager = ModelManager(ov.Core())
    await manager.load([], pipelines=config.pipelines, libraries=config.libraries, base_dir=config.base_dir)
    return ModelControl(manager, ControlMode.EXPLICIT, ModelSources(None, path))


def _write_config(path: Path, pipelines: list[dict[str, object]]) -> None:
    models = [{"config": {"name": n, "base_path": n}} for n in ("square", "add")]
    path.write_text(json.dumps({"model_config_list": models, "pipeline_config_list": pipelines}))


async def _chain_entry(control: ModelControl, name: str = "chain") -> RepositoryEntry:
    (entry,) = [e for e in await control.index() if e.name == name]
    return entry


async def test_load_and_unload_of_a_pipeline_are_refused(with_pipeline: ModelControl) -> None:
    for call in (with_pipeline.load, with_pipeline.unload):
        with pytest.raises(PipelineNotUnderControl) as refused:
            await call("chain")
        assert refused.value.message.startswith("Pipelines are not under model control - name: chain;")
    assert with_pipeline.manager.model_names() == ()


async def test_a_pipeline_serves_once_all_its_models_are_loaded(with_pipeline: ModelControl) -> None:
    entry = await _chain_entry(with_pipeline)
    assert (entry.version, entry.state) == (1, "UNAVAILABLE")
    assert f"nodes[0].model_name: {MISSING_MODEL} - node: sq; model: square" in entry.reason

    await with_pipeline.load("square")
    assert await _chain_entry(with_pipeline) == RepositoryEntry("chain", 1, "UNAVAILABLE", WITHOUT_ADD)

    await with_pipeline.load("add")
    assert await _chain_entry(with_pipeline) == RepositoryEntry("chain", 1, "READY")
    assert with_pipeline.manager.resolve("chain", None).state is State.AVAILABLE


async def test_a_pipeline_becomes_unavailable_when_a_model_it_uses_is_unloaded(
    with_pipeline: ModelControl,
) -> None:
    await with_pipeline.load("square")
    await with_pipeline.load("add")

    await with_pipeline.unload("add")

    entry = await _chain_entry(with_pipeline)
    assert (entry.version, entry.state) == (1, "UNAVAILABLE")
    assert entry.reason == WITHOUT_ADD
    with pytest.raises(NotReady, match="Pipeline is not loaded yet"):
        with_pipeline.manager.resolve("chain", None).input_metadata()
    await with_pipeline.load("add")
    assert await _chain_entry(with_pipeline) == RepositoryEntry("chain", 1, "READY")


async def test_pipeline_edits_in_the_config_file_apply_at_the_next_load(
    with_pipeline: ModelControl, tmp_path: Path
) -> None:
    squared = {
        "name": "squared",
        "inputs": ["x"],
        "nodes": [node("sq", "DL model", {"x": "request.x"}, {"y": "squared"}, target="square")],
        "outputs": connect(result="sq.squared"),
    }
    _write_config(tmp_path / "config.json", [squared])

    await with_pipeline.load("square")

    assert await _chain_entry(with_pipeline, "squared") == RepositoryEntry("squared", 1, "READY")
    ended = RepositoryEntry("chain", 1, "UNAVAILABLE", "unloaded")  # removed: retired, still listed
    for _ in range(100):
        if await _chain_entry(with_pipeline) == ended:
            break
        await asyncio.sleep(0.1)
    assert await _chain_entry(with_pipeline) == ended


async def test_an_unreadable_config_file_keeps_the_pipelines_and_unloads_still_work(
    with_pipeline: ModelControl, tmp_path: Path
) -> None:
    await with_pipeline.load("square")
    await with_pipeline.load("add")
    (tmp_path / "config.json").write_text("{not json")

    await with_pipeline.unload("add")

    entry = await _chain_entry(with_pipeline)
    assert entry == RepositoryEntry("chain", 1, "UNAVAILABLE", WITHOUT_ADD)
    assert with_pipeline.manager.model_names() == ("square",)


def test_a_load_config_nested_too_deeply_is_invalid_input() -> None:
    from ovms_cli.servables.model_control import load_request_config

    found = ModelConfig(name="m", base_path="/models/m")
    deep = '{"plugin_config": ' + '{"a": ' * 5000 + "1" + "}" * 5001
    with pytest.raises(InvalidInput, match="nested too deeply"):
        load_request_config(deep, found)


async def test_a_reload_that_selects_no_version_keeps_the_model_serving(control: ModelControl) -> None:
    await control.load("affine")
    with pytest.raises(ModelLoadFailed):
        await control.load("affine", json.dumps({"model_version_policy": {"specific": {"versions": [9]}}}))

    outputs = await control.manager.resolve("affine", None).infer({"input": ROW})
    np.testing.assert_array_equal(outputs["scaled"], ROW * 2 + 1)
    assert RepositoryEntry("affine", 1, "READY") in await control.index(ready_only=True)
