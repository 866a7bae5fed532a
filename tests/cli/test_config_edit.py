"""Editing config.json for scripts (cli.config_edit): atomic, validated, everything else kept."""

import json
import os
import stat
from pathlib import Path

import pytest
from builders import affine_model, write_ir

from ovms_cli.cli.config_edit import EditError, add_model, config_entry, config_file, remove_model
from ovms_cli.config.model_config import cli_model_options


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_ir(affine_model(), tmp_path / "affine", 1)
    return tmp_path


def test_options_are_written_in_config_json_spelling() -> None:
    options = cli_model_options(
        name="m",
        path="p",
        batch_size="4",
        shape='{"input": "(1,4)"}',
        layout="NHWC:NCHW",
        model_version_policy='{"latest": {"num_versions": 2}}',
        plugin_config='{"NUM_STREAMS": "1"}',
        nireq=3,
        max_batch_size=8,
    )
    assert config_entry(options) == {
        "name": "m",
        "base_path": "p",
        "batch_size": 4,
        "shape": {"input": "(1,4)"},
        "layout": "NHWC:NCHW",
        "model_version_policy": {"latest": {"num_versions": 2}},
        "plugin_config": {"NUM_STREAMS": "1"},
        "nireq": 3,
        "dynamic_batching": {"max_batch_size": 8},
    }
    assert config_entry(cli_model_options(name="m", path="p", batch_size="1:8", shape="(1,4)")) == {
        "name": "m",
        "base_path": "p",
        "batch_size": "1:8",
        "shape": "(1,4)",
    }


def test_a_folder_means_its_config_json(folder: Path) -> None:
    assert config_file(folder) == folder / "config.json"
    assert config_file(folder / "other.json") == folder / "other.json"


def test_add_creates_the_file_with_the_umask_mode(folder: Path) -> None:
    config = folder / "config.json"
    add_model(config, {"name": "a", "base_path": "affine"})
    assert json.loads(config.read_text()) == {
        "model_config_list": [{"config": {"name": "a", "base_path": "affine"}}]
    }
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(config.stat().st_mode) == 0o666 & ~umask


def test_an_edit_keeps_the_file_mode_and_the_order_of_keys(folder: Path) -> None:
    config = folder / "config.json"
    config.write_text('{"monitoring": {"metrics": {"enable": true}}, "model_config_list": []}')
    config.chmod(0o640)
    add_model(config, {"name": "a", "base_path": "affine"})
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert list(json.loads(config.read_text())) == ["monitoring", "model_config_list"]
    remove_model(config, "a")
    assert json.loads(config.read_text()) == {
        "monitoring": {"metrics": {"enable": True}},
        "model_config_list": [],
    }


def test_a_file_that_is_not_json_is_refused_untouched(folder: Path) -> None:
    config = folder / "config.json"
    config.write_text('{"model_config_list": [')
    with pytest.raises(EditError) as raised:
        add_model(config, {"name": "a", "base_path": "affine"})
    assert raised.value.problems[0].startswith(f"{config}: not valid JSON: ")
    assert config.read_text() == '{"model_config_list": ['


def test_an_invalid_result_lists_every_problem_and_leaves_no_temporary(folder: Path) -> None:
    config = folder / "config.json"
    config.write_text(
        json.dumps({"model_config_list": [{"config": {"name": "a", "base_path": "affine", "nireq": -1}}]})
    )
    with pytest.raises(EditError) as raised:
        add_model(config, {"name": "b", "base_path": "affine", "target_device": 3})
    assert raised.value.problems == [
        f"{config}: the result would be invalid, nothing written:",
        "  model_config_list[0].config.nireq: must be >= 0",
        "  model_config_list[1].config.target_device: expected string",
    ]
    assert sorted(p.name for p in folder.iterdir()) == ["affine", "config.json"]


def test_an_add_whose_folder_does_not_exist_is_refused_as_validate_config_would(folder: Path) -> None:
    config = folder / "config.json"
    with pytest.raises(EditError) as raised:
        add_model(config, {"name": "missing", "base_path": str(folder / "nonexistent")})
    assert raised.value.problems == [
        f"{config}: the result would be invalid, nothing written:",
        f"  model_config_list[0].config.base_path: directory {folder / 'nonexistent'} does not exist",
    ]
    assert sorted(p.name for p in folder.iterdir()) == ["affine"]


def test_a_removal_leaves_a_model_whose_folder_is_gone_alone(folder: Path) -> None:
    config = folder / "config.json"
    config.write_text(
        json.dumps(
            {
                "model_config_list": [
                    {"config": {"name": "gone", "base_path": "gone"}},
                    {"config": {"name": "a", "base_path": "affine"}},
                ]
            }
        )
    )
    remove_model(config, "a")
    assert json.loads(config.read_text()) == {
        "model_config_list": [{"config": {"name": "gone", "base_path": "gone"}}]
    }
