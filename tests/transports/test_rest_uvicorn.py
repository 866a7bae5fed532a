"""``--rest_server uvicorn``: the same REST API, served by uvicorn with httptools."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton_http
from builders import affine_model, write_ir
from server_process import OVMS_SERVE, ServerProcess, start_server


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uvicorn-models")
    write_ir(affine_model(), root / "affine", 1)
    return root / "affine"


@pytest.fixture(scope="module")
def server(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("uvicorn-logs") / "ovms.log"
    args = [
        "--model_name",
        "affine",
        "--model_path",
        str(model),
        "--rest_server",
        "uvicorn",
        "--metrics_enable",
    ]
    running = start_server(args, log)
    yield running
    assert running.stop() == 0, running.log_text()


def test_kserve_binary_and_json_inference_answer_as_over_hypercorn(server: ServerProcess) -> None:
    client = triton_http.InferenceServerClient(server.rest_url)
    data = np.array([[1, 2, 3, 4]], np.float32)
    for binary in (True, False):
        tensor = triton_http.InferInput("input", [1, 4], "FP32")
        tensor.set_data_from_numpy(data, binary_data=binary)
        outputs = [triton_http.InferRequestedOutput(name, binary_data=binary) for name in ("scaled", "total")]

        result = client.infer("affine", [tensor], outputs=outputs)

        assert result.as_numpy("scaled").tolist() == [[3.0, 5.0, 7.0, 9.0]]
        assert result.as_numpy("total").tolist() == [10.0]
    assert client.is_server_ready()


def test_tfs_rest_metrics_and_errors_are_the_same_api(server: ServerProcess) -> None:
    url = f"http://{server.rest_url}"

    predicted = httpx.post(url + "/v1/models/affine:predict", json={"instances": [[1, 2, 3, 4]]}, timeout=30)
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    missing = httpx.post(url + "/v2/models/nope/infer", json=body, timeout=30)
    metrics = httpx.get(url + "/metrics", timeout=30).text

    assert predicted.status_code == 200
    assert predicted.json()["predictions"][0]["total"] == 10.0
    assert missing.status_code == 404
    assert missing.json() == {"error": "Model with requested name is not found - name: nope"}
    assert re.search(
        r'ovms_requests_success\{api="TensorFlowServing",interface="REST",method="Predict"', metrics
    )


def test_workers_share_the_rest_port_over_uvicorn(model: Path, tmp_path: Path) -> None:
    args = ["--model_name", "affine", "--model_path", str(model), "--rest_server", "uvicorn"]
    running = start_server([*args, "--workers", "2", "--log_level", "DEBUG"], tmp_path / "pool.log")
    try:
        for _ in range(24):
            with httpx.Client() as client:  # a new connection each time: the kernel spreads connections
                body = {
                    "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]
                }
                answer = client.post(
                    f"http://{running.rest_url}/v2/models/affine/infer", json=body, timeout=30
                )
            assert answer.status_code == 200
        pids = set(
            re.findall(r"\[(\d+):\d+\]\[ovms\.serving\]\[DEBUG\] REST KServe ModelInfer", running.log_text())
        )
        assert len(pids) == 2
    finally:
        assert running.stop() == 0, running.log_text()


def test_an_unknown_rest_server_is_a_usage_error(model: Path) -> None:
    done = subprocess.run(
        [
            *OVMS_SERVE,
            "--model_name",
            "m",
            "--model_path",
            str(model),
            "--rest_port",
            "8001",
            "--rest_server",
            "nginx",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 64
    assert done.stderr.strip() == "rest_server should be one of: hypercorn, uvicorn (got nginx)"
