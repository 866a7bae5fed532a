"""mapping_config.json against a real server: a mapping that gives two tensors one name fails the load."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import tritonclient.http as httpclient
from builders import affine_model, write_ir
from server_process import ServerProcess

Spawn = Callable[..., ServerProcess]
X = np.arange(8, dtype=np.float32).reshape(2, 4)


def _model(root: Path, name: str, mapping: dict[str, dict[str, str]]) -> dict[str, str]:
    write_ir(affine_model(), root / name, 1)
    (root / name / "1" / "mapping_config.json").write_text(json.dumps(mapping))
    return {"name": name, "base_path": str(root / name)}


def test_two_outputs_mapped_to_one_name_fail_the_load_and_the_reload_says_why(
    tmp_path: Path, spawn_server: Spawn
) -> None:
    """The issue's case: outputs {"y": "w", "z": "w"} on a two-output model (here scaled and total)."""
    good = _model(tmp_path, "renamed", {"inputs": {"input": "features"}, "outputs": {"scaled": "w"}})
    collide = _model(tmp_path, "collide", {"outputs": {"scaled": "w", "total": "w"}})
    onto = _model(tmp_path, "onto", {"outputs": {"scaled": "total", "total": "sum"}})
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [{"config": m} for m in (good, collide, onto)]}))
    server = spawn_server(["--config_path", str(config), "--file_system_poll_wait_seconds", "0"])
    rest = f"http://{server.rest_url}"

    status = httpx.get(f"{rest}/v1/models/collide", timeout=5).json()["model_version_status"][0]
    assert status["state"] != "AVAILABLE"
    assert 'outputs "scaled" and "total" would both be named "w"' in status["status"]["error_message"]
    assert httpx.get(f"{rest}/v2/models/collide/ready", timeout=5).status_code != 200

    reload = httpx.post(f"{rest}/v1/config/reload", timeout=60)
    assert reload.status_code == 412
    message = reload.json()["error"]
    assert 'model "collide": version 1: ' in message
    assert 'outputs "scaled" and "total" would both be named "w"' in message
    assert (
        'renames output "scaled" to "total", the original name of output "total" (renamed to "sum")'
        in message
    )

    client = httpclient.InferenceServerClient(server.rest_url)
    data = httpclient.InferInput("features", [2, 4], "FP32")
    data.set_data_from_numpy(X)
    result = client.infer("renamed", [data])
    assert sorted(o["name"] for o in result.get_response()["outputs"]) == ["total", "w"]
    np.testing.assert_array_equal(result.as_numpy("w"), X * 2 + 1)
