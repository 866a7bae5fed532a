"""Versions and config change under a running server: the watcher, the reload API, and a soak test."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from builders import affine_model, fixed_batch_model, write_ir
from server_process import ServerProcess

X = np.arange(8, dtype=np.float32).reshape(2, 4)


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _states(server: ServerProcess, name: str) -> dict[int, str]:
    answer = httpx.get(f"http://{server.rest_url}/v1/models/{name}", timeout=5)
    if answer.status_code != 200:
        return {}
    return {int(v["version"]): v["state"] for v in answer.json()["model_version_status"]}


def _serves_newer_than(server: ServerProcess, name: str, version: int) -> bool:
    """A version above ``version`` is AVAILABLE: on a loaded machine the server may lag the files."""
    return any(v > version and state == "AVAILABLE" for v, state in _states(server, name).items())


def _write_config(path: Path, models: list[dict[str, Any]]) -> None:
    text = json.dumps({"model_config_list": [{"config": m} for m in models]})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # the watcher must never see half a file


def _infer(server: ServerProcess, name: str, version: str = "") -> grpcclient.InferResult:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = grpcclient.InferInput("input", [2, 4], "FP32")
    data.set_data_from_numpy(X)
    return client.infer(name, [data], model_version=version)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    (root / "m").mkdir(parents=True)
    return root


def _serve_one_model(
    models: Path, spawn_server: Callable[..., ServerProcess]
) -> tuple[ServerProcess, Path, str]:
    """A server for config.json with model m (version 1), no watcher: the server, the config
    file and the /v1/config URL."""
    write_ir(affine_model(), models / "m", 1)
    config = models / "config.json"
    _write_config(config, [{"name": "m", "base_path": "m"}])
    server = spawn_server(["--config_path", str(config), "--file_system_poll_wait_seconds", "0"])
    return server, config, f"http://{server.rest_url}/v1/config"


def test_versions_appear_retire_and_come_back(
    models: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    config = models / "config.json"
    _write_config(config, [{"name": "m", "base_path": "m"}])
    server = spawn_server(["--config_path", str(config), "--file_system_poll_wait_seconds", "1"])
    assert _states(server, "m") == {}

    write_ir(affine_model(), models / "m", 1)
    _wait_for(lambda: _states(server, "m") == {1: "AVAILABLE"}, "version 1")
    np.testing.assert_array_equal(_infer(server, "m").as_numpy("scaled"), X * 2 + 1)

    write_ir(affine_model(), models / "m", 2)
    _wait_for(lambda: _states(server, "m") == {1: "END", 2: "AVAILABLE"}, "version 2 to replace 1")
    assert _infer(server, "m").get_response().model_version == "2"

    shutil.rmtree(models / "m" / "2")
    _wait_for(lambda: _states(server, "m") == {1: "AVAILABLE", 2: "END"}, "version 1 back after 2 is deleted")


def test_policies_and_config_edits_apply_without_restart(
    models: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    for version in (1, 2, 3):
        write_ir(affine_model(), models / "m", version)
    write_ir(fixed_batch_model(), models / "other", 1)
    config = models / "config.json"
    _write_config(config, [{"name": "m", "base_path": "m", "model_version_policy": {"all": {}}}])
    server = spawn_server(["--config_path", str(config), "--file_system_poll_wait_seconds", "1"])
    assert _states(server, "m") == {1: "AVAILABLE", 2: "AVAILABLE", 3: "AVAILABLE"}

    policy = {"specific": {"versions": [1, 3]}}
    _write_config(config, [{"name": "m", "base_path": "m", "model_version_policy": policy}])
    _wait_for(lambda: _states(server, "m") == {1: "AVAILABLE", 2: "END", 3: "AVAILABLE"}, "specific policy")

    _write_config(
        config,
        [
            {"name": "m", "base_path": "m", "model_version_policy": policy, "nireq": 3},
            {"name": "other", "base_path": "other"},
        ],
    )
    _wait_for(lambda: _states(server, "other") == {1: "AVAILABLE"}, "an added model")
    np.testing.assert_array_equal(_infer(server, "m", "3").as_numpy("scaled"), X * 2 + 1)

    _write_config(config, [{"name": "other", "base_path": "other"}])
    _wait_for(lambda: set(_states(server, "m").values()) == {"END"}, "a removed model to end")
    with pytest.raises(Exception, match="not found"):
        _infer(server, "m")


def test_an_invalid_config_changes_nothing_and_the_reload_api_says_why(
    models: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    server, config, url = _serve_one_model(models, spawn_server)

    unchanged = httpx.post(url + "/reload", timeout=30)
    assert unchanged.status_code == 200
    assert unchanged.json()["m"]["model_version_status"][0]["state"] == "AVAILABLE"

    _write_config(config, [{"name": "m", "base_path": "m", "nireq": "many"}])
    refused = httpx.post(url + "/reload", timeout=30)
    assert refused.status_code == 412
    assert "nireq" in refused.json()["error"]
    np.testing.assert_array_equal(_infer(server, "m").as_numpy("scaled"), X * 2 + 1)

    write_ir(affine_model(), models / "n", 1)
    _write_config(config, [{"name": "m", "base_path": "m"}, {"name": "n", "base_path": "n"}])
    reloaded = httpx.post(url + "/reload", timeout=30)
    assert reloaded.status_code == 201
    assert sorted(reloaded.json()) == ["m", "n"]
    assert httpx.get(url, timeout=5).json() == reloaded.json()


def test_soak_no_request_fails_while_versions_and_config_change(
    models: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    """Clients send for 20 s while a new version lands and the config changes every second."""
    write_ir(affine_model(), models / "m", 1)
    config = models / "config.json"
    _write_config(config, [{"name": "m", "base_path": "m", "nireq": 2}])
    server = spawn_server(["--config_path", str(config), "--file_system_poll_wait_seconds", "1"])
    stop = threading.Event()
    counts = {"ok": 0, "errors": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        grpc = grpcclient.InferenceServerClient(server.grpc_url)
        data = grpcclient.InferInput("input", [2, 4], "FP32")
        data.set_data_from_numpy(X)
        while not stop.is_set():
            try:
                result = grpc.infer("m", [data], client_timeout=30)
                good = np.array_equal(result.as_numpy("scaled"), X * 2 + 1)
            except Exception as error:
                good = False
                errors.append(f"{type(error).__name__}: {error}")
            with lock:
                counts["ok" if good else "errors"] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    start = time.monotonic()
    second = 0
    while time.monotonic() - start < 20:
        second += 1
        write_ir(affine_model(), models / "m", second + 1)  # a new latest version every second
        old = models / "m" / str(second - 2)
        if second > 2 and old.exists() and _serves_newer_than(server, "m", second - 2):
            shutil.rmtree(old)  # deleting the serving version's folder retires it, as in OVMS
        _write_config(config, [{"name": "m", "base_path": "m", "nireq": 1 + second % 3}])
        time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    print(f"soak: {counts['ok']} requests succeeded, {counts['errors']} failed over 20 s")
    assert counts["errors"] == 0, errors[:5]
    assert counts["ok"] > 100
    assert max(_states(server, "m")) > 5


def test_a_reload_names_each_model_that_failed_and_the_served_ones_keep_serving(
    models: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    """The issue's case: a model whose base_path does not exist, added to config.json, then reload."""
    server, config, url = _serve_one_model(models, spawn_server)

    write_ir(affine_model(), models / "n", 1)
    missing = models / "does_not_exist"
    _write_config(
        config,
        [
            {"name": "m", "base_path": "m"},
            {"name": "ghost", "base_path": str(missing)},
            {"name": "n", "base_path": "n"},
        ],
    )
    failed = httpx.post(url + "/reload", timeout=60)
    assert failed.status_code == 412
    assert failed.json()["error"] == (
        'Reloading models failed - model "ghost": The provided base path is invalid or doesn\'t exists: '
        f"{missing}; the other models are served as configured"
    )
    np.testing.assert_array_equal(_infer(server, "m").as_numpy("scaled"), X * 2 + 1)
    np.testing.assert_array_equal(_infer(server, "n").as_numpy("scaled"), X * 2 + 1)
    assert httpx.post(url + "/reload", timeout=60).status_code == 412  # still failing: still said

    write_ir(affine_model(), missing, 1)
    # a version folder loads once two looks find it unchanged (the watcher's rule), then 201
    _wait_for(lambda: httpx.post(url + "/reload", timeout=60).status_code == 201, "ghost to load")
    assert _states(server, "ghost") == {1: "AVAILABLE"}
    assert httpx.post(url + "/reload", timeout=60).status_code == 200


def test_removing_models_that_failed_to_load_ends_them_or_forgets_them(
    models: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    """A removed model's failed versions end (END, as OVMS lists retired ones); a removed model that
    never had a version is unknown again (404), not listed with an empty status forever."""
    server, config, url = _serve_one_model(models, spawn_server)
    write_ir(affine_model(), models / "broken", 1)
    (models / "broken" / "1" / "mapping_config.json").write_text("{not json")
    missing = models / "does_not_exist"
    _write_config(
        config,
        [
            {"name": "m", "base_path": "m"},
            {"name": "broken", "base_path": "broken"},
            {"name": "missing", "base_path": str(missing)},
        ],
    )
    assert httpx.post(url + "/reload", timeout=60).status_code == 412
    assert _states(server, "broken") == {1: "LOADING"}

    _write_config(config, [{"name": "m", "base_path": "m"}])
    assert httpx.post(url + "/reload", timeout=60).status_code == 201

    listed = httpx.get(url, timeout=5).json()
    assert sorted(listed) == ["broken", "m"]
    assert listed["broken"]["model_version_status"] == [
        {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": "OK"}}
    ]
    for path in ("/v1/models/missing", "/v1/models/missing/metadata", "/v2/models/missing"):
        answer = httpx.get(f"http://{server.rest_url}{path}", timeout=5)
        assert (answer.status_code, answer.json()["error"]) == (
            404,
            "Model with requested name is not found - name: missing",
        ), path
    np.testing.assert_array_equal(_infer(server, "m").as_numpy("scaled"), X * 2 + 1)
