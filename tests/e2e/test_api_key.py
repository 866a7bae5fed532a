"""API keys (``--api_key_file`` / ``$API_KEY``) over a real server with tritonclient and httpx."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from server_process import OVMS_SERVE, ServerProcess
from tritonclient.utils import InferenceServerException

KEY = "s3cret-key"


def bearer() -> dict[str, str]:
    """A fresh header dict per call: tritonclient.http adds Inference-Header-Content-Length to it."""
    return {"authorization": f"Bearer {KEY}"}


PROTECTED_GETS = ["/v2", "/v2/models/affine", "/v2/models/affine/ready", "/v1/models/affine", "/v1/config"]
OPEN_GETS = ["/v2/health/live", "/v2/health/ready", "/metrics"]


@pytest.fixture
def keyed_server(
    repository: Path, tmp_path: Path, spawn_server: Callable[..., ServerProcess]
) -> ServerProcess:
    key_file = tmp_path / "api_key"
    key_file.write_text(f"  {KEY}  \nsecond line is ignored\n")
    return spawn_server(
        [
            "--config_path",
            str(repository / "config.json"),
            "--api_key_file",
            str(key_file),
            "--metrics_enable",
        ]
    )


def _infer_body() -> dict[str, object]:
    return {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_rest_refuses_a_missing_or_wrong_key(keyed_server: ServerProcess, headers: dict[str, str]) -> None:
    base = f"http://{keyed_server.rest_url}"
    with httpx.Client(base_url=base, headers=headers) as client:
        answers = [client.get(path) for path in PROTECTED_GETS]
        answers.append(client.post("/v2/models/affine/infer", json=_infer_body()))
        answers.append(client.post("/v1/config/reload"))
    for answer in answers:
        assert (answer.request.url.path, answer.status_code) == (answer.request.url.path, 401)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"].startswith("Unauthenticated")
    assert KEY not in keyed_server.log_text()


def test_rest_serves_the_right_key_and_leaves_probes_open(keyed_server: ServerProcess) -> None:
    base = f"http://{keyed_server.rest_url}"
    with httpx.Client(base_url=base, headers=bearer()) as client:
        assert [client.get(path).status_code for path in PROTECTED_GETS] == [200] * len(PROTECTED_GETS)
        answer = client.post("/v2/models/affine/infer", json=_infer_body())
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [3.0, 5.0, 7.0, 9.0]
    with httpx.Client(base_url=base) as client:
        assert [client.get(path).status_code for path in OPEN_GETS] == [200] * len(OPEN_GETS)


def test_tritonclient_http_with_and_without_key(keyed_server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(keyed_server.rest_url)
    data = np.arange(4, dtype=np.float32).reshape(1, 4)
    tensor = httpclient.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(data)
    with pytest.raises(InferenceServerException) as refused:
        client.infer("affine", [tensor])
    assert refused.value.status() == "401"
    assert client.is_server_live() is True
    result = client.infer("affine", [tensor], headers=bearer())
    np.testing.assert_array_equal(result.as_numpy("scaled"), data * 2 + 1)
    assert client.get_model_metadata("affine", headers=bearer())["name"] == "affine"
    client.close()


def test_tritonclient_grpc_with_and_without_key(keyed_server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(keyed_server.grpc_url)
    data = np.arange(4, dtype=np.float32).reshape(1, 4)
    tensor = grpcclient.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(data)
    for headers in ({}, {"authorization": "Bearer wrong"}):
        with pytest.raises(InferenceServerException) as refused:
            client.infer("affine", [tensor], headers=headers)
        assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
        with pytest.raises(InferenceServerException) as refused:
            client.get_model_metadata("affine", headers=headers)
        assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
    assert client.is_server_live() is True
    assert client.is_server_ready() is True
    result = client.infer("affine", [tensor], headers=bearer())
    np.testing.assert_array_equal(result.as_numpy("scaled"), data * 2 + 1)
    assert client.is_model_ready("affine", headers=bearer()) is True
    client.close()
    assert KEY not in keyed_server.log_text()


def test_grpc_streaming_call_is_refused_without_key(keyed_server: ServerProcess) -> None:
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    with grpc.insecure_channel(keyed_server.grpc_url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name="affine")
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.ModelStreamInfer(iter([request])))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_api_key_environment_variable(
    repository: Path, spawn_server: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_KEY", KEY)
    server = spawn_server(["--config_path", str(repository / "config.json")])
    base = f"http://{server.rest_url}"
    assert httpx.get(f"{base}/v2/models/affine").status_code == 401
    assert httpx.get(f"{base}/v2/models/affine", headers=bearer()).status_code == 200


@pytest.mark.parametrize("content", [b"", b"\n  \nkey-on-line-two\n", None])
def test_unusable_key_file_stops_start_up(repository: Path, tmp_path: Path, content: bytes | None) -> None:
    key_file = tmp_path / "api_key"
    if content is not None:
        key_file.write_bytes(content)
    done = subprocess.run(
        [*OVMS_SERVE, "--config_path", str(repository / "config.json"), "--api_key_file", str(key_file)],
        capture_output=True,
        timeout=60,
        env={**os.environ, "API_KEY": "not-used"},
    )
    assert done.returncode == 1
    assert b"--api_key_file" in done.stderr + done.stdout


def test_ovmsclient_cannot_send_a_key_and_is_refused(keyed_server: ServerProcess) -> None:
    """ovmsclient 2023.1 takes no headers: against a keyed server it gets the refusal, clearly."""
    import ovmsclient
    from ovmsclient.tfs_compat.base.errors import ModelServerError

    for client in (
        ovmsclient.make_grpc_client(keyed_server.grpc_url),
        ovmsclient.make_http_client(keyed_server.rest_url),
    ):
        # ovmsclient maps UNAUTHENTICATED (a code it does not know) to ConnectionError
        with pytest.raises((ModelServerError, ConnectionError), match="Unauthenticated"):
            client.get_model_status("affine")
