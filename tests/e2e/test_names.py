"""Servable names: a name no REST URL reaches is refused wherever it enters; every other name is served."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from e2e.test_cli import free_port, ovms
from server_process import ServerProcess

Spawn = Callable[..., ServerProcess]
X = np.arange(8, dtype=np.float32).reshape(2, 4)


def _config(path: Path, names: list[str], base_path: Path) -> Path:
    models = [{"config": {"name": name, "base_path": str(base_path)}} for name in names]
    path.write_text(json.dumps({"model_config_list": models}))
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("org/add", 'must not contain "/"'),
        ("add:v1", 'must not contain ":"'),
        ("..", 'must not be ".."'),
        ("a?b", 'must not contain "?"'),
        ("a#b", 'must not contain "#"'),
    ],
)
def test_validate_config_refuses_an_unreachable_name_with_its_path(
    tmp_path: Path, repository: Path, name: str, expected: str
) -> None:
    path = _config(tmp_path / "config.json", ["affine", name], repository / "affine")
    result = ovms("validate-config", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"model_config_list[1].config.name: {expected}" in result.stdout + result.stderr


def test_pipeline_names_follow_the_same_rule(tmp_path: Path, repository: Path) -> None:
    path = _config(tmp_path / "config.json", ["affine"], repository / "affine")
    document = json.loads(path.read_text())
    document["pipeline_config_list"] = [{"name": "org/pipe", "inputs": [], "outputs": [], "nodes": []}]
    path.write_text(json.dumps(document))
    result = ovms("validate-config", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert 'pipeline_config_list[0].name: must not contain "/"' in result.stdout + result.stderr


def test_serve_refuses_an_unreachable_model_name(repository: Path) -> None:
    result = ovms(
        "serve", "--model_name", "org/add", "--model_path", str(repository / "affine"), "--port", free_port()
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert '--model_name: must not contain "/"' in result.stderr


def test_reload_refuses_an_unreachable_name_and_keeps_serving(
    tmp_path: Path, repository: Path, spawn_server: Spawn
) -> None:
    path = _config(tmp_path / "config.json", ["affine"], repository / "affine")
    server = spawn_server(["--config_path", str(path), "--file_system_poll_wait_seconds", "0"])
    _config(path, ["affine", "org/add"], repository / "affine")
    refused = httpx.post(f"http://{server.rest_url}/v1/config/reload", timeout=60)
    assert refused.status_code == 412
    assert 'model_config_list[1].config.name: must not contain "/"' in refused.json()["error"]
    assert httpx.get(f"http://{server.rest_url}/v2/models/affine/ready", timeout=5).status_code == 200


def test_a_name_with_spaces_percent_and_unicode_is_reached_over_both_rest_apis(
    tmp_path: Path, repository: Path, spawn_server: Spawn
) -> None:
    """Any name without "/", ":", "?" and "#" is one URL segment once clients percent-encode it."""
    name = "my model 100% ü&="
    server = spawn_server(["--config_path", str(_config(tmp_path / "c.json", [name], repository / "affine"))])
    client = httpclient.InferenceServerClient(server.rest_url)
    data = httpclient.InferInput("input", [2, 4], "FP32")
    data.set_data_from_numpy(X)
    result = client.infer(name, [data])
    np.testing.assert_array_equal(result.as_numpy("scaled"), X * 2 + 1)
    assert client.get_model_metadata(name)["name"] == name
    status = httpx.get(f"http://{server.rest_url}/v1/models/{quote(name, safe='')}", timeout=5)
    assert status.json()["model_version_status"][0]["state"] == "AVAILABLE"


def test_add_to_config_refuses_an_unreachable_model_name(tmp_path: Path, repository: Path) -> None:
    path = _config(tmp_path / "config.json", ["affine"], repository / "affine")
    before = path.read_bytes()
    result = ovms(
        "--add_to_config", "--config_path", str(path), "--model_name", "org/add",
        "--model_path", str(repository / "affine"),
    )  # fmt: skip
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert '--model_name: must not contain "/"' in result.stderr
    assert path.read_bytes() == before
