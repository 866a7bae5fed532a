import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.server_config import ConfigError, Problem, ServerConfig, load_config
from ovms_cli.repository.version_policy import LatestPolicy
from ovms_cli.servables.pipelines.definition import PipelineDefinition

WriteConfig = Callable[[Any], Path]
ModelDir = Callable[..., Path]
SHAPE_EXPECTED = 'expected "auto" or a tuple like (1,3,224,224) with dims N, -1 or min:max'
LAYOUT_EXPECTED = (
    'expected letters N, C, H, W, D, "?" and at most one "...", optionally TARGET:SOURCE like NHWC:NCHW'
)


def models(*configs: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {"model_config_list": [{"config": c} for c in configs], **sections}


def problems(path: Path, *, check_paths: bool = True) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(path, check_paths=check_paths)
    assert all(isinstance(p, Problem) for p in raised.value.problems)
    return [str(p) for p in raised.value.problems]


def test_loads_models_with_paths_relative_to_the_file(
    tmp_path: Path, write_config: WriteConfig, model_dir: ModelDir
) -> None:
    model_dir("resnet", "1", "2")
    model_dir("abs", "3")
    pipelines = [{"name": "p", "inputs": [], "outputs": [], "nodes": []}]
    doc = models(
        {"name": "resnet", "base_path": "resnet", "nireq": 2},
        {
            "name": "abs",
            "base_path": str(tmp_path / "abs"),
            "model_version_policy": {"latest": {"num_versions": 2}},
        },
        {"name": "remote", "base_path": "s3://bucket/never/checked"},
        pipeline_config_list=pipelines,
    )
    config = load_config(write_config(doc))
    assert config == ServerConfig(
        models=(
            ModelConfig(name="resnet", base_path=str(tmp_path / "resnet"), nireq=2),
            ModelConfig(name="abs", base_path=str(tmp_path / "abs"), version_policy=LatestPolicy(2)),
            ModelConfig(name="remote", base_path="s3://bucket/never/checked"),
        ),
        source=tmp_path / "config.json",
        raw=doc,
        pipelines=(PipelineDefinition("p", (), (), (), path="pipeline_config_list[0]"),),
    )
    assert config.raw["pipeline_config_list"] == pipelines


def test_parses_pipelines_and_libraries_with_paths_relative_to_the_file(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    node = {
        "name": "n",
        "type": "custom",
        "library_name": "lib",
        "inputs": [{"a": {"node_name": "request", "data_item": "x"}}],
        "outputs": [{"data_item": "result", "alias": "r"}],
    }
    doc = models(
        pipeline_config_list=[
            {
                "name": "p",
                "inputs": ["x"],
                "nodes": [node],
                "outputs": [{"y": {"node_name": "n", "data_item": "r"}}],
            }
        ],
        custom_node_library_config_list=[
            {"name": "lib", "base_path": "libs/liba.so"},
            {"name": "abs", "base_path": "/opt/libb.so"},
        ],
    )
    config = load_config(write_config(doc))
    assert [p.name for p in config.pipelines] == ["p"]
    assert config.pipelines[0].nodes[0].library_name == "lib"
    assert [(lib.name, lib.base_path) for lib in config.libraries] == [
        ("lib", str(tmp_path / "libs" / "liba.so")),
        ("abs", "/opt/libb.so"),
    ]
    assert config.base_dir == tmp_path


def test_duplicate_pipeline_names_are_refused(write_config: WriteConfig) -> None:
    pipeline = {"name": "p", "inputs": [], "outputs": [], "nodes": []}
    assert problems(write_config(models(pipeline_config_list=[pipeline, pipeline]))) == [
        "pipeline_config_list[1]: Pipeline definition with the same name already exists - p"
    ]


def test_empty_model_list_is_valid(write_config: WriteConfig) -> None:
    assert load_config(write_config({"model_config_list": []})).models == ()


def test_relative_config_path_is_made_absolute(
    tmp_path: Path, write_config: WriteConfig, model_dir: ModelDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir("m", "1")
    write_config(models({"name": "m", "base_path": "m"}))
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("config.json"))
    assert config.source == tmp_path / "config.json"
    assert config.models[0].base_path == str(tmp_path / "m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "$: not valid JSON: Expecting value at line 1, column 1 (char 0)"),
        ('{"model_config_list": [}', "$: not valid JSON: Expecting value at line 1, column 24 (char 23)"),
        (
            '{\n  "model_config_list": []\n  "x": 1}',
            "$: not valid JSON: Expecting ',' delimiter at line 3, column 3 (char 30)",
        ),
    ],
)
def test_not_json(write_config: WriteConfig, text: str, message: str) -> None:
    assert problems(write_config(text)) == [message]


def test_not_json_is_retried_before_failing(write_config: WriteConfig) -> None:
    path = write_config("{")
    started = time.monotonic()
    problems(path)
    assert time.monotonic() - started >= 0.02


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"model_config_list": ["\xff"]}')
    [message] = problems(path)
    assert message.startswith("$: not valid UTF-8 text: ")


def test_unreadable_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "missing.json") == [
        f"$: cannot read {tmp_path / 'missing.json'}: No such file or directory"
    ]
    assert problems(tmp_path) == [f"$: cannot read {tmp_path}: Is a directory"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([1], ["$: expected object"]),
        ({"models": []}, ['$: required key "model_config_list" is missing', '$: unknown key "models"']),
        ({"model_config_list": "x"}, ["model_config_list: expected array"]),
    ],
)
def test_broken_root(write_config: WriteConfig, doc: Any, expected: list[str]) -> None:
    assert problems(write_config(doc)) == expected


def test_every_problem_of_every_model_is_reported(write_config: WriteConfig, model_dir: ModelDir) -> None:
    model_dir("ok", "1")
    doc = models(
        {"name": "a", "base_path": 1, "nireq": "x"},
        {"name": "b", "base_path": "ok", "shape": "(1,x)", "layout": "Q"},
        {"name": "c", "base_path": "ok", "idle_sequence_cleanup": False},
        {"name": "a", "base_path": "ok"},
        {"name": "b", "base_path": "ok", "foo": 1},
        monitoring={"metrics": {}},
    )
    assert problems(write_config(doc)) == [
        "model_config_list[0].config.base_path: expected string",
        "model_config_list[0].config.nireq: expected integer",
        f'model_config_list[1].config.shape: {SHAPE_EXPECTED}, got "(1,x)"',
        f'model_config_list[1].config.layout: {LAYOUT_EXPECTED}, got "Q"',
        "model_config_list[2].config.idle_sequence_cleanup: only allowed for stateful models",
        'model_config_list[3].config.name: duplicate model name "a"',
        'model_config_list[4].config: unknown key "foo"',
        'model_config_list[4].config.name: duplicate model name "b"',
        'monitoring.metrics: required key "enable" is missing',
    ]


def test_problems_are_in_document_order(write_config: WriteConfig, model_dir: ModelDir) -> None:
    model_dir("ok", "1")
    items = [{"name": f"m{i}", "base_path": "ok"} for i in range(11)]
    items[1]["layout"] = "Q"
    items[10]["nireq"] = "-1"
    found = problems(write_config(models(*items)))
    assert [p.split(":")[0] for p in found] == [
        "model_config_list[1].config.layout",
        "model_config_list[10].config.nireq",
    ]


def test_local_base_paths_are_checked(tmp_path: Path, write_config: WriteConfig, model_dir: ModelDir) -> None:
    model_dir("empty")
    model_dir("names", "latest", "v1")
    (tmp_path / "file").touch()
    doc = models(
        {"name": "missing", "base_path": "missing"},
        {"name": "file", "base_path": "file"},
        {"name": "empty", "base_path": "empty"},
        {"name": "names", "base_path": "names"},
        {"name": "remote", "base_path": "az://container/m"},
    )
    path = write_config(doc)
    assert problems(path) == [
        f"model_config_list[0].config.base_path: directory {tmp_path / 'missing'} does not exist",
        f"model_config_list[1].config.base_path: {tmp_path / 'file'} is not a directory",
        f"model_config_list[2].config.base_path: no numeric version folder in {tmp_path / 'empty'}",
        f"model_config_list[3].config.base_path: no numeric version folder in {tmp_path / 'names'}",
    ]
    assert len(load_config(path, check_paths=False).models) == 5


def test_config_error_str_lists_problems(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write_config({"model_config_list": [{}], "x": 1}))
    assert str(raised.value) == '$: unknown key "x"\nmodel_config_list[0]: required key "config" is missing'


def test_json_nested_too_deeply_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"model_config_list": [' + "[" * 5000 + "]" * 5000 + "]}")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(p) for p in caught.value.problems] == [f"$: {path}: JSON nested too deeply to read"]
