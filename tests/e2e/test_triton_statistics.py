"""Triton's statistics extension through tritonclient's ``get_inference_statistics``, gRPC and HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e.triton_server import triton_server
from server_process import ServerProcess
from tritonclient.utils import InferenceServerException

__all__ = ["triton_server"]

Client = grpcclient.InferenceServerClient | httpclient.InferenceServerClient
DURATIONS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


def _client(server: ServerProcess, protocol: str) -> Any:
    if protocol == "grpc":
        return grpcclient.InferenceServerClient(server.grpc_url)
    return httpclient.InferenceServerClient(server.rest_url)


def _stats(client: Any, protocol: str, name: str, version: str = "") -> dict[str, Any]:
    if protocol == "grpc":
        found = client.get_inference_statistics(name, version, as_json=True)
    else:
        found = client.get_inference_statistics(name, version)
    assert len(found["model_stats"]) == 1
    entry: dict[str, Any] = found["model_stats"][0]
    return entry


def _count(entry: dict[str, Any], field: str) -> int:
    return int(entry["inference_stats"][field].get("count", 0))


def _ns(entry: dict[str, Any], field: str) -> int:
    return int(entry["inference_stats"][field].get("ns", 0))


def _inputs(module: Any, data: np.ndarray) -> list[Any]:
    inputs = [
        module.InferInput("INPUT0", list(data.shape), "INT32"),
        module.InferInput("INPUT1", list(data.shape), "INT32"),
    ]
    inputs[0].set_data_from_numpy(data)
    inputs[1].set_data_from_numpy(np.ones_like(data))
    return inputs


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_counts_after_good_and_failing_requests(triton_server: ServerProcess, protocol: str) -> None:
    client = _client(triton_server, protocol)
    module = grpcclient if protocol == "grpc" else httpclient
    before = _stats(client, protocol, "simple")
    data = np.arange(16, dtype=np.int32).reshape(1, 16)
    for _ in range(3):
        result = client.infer("simple", _inputs(module, data))
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data + 1)
    wrong = module.InferInput("INPUT0", [1, 8], "INT32")
    wrong.set_data_from_numpy(np.zeros((1, 8), np.int32))
    other = module.InferInput("INPUT1", [1, 8], "INT32")
    other.set_data_from_numpy(np.zeros((1, 8), np.int32))
    with pytest.raises(InferenceServerException):
        client.infer("simple", [wrong, other])

    after = _stats(client, protocol, "simple")
    assert after["name"] == "simple"
    assert after["version"] == "1"
    assert _count(after, "success") - _count(before, "success") == 3
    assert _count(after, "fail") - _count(before, "fail") == 1
    for field in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert _count(after, field) - _count(before, field) == 3, field
    assert _ns(after, "success") > _ns(before, "success")
    assert _ns(after, "compute_infer") > _ns(before, "compute_infer")
    assert int(after["inference_count"]) - int(before.get("inference_count", 0)) == 3
    assert int(after["execution_count"]) - int(before.get("execution_count", 0)) == 3
    assert int(after["last_inference"]) > 0


def test_batched_requests_count_rows_and_executions(triton_server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    before = _stats(client, "grpc", "simple_batched")
    data = np.arange(48, dtype=np.int32).reshape(3, 16)
    result = client.infer("simple_batched", _inputs(grpcclient, data))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), data - 1)
    after = _stats(client, "grpc", "simple_batched")
    assert int(after.get("inference_count", 0)) - int(before.get("inference_count", 0)) == 3
    assert _count(after, "success") - _count(before, "success") == 1


def test_every_model_and_one_version(triton_server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(triton_server.rest_url)
    everything = client.get_inference_statistics()
    assert [s["name"] for s in everything["model_stats"]] == [
        "densenet_onnx",
        "simple",
        "simple_batched",
        "simple_identity",
        "simple_int8",
        "simple_string",
    ]
    assert _stats(client, "http", "simple", "1")["version"] == "1"
    grpc_client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    assert len(grpc_client.get_inference_statistics(as_json=True)["model_stats"]) == 6
    for field in DURATIONS:
        assert field in everything["model_stats"][0]["inference_stats"]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_unknown_model_or_version_is_refused(triton_server: ServerProcess, protocol: str) -> None:
    client = _client(triton_server, protocol)
    with pytest.raises(InferenceServerException, match="not found"):
        client.get_inference_statistics("nope")
    with pytest.raises(InferenceServerException, match="not found"):
        client.get_inference_statistics("simple", "7")


def _metric(text: str, family: str, model: str) -> float:
    for line in text.splitlines():
        if line.startswith(family + "{") and f'name="{model}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {family} for {model} in /metrics")


def test_statistics_and_metrics_come_from_the_same_observations(triton_server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    data = np.arange(16, dtype=np.int32).reshape(1, 16)
    for _ in range(2):
        client.infer("simple", _inputs(grpcclient, data))
    entry = _stats(client, "grpc", "simple")
    metrics = httpx.get(f"http://{triton_server.rest_url}/metrics").text
    executions = _metric(metrics, "ovms_inference_time_us_count", "simple")
    assert executions == int(entry["execution_count"])
    inference_us = _metric(metrics, "ovms_inference_time_us_sum", "simple")
    assert inference_us * 1000 == pytest.approx(_ns(entry, "compute_infer"), rel=1e-3, abs=1000 * executions)
