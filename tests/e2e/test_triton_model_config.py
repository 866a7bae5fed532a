"""Triton's model configuration extension through tritonclient's ``get_model_config``, gRPC and HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e.triton_server import triton_server
from server_process import ServerProcess
from tritonclient.utils import InferenceServerException

__all__ = ["triton_server"]


def _config(server: ServerProcess, protocol: str, name: str, version: str = "") -> dict[str, Any]:
    if protocol == "grpc":
        found: dict[str, Any] = grpcclient.InferenceServerClient(server.grpc_url).get_model_config(
            name, version, as_json=True
        )["config"]
        return found
    config: dict[str, Any] = httpclient.InferenceServerClient(server.rest_url).get_model_config(name, version)
    return config


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_simple_model_config(triton_server: ServerProcess, protocol: str) -> None:
    config = _config(triton_server, protocol, "simple")
    assert config["name"] == "simple"
    assert config["platform"] == "openvino"
    assert config["backend"] == "openvino"
    assert int(config.get("max_batch_size", 0)) == 0
    inputs = [(t["name"], t["data_type"], [int(d) for d in t["dims"]]) for t in config["input"]]
    assert inputs == [("INPUT0", "TYPE_INT32", [1, 16]), ("INPUT1", "TYPE_INT32", [1, 16])]
    outputs = [(t["name"], t["data_type"], [int(d) for d in t["dims"]]) for t in config["output"]]
    assert outputs == [("OUTPUT0", "TYPE_INT32", [1, 16]), ("OUTPUT1", "TYPE_INT32", [1, 16])]
    assert config["version_policy"] == {"latest": {"num_versions": 1}}
    group = config["instance_group"][0]
    assert group["kind"] == "KIND_CPU"
    assert int(group["count"]) >= 1
    assert int(config["parameters"]["NIREQ"]["string_value"]) >= 1
    assert "dynamic_batching" not in config


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_batched_model_drops_the_batch_dimension(triton_server: ServerProcess, protocol: str) -> None:
    config = _config(triton_server, protocol, "simple_batched", "1")
    assert int(config["max_batch_size"]) == 8
    assert [int(d) for d in config["input"][0]["dims"]] == [16]
    assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == 2000


def test_float_model_dims(triton_server: ServerProcess) -> None:
    config = _config(triton_server, "http", "densenet_onnx")
    assert config["input"] == [{"name": "data_0", "data_type": "TYPE_FP32", "dims": [3, 224, 224]}]
    assert config["output"] == [{"name": "fc6_1", "data_type": "TYPE_FP32", "dims": [1000, 1, 1]}]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_unknown_model_is_refused(triton_server: ServerProcess, protocol: str) -> None:
    with pytest.raises(InferenceServerException, match="not found"):
        _config(triton_server, protocol, "nope")
