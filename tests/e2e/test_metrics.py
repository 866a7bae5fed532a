"""``/metrics`` of a real server after a known mix of successful and failing requests on both
APIs and both transports, parsed with prometheus-client's parser: every count exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from builders import affine_model, write_ir
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from tritonclient.utils import InferenceServerException

if TYPE_CHECKING:
    from conftest import ServerProcess

ALL_OVMS_FAMILIES = (
    "ovms_requests_success,ovms_requests_fail,ovms_request_time_us,ovms_inference_time_us,"
    "ovms_wait_for_infer_req_time_us,ovms_streams,ovms_infer_req_queue_size,ovms_infer_req_active,"
    "ovms_current_requests"
)
GOOD = np.ones((1, 4), np.float32)
BAD = np.ones((1, 5), np.float32)  # the model takes FP32[-1, 4]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_ir(affine_model(), tmp_path / "affine", 1)


def scrape(server: ServerProcess) -> dict[str, list[Sample]]:
    answer = httpx.get(f"http://{server.rest_url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "_total" not in answer.text
    return {f.name: f.samples for f in text_string_to_metric_families(answer.text)}


def value(samples: list[Sample], sample: str, /, **labels: str) -> float:
    found = [s.value for s in samples if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, found)
    return found[0]


def kserve_grpc(server: ServerProcess, ok: int, failing: int) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    for data in [GOOD] * ok + [BAD] * failing:
        tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        try:
            client.infer("affine", [tensor])
        except InferenceServerException:
            assert data is BAD
    client.get_model_metadata("affine")
    client.close()


def kserve_rest(server: ServerProcess, ok: int, failing: int) -> None:
    client = httpclient.InferenceServerClient(server.rest_url)
    for data in [GOOD] * ok + [BAD] * failing:
        tensor = httpclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data, binary_data=True)
        try:
            client.infer("affine", [tensor])
        except InferenceServerException:
            assert data is BAD
    assert client.is_model_ready("affine")
    client.close()


def tfs_grpc(server: ServerProcess, ok: int, failing: int) -> None:
    client = ovmsclient.make_grpc_client(server.grpc_url)
    for data in [GOOD] * ok + [BAD] * failing:
        try:
            client.predict({"input": data}, "affine")
        except ovmsclient.tfs_compat.base.errors.InvalidInputError:
            assert data is BAD
    client.get_model_status("affine")
    client.channel.close()


def tfs_rest(server: ServerProcess, ok: int, failing: int) -> None:
    url = f"http://{server.rest_url}/v1/models/affine"
    for data in [GOOD] * ok + [BAD] * failing:
        answer = httpx.post(url + ":predict", content=json.dumps({"instances": data.tolist()}), timeout=10)
        assert answer.status_code == (200 if data is GOOD else 400), answer.text
    assert httpx.get(url + "/metadata", timeout=10).status_code == 200


def test_counts_are_exact_per_api_interface_and_method(
    spawn_server: Callable[..., ServerProcess], model_dir: Path
) -> None:
    server = spawn_server(
        [
            *("--model_name", "affine", "--model_path", str(model_dir), "--nireq", "2"),
            *("--metrics_enable", "--metrics_list", ALL_OVMS_FAMILIES),
        ]
    )
    kserve_grpc(server, ok=3, failing=2)
    kserve_rest(server, ok=2, failing=1)
    tfs_grpc(server, ok=2, failing=1)
    tfs_rest(server, ok=1, failing=2)
    httpx.get(f"http://{server.rest_url}/v2/models/unknown", timeout=10)

    families = scrape(server)
    success, fail = families["ovms_requests_success"], families["ovms_requests_fail"]
    expected = {
        ("KServe", "gRPC", "ModelInfer"): (3, 2),
        ("KServe", "REST", "ModelInfer"): (2, 1),
        ("TensorFlowServing", "gRPC", "Predict"): (2, 1),
        ("TensorFlowServing", "REST", "Predict"): (1, 2),
        ("KServe", "gRPC", "ModelMetadata"): (1, 0),
        ("KServe", "REST", "ModelMetadata"): (0, 0),
        ("TensorFlowServing", "REST", "GetModelMetadata"): (1, 0),
        ("TensorFlowServing", "gRPC", "GetModelMetadata"): (0, 0),
    }
    for (api, interface, method), (ok, failed) in expected.items():
        labels = {"api": api, "interface": interface, "method": method, "name": "affine", "version": "1"}
        assert value(success, "ovms_requests_success_total", **labels) == ok, labels
        assert value(fail, "ovms_requests_fail_total", **labels) == failed, labels
    versionless = {"name": "affine"}
    assert (
        value(
            success,
            "ovms_requests_success_total",
            api="KServe",
            interface="REST",
            method="ModelReady",
            **versionless,
        )
        == 1
    )
    assert (
        value(
            success,
            "ovms_requests_success_total",
            api="TensorFlowServing",
            interface="gRPC",
            method="GetModelStatus",
            **versionless,
        )
        == 1
    )
    assert len(success) == 12 and len(fail) == 12  # nothing for the unknown model

    by_version = {"name": "affine", "version": "1"}
    request_time = families["ovms_request_time_us"]
    assert value(request_time, "ovms_request_time_us_count", interface="gRPC", **by_version) == 5
    assert value(request_time, "ovms_request_time_us_count", interface="REST", **by_version) == 3
    assert value(request_time, "ovms_request_time_us_bucket", interface="REST", le="+Inf", **by_version) == 3
    inferences = 3 + 2 + 2 + 1  # failing requests stop at validation
    assert (
        value(families["ovms_inference_time_us"], "ovms_inference_time_us_count", **by_version) == inferences
    )
    waits = families["ovms_wait_for_infer_req_time_us"]
    assert value(waits, "ovms_wait_for_infer_req_time_us_count", **by_version) == inferences
    assert value(families["ovms_streams"], "ovms_streams", **by_version) >= 1
    assert value(families["ovms_infer_req_queue_size"], "ovms_infer_req_queue_size", **by_version) == 2
    assert value(families["ovms_infer_req_active"], "ovms_infer_req_active", **by_version) == 0
    assert value(families["ovms_current_requests"], "ovms_current_requests", **by_version) == 0


def test_config_monitoring_section_enables_the_listed_families(
    spawn_server: Callable[..., ServerProcess], model_dir: Path, tmp_path: Path
) -> None:
    config = {
        "model_config_list": [{"config": {"name": "affine", "base_path": str(model_dir)}}],
        "monitoring": {"metrics": {"enable": True, "metrics_list": ["ovms_streams"]}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    server = spawn_server(["--config_path", str(tmp_path / "config.json")])
    assert set(scrape(server)) == {"ovms_streams"}


def test_metrics_off_is_an_invalid_url(server: ServerProcess) -> None:
    answer = httpx.get(f"http://{server.rest_url}/metrics", timeout=10)
    assert answer.status_code == 400
    assert answer.json() == {"error": "Invalid request URL"}
